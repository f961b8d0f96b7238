//! How each Slack Web API method must be sent: HTTP verb and body encoding, decided here and
//! nowhere else. The table is `web-api-encodings.tsv` beside this file (how Slack's own SDK
//! sends every method); it is compiled in, so the bot and the test fake read the same copy.
//! This module only reads the table; sending is `web_api`'s business.
//!
//! Slack reads a JSON body only for the methods that accept JSON. Any other method called
//! with a JSON body sees no arguments at all (a user group then lists as empty), so the
//! encoding is part of the call's meaning, not a detail.

use std::collections::HashMap;
use std::sync::OnceLock;

/// The table as shipped, header comment included.
pub const ENCODINGS_TSV: &str = include_str!("web-api-encodings.tsv");

/// The Web API methods the bot itself calls through `WebApi`; every one must be in the table
/// (a unit test checks). `apps.connections.open` is called by slack-morphism's Socket Mode
/// client with the app token, not through `WebApi`.
pub const METHODS_THE_BOT_CALLS: &[&str] = &[
    "chat.postMessage",
    "chat.update",
    "chat.postEphemeral",
    "files.getUploadURLExternal",
    "files.completeUploadExternal",
    "files.info",
    "usergroups.users.list",
];

/// One way a method's arguments can travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// `POST`, `Content-Type: application/json`.
    Json,
    /// `POST`, `Content-Type: application/x-www-form-urlencoded`.
    Form,
    /// `GET` with the arguments in the query string.
    Query,
    /// `POST`, `multipart/form-data` (file bodies); the bot sends none.
    Multipart,
}

impl Encoding {
    fn parse(text: &str) -> Option<Encoding> {
        match text {
            "json" => Some(Encoding::Json),
            "form" => Some(Encoding::Form),
            "query" => Some(Encoding::Query),
            "multipart" => Some(Encoding::Multipart),
            _ => None,
        }
    }
}

/// How the bot sends one method: the single choice [`wire_format`] makes from the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireFormat {
    JsonPost,
    FormPost,
    QueryGet,
}

/// Every encoding the table lists for `method` (some methods are listed twice: form and
/// multipart are both read), or `None` for a method the table does not know.
pub fn encodings(method: &str) -> Option<&'static [Encoding]> {
    table().get(method).map(Vec::as_slice)
}

/// How the bot must send `method`: JSON when the method reads JSON (its structured arguments,
/// `blocks`, travel as they are), else a GET with a query string when that is how Slack's SDK
/// sends it, else a form POST. `None` for a method missing from the table (a bug: add the
/// method to the table from Slack's documentation before calling it) or one that only takes
/// multipart bodies.
pub fn wire_format(method: &str) -> Option<WireFormat> {
    let listed = encodings(method)?;
    [
        (Encoding::Json, WireFormat::JsonPost),
        (Encoding::Query, WireFormat::QueryGet),
        (Encoding::Form, WireFormat::FormPost),
    ]
    .into_iter()
    .find(|(encoding, _)| listed.contains(encoding))
    .map(|(_, format)| format)
}

fn table() -> &'static HashMap<&'static str, Vec<Encoding>> {
    static TABLE: OnceLock<HashMap<&'static str, Vec<Encoding>>> = OnceLock::new();
    TABLE.get_or_init(|| parse_table(ENCODINGS_TSV).expect("web-api-encodings.tsv is well formed"))
}

/// The rows of the table: `method<TAB>http_verb<TAB>encoding`, `#` comments and the header
/// line skipped. A bad row is an error naming its line, so an edit that breaks the table
/// fails the unit tests rather than silently dropping a method.
fn parse_table(text: &str) -> Result<HashMap<&str, Vec<Encoding>>, String> {
    let mut methods: HashMap<&str, Vec<Encoding>> = HashMap::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim_end();
        if line.is_empty() || line.starts_with('#') || line.starts_with("method\t") {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let [method, verb, encoding] = fields[..] else {
            return Err(format!(
                "line {}: expected 3 tab-separated fields",
                index + 1
            ));
        };
        let encoding = Encoding::parse(encoding)
            .ok_or_else(|| format!("line {}: unknown encoding {encoding:?}", index + 1))?;
        // The verb follows from the encoding; a row where they disagree is a typo.
        let expected_verb = if encoding == Encoding::Query {
            "GET"
        } else {
            "POST"
        };
        if verb != expected_verb {
            return Err(format!(
                "line {}: {method} is {encoding:?} but {verb}",
                index + 1
            ));
        }
        let listed = methods.entry(method).or_default();
        if !listed.contains(&encoding) {
            listed.push(encoding);
        }
    }
    Ok(methods)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_the_bot_calls_is_in_the_table() {
        for method in METHODS_THE_BOT_CALLS {
            assert!(
                wire_format(method).is_some(),
                "{method} is not in web-api-encodings.tsv"
            );
        }
    }

    #[test]
    fn each_method_goes_out_the_way_slack_reads_it() {
        let table = [
            ("chat.postMessage", WireFormat::JsonPost),
            ("chat.update", WireFormat::JsonPost),
            ("chat.postEphemeral", WireFormat::JsonPost),
            ("usergroups.users.list", WireFormat::QueryGet),
            ("files.getUploadURLExternal", WireFormat::FormPost),
            ("files.completeUploadExternal", WireFormat::FormPost),
            // Listed as form and multipart: form is what the bot would send.
            ("files.upload", WireFormat::FormPost),
        ];
        for (method, expected) in table {
            assert_eq!(wire_format(method), Some(expected), "{method}");
        }
        assert_eq!(
            wire_format("chat.postMesage"),
            None,
            "a typo is not a method"
        );
        assert_eq!(
            wire_format("users.setPhoto"),
            None,
            "multipart only: the bot has no way to send it"
        );
        assert_eq!(
            encodings("apps.icon.set"),
            Some(&[Encoding::Form, Encoding::Multipart][..])
        );
    }

    #[test]
    fn the_whole_shipped_table_parses() {
        let methods = parse_table(ENCODINGS_TSV).expect("parses");
        assert!(methods.len() > 300, "{} methods", methods.len());
        assert!(
            ENCODINGS_TSV.starts_with("# "),
            "the header comment is kept"
        );
    }

    #[test]
    fn a_broken_row_is_an_error_naming_its_line() {
        let error = parse_table("method\thttp_verb\tencoding\nchat.postMessage\tPOST\n")
            .expect_err("two fields");
        assert!(error.contains("line 2"), "{error}");
        let error = parse_table("usergroups.users.list\tPOST\tquery\n").expect_err("verb");
        assert!(error.contains("usergroups.users.list"), "{error}");
        let error = parse_table("chat.update\tPOST\txml\n").expect_err("encoding");
        assert!(error.contains("xml"), "{error}");
    }
}
