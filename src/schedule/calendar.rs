//! When a `[[schedules]]` entry fires, DST-correct: the cron expression is read on the
//! schedule's LOCAL wall clock, and each local time is then placed on the real timeline.
//! Pure; knows nothing of environments, leases or the store (see `planner` for decisions).
//!
//! Rules:
//! - The cron crate is run over a UTC timeline that stands for naive local time, so
//!   `0 22 * * 1-5` means 22:00 Monday–Friday on the zone's clock whatever its offset.
//! - A local time inside a DST gap (02:30 on a spring-forward day in America/New_York) fires
//!   once, at the first valid instant after the gap (03:00 local).
//! - An ambiguous local time (01:30 on a fall-back day) fires once, at the earlier instant.
//!   So an hourly `0 * * * *` fires 24 times on a 25-hour day: the repeated hour is one
//!   nominal time, and the nominal time is the identity the store records.
//! - When two local times land on one instant (02:00 in the gap and 03:00 on a spring-forward
//!   day), the schedule fires once there, under the later nominal time (the one that
//!   exists on the clock): an hourly schedule fires 23 times on a 23-hour day.
//! - `skip_dates` are local dates of the nominal time.
//! - Every scan is bounded ([`MAX_SCAN`] cron steps), so a schedule whose every fire is
//!   skipped cannot spin.

use crate::config::ScheduleConfig;
use chrono::{DateTime, NaiveDateTime, Offset, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

/// The most cron steps one call looks at (each step is one candidate local time).
pub const MAX_SCAN: usize = 100_000;

/// The longest DST gap searched for its end; real gaps are 30 min to 2 h, the rare
/// date-line jumps (Pacific/Apia, 2011) 24 h.
const MAX_GAP: TimeDelta = TimeDelta::hours(48);

/// One firing of a schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Occurrence {
    /// When it fires.
    pub at: DateTime<Utc>,
    /// The local wall-clock time the cron expression named: the identity of the occurrence
    /// (what the store records so a restart never fires it twice). Differs from `at` read on
    /// the local clock only inside a DST gap.
    pub nominal: NaiveDateTime,
}

