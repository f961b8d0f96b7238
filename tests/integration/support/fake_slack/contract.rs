//! Which bodies each Web API method reads, from the encodings table the bot ships
//! (`src/slack/web-api-encodings.tsv`: how Slack's own SDK sends every method). Only the data
//! file is shared; this parser is the fake's own, so a bug in the bot's reading of the table
//! cannot hide itself by agreeing with the fake.
//!
//! What Slack documents, and what the fake therefore does with the table:
//! - every method takes its arguments from the query string and from a form body
//!   (`application/x-www-form-urlencoded`), on GET or POST alike;
//! - a JSON body is read only by the methods listed `json`; any other method sees no
//!   arguments from it;
//! - a method that is not in the table does not exist (`unknown_method`).

use std::collections::HashMap;
use std::sync::OnceLock;

const ENCODINGS_TSV: &str = include_str!("../../../../src/slack/web-api-encodings.tsv");

/// One way the table says a method is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Json,
    Form,
    Query,
    Multipart,
}

/// Every encoding the table lists for `method`, or `None` when Slack has no such method.
pub fn encodings(method: &str) -> Option<&'static [Encoding]> {
    table().get(method).map(Vec::as_slice)
}

/// Whether Slack reads a JSON body for `method`.
pub fn reads_json(method: &str) -> bool {
    encodings(method).is_some_and(|listed| listed.contains(&Encoding::Json))
}

fn table() -> &'static HashMap<String, Vec<Encoding>> {
    static TABLE: OnceLock<HashMap<String, Vec<Encoding>>> = OnceLock::new();
    TABLE.get_or_init(|| parse(ENCODINGS_TSV))
}

/// Rows are `method<TAB>http_verb<TAB>encoding`; comments and the header line are skipped.
/// A row the fake cannot read stops the test that needed the table, naming the row.
fn parse(text: &str) -> HashMap<String, Vec<Encoding>> {
    let mut methods: HashMap<String, Vec<Encoding>> = HashMap::new();
    for line in text.lines() {
        if line.trim().is_empty() || line.starts_with('#') || line.starts_with("method\t") {
            continue;
        }
        let mut fields = line.split('\t');
        let (Some(method), Some(_verb), Some(encoding), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            panic!("web-api-encodings.tsv: unreadable row {line:?}");
        };
        let encoding = match encoding.trim() {
            "json" => Encoding::Json,
            "form" => Encoding::Form,
            "query" => Encoding::Query,
            "multipart" => Encoding::Multipart,
            other => panic!("web-api-encodings.tsv: unknown encoding {other:?} in {line:?}"),
        };
        methods.entry(method.to_owned()).or_default().push(encoding);
    }
    methods
}

#[test]
fn fake_slack_contract_reads_the_shipped_table() {
    assert_eq!(
        encodings("usergroups.users.list"),
        Some(&[Encoding::Query][..])
    );
    assert_eq!(
        encodings("files.completeUploadExternal"),
        Some(&[Encoding::Form][..])
    );
    assert_eq!(
        encodings("files.upload"),
        Some(&[Encoding::Form, Encoding::Multipart][..])
    );
    assert!(reads_json("chat.postMessage"));
    assert!(reads_json("chat.update"));
    assert!(!reads_json("usergroups.users.list"));
    assert!(!reads_json("files.getUploadURLExternal"));
    assert_eq!(encodings("chat.postMesage"), None);
    assert!(table().len() > 300, "{} methods", table().len());
}
