//! Fail-closed masking: replaces secret values and secret-looking text with `***` in everything
//! sent to Slack or stored: nothing leaves or is kept unmasked. Knows nothing about where
//! text goes.
//!
//! Which environment variables are secret ([`is_secret_env_name`]):
//! - `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_SECURITY_TOKEN`;
//! - every `SLACK_*` variable (tokens, signing secret, and the API URL, which is harmless to
//!   mask and may carry a webhook secret);
//! - `TF_VAR_*` whose name contains `secret`, `password`, `token` or `key` (any case);
//! - any other variable whose name contains `SECRET`, `PASSWORD` or `TOKEN` (any case), because
//!   an unlisted secret leaking is worse than an over-masked log line.
//!
//! Values shorter than [`MIN_SECRET_LEN`] characters are ignored: masking `true` or `1` would
//! blank out half of every message and hide nothing worth hiding.

use regex::{Regex, RegexSet, RegexSetBuilder};
use serde_json::Value;
use std::borrow::Cow;

pub const MASK: &str = "***";
/// Shorter secret values are not masked (see the module doc).
pub const MIN_SECRET_LEN: usize = 6;

/// Patterns masked whatever the environment holds.
const BUILT_IN_PATTERNS: &[&str] = &[
    r"\b(AKIA|ASIA)[0-9A-Z]{16}\b",
    r"xox[abposr]-[A-Za-z0-9-]+",
    r"xapp-[A-Za-z0-9-]+",
    r"(?i)aws_secret_access_key\s*[=:]\s*\S+",
];

/// How large the compiled literal alternation may grow: a few hundred long secrets exceed the
/// regex crate's default.
const LITERALS_SIZE_LIMIT: usize = 64 << 20;

/// The masker could not be built: starting without it would mean masking nothing.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the masker for {count} secret values: {source}; refusing to start unmasked")]
pub struct MaskerError {
    count: usize,
    source: regex::Error,
}

/// Object keys whose string values are masked in [`Masker::mask_json`] whatever they hold.
const SENSITIVE_KEY_WORDS: &[&str] = &["password", "secret", "token", "private_key"];

#[derive(Clone, Debug)]
pub struct Masker {
    /// All literal secrets (and their JSON-escaped forms) in one alternation, longest first so
    /// the leftmost-first match is the longest and overlapping secrets are hidden whole.
    literals: Option<Regex>,
    patterns: Vec<Regex>,
    /// The literals and every pattern in one set: a single scan tells that a text is clean,
    /// as nearly every text is, instead of one scan per pattern. `None` if it could not be
    /// built; then every text takes the full path, so masking never depends on it.
    any: Option<RegexSet>,
}

/// Whether the environment variable `name` holds a secret (rule in the module doc).
pub fn is_secret_env_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    if matches!(
        upper.as_str(),
        "AWS_SECRET_ACCESS_KEY" | "AWS_SESSION_TOKEN" | "AWS_SECURITY_TOKEN"
    ) || upper.starts_with("SLACK_")
    {
        return true;
    }
    if let Some(rest) = upper.strip_prefix("TF_VAR_") {
        return ["SECRET", "PASSWORD", "TOKEN", "KEY"]
            .iter()
            .any(|w| rest.contains(w));
    }
    ["SECRET", "PASSWORD", "TOKEN"]
        .iter()
        .any(|w| upper.contains(w))
}

impl Masker {
    /// A masker for these literal values plus the built-in patterns plus `patterns`. Fails
    /// closed: if the literals cannot be compiled, there is no masker (a startup error).
    pub fn new(secret_values: Vec<String>, patterns: Vec<Regex>) -> Result<Masker, MaskerError> {
        Self::with_size_limit(secret_values, patterns, LITERALS_SIZE_LIMIT)
    }

