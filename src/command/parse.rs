//! The parser: untrusted chat text → [`ChatCommand`] or a short, specific [`ParseError`].
//! Rejects before it interprets: over-long text and control/invisible characters first,
//! then every argument must be a known name, a number or a duration.

use super::answers::{echo, error, extra_argument, missing};
pub use super::answers::{ParseError, ParseErrorKind};
use super::catalogue::{plain_read_named, specs_named, usage_of, verb_names};
use super::{ChatCommand, ParseContext, Verb};
use crate::config::format_duration;
use crate::model::{EnvName, RunId, SizeName};
use std::time::Duration;

/// Longer text is refused unread (Slack allows 4,000; no command needs more than a line).
pub const MAX_TEXT_CHARS: usize = 1000;
pub const DEFAULT_HISTORY: usize = 10;
pub const MAX_HISTORY: usize = 100;
/// Leases, extensions and holds shorter than this are typos (`3s` for `3h`).
pub const SHORTEST_DURATION: Duration = Duration::from_secs(60);

/// Parses one command. Empty text (or a bare `/loadtest`) is `help`.
pub fn parse(text: &str, ctx: &ParseContext) -> Result<ChatCommand, ParseError> {
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(error(
            ParseErrorKind::TextTooLong,
            format!("that command is over {MAX_TEXT_CHARS} characters; no command needs that many"),
        ));
    }
    if let Some(bad) = text.chars().find(|c| is_forbidden_char(*c)) {
        return Err(error(
            ParseErrorKind::ControlCharacter,
            format!(
                "the command contains a control or invisible character (U+{:04X}); please retype it",
                u32::from(bad)
            ),
        ));
    }
    // Other Unicode spaces (a pasted no-break space) separate words like a space does.
    let mut words: Vec<&str> = text
        .split(char::is_whitespace)
        .filter(|w| !w.is_empty())
        .collect();
    if words
        .first()
        .is_some_and(|w| w.eq_ignore_ascii_case("/loadtest"))
    {
        words.remove(0);
    }

    let mut env: Option<EnvName> = None;
    let mut rest = Vec::new();
    for word in words {
        match strip_prefix_ignore_case(word, "env=") {
            Some(name) => {
                if env.is_some() {
                    return Err(error(
                        ParseErrorKind::DuplicateEnv,
                        "name the environment once: one env=<name>",
                    ));
                }
                env = Some(known_env(name, ctx)?);
            }
            None => rest.push(word),
        }
    }

    let Some((first, args)) = rest.split_first() else {
        return Ok(ChatCommand {
            verb: Verb::Help { topic: None },
            env,
        });
    };
    let name = verb_word(first)?;
    let verb = parse_verb(name, args, ctx)?;
    Ok(ChatCommand { verb, env })
}

