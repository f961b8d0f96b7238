//! Why a JTL file could not be summarised: each error names the line and what was wrong, so
//! the person who ran the test can fix the file (or JMeter's save settings) without a debugger.

use std::fmt;

/// A JTL file that is not one JMeter could have written, or that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum JtlError {
    #[error(
        "the results file is empty: expected a CSV header line or an XML <testResults> document"
    )]
    Empty,
    #[error("could not read the results file: {0}")]
    Io(#[from] std::io::Error),
    #[error("line {line}: {problem}")]
    Line { line: u64, problem: Problem },
}

/// What was wrong on one line of a JTL file.
#[derive(Debug)]
pub enum Problem {
    /// The first CSV line is data, not JMeter's column names.
    NoHeader { first_field: String },
    /// The CSV header lacks a column the summary needs.
    MissingColumn {
        column: &'static str,
        header: String,
    },
    /// A CSV row with another number of fields than the header.
    FieldCount { expected: usize, found: usize },
    /// A field or attribute that should hold a number, or true/false, does not.
    BadValue {
        field: &'static str,
        value: String,
        expected: &'static str,
    },
    /// An XML sample without a required attribute.
    MissingAttribute {
        element: String,
        attribute: &'static str,
    },
    /// The XML document's root is not `<testResults>`.
    NotTestResults { root: String },
    /// The CSV or XML parser gave up.
    Syntax(String),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::NoHeader { first_field } => write!(
                f,
                "no header line: the first field is {first_field:?}, not one of JMeter's column \
                 names (timeStamp, elapsed, label, …); run JMeter with \
                 jmeter.save.saveservice.print_field_names=true"
            ),
            Problem::MissingColumn { column, header } => write!(
                f,
                "the header has no column `{column}` (it has: {header}); JMeter writes it unless \
                 its save settings turn it off"
            ),
            Problem::FieldCount { expected, found } => write!(
                f,
                "{found} fields where the header has {expected} (an unclosed quote, or a line \
                 cut short?)"
            ),
            Problem::BadValue {
                field,
                value,
                expected,
            } => {
                write!(f, "`{field}` is {value:?}, expected {expected}")
            }
            Problem::MissingAttribute { element, attribute } => {
                write!(f, "<{element}> has no `{attribute}` attribute")
            }
            Problem::NotTestResults { root } => write!(
                f,
                "the XML root element is <{root}>, not JMeter's <testResults>"
            ),
            Problem::Syntax(message) => write!(f, "{message}"),
        }
    }
}

impl JtlError {
    pub(crate) fn at(line: u64, problem: Problem) -> JtlError {
        JtlError::Line { line, problem }
    }

    /// The line the error names, if any.
    pub fn line(&self) -> Option<u64> {
        match self {
            JtlError::Line { line, .. } => Some(*line),
            _ => None,
        }
    }
}

/// Builds the error for a field that did not parse, keeping at most 40 characters of it.
pub(crate) fn bad_value(
    line: u64,
    field: &'static str,
    value: &str,
    expected: &'static str,
) -> JtlError {
    let value: String = value.chars().take(40).collect();
    JtlError::at(
        line,
        Problem::BadValue {
            field,
            value,
            expected,
        },
    )
}
