//! JMeter's CSV results: a header line of JMeter's column names (any subset, any order — the
//! save settings decide which), then one line per sample. Fields may be quoted and hold commas,
//! quotes and newlines (a label or a failure message can), so the `csv` crate splits them; this
//! file only maps columns and parses the values.

use super::accumulate::{Accumulator, Sample};
use super::error::{bad_value, JtlError, Problem};
use super::summary::JtlFormat;
use std::borrow::Cow;
use std::io::BufRead;

/// Where each column the summary reads sits in a row.
struct Columns {
    timestamp: usize,
    elapsed: usize,
    label: usize,
    success: usize,
    code: Option<usize>,
    message: Option<usize>,
    failure: Option<usize>,
    bytes: Option<usize>,
    all_threads: Option<usize>,
    width: usize,
}

impl Columns {
    fn from_header(header: &csv::ByteRecord, line: u64) -> Result<Columns, JtlError> {
        let names: Vec<Cow<str>> = header.iter().map(String::from_utf8_lossy).collect();
        let find = |name: &str| names.iter().position(|n| n.trim() == name);
        let first = names.first().map(|n| n.to_string()).unwrap_or_default();
        let known = [
            "timeStamp",
            "elapsed",
            "label",
            "success",
            "responseCode",
            "bytes",
        ];
        if !names.iter().any(|n| known.contains(&n.trim())) {
            return Err(JtlError::at(line, Problem::NoHeader { first_field: first }));
        }
        let required = |column: &'static str| {
            find(column).ok_or_else(|| {
                JtlError::at(
                    line,
                    Problem::MissingColumn {
                        column,
                        header: names.join(","),
                    },
                )
            })
        };
        Ok(Columns {
            timestamp: required("timeStamp")?,
            elapsed: required("elapsed")?,
            label: required("label")?,
            success: required("success")?,
            code: find("responseCode"),
            message: find("responseMessage"),
            failure: find("failureMessage"),
            bytes: find("bytes"),
            all_threads: find("allThreads"),
            width: names.len(),
        })
    }
}

/// Reads a CSV JTL whose first `skipped_lines` blank lines were already consumed.
pub fn summarise_csv<R: BufRead>(
    reader: R,
    delimiter: u8,
    skipped_lines: u64,
    top: usize,
) -> Result<super::TestSummary, JtlError> {
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .buffer_capacity(64 * 1024)
        .from_reader(reader);
    let line_of =
        |record: &csv::ByteRecord| record.position().map_or(0, |p| p.line()) + skipped_lines;
    let mut record = csv::ByteRecord::new();
    if !read(&mut csv, &mut record, skipped_lines)? {
        return Err(JtlError::Empty);
    }
    let columns = Columns::from_header(&record, line_of(&record))?;
    let mut totals = Accumulator::new(JtlFormat::Csv);
    while read(&mut csv, &mut record, skipped_lines)? {
        let line = line_of(&record);
        if record.len() == 1 && record.get(0).is_some_and(|f| f.is_empty()) {
            continue; // a blank line (JMeter leaves one when a run is cut short)
        }
        if record.len() != columns.width {
            let problem = Problem::FieldCount {
                expected: columns.width,
                found: record.len(),
            };
            return Err(JtlError::at(line, problem));
        }
        add_row(&mut totals, &columns, &record, line)?;
    }
    Ok(totals.finish(top))
}

/// The next record into `record`; false at the end of the file.
fn read<R: std::io::Read>(
    csv: &mut csv::Reader<R>,
    record: &mut csv::ByteRecord,
    skipped_lines: u64,
) -> Result<bool, JtlError> {
    csv.read_byte_record(record).map_err(|error| {
        let line = error.position().map_or(0, |p| p.line()) + skipped_lines;
        match error.into_kind() {
            csv::ErrorKind::Io(io) => JtlError::Io(io),
            other => JtlError::at(line, Problem::Syntax(format!("{other:?}"))),
        }
    })
}

fn add_row(
    totals: &mut Accumulator,
    columns: &Columns,
    record: &csv::ByteRecord,
    line: u64,
) -> Result<(), JtlError> {
    let field = |index: usize| {
        record
            .get(index)
            .map(String::from_utf8_lossy)
            .unwrap_or_default()
    };
    let optional = |index: Option<usize>| index.map(field).unwrap_or_default();
    let timestamp = field(columns.timestamp);
    let elapsed = field(columns.elapsed);
    let failure = optional(columns.failure);
    let message = if failure.is_empty() {
        optional(columns.message)
    } else {
        failure
    };
    let bytes = optional(columns.bytes);
    let threads = optional(columns.all_threads);
    let sample = Sample {
        timestamp_ms: parse_timestamp(&timestamp, "timeStamp", line)?,
        elapsed_ms: parse_elapsed(&elapsed, "elapsed", line)?,
        label: &field(columns.label),
        success: parse_success(&field(columns.success), "success", line)?,
        code: &optional(columns.code),
        message: &message,
        bytes: parse_count(&bytes, "bytes", line)?,
        all_threads: parse_threads(&threads, "allThreads", line)?,
    };
    totals.add(&sample);
    Ok(())
}

/// Milliseconds since the epoch; JMeter's other timestamp formats are refused by name.
pub(crate) fn parse_timestamp(
    value: &str,
    field: &'static str,
    line: u64,
) -> Result<i64, JtlError> {
    value.trim().parse::<i64>().map_err(|_| {
        bad_value(
            line,
            field,
            value,
            "milliseconds since the epoch (jmeter.save.saveservice.timestamp_format=ms)",
        )
    })
}

/// Elapsed milliseconds; beyond u32 (49 days) is held at u32::MAX.
pub(crate) fn parse_elapsed(value: &str, field: &'static str, line: u64) -> Result<u32, JtlError> {
    match value.trim().parse::<i64>() {
        Ok(ms) if ms >= 0 => Ok(u32::try_from(ms).unwrap_or(u32::MAX)),
        _ => Err(bad_value(
            line,
            field,
            value,
            "a whole number of milliseconds, 0 or more",
        )),
    }
}

pub(crate) fn parse_success(value: &str, field: &'static str, line: u64) -> Result<bool, JtlError> {
    match value.trim() {
        v if v.eq_ignore_ascii_case("true") => Ok(true),
        v if v.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(bad_value(line, field, value, "true or false")),
    }
}

/// A count that may be absent (empty): 0 then.
pub(crate) fn parse_count(value: &str, field: &'static str, line: u64) -> Result<u64, JtlError> {
    match value.trim() {
        "" => Ok(0),
        v => v
            .parse::<u64>()
            .map_err(|_| bad_value(line, field, value, "a whole number")),
    }
}

pub(crate) fn parse_threads(
    value: &str,
    field: &'static str,
    line: u64,
) -> Result<Option<u32>, JtlError> {
    match value.trim() {
        "" => Ok(None),
        v => v
            .parse::<u32>()
            .map(Some)
            .map_err(|_| bad_value(line, field, value, "a whole number")),
    }
}
