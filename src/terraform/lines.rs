//! Reading a child's output one line at a time, as bytes. A pipe carries whatever Terraform,
//! a provider or a `local-exec` wrote, including invalid UTF-8 and runaway lines, so nothing
//! here may fail on content: bytes are decoded lossily, each line is capped (the rest is
//! read, counted and thrown away, never buffered), and only an I/O error ends a stream early.
//! Ending a read early would close the pipe and kill the writer with SIGPIPE mid-apply.

use crate::terraform::events::{parse_line, TfEvent};
use std::io;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// Longest line kept from Terraform's `-json` stream. Its `outputs` line carries every
/// output's value, so it may be long; memory stays bounded either way (one line at a time).
pub const MAX_JSON_LINE_BYTES: usize = 1024 * 1024;

/// Longest line kept from stderr and plain-text output (crash dumps, provider noise).
pub const MAX_TEXT_LINE_BYTES: usize = 64 * 1024;

/// One line as read: lossily decoded, without its line ending, and how much was cut off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub text: String,
    /// Bytes past the cap, read and dropped.
    pub dropped: usize,
}

impl Line {
    /// The line as logged: its text, and a note when it was cut.
    pub fn logged(&self) -> String {
        if self.dropped == 0 {
            self.text.clone()
        } else {
            format!(
                "{} … [line truncated: {} more bytes not kept]",
                self.text, self.dropped
            )
        }
    }
}

/// A byte stream split into capped lines.
pub struct CappedLines<R: AsyncBufRead + Unpin> {
    reader: R,
    max_line: usize,
}

impl<R: AsyncBufRead + Unpin> CappedLines<R> {
    pub fn new(reader: R, max_line: usize) -> Self {
        Self { reader, max_line }
    }

    /// The next line (blank ones included), or `None` at the end of the stream.
    pub async fn next_line(&mut self) -> io::Result<Option<Line>> {
        let mut bytes = Vec::new();
        let mut dropped = 0;
        let mut saw_any = false;
        loop {
            let buf = self.reader.fill_buf().await?;
            if buf.is_empty() {
                return Ok(saw_any.then(|| finish_line(&bytes, dropped)));
            }
            saw_any = true;
            let (chunk, used, done) = match buf.iter().position(|b| *b == b'\n') {
                // A CRLF's CR is part of the ending, not of the line (nor of what was cut).
                Some(pos) => (
                    buf[..pos].strip_suffix(b"\r").unwrap_or(&buf[..pos]),
                    pos + 1,
                    true,
                ),
                None => (buf, buf.len(), false),
            };
            let room = self.max_line.saturating_sub(bytes.len());
            let kept = chunk.len().min(room);
            bytes.extend_from_slice(&chunk[..kept]);
            dropped += chunk.len() - kept;
            self.reader.consume(used);
            if done {
                return Ok(Some(finish_line(&bytes, dropped)));
            }
        }
    }
}

fn finish_line(bytes: &[u8], dropped: usize) -> Line {
    let text = String::from_utf8_lossy(bytes);
    Line {
        text: text.trim_end_matches(['\n', '\r']).to_string(),
        dropped,
    }
}

/// Reads Terraform's `-json` stream one line at a time, each line capped at
/// [`MAX_JSON_LINE_BYTES`] so a runaway line cannot exhaust memory.
pub struct EventReader<R: AsyncBufRead + Unpin> {
    lines: CappedLines<R>,
}

impl<R: AsyncBufRead + Unpin> EventReader<R> {
    pub fn new(reader: R) -> Self {
        Self::with_max_line(reader, MAX_JSON_LINE_BYTES)
    }

    /// Same as [`EventReader::new`] with another cap (tests use a small one).
    pub fn with_max_line(reader: R, max_line: usize) -> Self {
        Self {
            lines: CappedLines::new(reader, max_line),
        }
    }

