//! JMeter's XML results: `<testResults>` holding one `<httpSample>` or `<sample>` element per
//! sample, its figures in attributes (`t` elapsed, `lb` label, `s` success, `ts` start, `rc`
//! response code, `rm` response message, `by` bytes, `na` active threads).
//!
//! Sub-results — the requests of a Transaction Controller that generates a parent sample, the
//! hops of a followed redirect, embedded resources — are nested inside their parent's element.
//! Only top-level samples are counted: the parent's elapsed time already includes its
//! children's, and JMeter's own listeners (Aggregate Report, Summary Report) count a parent
//! sample once, not its sub-results, so our figures match what a tester sees in JMeter (and the
//! CSV format, which writes parents only).

use super::accumulate::{Accumulator, Sample};
use super::csv_jtl::{parse_count, parse_elapsed, parse_success, parse_threads, parse_timestamp};
use super::error::{JtlError, Problem};
use super::summary::{JtlFormat, TestSummary};
use quick_xml::events::{BytesStart, Event};
use quick_xml::XmlVersion;
use std::borrow::Cow;
use std::io::{BufRead, Read};

/// Counts the newlines the parser has consumed, so errors can name a line: the XML parser
/// itself only knows byte offsets.
struct LineCounter<R> {
    inner: R,
    newlines: u64,
}

impl<R: BufRead> Read for LineCounter<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(out)?;
        self.newlines += memchr_count(&out[..n]);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for LineCounter<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        if let Ok(buffer) = self.inner.fill_buf() {
            self.newlines += memchr_count(&buffer[..amount.min(buffer.len())]);
        }
        self.inner.consume(amount);
    }
}

fn memchr_count(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

fn is_sample(name: &[u8]) -> bool {
    name == b"sample" || name == b"httpSample"
}

/// Reads an XML JTL whose first `skipped_lines` blank lines were already consumed.
pub fn summarise_xml<R: BufRead>(
    reader: R,
    skipped_lines: u64,
    top: usize,
) -> Result<TestSummary, JtlError> {
    let counter = LineCounter {
        inner: reader,
        newlines: skipped_lines,
    };
    let mut xml = quick_xml::Reader::from_reader(counter);
    let mut buffer = Vec::new();
    let mut totals = Accumulator::new(JtlFormat::Xml);
    let mut seen_root = false;
    // How many sample elements enclose the current position: 0 means a top-level sample.
    let mut sample_depth = 0usize;
    loop {
        buffer.clear();
        let event = xml.read_event_into(&mut buffer);
        // The event ends where the parser stopped, so the line is the element's last line.
        let line = xml.get_ref().newlines + 1;
        let event = event.map_err(|e| JtlError::at(line, Problem::Syntax(e.to_string())))?;
        match event {
            Event::Start(ref element) | Event::Empty(ref element) => {
                let empty = matches!(event, Event::Empty(_));
                let name = element.name();
                if !seen_root {
                    if name.as_ref() != b"testResults" {
                        let root = String::from_utf8_lossy(name.as_ref()).into_owned();
                        return Err(JtlError::at(line, Problem::NotTestResults { root }));
                    }
                    seen_root = true;
                    continue;
                }
                if is_sample(name.as_ref()) {
                    if sample_depth == 0 {
                        add_sample(&mut totals, element, line)?;
                    }
                    if !empty {
                        sample_depth += 1;
                    }
                }
            }
            Event::End(ref element) if is_sample(element.name().as_ref()) => {
                sample_depth = sample_depth.saturating_sub(1);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !seen_root {
        return Err(JtlError::Empty);
    }
    Ok(totals.finish(top))
}

/// The attributes of one sample element the summary reads, entities resolved.
#[derive(Default)]
struct Attributes<'a> {
    t: Option<Cow<'a, str>>,
    lb: Option<Cow<'a, str>>,
    s: Option<Cow<'a, str>>,
    ts: Option<Cow<'a, str>>,
    rc: Option<Cow<'a, str>>,
    rm: Option<Cow<'a, str>>,
    by: Option<Cow<'a, str>>,
    na: Option<Cow<'a, str>>,
}

fn attributes<'a>(element: &'a BytesStart<'a>, line: u64) -> Result<Attributes<'a>, JtlError> {
    let mut found = Attributes::default();
    for attribute in element.attributes() {
        let attribute =
            attribute.map_err(|e| JtlError::at(line, Problem::Syntax(e.to_string())))?;
        let slot = match attribute.key.as_ref() {
            b"t" => &mut found.t,
            b"lb" => &mut found.lb,
            b"s" => &mut found.s,
            b"ts" => &mut found.ts,
            b"rc" => &mut found.rc,
            b"rm" => &mut found.rm,
            b"by" => &mut found.by,
            b"na" => &mut found.na,
            _ => continue,
        };
        let value = attribute
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|e| JtlError::at(line, Problem::Syntax(e.to_string())))?;
        *slot = Some(value);
    }
    Ok(found)
}

fn add_sample(totals: &mut Accumulator, element: &BytesStart, line: u64) -> Result<(), JtlError> {
    let found = attributes(element, line)?;
    let missing = |attribute: &'static str| {
        let element = String::from_utf8_lossy(element.name().as_ref()).into_owned();
        JtlError::at(line, Problem::MissingAttribute { element, attribute })
    };
    let t = found.t.as_deref().ok_or_else(|| missing("t"))?;
    let ts = found.ts.as_deref().ok_or_else(|| missing("ts"))?;
    let lb = found.lb.as_deref().ok_or_else(|| missing("lb"))?;
    let s = found.s.as_deref().ok_or_else(|| missing("s"))?;
    let sample = Sample {
        timestamp_ms: parse_timestamp(ts, "ts", line)?,
        elapsed_ms: parse_elapsed(t, "t", line)?,
        label: lb,
        success: parse_success(s, "s", line)?,
        code: found.rc.as_deref().unwrap_or(""),
        message: found.rm.as_deref().unwrap_or(""),
        bytes: parse_count(found.by.as_deref().unwrap_or(""), "by", line)?,
        all_threads: parse_threads(found.na.as_deref().unwrap_or(""), "na", line)?,
    };
    totals.add(&sample);
    Ok(())
}