/// A verb's arguments, checked against what the verb takes: one arm per verb, the verbs
/// with richer arguments in functions of their own.
fn parse_verb(name: &'static str, args: &[&str], ctx: &ParseContext) -> Result<Verb, ParseError> {
    if let Some(kind) = plain_read_named(name) {
        no_arguments(name, args)?;
        return Ok(Verb::Read(kind));
    }
    let max_lease = ctx.max_lease;
    match name {
        "up" => parse_up(args, ctx),
        "plan" => match args {
            [] => Err(missing(name, "what to plan", Some(ctx))),
            [target] => Ok(Verb::Plan {
                target: known_size(target, ctx)?,
            }),
            [_, extra, ..] => Err(extra_argument(name, extra)),
        },
        "history" => parse_history(args),
        "extend" => match args {
            [] => Err(missing(name, "how long", None)),
            [by] => Ok(Verb::Extend {
                by: user_duration(by, "lease", max_lease)?,
            }),
            [_, extra, ..] => Err(extra_argument(name, extra)),
        },
        "hold" => match args {
            [] => Err(missing(name, "how long (or `off`)", None)),
            [word] if word.eq_ignore_ascii_case("off") => Ok(Verb::HoldOff),
            // Holds are capped like leases: a forgotten hold would keep paying all night.
            [for_] => Ok(Verb::Hold {
                for_: user_duration(for_, "hold", max_lease)?,
            }),
            [_, extra, ..] => Err(extra_argument(name, extra)),
        },
        "approve" | "reject" => match args {
            [] => Err(missing(name, "the run number", None)),
            [run] => {
                let run = run_id(run)?;
                Ok(if name == "approve" {
                    Verb::Approve { run }
                } else {
                    Verb::Reject { run }
                })
            }
            [_, extra, ..] => Err(extra_argument(name, extra)),
        },
        "unlock" => match args {
            [] => Err(missing(name, "the lock ID from Terraform's error", None)),
            [lock_id] => Ok(Verb::Unlock {
                lock_id: lock_id_of(lock_id)?,
            }),
            [_, extra, ..] => Err(extra_argument(name, extra)),
        },
        "help" => parse_help(args),
        "run" => super::run_args::parse_run(args),
        "stop" => match args {
            [] => Ok(Verb::Stop { now: false }),
            [word] if word.eq_ignore_ascii_case("--now") => Ok(Verb::Stop { now: true }),
            [extra, ..] => Err(extra_argument(name, extra)),
        },
        "compare" => match args {
            [a, b] => Ok(Verb::Compare {
                a: super::run_args::test_number(a)?,
                b: super::run_args::test_number(b)?,
            }),
            [_, _, extra, ..] => Err(extra_argument(name, extra)),
            _ => Err(missing(name, "two test numbers", None)),
        },
        _ => parse_without_arguments(name, args),
    }
}

/// `up <size> [for <duration>]`.
fn parse_up(args: &[&str], ctx: &ParseContext) -> Result<Verb, ParseError> {
    let name = "up";
    let size = match args.first() {
        Some(word) => known_size(word, ctx)?,
        None => return Err(missing(name, "the size", Some(ctx))),
    };
    if matches!(size.as_str(), "down" | "off") {
        return Err(error(
            ParseErrorKind::UnknownSize,
            format!("`{size}` is not a size to scale up to; use `/loadtest {size}`"),
        ));
    }
    let lease = match &args[1..] {
        [] => None,
        [for_word] if for_word.eq_ignore_ascii_case("for") => {
            return Err(missing(name, "the lease after `for`", None))
        }
        [for_word, duration] if for_word.eq_ignore_ascii_case("for") => {
            Some(user_duration(duration, "lease", ctx.max_lease)?)
        }
        [duration, ..] if humantime::parse_duration(duration).is_ok() => {
            return Err(error(
                ParseErrorKind::ExtraArgument,
                format!(
                    "write the lease after `for`: `up {size} for {}`",
                    echo(duration)
                ),
            ))
        }
        [for_word, _, extra, ..] if for_word.eq_ignore_ascii_case("for") => {
            return Err(extra_argument(name, extra))
        }
        [extra, ..] => return Err(extra_argument(name, extra)),
    };
    Ok(Verb::Up { size, lease })
}

/// `history [n]`.
fn parse_history(args: &[&str]) -> Result<Verb, ParseError> {
    match args {
        [] => Ok(Verb::History {
            count: DEFAULT_HISTORY,
        }),
        [count] => match count.parse::<usize>() {
            Ok(count) if (1..=MAX_HISTORY).contains(&count) => Ok(Verb::History { count }),
            _ => Err(error(
                ParseErrorKind::BadCount,
                format!(
                    "`{}` is not a count; history shows 1 to {MAX_HISTORY} runs, e.g. `history 20`",
                    echo(count)
                ),
            )),
        },
        [_, extra, ..] => Err(extra_argument("history", extra)),
    }
}

