//! Cron expressions: crontab's five fields (weekday 0-7, Sunday both 0 and 7) or the `cron`
//! crate's six/seven fields with seconds. A leaf module: it knows nothing of the rest of the
//! config or of the planner; the config parses each schedule with it once, at load, and the
//! planner only ever sees the parsed `cron::Schedule`.

use std::collections::BTreeSet;
use std::str::FromStr;

/// Parses a cron expression. Five fields are a crontab line (minute hour day month weekday,
/// weekday 0-7 with 0 and 7 = Sunday); it gets a leading seconds field and its numeric
/// weekdays are translated to the `cron` crate's 1 = Sunday … 7 = Saturday, so `1-5` keeps
/// meaning Monday to Friday. Six or seven fields (seconds first, optional year) go to the
/// `cron` crate as written, with its numbering; weekday names (`MON-FRI`) mean the same in both.
pub fn parse_cron(text: &str) -> Result<cron::Schedule, String> {
    let fields: Vec<&str> = text.split_whitespace().collect();
    let expression = match fields.len() {
        5 => {
            let weekday = crontab_weekdays(fields[4])
                .map_err(|message| format!("invalid cron expression {text:?}: {message}"))?;
            format!(
                "0 {} {} {} {} {weekday}",
                fields[0], fields[1], fields[2], fields[3]
            )
        }
        6 | 7 => fields.join(" "),
        _ => {
            return Err(format!(
                "invalid cron expression {text:?}: expected 5 fields (minute hour day month \
                 weekday), or 6/7 with seconds first"
            ))
        }
    };
    let schedule = cron::Schedule::from_str(&expression)
        .map_err(|error| format!("invalid cron expression {text:?}: {error}"))?;
    if schedule.upcoming(chrono::Utc).next().is_none() {
        return Err(format!("cron expression {text:?} never fires"));
    }
    Ok(schedule)
}

fn crontab_weekdays(field: &str) -> Result<String, String> {
    if field == "*" || field == "?" {
        return Ok(field.to_string());
    }
    let numeric = field
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '-' | ',' | '/' | '*'));
    if !numeric {
        if field.chars().any(|c| c.is_ascii_digit()) {
            return Err("use either weekday names or numbers, not both".into());
        }
        return Ok(field.to_string());
    }
    let bad = || format!("{field:?} is not a weekday list (0-7, 0 and 7 = Sunday)");
    let number = |text: &str| text.parse::<u32>().ok().filter(|n| *n <= 7).ok_or_else(bad);
    let mut days = BTreeSet::new();
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => (
                range,
                step.parse::<usize>()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(bad)?,
            ),
            None => (item, 1),
        };
        let (start, end) = if range == "*" {
            (0, 7)
        } else if let Some((start, end)) = range.split_once('-') {
            (number(start)?, number(end)?)
        } else if item.contains('/') {
            (number(range)?, 7)
        } else {
            let day = number(range)?;
            (day, day)
        };
        if start > end {
            return Err(bad());
        }
        days.extend((start..=end).step_by(step).map(|day| day % 7));
    }
    Ok(days
        .iter()
        .map(|day| (day + 1).to_string())
        .collect::<Vec<_>>()
        .join(","))
}
