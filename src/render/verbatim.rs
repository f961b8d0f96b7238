//! A message's blocks, kept as the JSON text the template rendered whenever Slack's limits
//! and masking would leave them untouched, as they do for nearly every message.
//!
//! Why: parsing the rendered blocks into a `serde_json::Value` tree, walking it, writing it out
//! again for the slash-command ack and freeing it was about a fifth of the CPU of answering
//! a command. [`scan`] instead reads the text once without building anything and answers one
//! question: could [`super::enforce_limits`] or the masker change anything here? Only a sure
//! "no" keeps the text ([`Blocks::Verbatim`]); anything else, including output that is not a
//! valid list of blocks, goes down the tree path, which cuts, masks and reports errors as
//! before. The test compares both paths on every sample message.
//!
//! The scan's rules are deliberately stricter than the limits they stand for, so a message it
//! lets through can never need cutting or masking:
//! - at most [`MAX_BLOCKS`] blocks, each an object with a string `type`;
//! - every string of a block within the smallest limit that applies anywhere in a block of its
//!   type (`header` 150, `section` 2,000, `context` 3,000, `actions` 75 characters);
//! - no list inside a block longer than 10 (fields, context elements);
//! - all strings of all blocks together within [`MAX_TOTAL_TEXT`];
//! - no string or key the masker would change, no `sensitive` marker and no key naming a
//!   password, secret, token or private key.

use super::limits::{
    MAX_BLOCKS, MAX_BUTTON_TEXT, MAX_CONTEXT_ELEMENTS, MAX_FIELDS, MAX_FIELD_TEXT, MAX_HEADER_TEXT,
    MAX_SECTION_TEXT, MAX_TOTAL_TEXT,
};
use crate::masker::{is_sensitive_key, Masker};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::Value;
use std::borrow::Cow;
use std::fmt;

/// The blocks of a [`super::Message`].
#[derive(Clone, Debug)]
pub enum Blocks {
    /// Parsed blocks: built in code, or cut or masked after rendering.
    Parsed(Vec<Value>),
    /// A non-empty JSON array of blocks exactly as a template rendered it, which [`scan`]
    /// found within every limit and free of anything to mask. Serialized as is.
    Verbatim(Box<RawValue>),
}

impl Blocks {
    /// The blocks as values (parsed on demand from verbatim text).
    pub fn values(&self) -> Cow<'_, [Value]> {
        match self {
            Blocks::Parsed(values) => Cow::Borrowed(values),
            Blocks::Verbatim(json) => Cow::Owned(parse(json)),
        }
    }

    pub fn into_values(self) -> Vec<Value> {
        match self {
            Blocks::Parsed(values) => values,
            Blocks::Verbatim(json) => parse(&json),
        }
    }

    pub fn is_empty(&self) -> bool {
        match self {
            Blocks::Parsed(values) => values.is_empty(),
            // Only a non-empty list is kept verbatim.
            Blocks::Verbatim(_) => false,
        }
    }

    /// About how many bytes the blocks take as JSON, to size an output buffer.
    pub fn json_len_hint(&self) -> usize {
        match self {
            Blocks::Parsed(values) => values.len() * 256,
            Blocks::Verbatim(json) => json.get().len(),
        }
    }
}

fn parse(json: &RawValue) -> Vec<Value> {
    // The scan checked that this is a list of objects before keeping it.
    serde_json::from_str(json.get()).unwrap_or_default()
}

impl Default for Blocks {
    fn default() -> Self {
        Blocks::Parsed(Vec::new())
    }
}

impl From<Vec<Value>> for Blocks {
    fn from(values: Vec<Value>) -> Self {
        Blocks::Parsed(values)
    }
}

/// Equal when the blocks are, however they are held.
impl PartialEq for Blocks {
    fn eq(&self, other: &Self) -> bool {
        self.values() == other.values()
    }
}

impl Serialize for Blocks {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Blocks::Parsed(values) => values.serialize(serializer),
            Blocks::Verbatim(json) => json.serialize(serializer),
        }
    }
}