/// `help [verb]`.
fn parse_help(args: &[&str]) -> Result<Verb, ParseError> {
    match args {
        [] => Ok(Verb::Help { topic: None }),
        [topic] => {
            let lower = topic.to_ascii_lowercase();
            match verb_names().into_iter().find(|verb| *verb == lower) {
                Some(verb) => Ok(Verb::Help {
                    topic: Some(verb.to_string()),
                }),
                None => Err(error(
                    ParseErrorKind::UnknownHelpTopic,
                    format!(
                        "there is no command `{}`{}; try `help`",
                        echo(topic),
                        did_you_mean(&lower, verb_names())
                    ),
                )),
            }
        }
        [_, extra, ..] => Err(extra_argument("help", extra)),
    }
}

/// Refuses any argument to a verb that takes none.
fn no_arguments(name: &'static str, args: &[&str]) -> Result<(), ParseError> {
    match args.first() {
        None => Ok(()),
        Some(extra) => Err(error(
            ParseErrorKind::ExtraArgument,
            format!(
                "`{name}` takes no arguments (got `{}`); usage: {}",
                echo(extra),
                usage_of(name)
            ),
        )),
    }
}

/// The changing verbs that take no arguments (read-only ones are [`Verb::Read`]).
fn parse_without_arguments(name: &'static str, args: &[&str]) -> Result<Verb, ParseError> {
    no_arguments(name, args)?;
    Ok(match name {
        "down" => Verb::Down,
        "off" => Verb::Off,
        "cancel" => Verb::Cancel,
        _ => Verb::RefreshImage,
    })
}

/// The catalogue's spelling of the verb the user typed (case-insensitive).
fn verb_word(word: &str) -> Result<&'static str, ParseError> {
    let lower = word.to_ascii_lowercase();
    if let Some(spec) = specs_named(&lower).next() {
        return Ok(spec.name);
    }
    if !word.chars().all(|c| c.is_ascii_alphabetic()) {
        // Covers look-alikes such as a Cyrillic "ѕtatus" too.
        return Err(error(
            ParseErrorKind::UnknownVerb,
            format!(
                "unknown command `{}`: only letters are allowed in command names{}; try `help`",
                echo(word),
                did_you_mean(&lower, verb_names())
            ),
        ));
    }
    Err(error(
        ParseErrorKind::UnknownVerb,
        format!(
            "unknown command `{}`{}; try `help`",
            echo(word),
            did_you_mean(&lower, verb_names())
        ),
    ))
}

