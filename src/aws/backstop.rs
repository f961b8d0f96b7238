//! The lease backstop: Terraform puts a scheduled action on the slaves' group that sets it to 0
//! at the lease's end plus a grace, so AWS stops the biggest cost even when the bot is gone.
//! Here: the `lease_ends_at` value a run passes, and what `status` and a result say about it.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use std::collections::BTreeMap;

/// What the roots default `lease_grace_minutes` to.
const DEFAULT_GRACE_MINUTES: i64 = 60;

/// `lease_ends_at` for Terraform: RFC 3339 UTC to the second, or `""` (no backstop) without a
/// lease end.
pub fn lease_ends_at_value(lease_end: Option<DateTime<Utc>>) -> String {
    lease_end
        .map(|at| at.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// The environment's `lease_grace_minutes`, as Terraform will read it (a number or a numeric
/// string), else the roots' default.
pub fn grace_minutes(tf_vars: &BTreeMap<String, Value>) -> i64 {
    match tf_vars.get("lease_grace_minutes") {
        Some(Value::Number(number)) => number.as_i64().unwrap_or(DEFAULT_GRACE_MINUTES),
        Some(Value::String(text)) => text.trim().parse().unwrap_or(DEFAULT_GRACE_MINUTES),
        _ => DEFAULT_GRACE_MINUTES,
    }
}

/// The line `status` and a result show: `slaves → 0 at <time>`, and, when the bot's own
/// lease or hold now ends later than the backstop allows for (an `extend` or `hold` since the
/// last apply), that the backstop only moves at the next apply: an extend or hold changes the
/// store, not AWS, so until then AWS would still scale the slaves to 0 at the old time.
/// `None` without a backstop (no lease, or an output that is not a time).
pub fn status_text(
    backstop_at: Option<&str>,
    keeps_up_until: Option<DateTime<Utc>>,
    grace_minutes: i64,
    format_time: impl Fn(DateTime<Utc>) -> String,
) -> Option<String> {
    let at = DateTime::parse_from_rfc3339(backstop_at?.trim())
        .ok()?
        .with_timezone(&Utc);
    let mut text = format!("slaves → 0 at {}", format_time(at));
    if let Some(until) = keeps_up_until {
        if until + chrono::Duration::minutes(grace_minutes) > at {
            text.push_str(&format!(
                " — the lease or hold now runs to {}: the backstop moves there only at the next apply (e.g. `up` again)",
                format_time(until)
            ));
        }
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn utc(text: &str) -> String {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
            .format("%Y-%m-%d %H:%M UTC")
            .to_string()
    }

    #[test]
    fn lease_end_is_rfc3339_utc_to_the_second_or_empty() {
        let end = Utc.with_ymd_and_hms(2026, 5, 1, 18, 0, 7).unwrap()
            + chrono::Duration::milliseconds(450);
        assert_eq!(lease_ends_at_value(Some(end)), "2026-05-01T18:00:07Z");
        assert_eq!(lease_ends_at_value(None), "");
    }

    #[test]
    fn grace_reads_numbers_and_numeric_strings() {
        let mut vars = BTreeMap::new();
        assert_eq!(grace_minutes(&vars), 60);
        vars.insert("lease_grace_minutes".to_string(), json!(15));
        assert_eq!(grace_minutes(&vars), 15);
        vars.insert("lease_grace_minutes".to_string(), json!("90"));
        assert_eq!(grace_minutes(&vars), 90);
        vars.insert("lease_grace_minutes".to_string(), json!("soon"));
        assert_eq!(grace_minutes(&vars), 60);
    }

    #[test]
    fn status_says_when_an_extend_outran_the_backstop() {
        let format = |at: DateTime<Utc>| at.format("%Y-%m-%d %H:%M UTC").to_string();
        let at = "2026-05-01T19:00:00Z";
        assert_eq!(
            status_text(Some(at), None, 60, format).as_deref(),
            Some(format!("slaves → 0 at {}", utc(at)).as_str())
        );
        // The lease the backstop was made for: end 18:00 + 60 min grace.
        let same = Utc.with_ymd_and_hms(2026, 5, 1, 18, 0, 0).unwrap();
        let text = status_text(Some(at), Some(same), 60, format).unwrap();
        assert!(!text.contains("next apply"), "{text}");
        // Extended by an hour: AWS still has the old time until the next apply.
        let later = Utc.with_ymd_and_hms(2026, 5, 1, 19, 0, 0).unwrap();
        let text = status_text(Some(at), Some(later), 60, format).unwrap();
        assert!(
            text.contains("moves there only at the next apply"),
            "{text}"
        );
        assert!(text.contains("2026-05-01 19:00 UTC"), "{text}");
        assert_eq!(status_text(Some(""), None, 60, format), None);
        assert_eq!(status_text(None, Some(later), 60, format), None);
    }
}