/// Reads rendered `blocks` JSON and returns how many blocks it holds if limits and masking
/// would change nothing in it (the rules in the module doc); `None` when they might, or when it
/// is not a list of blocks.
pub fn scan(blocks_json: &str, masker: Option<&Masker>) -> Option<usize> {
    let mut totals = Totals { masker, chars: 0 };
    let mut reader = serde_json::Deserializer::from_str(blocks_json);
    let count = BlockList(&mut totals).deserialize(&mut reader).ok()?;
    reader.end().ok()?;
    (totals.chars <= MAX_TOTAL_TEXT).then_some(count)
}

/// What the scan adds up across blocks.
struct Totals<'m> {
    masker: Option<&'m Masker>,
    /// Characters of every string in every block.
    chars: usize,
}

impl Totals<'_> {
    fn masks(&self, text: &str) -> bool {
        self.masker.is_some_and(|masker| masker.changes(text))
    }
}

/// The reason a scan stops: the tree path takes over, so no message is needed.
fn stop<E: serde::de::Error>() -> E {
    E::custom("not verbatim")
}

/// The top-level list.
struct BlockList<'t, 'm>(&'t mut Totals<'m>);

impl<'de> DeserializeSeed<'de> for BlockList<'_, '_> {
    type Value = usize;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<usize, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for BlockList<'_, '_> {
    type Value = usize;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of blocks")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut blocks: A) -> Result<usize, A::Error> {
        let mut count = 0;
        while blocks.next_element_seed(Block(self.0))?.is_some() {
            count += 1;
            if count > MAX_BLOCKS {
                return Err(stop());
            }
        }
        Ok(count)
    }
}

/// One block: an object whose longest string must fit its type's smallest limit.
struct Block<'t, 'm>(&'t mut Totals<'m>);

/// The longest string allowed anywhere in a block of this type (see the module doc).
fn limit_of(block_type: &str) -> usize {
    match block_type {
        "header" => MAX_HEADER_TEXT,
        "section" => MAX_SECTION_TEXT.min(MAX_FIELD_TEXT),
        "context" => MAX_SECTION_TEXT,
        "actions" => MAX_BUTTON_TEXT,
        _ => usize::MAX,
    }
}

impl<'de> DeserializeSeed<'de> for Block<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Block<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a block object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<(), A::Error> {
        let mut inside = Inside {
            totals: self.0,
            longest: 0,
        };
        let mut limit = None;
        while let Some(is_type) = entries.next_key_seed(Key(inside.totals))? {
            if is_type {
                limit = Some(entries.next_value_seed(TypeName(&mut inside))?);
            } else {
                entries.next_value_seed(Any(&mut inside))?;
            }
        }
        match limit {
            Some(limit) if inside.longest <= limit => Ok(()),
            _ => Err(stop()),
        }
    }
}

/// The walk inside one block.
struct Inside<'t, 'm> {
    totals: &'t mut Totals<'m>,
    /// Characters of the longest string seen in the block.
    longest: usize,
}

impl Inside<'_, '_> {
    fn string<E: serde::de::Error>(&mut self, text: &str) -> Result<(), E> {
        let chars = text.chars().count();
        self.longest = self.longest.max(chars);
        self.totals.chars += chars;
        if self.totals.masks(text) {
            return Err(stop());
        }
        Ok(())
    }
}

/// An object key: refused if the masker would change it or it marks or names a secret;
/// `true` for `type`.
struct Key<'t, 'm>(&'t Totals<'m>);

impl<'de> DeserializeSeed<'de> for Key<'_, '_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key<'_, '_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<bool, E> {
        if key == "sensitive" || is_sensitive_key(key) || self.0.masks(key) {
            return Err(stop());
        }
        Ok(key == "type")
    }
}

/// A block's `type`, which must be a string: read as the limit of its strings.
struct TypeName<'i, 't, 'm>(&'i mut Inside<'t, 'm>);

impl<'de> DeserializeSeed<'de> for TypeName<'_, '_, '_> {
    type Value = usize;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<usize, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for TypeName<'_, '_, '_> {
    type Value = usize;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a block type")
    }
    fn visit_str<E: serde::de::Error>(self, block_type: &str) -> Result<usize, E> {
        self.0.string(block_type)?;
        Ok(limit_of(block_type))
    }
}

/// Any value inside a block.
struct Any<'i, 't, 'm>(&'i mut Inside<'t, 'm>);