fn known_size(word: &str, ctx: &ParseContext) -> Result<SizeName, ParseError> {
    let sizes = || {
        ctx.sizes
            .iter()
            .map(|size| size.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !is_name_like(word) {
        return Err(error(
            ParseErrorKind::BadCharacters,
            format!(
                "only letters, digits and - are allowed in size names; sizes: {}",
                sizes()
            ),
        ));
    }
    if let Some(size) = ctx.sizes.iter().find(|size| size.as_str() == word) {
        return Ok(size.clone());
    }
    let lower = word.to_ascii_lowercase();
    Err(error(
        ParseErrorKind::UnknownSize,
        format!(
            "unknown size `{}`{}; sizes: {}",
            echo(word),
            did_you_mean(&lower, ctx.sizes.iter().map(|s| s.as_str())),
            sizes()
        ),
    ))
}

fn known_env(name: &str, ctx: &ParseContext) -> Result<EnvName, ParseError> {
    let envs = || {
        ctx.envs
            .iter()
            .map(|env| env.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if name.is_empty() {
        return Err(error(
            ParseErrorKind::MissingArgument,
            format!("`env=` needs a name; environments: {}", envs()),
        ));
    }
    if !is_name_like(name) {
        return Err(error(
            ParseErrorKind::BadCharacters,
            format!(
                "only letters, digits and - are allowed in environment names; environments: {}",
                envs()
            ),
        ));
    }
    if let Some(env) = ctx.envs.iter().find(|env| env.as_str() == name) {
        return Ok(env.clone());
    }
    Err(error(
        ParseErrorKind::UnknownEnv,
        format!(
            "unknown environment `{}`{}; environments: {}",
            echo(name),
            did_you_mean(
                &name.to_ascii_lowercase(),
                ctx.envs.iter().map(|e| e.as_str())
            ),
            envs()
        ),
    ))
}

/// A lease, extension or hold: a humantime duration from 1m up to `max`.
fn user_duration(word: &str, what: &str, max: Duration) -> Result<Duration, ParseError> {
    let duration = match humantime::parse_duration(word) {
        Ok(duration) if word.is_ascii() => duration,
        _ => {
            return Err(error(
                ParseErrorKind::BadDuration,
                format!(
                    "`{}` is not a duration; use e.g. 3h, 90m, 1h30m",
                    echo(word)
                ),
            ))
        }
    };
    if duration < SHORTEST_DURATION {
        return Err(error(
            ParseErrorKind::DurationTooShort,
            format!(
                "`{}` is too short for a {what}; use at least 1m, e.g. 3h, 90m, 1h30m",
                echo(word)
            ),
        ));
    }
    if duration > max {
        return Err(error(
            ParseErrorKind::DurationTooLong,
            format!("the longest {what} is {}", format_duration(max)),
        ));
    }
    Ok(duration)
}

fn run_id(word: &str) -> Result<RunId, ParseError> {
    let digits = word.strip_prefix('#').unwrap_or(word);
    match digits.parse::<i64>() {
        Ok(number) if number > 0 && digits.bytes().all(|b| b.is_ascii_digit()) => Ok(RunId(number)),
        _ => Err(error(
            ParseErrorKind::BadRunId,
            format!("`{}` is not a run number; use e.g. 41 or #41", echo(word)),
        )),
    }
}

fn lock_id_of(word: &str) -> Result<String, ParseError> {
    // A leading `-` would reach `terraform force-unlock` as a flag.
    let valid = (1..=64).contains(&word.len())
        && word.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !word.starts_with('-');
    if valid {
        Ok(word.to_string())
    } else {
        Err(error(
            ParseErrorKind::BadLockId,
            "a lock ID has only letters, digits and - (up to 64), like the ID in Terraform's lock error",
        ))
    }
}

/// " did you mean `x`?" for the closest candidate within edit distance 2, else "".
fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    let best = candidates
        .into_iter()
        .map(|candidate| (strsim::levenshtein(word, candidate), candidate))
        .filter(|(distance, _)| *distance <= 2 && *distance < word.chars().count())
        .min_by_key(|(distance, _)| *distance);
    match best {
        Some((_, candidate)) => format!("; did you mean `{candidate}`?"),
        None => String::new(),
    }
}

fn is_name_like(word: &str) -> bool {
    !word.is_empty() && word.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn strip_prefix_ignore_case<'a>(word: &'a str, prefix: &str) -> Option<&'a str> {
    let head = word.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &word[prefix.len()..])
}

/// Control characters (Cc), format characters (Cf: zero-width, bidi overrides, BOM, tags)
/// and line/paragraph separators; ordinary spaces are fine.
fn is_forbidden_char(c: char) -> bool {
    if c.is_control() {
        return true;
    }
    matches!(
        u32::from(c),
        0x00AD
            | 0x0600..=0x0605
            | 0x061C
            | 0x06DD
            | 0x070F
            | 0x0890..=0x0891
            | 0x08E2
            | 0x180E
            | 0x200B..=0x200F
            | 0x2028..=0x202E
            | 0x2060..=0x2064
            | 0x2066..=0x206F
            | 0xFEFF
            | 0xFFF9..=0xFFFB
            | 0x110BD
            | 0x110CD
            | 0x13430..=0x1343F
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0001
            | 0xE0020..=0xE007F
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{VerbKind, VERBS};
    use ParseErrorKind::*;

    fn ctx() -> ParseContext {
        ParseContext {
            sizes: ["off", "down", "small", "medium", "large"]
                .into_iter()
                .map(SizeName::new)
                .collect(),
            envs: vec![EnvName::new("lt1"), EnvName::new("lt2")],
            max_lease: Duration::from_secs(24 * 3600),
        }
    }

    fn hours(h: u64) -> Duration {
        Duration::from_secs(h * 3600)
    }

    fn minutes(m: u64) -> Duration {
        Duration::from_secs(m * 60)
    }

    fn size(name: &str) -> SizeName {
        SizeName::new(name)
    }

    enum Want {
        Ok(Verb, Option<&'static str>),
        Err(ParseErrorKind, &'static str),
    }

    fn ok(verb: Verb) -> Want {
        Want::Ok(verb, None)
    }

    fn ok_in(verb: Verb, env: &'static str) -> Want {
        Want::Ok(verb, Some(env))
    }

    fn err(kind: ParseErrorKind, message: &'static str) -> Want {
        Want::Err(kind, message)
    }

    fn check(input: &str, want: Want) {
        let got = parse(input, &ctx());
        match want {
            Want::Ok(verb, env) => {
                let expected = ChatCommand {
                    verb,
                    env: env.map(EnvName::new),
                };
                assert_eq!(got, Ok(expected), "input: {input:?}");
            }
            Want::Err(kind, message) => match got {
                Err(error) => {
                    assert_eq!(
                        (error.kind, error.message.as_str()),
                        (kind, message),
                        "input: {input:?}"
                    );
                }
                Ok(command) => panic!("input {input:?}: expected {kind:?}, parsed {command:?}"),
            },
        }
    }

    #[test]
    fn table() {
        let rows: Vec<(&str, Want)> = vec![
            // up
            ("up large", ok(Verb::Up { size: size("large"), lease: None })),
            ("/loadtest up large for 3h", ok(Verb::Up { size: size("large"), lease: Some(hours(3)) })),
            ("UP small FOR 90m", ok(Verb::Up { size: size("small"), lease: Some(minutes(90)) })),
            ("up medium for 1h30m", ok(Verb::Up { size: size("medium"), lease: Some(minutes(90)) })),
            ("  up   small  ", ok(Verb::Up { size: size("small"), lease: None })),
            ("up\u{a0}small", ok(Verb::Up { size: size("small"), lease: None })),
            ("up large for 24h", ok(Verb::Up { size: size("large"), lease: Some(hours(24)) })),
            ("up", err(MissingArgument, "`up` needs the size; usage: `up <size> [for <duration>]`; sizes: off, down, small, medium, large")),
            ("up lage", err(UnknownSize, "unknown size `lage`; did you mean `large`?; sizes: off, down, small, medium, large")),
            ("up Large", err(UnknownSize, "unknown size `Large`; did you mean `large`?; sizes: off, down, small, medium, large")),
            ("up huge", err(UnknownSize, "unknown size `huge`; sizes: off, down, small, medium, large")),
            ("up l\u{0430}rge", err(BadCharacters, "only letters, digits and - are allowed in size names; sizes: off, down, small, medium, large")),
            ("up ../../etc", err(BadCharacters, "only letters, digits and - are allowed in size names; sizes: off, down, small, medium, large")),
            ("up large;rm", err(BadCharacters, "only letters, digits and - are allowed in size names; sizes: off, down, small, medium, large")),
            ("up off", err(UnknownSize, "`off` is not a size to scale up to; use `/loadtest off`")),
            ("up down", err(UnknownSize, "`down` is not a size to scale up to; use `/loadtest down`")),
            ("up large for", err(MissingArgument, "`up` needs the lease after `for`; usage: `up <size> [for <duration>]`")),
            ("up large 3h", err(ExtraArgument, "write the lease after `for`: `up large for 3h`")),
            ("up large now", err(ExtraArgument, "unexpected `now` after `up`; usage: `up <size> [for <duration>]`")),
            ("up large for 3h please", err(ExtraArgument, "unexpected `please` after `up`; usage: `up <size> [for <duration>]`")),
            ("up large for 3x", err(BadDuration, "`3x` is not a duration; use e.g. 3h, 90m, 1h30m")),
            ("up large for 0h", err(DurationTooShort, "`0h` is too short for a lease; use at least 1m, e.g. 3h, 90m, 1h30m")),
            ("up large for 30s", err(DurationTooShort, "`30s` is too short for a lease; use at least 1m, e.g. 3h, 90m, 1h30m")),
            ("up large for 25h", err(DurationTooLong, "the longest lease is 24h")),
            ("up large for 12h env=lt2", ok_in(Verb::Up { size: size("large"), lease: Some(hours(12)) }, "lt2")),
            ("up large for 99999999999999999999h", err(BadDuration, "`99999999999999999999h` is not a duration; use e.g. 3h, 90m, 1h30m")),
            // down, off and the other verbs without arguments
            ("down", ok(Verb::Down)),
            ("down now", err(ExtraArgument, "`down` takes no arguments (got `now`); usage: `down`")),
            ("off", ok(Verb::Off)),
            ("off env=lt2", ok_in(Verb::Off, "lt2")),
            ("status", ok(Verb::Read(VerbKind::Status))),
            ("Status", ok(Verb::Read(VerbKind::Status))),
            ("status lt1", err(ExtraArgument, "`status` takes no arguments (got `lt1`); usage: `status`")),
            ("schedule", ok(Verb::Read(VerbKind::Schedule))),
            ("cancel", ok(Verb::Cancel)),
            ("refresh-image", ok(Verb::RefreshImage)),
            ("REFRESH-IMAGE", ok(Verb::RefreshImage)),
            ("refresh-image large", err(ExtraArgument, "`refresh-image` takes no arguments (got `large`); usage: `refresh-image`")),
            ("cancel #4", err(ExtraArgument, "`cancel` takes no arguments (got `#4`); usage: `cancel`")),
            ("sizes", ok(Verb::Read(VerbKind::Sizes))),
            // plan
            ("plan large", ok(Verb::Plan { target: size("large") })),
            ("plan off", ok(Verb::Plan { target: size("off") })),
            ("plan down", ok(Verb::Plan { target: size("down") })),
            ("plan", err(MissingArgument, "`plan` needs what to plan; usage: `plan <size|down|off>`; sizes: off, down, small, medium, large")),
            ("plan smal", err(UnknownSize, "unknown size `smal`; did you mean `small`?; sizes: off, down, small, medium, large")),
            ("plan large now", err(ExtraArgument, "unexpected `now` after `plan`; usage: `plan <size|down|off>`")),
            // history
            ("history", ok(Verb::History { count: 10 })),
            ("history 25", ok(Verb::History { count: 25 })),
            ("history 100", ok(Verb::History { count: 100 })),
            ("history 0", err(BadCount, "`0` is not a count; history shows 1 to 100 runs, e.g. `history 20`")),
            ("history 101", err(BadCount, "`101` is not a count; history shows 1 to 100 runs, e.g. `history 20`")),
            ("history ten", err(BadCount, "`ten` is not a count; history shows 1 to 100 runs, e.g. `history 20`")),
            ("history -1", err(BadCount, "`-1` is not a count; history shows 1 to 100 runs, e.g. `history 20`")),
            ("history 5 6", err(ExtraArgument, "unexpected `6` after `history`; usage: `history [n]`")),
            // extend
            ("extend 2h", ok(Verb::Extend { by: hours(2) })),
            ("extend", err(MissingArgument, "`extend` needs how long; usage: `extend <duration>`")),
            ("extend two", err(BadDuration, "`two` is not a duration; use e.g. 3h, 90m, 1h30m")),
            ("extend 48h", err(DurationTooLong, "the longest lease is 24h")),
            ("extend 2h 3h", err(ExtraArgument, "unexpected `3h` after `extend`; usage: `extend <duration>`")),
            // hold
            ("hold 2h", ok(Verb::Hold { for_: hours(2) })),
            ("hold off", ok(Verb::HoldOff)),
            ("hold OFF", ok(Verb::HoldOff)),
            ("hold", err(MissingArgument, "`hold` needs how long (or `off`); usage: `hold <duration>` or `hold off`")),
            ("hold 30d", err(DurationTooLong, "the longest hold is 24h")),
            ("hold 0m", err(DurationTooShort, "`0m` is too short for a hold; use at least 1m, e.g. 3h, 90m, 1h30m")),
            ("hold forever", err(BadDuration, "`forever` is not a duration; use e.g. 3h, 90m, 1h30m")),
            // approve, reject
            ("approve 41", ok(Verb::Approve { run: RunId(41) })),
            ("approve #41", ok(Verb::Approve { run: RunId(41) })),
            ("reject #7", ok(Verb::Reject { run: RunId(7) })),
            ("approve", err(MissingArgument, "`approve` needs the run number; usage: `approve <run>`")),
            ("approve #0", err(BadRunId, "`#0` is not a run number; use e.g. 41 or #41")),
            ("approve #", err(BadRunId, "`#` is not a run number; use e.g. 41 or #41")),
            ("reject +5", err(BadRunId, "`+5` is not a run number; use e.g. 41 or #41")),
            ("reject run41", err(BadRunId, "`run41` is not a run number; use e.g. 41 or #41")),
            ("approve 41 42", err(ExtraArgument, "unexpected `42` after `approve`; usage: `approve <run>`")),
            // unlock
            ("unlock 6f1c2a9e-1b2c-4d5e-8f90-123456789abc", ok(Verb::Unlock { lock_id: "6f1c2a9e-1b2c-4d5e-8f90-123456789abc".into() })),
            ("unlock", err(MissingArgument, "`unlock` needs the lock ID from Terraform's error; usage: `unlock <lock-id>`")),
            ("unlock $(reboot)", err(BadLockId, "a lock ID has only letters, digits and - (up to 64), like the ID in Terraform's lock error")),
            ("unlock --force", err(BadLockId, "a lock ID has only letters, digits and - (up to 64), like the ID in Terraform's lock error")),
            ("unlock 1234567", ok(Verb::Unlock { lock_id: "1234567".into() })),
            // help
            ("", ok(Verb::Help { topic: None })),
            ("/loadtest", ok(Verb::Help { topic: None })),
            ("help", ok(Verb::Help { topic: None })),
            ("help up", ok(Verb::Help { topic: Some("up".into()) })),
            ("help HOLD", ok(Verb::Help { topic: Some("hold".into()) })),
            ("help stauts", err(UnknownHelpTopic, "there is no command `stauts`; did you mean `status`?; try `help`")),
            ("help up down", err(ExtraArgument, "unexpected `down` after `help`; usage: `help [verb]`")),
            // unknown verbs
            ("stauts", err(UnknownVerb, "unknown command `stauts`; did you mean `status`?; try `help`")),
            ("dwon", err(UnknownVerb, "unknown command `dwon`; did you mean `down`?; try `help`")),
            ("deploy", err(UnknownVerb, "unknown command `deploy`; try `help`")),
            ("\u{0455}tatus", err(UnknownVerb, "unknown command `?tatus`: only letters are allowed in command names; did you mean `status`?; try `help`")),
            ("<!channel>", err(UnknownVerb, "unknown command `??channel?`: only letters are allowed in command names; try `help`")),
            ("`rm`", err(UnknownVerb, "unknown command `?rm?`: only letters are allowed in command names; try `help`")),
            // env=
            ("status env=lt2", ok_in(Verb::Read(VerbKind::Status), "lt2")),
            ("env=lt1 up small", ok_in(Verb::Up { size: size("small"), lease: None }, "lt1")),
            ("up env=lt1 small for 2h", ok_in(Verb::Up { size: size("small"), lease: Some(hours(2)) }, "lt1")),
            ("ENV=lt1 status", ok_in(Verb::Read(VerbKind::Status), "lt1")),
            ("status env=lt3", err(UnknownEnv, "unknown environment `lt3`; did you mean `lt1`?; environments: lt1, lt2")),
            ("status env=prod", err(UnknownEnv, "unknown environment `prod`; environments: lt1, lt2")),
            ("status env=", err(MissingArgument, "`env=` needs a name; environments: lt1, lt2")),
            ("status env=../lt1", err(BadCharacters, "only letters, digits and - are allowed in environment names; environments: lt1, lt2")),
            ("status env=LT1", err(UnknownEnv, "unknown environment `LT1`; did you mean `lt1`?; environments: lt1, lt2")),
            ("status env=lt1 env=lt1", err(DuplicateEnv, "name the environment once: one env=<name>")),
            ("status env=lt1 env=lt2", err(DuplicateEnv, "name the environment once: one env=<name>")),
            // text-level checks
            ("status\u{200b}", err(ControlCharacter, "the command contains a control or invisible character (U+200B); please retype it")),
            ("up large\u{202e}", err(ControlCharacter, "the command contains a control or invisible character (U+202E); please retype it")),
            ("status\u{0}", err(ControlCharacter, "the command contains a control or invisible character (U+0000); please retype it")),
            ("\u{1b}[31mstatus", err(ControlCharacter, "the command contains a control or invisible character (U+001B); please retype it")),
            ("up\tlarge", err(ControlCharacter, "the command contains a control or invisible character (U+0009); please retype it")),
            ("status\nup large", err(ControlCharacter, "the command contains a control or invisible character (U+000A); please retype it")),
            ("\u{feff}status", err(ControlCharacter, "the command contains a control or invisible character (U+FEFF); please retype it")),
        ];
        assert!(rows.len() >= 60, "{} rows", rows.len());
        for (input, want) in rows {
            check(input, want);
        }
    }

    #[test]
    fn text_length_limit_is_in_characters() {
        let at_limit = format!("status{}", " ".repeat(MAX_TEXT_CHARS - 6));
        assert_eq!(
            parse(&at_limit, &ctx()).map(|c| c.verb),
            Ok(Verb::Read(VerbKind::Status))
        );
        let over = format!("status{}", " ".repeat(MAX_TEXT_CHARS - 5));
        check_error_kind(&over, TextTooLong);
        let long_word = "x".repeat(2000);
        let error = parse(&long_word, &ctx()).expect_err("too long");
        assert_eq!(
            error.message,
            "that command is over 1000 characters; no command needs that many"
        );
    }

    fn check_error_kind(input: &str, kind: ParseErrorKind) {
        assert_eq!(parse(input, &ctx()).map_err(|e| e.kind).err(), Some(kind));
    }

    #[test]
    fn echoed_user_text_is_short_and_markup_free() {
        let error = parse(&format!("{}x", "a".repeat(40)), &ctx()).expect_err("unknown verb");
        assert_eq!(
            error.message,
            "unknown command `aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa…`; try `help`"
        );
        let error = parse("up large for *3h*", &ctx()).expect_err("bad duration");
        assert_eq!(
            error.message,
            "`?3h?` is not a duration; use e.g. 3h, 90m, 1h30m"
        );
    }

    #[test]
    fn every_catalogue_example_parses_to_its_own_verb() {
        for spec in VERBS {
            let command = parse(spec.example, &ctx())
                .unwrap_or_else(|e| panic!("example {:?}: {e}", spec.example));
            assert_eq!(command.verb.kind(), spec.kind, "example {:?}", spec.example);
            assert_eq!(command.verb.name(), spec.name);
            // The canonical text parses back to the same command.
            let again = parse(&command.verb.display_text(), &ctx()).expect("canonical text");
            assert_eq!(again.verb, command.verb, "{}", command.verb.display_text());
        }
    }

    #[test]
    fn every_verb_kind_has_exactly_one_catalogue_entry() {
        for kind in VerbKind::ALL {
            let entries = VERBS.iter().filter(|spec| spec.kind == *kind).count();
            assert_eq!(entries, 1, "{kind:?}");
        }
        assert_eq!(VERBS.len(), VerbKind::ALL.len());
    }
}