    /// The next non-blank line (as logged: a cut line says so) and its event, or `None` at
    /// end of stream. Only I/O errors are errors; bad content comes back as
    /// [`TfEvent::Malformed`].
    pub async fn next_event(&mut self) -> io::Result<Option<(String, TfEvent)>> {
        loop {
            let Some(line) = self.lines.next_line().await? else {
                return Ok(None);
            };
            if line.text.trim().is_empty() && line.dropped == 0 {
                continue;
            }
            let event = if line.dropped > 0 {
                TfEvent::Malformed {
                    raw: line.text.clone(),
                }
            } else {
                parse_line(&line.text)
            };
            return Ok(Some((line.logged(), event)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reader_caps_long_lines_and_skips_blank_ones() {
        let long = format!(r#"{{"type":"log","@message":"{}"}}"#, "x".repeat(100));
        let input = format!(
            "{}\n\n{}\r\n{}",
            r#"{"type":"refresh_start","hook":{"resource":{"addr":"a.b"}}}"#,
            long,
            r#"{"type":"log","@message":"tail without newline"}"#
        );
        let mut reader = EventReader::with_max_line(input.as_bytes(), 64);
        let mut seen = Vec::new();
        while let Some((raw, event)) = reader.next_event().await.expect("in-memory read") {
            seen.push((raw, event));
        }
        assert_eq!(seen.len(), 3);
        assert_eq!(
            seen[0].1,
            TfEvent::RefreshStart {
                address: "a.b".into()
            }
        );
        assert!(seen[1].0.starts_with(&long[..64]), "{}", seen[1].0);
        assert!(
            seen[1]
                .0
                .ends_with("[line truncated: 64 more bytes not kept]"),
            "{}",
            seen[1].0
        );
        assert!(matches!(&seen[1].1, TfEvent::Malformed { raw } if raw.len() == 64));
        assert_eq!(
            seen[2].1,
            TfEvent::Log {
                level: String::new(),
                message: "tail without newline".into()
            }
        );
    }

    #[tokio::test]
    async fn reader_cap_holds_across_small_buffer_chunks() {
        let input = format!(
            "{}\n{}\n",
            "y".repeat(5000),
            r#"{"type":"log","@message":"ok"}"#
        );
        let buffered = tokio::io::BufReader::with_capacity(7, input.as_bytes());
        let mut reader = EventReader::with_max_line(buffered, 100);
        let (raw, event) = reader.next_event().await.expect("read").expect("a line");
        assert!(raw.starts_with(&"y".repeat(100)));
        assert!(raw.contains("4900 more bytes"), "{raw}");
        assert!(matches!(event, TfEvent::Malformed { raw } if raw.len() == 100));
        let (_, event) = reader.next_event().await.expect("read").expect("a line");
        assert_eq!(
            event,
            TfEvent::Log {
                level: String::new(),
                message: "ok".into()
            }
        );
        assert!(reader.next_event().await.expect("read").is_none());
    }

    #[tokio::test]
    async fn invalid_utf8_is_decoded_lossily_and_the_stream_goes_on() {
        let mut input = b"before\n".to_vec();
        input.extend_from_slice(b"bad \xff\xfe bytes \xc3\n");
        input.extend_from_slice(b"after\n");
        let mut lines = CappedLines::new(&input[..], MAX_TEXT_LINE_BYTES);
        let mut seen = Vec::new();
        while let Some(line) = lines.next_line().await.expect("in-memory read") {
            seen.push(line.text);
        }
        assert_eq!(
            seen,
            ["before", "bad \u{fffd}\u{fffd} bytes \u{fffd}", "after"]
        );
    }

    #[tokio::test]
    async fn a_cut_inside_a_multibyte_character_still_decodes() {
        // "é" is two bytes; a cap of 2 keeps "a" and half of the first "é".
        let mut lines = CappedLines::new("aéé\n".as_bytes(), 2);
        let line = lines.next_line().await.expect("read").expect("a line");
        assert_eq!(line.text, "a\u{fffd}");
        assert_eq!(line.dropped, 3);
    }
}