    /// [`Masker::new`] with another limit on the compiled literals (tests make it fail).
    pub(crate) fn with_size_limit(
        secret_values: Vec<String>,
        patterns: Vec<Regex>,
        size_limit: usize,
    ) -> Result<Masker, MaskerError> {
        let mut literals: Vec<String> = Vec::new();
        for secret in secret_values {
            if secret.chars().count() < MIN_SECRET_LEN {
                continue;
            }
            // The same secret as it appears inside a JSON string (`"` → `\"`, `\` → `\\`,
            // control characters escaped), e.g. in `show -json` output or a stored payload.
            let encoded = serde_json::to_string(&secret).unwrap_or_default();
            let escaped = encoded
                .get(1..encoded.len().saturating_sub(1))
                .unwrap_or_default()
                .to_string();
            if escaped != secret && !escaped.is_empty() {
                literals.push(escaped);
            }
            literals.push(secret);
        }
        literals.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        literals.dedup();
        let literals = if literals.is_empty() {
            None
        } else {
            let alternation = literals
                .iter()
                .map(|s| regex::escape(s))
                .collect::<Vec<_>>()
                .join("|");
            // Escaped literals always form a valid regex, so only the size limit can fail it,
            // and that must stop the bot rather than mean "mask nothing".
            let built = regex::RegexBuilder::new(&alternation)
                .size_limit(size_limit)
                .build()
                .map_err(|source| MaskerError {
                    count: literals.len(),
                    source,
                })?;
            Some(built)
        };
        let mut all_patterns: Vec<Regex> = BUILT_IN_PATTERNS
            .iter()
            .filter_map(|p| Regex::new(p).ok())
            .collect();
        all_patterns.extend(patterns);
        let any = RegexSetBuilder::new(
            literals
                .iter()
                .chain(&all_patterns)
                .map(|regex| regex.as_str()),
        )
        .size_limit(64 << 20)
        .build()
        .ok();
        Ok(Masker {
            literals,
            patterns: all_patterns,
            any,
        })
    }

    /// Masks the secret variables of this process's environment (see the module doc).
    pub fn from_env(extra_patterns: Vec<Regex>) -> Result<Masker, MaskerError> {
        Self::from_env_and_values(Vec::new(), extra_patterns)
    }

    /// [`Masker::from_env`] plus literal `values` the config holds (backend settings).
    pub fn from_env_and_values(
        values: Vec<String>,
        extra_patterns: Vec<Regex>,
    ) -> Result<Masker, MaskerError> {
        let mut secrets: Vec<String> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .filter(|(name, _)| is_secret_env_name(name))
            .map(|(_, value)| value)
            .collect();
        secrets.extend(values);
        Self::new(secrets, extra_patterns)
    }

