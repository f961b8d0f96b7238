//! The arguments of `run` and `compare`: a plan file name, `threads=`, `duration=`, `rampup=`
//! and `-J<name>=<value>` properties. Every value is checked against a narrow character set
//! here, so what reaches the master's command line is words the parser chose to accept.

use super::answers::{echo, error, extra_argument, missing, ParseError, ParseErrorKind};
use super::{TestRequest, Verb};
use crate::config::{format_duration, is_plan_name, is_property_name};
use std::time::Duration;

/// The most threads (per JMeter engine) a `run` may ask for.
pub const MAX_THREADS: u32 = 100_000;
/// The longest test; a longer one is a typo (`30h` for `30m`) that would run all night.
pub const MAX_TEST_DURATION: Duration = Duration::from_secs(24 * 3600);
const MAX_PROPERTIES: usize = 20;
const MAX_VALUE_CHARS: usize = 256;

/// `run <plan> [threads=N] [duration=D] [rampup=D] [-J<name>=<value>…]`.
pub(super) fn parse_run(args: &[&str]) -> Result<Verb, ParseError> {
    let Some((plan, rest)) = args.split_first() else {
        return Err(missing("run", "a plan (see `plans`)", None));
    };
    if !is_plan_name(plan) {
        return Err(error(
            ParseErrorKind::BadPlan,
            format!(
                "`{}` is not a plan: name a .jmx file of letters, digits, - _ . (see `plans`)",
                echo(plan)
            ),
        ));
    }
    let mut test = TestRequest {
        plan: plan.to_string(),
        threads: None,
        duration: None,
        rampup: None,
        properties: Vec::new(),
    };
    for word in rest {
        if let Some(property) = word.strip_prefix("-J") {
            test.properties.push(property_of(property, word)?);
            continue;
        }
        match word.split_once('=') {
            Some((key, value)) if key.eq_ignore_ascii_case("threads") && test.threads.is_none() => {
                test.threads = Some(threads_of(value)?);
            }
            Some((key, value))
                if key.eq_ignore_ascii_case("duration") && test.duration.is_none() =>
            {
                test.duration = Some(test_duration(value, "duration", Duration::from_secs(10))?);
            }
            Some((key, value)) if key.eq_ignore_ascii_case("rampup") && test.rampup.is_none() => {
                test.rampup = Some(test_duration(value, "rampup", Duration::ZERO)?);
            }
            _ => return Err(extra_argument("run", word)),
        }
    }
    if test.properties.len() > MAX_PROPERTIES {
        return Err(error(
            ParseErrorKind::BadProperty,
            format!("at most {MAX_PROPERTIES} -J properties in one run"),
        ));
    }
    if let (Some(duration), Some(rampup)) = (test.duration, test.rampup) {
        if rampup > duration {
            return Err(error(
                ParseErrorKind::BadDuration,
                "rampup is longer than the duration; threads would never all run",
            ));
        }
    }
    Ok(Verb::Run(test))
}

fn threads_of(value: &str) -> Result<u32, ParseError> {
    match value.parse::<u32>() {
        Ok(threads)
            if (1..=MAX_THREADS).contains(&threads)
                && value.bytes().all(|b| b.is_ascii_digit()) =>
        {
            Ok(threads)
        }
        _ => Err(error(
            ParseErrorKind::BadNumber,
            format!(
                "`threads={}`: threads is a whole number from 1 to {MAX_THREADS}",
                echo(value)
            ),
        )),
    }
}

fn test_duration(value: &str, what: &str, shortest: Duration) -> Result<Duration, ParseError> {
    let duration = match humantime::parse_duration(value) {
        Ok(duration) if value.is_ascii() => duration,
        _ => {
            return Err(error(
                ParseErrorKind::BadDuration,
                format!(
                    "`{what}={}` is not a duration; use e.g. 30m, 90s, 1h",
                    echo(value)
                ),
            ))
        }
    };
    // JMeter takes whole seconds.
    if duration.subsec_nanos() != 0 || duration < shortest {
        return Err(error(
            ParseErrorKind::DurationTooShort,
            format!(
                "`{what}={}`: use whole seconds, at least {}",
                echo(value),
                if shortest.is_zero() {
                    "0s".to_string()
                } else {
                    format_duration(shortest)
                }
            ),
        ));
    }
    if duration > MAX_TEST_DURATION {
        return Err(error(
            ParseErrorKind::DurationTooLong,
            format!(
                "the longest test {what} is {}",
                format_duration(MAX_TEST_DURATION)
            ),
        ));
    }
    Ok(duration)
}

/// `name=value` after `-J`. Slack wraps a URL in `<…>` (and `<url|text>`); the URL is kept.
fn property_of(text: &str, word: &str) -> Result<(String, String), ParseError> {
    let bad = |why: &str| {
        error(
            ParseErrorKind::BadProperty,
            format!("`{}`: {why}; write -J<name>=<value>", echo(word)),
        )
    };
    let Some((name, value)) = text.split_once('=') else {
        return Err(bad("a property needs =<value>"));
    };
    if !is_property_name(name) {
        return Err(bad("a property name has only letters, digits, - _ ."));
    }
    let value = match value.strip_prefix('<').and_then(|v| v.strip_suffix('>')) {
        Some(linked) => linked.split('|').next().unwrap_or_default(),
        None => value,
    };
    let allowed = |c: char| c.is_ascii_alphanumeric() || "_.:/@%+,=-".contains(c);
    if value.is_empty() || value.chars().count() > MAX_VALUE_CHARS || !value.chars().all(allowed) {
        return Err(bad(&format!(
            "a value is 1 to {MAX_VALUE_CHARS} of letters, digits and _ . : / @ % + , = -"
        )));
    }
    Ok((name.to_string(), value.to_string()))
}