/// Occurrences with `after < at <= until`, in order.
pub fn fires_between(
    schedule: &ScheduleConfig,
    after: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Vec<Occurrence> {
    if until <= after {
        return Vec::new();
    }
    forward(schedule, after)
        .take_while(|occurrence| occurrence.at <= until)
        .collect()
}

/// The next `count` occurrences with `at > after`.
pub fn next_fires(
    schedule: &ScheduleConfig,
    after: DateTime<Utc>,
    count: usize,
) -> Vec<Occurrence> {
    forward(schedule, after).take(count).collect()
}

/// The latest occurrence with `after < at <= until`: `fires_between(..).last()`, found by
/// walking back from `until`, so a per-minute schedule over a long window stays cheap.
pub fn latest_between(
    schedule: &ScheduleConfig,
    after: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Option<Occurrence> {
    if until <= after {
        return None;
    }
    let tz = schedule.timezone;
    // A nominal time up to one overlap's length past `until`'s local reading can still
    // fire at or before `until` (its earlier instant lies in the first pass of the hour).
    let start = local_reading(tz, until) + offset_swing(tz, until) + TimeDelta::seconds(1);
    let candidates = schedule
        .cron
        .after(&Utc.from_utc_datetime(&truncate_to_second(start)))
        .rev()
        .take(MAX_SCAN);
    for candidate in candidates {
        let nominal = candidate.naive_utc();
        if schedule.skip_dates.contains(&nominal.date()) {
            continue;
        }
        let Some(at) = resolve_local(tz, nominal) else {
            continue;
        };
        if at > until {
            continue;
        }
        // Instants never decrease with the nominal time, so the first one at or before
        // `until` is the latest, and if it is not after `after`, nothing is.
        return (at > after).then_some(Occurrence { at, nominal });
    }
    None
}

/// The instant a local wall-clock time names in `tz`: the earlier instant when ambiguous,
/// the first valid instant after the gap when it does not exist. `None` only when no valid
/// time follows within [`MAX_GAP`] (no such zone exists).
pub fn resolve_local(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    if let Some(instant) = tz.from_local_datetime(&local).earliest() {
        return Some(instant.with_timezone(&Utc));
    }
    let valid = |time: NaiveDateTime| tz.from_local_datetime(&time).earliest();
    // Widen until a valid time is found, then bisect to the gap's end to the second.
    let mut step = TimeDelta::minutes(1);
    while valid(local + step).is_none() {
        step = step * 2;
        if step > MAX_GAP {
            return None;
        }
    }
    let (mut invalid, mut valid_end) = (local, local + step);
    while valid_end - invalid > TimeDelta::seconds(1) {
        let middle = invalid + (valid_end - invalid) / 2;
        let middle = truncate_to_second(middle);
        if middle <= invalid {
            break;
        }
        if valid(middle).is_some() {
            valid_end = middle;
        } else {
            invalid = middle;
        }
    }
    valid(valid_end).map(|instant| instant.with_timezone(&Utc))
}

/// Occurrences after `after`, in order, deduplicated by instant, bounded by [`MAX_SCAN`].
fn forward(schedule: &ScheduleConfig, after: DateTime<Utc>) -> Forward<'_> {
    let tz = schedule.timezone;
    // Every nominal time at or before `after`'s own local reading fires at or before
    // `after` (instants never decrease with the nominal time), so the scan starts there.
    let start = truncate_to_second(local_reading(tz, after));
    Forward {
        schedule,
        after,
        candidates: schedule.cron.after(&Utc.from_utc_datetime(&start)),
        scanned: 0,
        pending: None,
    }
}

struct Forward<'a> {
    schedule: &'a ScheduleConfig,
    after: DateTime<Utc>,
    candidates: cron::ScheduleIterator<'a, Utc>,
    scanned: usize,
    /// The last occurrence found, held back until the next one shows it is not sharing its
    /// instant with a later nominal time.
    pending: Option<Occurrence>,
}

impl Iterator for Forward<'_> {
    type Item = Occurrence;

    fn next(&mut self) -> Option<Occurrence> {
        while self.scanned < MAX_SCAN {
            self.scanned += 1;
            let Some(candidate) = self.candidates.next() else {
                break;
            };
            let nominal = candidate.naive_utc();
            if self.schedule.skip_dates.contains(&nominal.date()) {
                continue;
            }
            let Some(at) = resolve_local(self.schedule.timezone, nominal) else {
                continue;
            };
            if at <= self.after {
                continue;
            }
            let found = Occurrence { at, nominal };
            match self.pending.replace(found) {
                // Same instant: the later nominal time replaces the earlier one.
                Some(previous) if previous.at == at => continue,
                Some(previous) => return Some(previous),
                None => continue,
            }
        }
        self.pending.take()
    }
}

fn local_reading(tz: Tz, instant: DateTime<Utc>) -> NaiveDateTime {
    instant.with_timezone(&tz).naive_local()
}

/// How far the zone's UTC offset moves within a day either side of `instant`: the size of
/// any gap or overlap near it.
fn offset_swing(tz: Tz, instant: DateTime<Utc>) -> TimeDelta {
    let offset = |at: DateTime<Utc>| {
        let seconds = tz
            .offset_from_utc_datetime(&at.naive_utc())
            .fix()
            .local_minus_utc();
        TimeDelta::seconds(i64::from(seconds))
    };
    let here = offset(instant);
    let day = TimeDelta::days(1);
    let before = (here - offset(instant - day)).abs();
    let after = (offset(instant + day) - here).abs();
    before.max(after)
}