    /// [`Masker::from_env`] over given variables (tests, or a child's prepared environment).
    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
        extra_patterns: Vec<Regex>,
    ) -> Result<Masker, MaskerError> {
        let secrets = vars
            .into_iter()
            .filter(|(name, _)| is_secret_env_name(name))
            .map(|(_, value)| value)
            .collect();
        Self::new(secrets, extra_patterns)
    }

    /// `text` with every secret and pattern match replaced by `***`; borrowed when clean.
    pub fn mask<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if self.any.as_ref().is_some_and(|any| !any.is_match(text)) {
            return Cow::Borrowed(text);
        }
        self.mask_every_pattern(text)
    }

    /// Whether [`Masker::mask`] would change `text`.
    pub fn changes(&self, text: &str) -> bool {
        matches!(self.mask(text), Cow::Owned(_))
    }

    /// [`Masker::mask`] without the clean-text shortcut: every replacement, in order.
    pub(crate) fn mask_every_pattern<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out: Cow<'a, str> = Cow::Borrowed(text);
        if let Some(literals) = &self.literals {
            if let Cow::Owned(replaced) = literals.replace_all(&out, MASK) {
                out = Cow::Owned(replaced);
            }
        }
        for pattern in &self.patterns {
            if let Cow::Owned(replaced) = pattern.replace_all(&out, MASK) {
                out = Cow::Owned(replaced);
            }
        }
        out
    }

    /// Masks every string (and object key) in `value`. Besides, the `value` of an object marked
    /// `"sensitive": true` (Terraform's output shape) and string values under keys naming a
    /// password, secret, token or private key become `***` whatever they contain.
    pub fn mask_json(&self, value: &Value) -> Value {
        let mut masked = value.clone();
        self.mask_json_in_place(&mut masked);
        masked
    }

    /// [`Masker::mask_json`] on a value the caller owns: only what changes is rewritten.
    pub fn mask_json_in_place(&self, value: &mut Value) {
        match value {
            Value::String(s) => {
                if let Cow::Owned(masked) = self.mask(s) {
                    *s = masked;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.mask_json_in_place(v)),
            Value::Object(map) => {
                let marked_sensitive = map.get("sensitive") == Some(&Value::Bool(true));
                for (key, v) in map.iter_mut() {
                    let hide = (marked_sensitive && key == "value" && !v.is_null())
                        || (v.is_string() && is_sensitive_key(key));
                    if hide {
                        *v = Value::String(MASK.to_string());
                    } else {
                        self.mask_json_in_place(v);
                    }
                }
                // Keys cannot be changed in place; a key holding a secret is rare enough to
                // rebuild the object for.
                if map.keys().any(|key| self.changes(key)) {
                    let entries = std::mem::take(map);
                    for (key, v) in entries {
                        map.insert(self.mask(&key).into_owned(), v);
                    }
                }
            }
            _ => {}
        }
    }
}