impl<'de> DeserializeSeed<'de> for Any<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Any<'_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<(), E> {
        self.0.string(text)
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<(), A::Error> {
        let mut count = 0;
        while items.next_element_seed(Any(&mut *self.0))?.is_some() {
            count += 1;
            if count > MAX_FIELDS.min(MAX_CONTEXT_ELEMENTS) {
                return Err(stop());
            }
        }
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<(), A::Error> {
        while entries.next_key_seed(Key(self.0.totals))?.is_some() {
            entries.next_value_seed(Any(&mut *self.0))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scan_of(blocks: &Value) -> Option<usize> {
        scan(&blocks.to_string(), None)
    }

    #[test]
    fn plain_blocks_within_limits_are_kept() {
        let blocks = json!([
            {"type": "header", "text": {"type": "plain_text", "text": "Status of lt1"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "x".repeat(2000)},
             "fields": [{"type": "mrkdwn", "text": "*Size*\nlarge"}]},
            {"type": "divider"},
            {"type": "actions", "elements": [{"type": "button", "action_id": "approve",
              "value": "12", "text": {"type": "plain_text", "text": "Apply"}, "style": "primary"}]}
        ]);
        assert_eq!(scan_of(&blocks), Some(4));
        assert_eq!(scan_of(&json!([])), Some(0));
    }

    #[test]
    fn anything_limits_might_cut_is_refused() {
        let section =
            |text: String| json!({"type": "section", "text": {"type": "mrkdwn", "text": text}});
        let refused = [
            json!([{"type": "header", "text": {"type": "plain_text", "text": "h".repeat(151)}}]),
            json!([section("s".repeat(2001))]),
            json!([{"type": "actions", "elements": [{"type": "button",
                "text": {"type": "plain_text", "text": "b".repeat(76)}}]}]),
            json!([{"type": "context", "elements": vec![json!({"type": "mrkdwn", "text": "c"}); 11]}]),
            json!([{"type": "section", "fields": vec![json!({"type": "mrkdwn", "text": "f"}); 11]}]),
            Value::Array((0..51).map(|_| json!({"type": "divider"})).collect()),
            Value::Array((0..7).map(|_| section("t".repeat(1900))).collect()),
        ];
        for blocks in refused {
            assert_eq!(scan_of(&blocks), None, "{blocks}");
        }
        // Exactly at the limits: kept.
        assert!(scan_of(
            &json!([{"type": "header", "text": {"type": "plain_text", "text": "h".repeat(150)}}])
        )
        .is_some());
        assert!(scan_of(&Value::Array(
            (0..50).map(|_| json!({"type": "divider"})).collect()
        ))
        .is_some());
    }

    #[test]
    fn what_is_not_a_list_of_typed_blocks_is_refused() {
        for blocks in [
            "{}",
            "[1]",
            "[{\"text\": \"no type\"}]",
            "[{\"type\": 3}]",
            "[",
            "[] []",
        ] {
            assert_eq!(scan(blocks, None), None, "{blocks}");
        }
    }

    #[test]
    fn anything_masking_might_change_is_refused() {
        let masker = Masker::new(vec!["hunter2-secret".to_string()], Vec::new());
        let kept = json!([{"type": "section", "text": {"type": "mrkdwn", "text": "all clear"}}]);
        assert_eq!(scan(&kept.to_string(), Some(&masker)), Some(1));
        let refused = [
            json!([{"type": "section", "text": {"type": "mrkdwn", "text": "pw hunter2-secret"}}]),
            json!([{"type": "section", "text": {"type": "mrkdwn", "text": "AKIAABCDEFGHIJKLMNOP"}}]),
            json!([{"type": "section", "hunter2-secret": 1}]),
            json!([{"type": "section", "fields": [{"type": "mrkdwn", "db_password": "x"}]}]),
            json!([{"type": "section", "output": {"sensitive": true, "value": "x"}}]),
        ];
        for blocks in &refused {
            assert_eq!(scan(&blocks.to_string(), Some(&masker)), None, "{blocks}");
        }
        // Escaped in the JSON text, the secret is still found in the decoded string.
        let escaped =
            r#"[{"type": "section", "text": {"type": "mrkdwn", "text": "hunter2\u002dsecret"}}]"#;
        assert_eq!(scan(escaped, Some(&masker)), None);
    }
}
