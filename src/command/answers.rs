//! How the parser answers bad input: the error kinds callers and tests branch on, and the
//! one-line messages, with user text quoted back safely. Shared by the parser and the
//! argument readers of richer verbs (`run_args`).

use super::catalogue::usage_of;
use super::ParseContext;

/// What went wrong, for callers and tests that branch; the message is for the user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseErrorKind {
    TextTooLong,
    ControlCharacter,
    /// Non-ASCII look-alikes or punctuation where only a name can stand.
    BadCharacters,
    UnknownVerb,
    UnknownSize,
    UnknownEnv,
    DuplicateEnv,
    MissingArgument,
    ExtraArgument,
    BadDuration,
    DurationTooShort,
    DurationTooLong,
    BadCount,
    BadRunId,
    BadLockId,
    UnknownHelpTopic,
    BadPlan,
    BadProperty,
    BadNumber,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    pub kind: ParseErrorKind,
    /// One line, safe to post: user text in it is shortened and stripped of markup.
    pub message: String,
}

pub(crate) fn error(kind: ParseErrorKind, message: impl Into<String>) -> ParseError {
    ParseError {
        kind,
        message: message.into(),
    }
}

pub(crate) fn missing(name: &str, what: &str, ctx: Option<&ParseContext>) -> ParseError {
    let sizes = ctx
        .map(|ctx| {
            format!(
                "; sizes: {}",
                ctx.sizes
                    .iter()
                    .map(|size| size.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
        .unwrap_or_default();
    error(
        ParseErrorKind::MissingArgument,
        format!("`{name}` needs {what}; usage: {}{sizes}", usage_of(name)),
    )
}

pub(crate) fn extra_argument(name: &str, extra: &str) -> ParseError {
    error(
        ParseErrorKind::ExtraArgument,
        format!(
            "unexpected `{}` after `{name}`; usage: {}",
            echo(extra),
            usage_of(name)
        ),
    )
}

/// User text quoted back: at most 32 characters, and nothing Slack would treat as markup
/// (backticks, `<`, `>`, `&`, `*`, `_`, `~`) or any non-ASCII character.
pub(crate) fn echo(word: &str) -> String {
    let mut quoted: String = word
        .chars()
        .take(32)
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-.:#=/+@,%".contains(c) {
                c
            } else {
                '?'
            }
        })
        .collect();
    if word.chars().count() > 32 {
        quoted.push('…');
    }
    quoted
}