/// Whether an object key names a password, secret, token or private key (any case). Checked
/// for every key of every rendered message, so it does not allocate a lowercase copy.
pub(crate) fn is_sensitive_key(key: &str) -> bool {
    SENSITIVE_KEY_WORDS.iter().any(|word| {
        key.as_bytes()
            .windows(word.len())
            .any(|window| window.eq_ignore_ascii_case(word.as_bytes()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn masker(secrets: &[&str]) -> Masker {
        Masker::new(secrets.iter().map(|s| s.to_string()).collect(), Vec::new()).expect("masker")
    }

    fn check(m: &Masker, input: &str, expected: &str) {
        assert_eq!(m.mask(input), expected, "input: {input:?}");
    }

    #[test]
    fn masks_literals_and_built_in_patterns() {
        let m = masker(&["hunter2-secret", "abc", "s3cr3t", "s3cr3t-longer"]);
        let table = [
            ("nothing here", "nothing here"),
            ("pw=hunter2-secret!", "pw=***!"),
            (
                "twice: hunter2-secret and hunter2-secret",
                "twice: *** and ***",
            ),
            // The longer of two overlapping secrets wins, leaving no tail behind.
            ("x s3cr3t-longer y", "x *** y"),
            ("x s3cr3t y", "x *** y"),
            // Shorter than MIN_SECRET_LEN: not a secret.
            ("abc abc", "abc abc"),
            ("key AKIAABCDEFGHIJKLMNOP used", "key *** used"),
            ("ASIAABCDEFGHIJKLMNOPQ", "ASIAABCDEFGHIJKLMNOPQ"),
            ("token xoxb-123-456-abcDEF end", "token *** end"),
            ("app xapp-1-A0-xyz", "app ***"),
            (
                "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG end",
                "*** end",
            ),
            ("AWS_SECRET_ACCESS_KEY: abc/def", "***"),
        ];
        for (input, expected) in table {
            check(&m, input, expected);
        }
        assert!(matches!(m.mask("clean text"), Cow::Borrowed(_)));
    }

    #[test]
    fn masks_secret_in_its_json_escaped_form() {
        let m = masker(&["pa\"ss\\word\nx"]);
        let doc = json!({"v": "pa\"ss\\word\nx"}).to_string();
        assert_eq!(doc, r#"{"v":"pa\"ss\\word\nx"}"#);
        check(&m, &doc, r#"{"v":"***"}"#);
        check(&m, "raw: pa\"ss\\word\nx.", "raw: ***.");
    }

    #[test]
    fn the_clean_text_set_covers_literals_and_patterns() {
        let m = Masker::new(
            vec!["hunter2-secret".into()],
            vec![Regex::new(r"(?i)internal-[a-z]{4}").unwrap()],
        )
        .expect("masker");
        let any = m.any.as_ref().expect("the set builds");
        // Literals (one regex) + four built-in patterns + one extra.
        assert_eq!(any.len(), 6);
        assert!(!any.is_match("a clean status line"));
        for dirty in [
            "x hunter2-secret y",
            "INTERNAL-abcd",
            "xoxb-1-2",
            "AKIAABCDEFGHIJKLMNOP",
        ] {
            assert!(any.is_match(dirty), "{dirty}");
            assert!(matches!(m.mask(dirty), Cow::Owned(_)), "{dirty}");
        }
    }

    #[test]
    fn extra_patterns_apply() {
        let m = Masker::new(
            Vec::new(),
            vec![Regex::new(r"ghp_[A-Za-z0-9]+").expect("regex")],
        )
        .expect("masker");
        check(&m, "gh ghp_abcDEF123 done", "gh *** done");
    }

    #[test]
    fn env_rule_picks_secret_names_only() {
        let table = [
            ("AWS_SECRET_ACCESS_KEY", true),
            ("AWS_SESSION_TOKEN", true),
            ("AWS_ACCESS_KEY_ID", false),
            ("AWS_REGION", false),
            ("SLACK_BOT_TOKEN", true),
            ("SLACK_SIGNING_SECRET", true),
            ("TF_VAR_db_password", true),
            ("TF_VAR_api_key", true),
            ("TF_VAR_jmeter_slave_count", false),
            ("GITHUB_TOKEN", true),
            ("PATH", false),
        ];
        for (name, expected) in table {
            assert_eq!(is_secret_env_name(name), expected, "{name}");
        }
        let m = Masker::from_vars(
            [
                ("SLACK_BOT_TOKEN".to_string(), "bot-token-value".to_string()),
                ("TF_VAR_db_password".to_string(), "pw".to_string()),
                ("HOME".to_string(), "/home/runner".to_string()),
            ],
            Vec::new(),
        )
        .expect("masker");
        check(&m, "bot-token-value /home/runner pw", "*** /home/runner pw");
    }

    #[test]
    fn mask_json_masks_strings_keys_and_sensitive_values() {
        let m = masker(&["topsecretvalue"]);
        let input = json!({
            "outputs": {
                "ip": {"sensitive": false, "value": "10.0.0.1"},
                "pw": {"sensitive": true, "value": {"nested": "anything"}},
            },
            "db_password": "plain-text",
            "list": ["a topsecretvalue b", 3, null],
            "topsecretvalue": true,
        });
        let expected = json!({
            "outputs": {
                "ip": {"sensitive": false, "value": "10.0.0.1"},
                "pw": {"sensitive": true, "value": "***"},
            },
            "db_password": "***",
            "list": ["a *** b", 3, null],
            "***": true,
        });
        assert_eq!(m.mask_json(&input), expected);
    }

    #[test]
    fn a_literal_set_that_cannot_be_built_is_an_error_not_an_empty_masker() {
        let secrets: Vec<String> = (0..50).map(|i| format!("secret-value-{i:04}")).collect();
        let error = Masker::with_size_limit(secrets.clone(), Vec::new(), 100)
            .expect_err("a tiny limit cannot hold the literals");
        let text = error.to_string();
        assert!(text.contains("refusing to start unmasked"), "{text}");
        // The same secrets with the real limit mask.
        let m = Masker::new(secrets, Vec::new()).expect("masker");
        check(&m, "x secret-value-0042 y", "x *** y");
    }
}