fn truncate_to_second(time: NaiveDateTime) -> NaiveDateTime {
    time - TimeDelta::nanoseconds(i64::from(time.and_utc().timestamp_subsec_nanos()))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::crontab::parse_cron;
    use crate::config::ScheduleAction;
    use crate::model::EnvName;
    use chrono::NaiveDate;

    /// A schedule as `[[schedules]]` would give it (the cron text goes through the config's
    /// own parser, so 5-field weekday translation is the real one).
    pub(crate) fn schedule(cron: &str, zone: &str, skip: &[&str]) -> ScheduleConfig {
        ScheduleConfig {
            name: "test".into(),
            cron_text: cron.into(),
            cron: parse_cron(cron).unwrap_or_else(|error| panic!("{error}")),
            timezone: zone.parse().unwrap_or_else(|error| panic!("{error}")),
            action: ScheduleAction::Down,
            environments: vec![EnvName::new("lt1")],
            warn_before: None,
            skip_dates: skip
                .iter()
                .map(|day| NaiveDate::parse_from_str(day, "%Y-%m-%d").expect("test date"))
                .collect(),
            catch_up: None,
        }
    }

    pub(crate) fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap_or_else(|error| panic!("{text}: {error}"))
            .with_timezone(&Utc)
    }

    /// `at` in UTC and in the zone, and the nominal local time: what `schedule` would show.
    fn shown(schedule: &ScheduleConfig, occurrence: &Occurrence) -> String {
        let local = occurrence.at.with_timezone(&schedule.timezone);
        format!(
            "{} = {} (nominal {})",
            occurrence.at.format("%Y-%m-%dT%H:%MZ"),
            local.format("%a %m-%d %H:%M %Z"),
            occurrence.nominal.format("%H:%M"),
        )
    }

    fn check(cron: &str, zone: &str, skip: &[&str], after: &str, count: usize, expected: &[&str]) {
        let schedule = schedule(cron, zone, skip);
        let fires: Vec<String> = next_fires(&schedule, utc(after), count)
            .iter()
            .map(|occurrence| shown(&schedule, occurrence))
            .collect();
        assert_eq!(fires, expected, "{cron} in {zone} after {after}");
    }

    /// (cron, zone, skip_dates, after, how many, expected fires).
    type DailyCase<'a> = (
        &'a str,
        &'a str,
        &'a [&'a str],
        &'a str,
        usize,
        &'a [&'a str],
    );

    #[test]
    fn daily_fires_across_dst_and_zones() {
        #[rustfmt::skip]
        let cases: &[DailyCase] = &[
            // Spring forward (2026-03-08, 02:00 EST → 03:00 EDT): 02:30 does not exist and
            // fires once at 03:00 EDT; the days around it keep 02:30 local.
            ("30 2 * * *", "America/New_York", &[], "2026-03-06T12:00:00Z", 4, &[
                "2026-03-07T07:30Z = Sat 03-07 02:30 EST (nominal 02:30)",
                "2026-03-08T07:00Z = Sun 03-08 03:00 EDT (nominal 02:30)",
                "2026-03-09T06:30Z = Mon 03-09 02:30 EDT (nominal 02:30)",
                "2026-03-10T06:30Z = Tue 03-10 02:30 EDT (nominal 02:30)",
            ]),
            // Fall back (2026-11-01, 02:00 EDT → 01:00 EST): 01:30 happens twice, fires once,
            // at the earlier (EDT) instant.
            ("30 1 * * *", "America/New_York", &[], "2026-10-31T12:00:00Z", 3, &[
                "2026-11-01T05:30Z = Sun 11-01 01:30 EDT (nominal 01:30)",
                "2026-11-02T06:30Z = Mon 11-02 01:30 EST (nominal 01:30)",
                "2026-11-03T06:30Z = Tue 11-03 01:30 EST (nominal 01:30)",
            ]),
            // Starting inside the repeated hour's second pass: the 01:30 already fired
            // (at 05:30Z), so the next is the following day.
            ("30 1 * * *", "America/New_York", &[], "2026-11-01T06:10:00Z", 1, &[
                "2026-11-02T06:30Z = Mon 11-02 01:30 EST (nominal 01:30)",
            ]),
            // Europe/London: 01:30 does not exist on 2026-03-29 and fires at 02:00 BST;
            // 01:30 on 2026-10-25 fires once, in BST.
            ("30 1 * * *", "Europe/London", &[], "2026-03-28T12:00:00Z", 2, &[
                "2026-03-29T01:00Z = Sun 03-29 02:00 BST (nominal 01:30)",
                "2026-03-30T00:30Z = Mon 03-30 01:30 BST (nominal 01:30)",
            ]),
            ("30 1 * * *", "Europe/London", &[], "2026-10-24T12:00:00Z", 2, &[
                "2026-10-25T00:30Z = Sun 10-25 01:30 BST (nominal 01:30)",
                "2026-10-26T01:30Z = Mon 10-26 01:30 GMT (nominal 01:30)",
            ]),
            // Asia/Tokyo has no DST: 22:00 JST is always 13:00Z.
            ("0 22 * * *", "Asia/Tokyo", &[], "2026-03-07T00:00:00Z", 2, &[
                "2026-03-07T13:00Z = Sat 03-07 22:00 JST (nominal 22:00)",
                "2026-03-08T13:00Z = Sun 03-08 22:00 JST (nominal 22:00)",
            ]),
            // Weekdays are local: Mon–Fri 22:00 in Tokyo is Mon–Fri 13:00Z; Friday's fire is
            // followed by Monday's.
            ("0 22 * * 1-5", "Asia/Tokyo", &[], "2026-03-05T14:00:00Z", 3, &[
                "2026-03-06T13:00Z = Fri 03-06 22:00 JST (nominal 22:00)",
                "2026-03-09T13:00Z = Mon 03-09 22:00 JST (nominal 22:00)",
                "2026-03-10T13:00Z = Tue 03-10 22:00 JST (nominal 22:00)",
            ]),
            // A weekday whose local date differs from the UTC date: 08:00 Monday in Tokyo is
            // 23:00 Sunday UTC.
            ("0 8 * * 1", "Asia/Tokyo", &[], "2026-03-07T00:00:00Z", 1, &[
                "2026-03-08T23:00Z = Mon 03-09 08:00 JST (nominal 08:00)",
            ]),
            // crontab's 0 and 7 are Sunday.
            ("0 9 * * 0", "Europe/London", &[], "2026-03-02T00:00:00Z", 1, &[
                "2026-03-08T09:00Z = Sun 03-08 09:00 GMT (nominal 09:00)",
            ]),
            ("0 9 * * 7", "Europe/London", &[], "2026-03-02T00:00:00Z", 1, &[
                "2026-03-08T09:00Z = Sun 03-08 09:00 GMT (nominal 09:00)",
            ]),
            // skip_dates are local dates: 2026-12-31 22:00 JST (13:00Z) is left out, even
            // though a UTC date reading would not match the 2027-01-01 fire.
            ("0 22 * * *", "Asia/Tokyo", &["2026-12-31"], "2026-12-30T00:00:00Z", 2, &[
                "2026-12-30T13:00Z = Wed 12-30 22:00 JST (nominal 22:00)",
                "2027-01-01T13:00Z = Fri 01-01 22:00 JST (nominal 22:00)",
            ]),
            // New York 22:00 on 2026-12-31 is 03:00Z on 2027-01-01: still skipped.
            ("0 22 * * *", "America/New_York", &["2026-12-31"], "2026-12-31T04:00:00Z", 1, &[
                "2027-01-02T03:00Z = Fri 01-01 22:00 EST (nominal 22:00)",
            ]),
        ];
        for (cron, zone, skip, after, count, expected) in cases {
            check(cron, zone, skip, after, *count, expected);
        }
    }

    /// Hourly fires over a whole local day, as (local time, zone abbreviation).
    fn hourly_day(zone: &str, day_start: &str, day_end: &str) -> Vec<String> {
        let schedule = schedule("0 * * * *", zone, &[]);
        fires_between(&schedule, utc(day_start), utc(day_end))
            .iter()
            .map(|occurrence| {
                let local = occurrence.at.with_timezone(&schedule.timezone);
                format!("{}", local.format("%H:%M %Z"))
            })
            .collect()
    }

    #[test]
    fn hourly_fires_on_the_23_and_25_hour_days_are_never_duplicated() {
        // 2026-03-08 in New York: 00:00 EST = 05:00Z ... 24:00 EDT = 04:00Z next day (23 h).
        let spring = hourly_day(
            "America/New_York",
            "2026-03-08T04:59:59Z",
            "2026-03-09T03:59:59Z",
        );
        assert_eq!(spring.len(), 23, "{spring:?}");
        assert_eq!(
            spring[..4],
            ["00:00 EST", "01:00 EST", "03:00 EDT", "04:00 EDT"]
        );
        // 2026-11-01: 00:00 EDT = 04:00Z ... 24:00 EST = 05:00Z next day (25 h). The 01:00
        // hour happens twice on the clock and fires once, in its first pass.
        let fall = hourly_day(
            "America/New_York",
            "2026-11-01T03:59:59Z",
            "2026-11-02T04:59:59Z",
        );
        assert_eq!(fall.len(), 24, "{fall:?}");
        assert_eq!(
            fall[..4],
            ["00:00 EDT", "01:00 EDT", "02:00 EST", "03:00 EST"]
        );
        for day in [&spring, &fall] {
            let mut unique = day.clone();
            unique.dedup();
            assert_eq!(&unique, day, "no instant twice");
        }
        // Every instant of those days is covered by exactly one fire per clock hour that
        // exists: the gaps between fires are 1 h except across the repeated hour (2 h).
        let schedule = schedule("0 * * * *", "America/New_York", &[]);
        let fires = fires_between(
            &schedule,
            utc("2026-11-01T03:59:59Z"),
            utc("2026-11-02T04:59:59Z"),
        );
        let gaps: Vec<i64> = fires
            .windows(2)
            .map(|w| (w[1].at - w[0].at).num_hours())
            .collect();
        assert_eq!(
            gaps.iter().filter(|hours| **hours == 2).count(),
            1,
            "{gaps:?}"
        );
        assert!(
            gaps.iter().all(|hours| *hours == 1 || *hours == 2),
            "{gaps:?}"
        );
    }

    #[test]
    fn five_six_and_seven_fields_give_the_same_fires() {
        let after = utc("2026-03-06T00:00:00Z");
        let fires = |cron: &str| next_fires(&schedule(cron, "America/New_York", &[]), after, 5);
        let five = fires("0 22 * * *");
        assert_eq!(five.len(), 5);
        assert_eq!(fires("0 0 22 * * *"), five);
        assert_eq!(fires("0 0 22 * * * *"), five);
        // Weekday names and crontab numbers agree too.
        assert_eq!(
            fires("0 22 * * 1-5"),
            fires("0 0 22 * * Mon-Fri"),
            "5-field numeric weekdays keep crontab meaning"
        );
    }

    #[test]
    fn windows_are_half_open_and_latest_matches_the_forward_scan() {
        let cases = [
            (
                "0 * * * *",
                "America/New_York",
                "2026-03-08T00:00:00Z",
                "2026-03-08T12:00:00Z",
            ),
            (
                "0 * * * *",
                "America/New_York",
                "2026-11-01T00:00:00Z",
                "2026-11-01T06:30:00Z",
            ),
            (
                "0 * * * *",
                "America/New_York",
                "2026-11-01T05:00:00Z",
                "2026-11-01T06:10:00Z",
            ),
            (
                "*/30 * * * *",
                "America/New_York",
                "2026-03-08T06:00:00Z",
                "2026-03-08T07:00:00Z",
            ),
            (
                "30 1 * * *",
                "Europe/London",
                "2026-03-27T00:00:00Z",
                "2026-03-30T00:00:00Z",
            ),
            (
                "0 22 * * *",
                "Asia/Tokyo",
                "2026-03-07T13:00:00Z",
                "2026-03-08T13:00:00Z",
            ),
            (
                "0 22 * * *",
                "Asia/Tokyo",
                "2026-03-07T13:00:01Z",
                "2026-03-08T12:59:59Z",
            ),
        ];
        for (cron, zone, after, until) in cases {
            let schedule = schedule(cron, zone, &[]);
            let (after, until) = (utc(after), utc(until));
            let all = fires_between(&schedule, after, until);
            assert!(
                all.iter().all(|o| o.at > after && o.at <= until),
                "{cron} {all:?}"
            );
            assert_eq!(
                latest_between(&schedule, after, until),
                all.last().copied(),
                "{cron} {zone} {after}..{until}"
            );
        }
        // Exactly at the boundary: a fire at `after` is not in the window, one at `until` is.
        let tokyo = schedule("0 22 * * *", "Asia/Tokyo", &[]);
        let at = utc("2026-03-07T13:00:00Z");
        assert_eq!(fires_between(&tokyo, at, at + TimeDelta::hours(1)), vec![]);
        assert_eq!(fires_between(&tokyo, at - TimeDelta::hours(1), at).len(), 1);
        assert_eq!(fires_between(&tokyo, at, at), vec![]);
    }

    #[test]
    fn half_hour_fires_in_the_gap_collapse_onto_its_end() {
        // 02:00 and 02:30 do not exist on 2026-03-08; with 03:00 they share one instant and
        // fire once there, as 03:00.
        let schedule = schedule("*/30 * * * *", "America/New_York", &[]);
        let fires: Vec<String> = fires_between(
            &schedule,
            utc("2026-03-08T06:00:00Z"),
            utc("2026-03-08T07:45:00Z"),
        )
        .iter()
        .map(|occurrence| shown(&schedule, occurrence))
        .collect();
        assert_eq!(
            fires,
            [
                "2026-03-08T06:30Z = Sun 03-08 01:30 EST (nominal 01:30)",
                "2026-03-08T07:00Z = Sun 03-08 03:00 EDT (nominal 03:00)",
                "2026-03-08T07:30Z = Sun 03-08 03:30 EDT (nominal 03:30)",
            ]
        );
    }

    #[test]
    fn a_schedule_skipped_on_every_date_stops() {
        // Feb 29 only, and 2028-02-29 skipped: the next is 2032, found within the bound.
        let leap = schedule("0 0 29 2 *", "Europe/London", &["2028-02-29"]);
        let fires = next_fires(&leap, utc("2026-01-01T00:00:00Z"), 1);
        assert_eq!(fires[0].nominal.to_string(), "2032-02-29 00:00:00");
        // Every second, and two whole days skipped (172,800 candidates, more than
        // MAX_SCAN): the scan gives up rather than hang.
        let busy = schedule("* * * * * *", "UTC", &["2026-01-01", "2026-01-02"]);
        assert_eq!(next_fires(&busy, utc("2026-01-01T00:00:00Z"), 1), vec![]);
    }

    #[test]
    fn resolving_local_times() {
        let new_york: Tz = "America/New_York".parse().expect("zone");
        let local =
            |text: &str| NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").expect("time");
        let cases = [
            ("2026-03-08 02:00:00", "2026-03-08T07:00:00Z"),
            ("2026-03-08 02:59:59", "2026-03-08T07:00:00Z"),
            ("2026-03-08 03:00:00", "2026-03-08T07:00:00Z"),
            ("2026-11-01 01:00:00", "2026-11-01T05:00:00Z"),
            ("2026-11-01 01:59:59", "2026-11-01T05:59:59Z"),
            ("2026-11-01 02:00:00", "2026-11-01T07:00:00Z"),
        ];
        for (time, expected) in cases {
            assert_eq!(
                resolve_local(new_york, local(time)),
                Some(utc(expected)),
                "{time}"
            );
        }
        // Samoa skipped 2011-12-30 entirely: any time that day fires at its end.
        let apia: Tz = "Pacific/Apia".parse().expect("zone");
        let resolved = resolve_local(apia, local("2011-12-30 12:00:00")).expect("resolves");
        assert_eq!(
            resolved.with_timezone(&apia).naive_local(),
            local("2011-12-31 00:00:00")
        );
    }
}