/// A test number as `compare` takes it: `3` or `#3`.
pub(super) fn test_number(word: &str) -> Result<i64, ParseError> {
    let digits = word.strip_prefix('#').unwrap_or(word);
    match digits.parse::<i64>() {
        Ok(number) if number > 0 && digits.bytes().all(|b| b.is_ascii_digit()) => Ok(number),
        _ => Err(error(
            ParseErrorKind::BadNumber,
            format!(
                "`{}` is not a test number; use e.g. 3 or #3 (see `history`)",
                echo(word)
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{parse, ParseContext};
    use super::*;

    fn ctx() -> ParseContext {
        ParseContext {
            sizes: vec![],
            envs: vec![crate::model::EnvName::new("lt1")],
            max_lease: Duration::from_secs(3600),
        }
    }

    #[test]
    fn a_run_parses_to_its_canonical_text_and_back() {
        let text =
            "run smoke.jmx threads=10 duration=30m rampup=5m -Jhost=api.example.com -Jpath=/v1/x";
        let parsed = parse(text, &ctx()).unwrap();
        assert_eq!(parsed.verb.display_text(), text);
        let again = parse(&parsed.verb.display_text(), &ctx()).unwrap();
        assert_eq!(again, parsed);
        // Slack's link markup around a URL value is taken off.
        let linked = parse(
            "run a.jmx -Jbase=<https://x.example.com/p|x.example.com/p>",
            &ctx(),
        )
        .unwrap();
        assert_eq!(
            linked.verb.args_text(),
            "a.jmx -Jbase=https://x.example.com/p"
        );
    }

    /// Bad input and the answer it must get: (command, kind, words the message contains).
    const REFUSED: &[(&str, ParseErrorKind, &str)] = &[
        ("run", ParseErrorKind::MissingArgument, "`run` needs a plan"),
        (
            "run ../etc/passwd",
            ParseErrorKind::BadPlan,
            "is not a plan",
        ),
        (
            "run smoke.jmx;reboot",
            ParseErrorKind::BadPlan,
            "is not a plan",
        ),
        (
            "run smoke.jmx threads=0",
            ParseErrorKind::BadNumber,
            "from 1 to 100000",
        ),
        (
            "run smoke.jmx threads=-3",
            ParseErrorKind::BadNumber,
            "whole number",
        ),
        (
            "run smoke.jmx threads=1 threads=2",
            ParseErrorKind::ExtraArgument,
            "unexpected `threads=2`",
        ),
        (
            "run smoke.jmx duration=soon",
            ParseErrorKind::BadDuration,
            "not a duration",
        ),
        (
            "run smoke.jmx duration=2s",
            ParseErrorKind::DurationTooShort,
            "at least 10s",
        ),
        (
            "run smoke.jmx duration=30h",
            ParseErrorKind::DurationTooLong,
            "longest test duration is 24h",
        ),
        (
            "run smoke.jmx duration=1m rampup=5m",
            ParseErrorKind::BadDuration,
            "rampup is longer",
        ),
        (
            "run smoke.jmx -Jhost",
            ParseErrorKind::BadProperty,
            "needs =<value>",
        ),
        (
            "run smoke.jmx -Jho$t=a",
            ParseErrorKind::BadProperty,
            "property name",
        ),
        (
            "run smoke.jmx -Jhost=$(reboot)",
            ParseErrorKind::BadProperty,
            "a value is",
        ),
        (
            "run smoke.jmx -Jhost='a'",
            ParseErrorKind::BadProperty,
            "a value is",
        ),
        (
            "run smoke.jmx users=5",
            ParseErrorKind::ExtraArgument,
            "unexpected `users=5`",
        ),
        (
            "stop now",
            ParseErrorKind::ExtraArgument,
            "unexpected `now`",
        ),
        (
            "compare 1",
            ParseErrorKind::MissingArgument,
            "two test numbers",
        ),
        (
            "compare 1 x",
            ParseErrorKind::BadNumber,
            "not a test number",
        ),
    ];

    #[test]
    fn bad_run_arguments_get_a_specific_answer() {
        for (text, kind, needle) in REFUSED {
            let error = parse(text, &ctx()).expect_err(text);
            assert_eq!(error.kind, *kind, "{text}: {}", error.message);
            assert!(error.message.contains(needle), "{text}: {}", error.message);
        }
    }

    #[test]
    fn stop_plans_and_compare_parse() {
        assert_eq!(
            parse("stop", &ctx()).unwrap().verb,
            Verb::Stop { now: false }
        );
        assert_eq!(
            parse("stop --now", &ctx()).unwrap().verb,
            Verb::Stop { now: true }
        );
        assert_eq!(
            parse("plans", &ctx()).unwrap().verb,
            Verb::Read(crate::command::VerbKind::Plans)
        );
        assert_eq!(
            parse("compare #3 4", &ctx()).unwrap().verb,
            Verb::Compare { a: 3, b: 4 }
        );
    }
}
