//! Tests of loading and validating the configuration.

use super::sizes::{self, VariableSets};
use super::*;
use crate::config::crontab::parse_cron;
use crate::model::SizeName;
use chrono::NaiveDate;
use chrono::{Datelike, TimeZone, Weekday};
use chrono_tz::Tz;
use std::path::{Path, PathBuf};

const MINIMAL: &str = "[environments.lt1]\nterraform_dir = \"terraform/envs/local\"\n";

fn load_ok(text: &str) -> Config {
    Config::from_str(text, "test.toml").unwrap_or_else(|errors| panic!("{errors}"))
}

fn errors_of(text: &str) -> Vec<String> {
    match Config::from_str(text, "test.toml") {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(errors) => errors.0.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn defaults_keep_cost_safe() {
    let config = load_ok(MINIMAL);
    assert_eq!(config.terraform.binary, "terraform");
    assert_eq!(config.terraform.plan_timeout, Duration::from_secs(15 * 60));
    assert_eq!(config.terraform.apply_timeout, Duration::from_secs(45 * 60));
    assert_eq!(config.terraform.sizes, PathBuf::from("commands/sizes.toml"));
    assert_eq!(
        config.terraform.templates,
        PathBuf::from("commands/templates")
    );
    assert_eq!(config.store.dir, PathBuf::from(".state"));
    assert_eq!(config.slack.listen, "127.0.0.1:3000");
    assert_eq!(config.slack.mode, None);
    let env = config.env(&EnvName::new("lt1")).expect("lt1");
    assert_eq!(env.workspace, "default");
    assert_eq!(env.timezone, Tz::UTC);
    assert_eq!(env.default_lease, Duration::from_secs(8 * 3600));
    assert_eq!(env.max_lease, Duration::from_secs(24 * 3600));
    assert!(env.channels.is_empty() && env.backend_config.is_empty());
    assert!(config.access.is_none());
    assert!(config.approval.required_for.is_empty());
    assert_eq!(config.approval.expires, Duration::from_secs(30 * 60));
    // The only environment is the default even without `default = true`.
    assert_eq!(config.default_env().map(|e| e.as_str()), Some("lt1"));
}

#[test]
fn every_kind_of_mistake_names_file_and_key() {
    let table: &[(&str, &str)] = &[
            ("", "test.toml: environments: at least one environment is required"),
            ("[environments]\n", "test.toml: environments: at least one environment is required"),
            ("colour = 1\n", "test.toml: colour: unknown key; expected one of terraform, store"),
            ("[terraform]\nbinnary = \"x\"\n", "test.toml: terraform.binnary: unknown key; expected one of `binary`"),
            ("[terraform]\nplan_timeout = \"abc\"\n", "test.toml: terraform.plan_timeout: invalid duration \"abc\": "),
            ("[terraform]\napply_timeout = \"0\"\n", "test.toml: terraform.apply_timeout: must be longer than zero"),
            ("[terraform]\nplan_timeout = 15\n", "test.toml: terraform.plan_timeout: invalid type: integer `15`, expected a string"),
            ("[store]\ndir = \"\"\n", "test.toml: store.dir: must name a directory"),
            ("[slack]\nmode = \"rtm\"\n", "test.toml: slack.mode: \"rtm\" is not a mode; use \"socket\" or \"http\""),
            ("[slack]\nlisten = \"everywhere\"\n", "test.toml: slack.listen: \"everywhere\" is not an address"),
            ("[access]\nsuperusers = [\"U123\"]\n", "test.toml: access.superusers: unknown key; expected one of `admins`, `operators`, `viewers`, `open_access`"),
            ("[access]\nadmins = [\"U123\", \"alice\"]\n", "test.toml: access.admins[1]: \"alice\" is not a member ID"),
            ("[access]\nviewers = [\"C123\"]\n", "test.toml: access.viewers[0]: \"C123\" is not a member ID"),
            ("[approval]\nrequired_for = [\"up:large\"]\n", "test.toml: approval.approvers: required_for is set but nobody can approve"),
            ("[approval]\nrequired_for = [\"destroy\"]\napprovers = [\"U1A\"]\n", "test.toml: approval.required_for[0]: \"destroy\" is not an approval rule"),
            ("[approval]\nexpires = \"soon\"\n", "test.toml: approval.expires: invalid duration \"soon\""),
            ("mask_patterns = [\"(unclosed\"]\n", "test.toml: mask_patterns[0]: \"(unclosed\" is not a regex"),
            ("mask_patterns = [\"x*\"]\n", "test.toml: mask_patterns[0]: \"x*\" matches the empty string"),
            ("mask_patterns = \"secret\"\n", "test.toml: mask_patterns: invalid type: string \"secret\", expected a sequence"),
        ];
    for (extra, expected) in table {
        let text = if extra.contains("environments") || extra.is_empty() {
            extra.to_string()
        } else {
            format!("{extra}\n{MINIMAL}")
        };
        let errors = errors_of(&text);
        assert!(
            errors.iter().any(|e| e.starts_with(expected)),
            "input:\n{text}\nexpected an error starting {expected:?}, got {errors:#?}"
        );
    }
}

#[test]
fn environment_mistakes() {
    let table: &[(&str, &str)] = &[
            ("[environments.lt1]\n", "test.toml: environments.lt1: missing field `terraform_dir`"),
            ("[environments.LT1]\nterraform_dir = \"x\"\n", "test.toml: environments.LT1: `LT1` is not a valid environment name"),
            ("[environments.\"../x\"]\nterraform_dir = \"x\"\n", "test.toml: environments.../x: `../x` is not a valid environment name"),
            ("[environments.lt1]\nterraform_dir = \"x\"\nmax_lease = \"abc\"\n", "test.toml: environments.lt1.max_lease: invalid duration \"abc\": "),
            ("[environments.lt1]\nterraform_dir = \"x\"\ndefault_lease = \"30h\"\n", "test.toml: environments.lt1.default_lease: 30h is longer than max_lease 24h"),
            ("[environments.lt1]\nterraform_dir = \"x\"\ntimezone = \"Mars/Olympus\"\n", "test.toml: environments.lt1.timezone: unknown time zone \"Mars/Olympus\""),
            ("[environments.lt1]\nterraform_dir = \"x\"\nchannels = [\"general\"]\n", "test.toml: environments.lt1.channels[0]: \"general\" is not a channel ID"),
            ("[environments.lt1]\nterraform_dir = \"x\"\nworkspace = \"a b\"\n", "test.toml: environments.lt1.workspace: \"a b\" is not a workspace name"),
            ("[environments.lt1]\nterraform_dir = \"x\"\nregion = \"eu\"\n", "test.toml: environments.lt1.region: unknown key"),
            ("[environments.lt1]\nterraform_dir = \"x\"\n[environments.lt1.tf_vars]\nenvironment_name = \"prod\"\n", "test.toml: environments.lt1.tf_vars.environment_name: `environment_name` is the environment's name"),
            ("[environments.lt1]\nterraform_dir = \"x\"\n[environments.lt1.tf_vars]\nzones = [1]\n", "test.toml: environments.lt1.tf_vars.zones: must be a string, number or boolean, not array"),
            ("[environments.lt1]\nterraform_dir = \"x\"\n[environments.lt1.backend_config]\nbucket = 3\n", "test.toml: environments.lt1.backend_config.bucket: invalid type: integer `3`, expected a string"),
            ("[environments.a]\nterraform_dir = \"x\"\ndefault = true\n[environments.b]\nterraform_dir = \"x\"\ndefault = true\n", "test.toml: environments.b.default: only one environment can be the default; `a` already is"),
        ];
    for (text, expected) in table {
        let errors = errors_of(text);
        assert!(
            errors.iter().any(|e| e.starts_with(expected)),
            "input:\n{text}\nexpected an error starting {expected:?}, got {errors:#?}"
        );
    }
}

#[test]
fn schedule_mistakes() {
    let schedule = |body: &str| {
        format!(
                "{MINIMAL}[[schedules]]\nname = \"nightly\"\ncron = \"0 22 * * *\"\naction = \"down\"\nenvironments = [\"lt1\"]\n{body}"
            )
    };
    let table: &[(String, &str)] = &[
            (schedule("timezone = \"Asia/Tokio\"\n"), "test.toml: schedules[0].timezone: unknown time zone \"Asia/Tokio\""),
            (schedule("warn_before = \"15\"\n"), "test.toml: schedules[0].warn_before: invalid duration \"15\""),
            (schedule("catch_up = \"soon\"\n"), "test.toml: schedules[0].catch_up: invalid duration \"soon\""),
            (schedule("skip_dates = [\"31/12/2026\"]\n"), "test.toml: schedules[0].skip_dates[0]: \"31/12/2026\" is not a date; use YYYY-MM-DD"),
            (schedule("colour = \"red\"\n"), "test.toml: schedules[0].colour: unknown key"),
            (schedule("").replace("0 22 * * *", "0 25 * * *"), "test.toml: schedules[0].cron: invalid cron expression \"0 25 * * *\""),
            (schedule("").replace("0 22 * * *", "22 * *"), "test.toml: schedules[0].cron: invalid cron expression \"22 * *\": expected 5 fields"),
            (schedule("").replace("0 22 * * *", "0 0 30 2 *"), "test.toml: schedules[0].cron: cron expression \"0 0 30 2 *\" never fires"),
            (schedule("").replace("0 22 * * *", "0 22 * * 1-FRI"), "test.toml: schedules[0].cron: invalid cron expression \"0 22 * * 1-FRI\": use either weekday names or numbers"),
            (schedule("").replace("\"down\"", "\"destroy\""), "test.toml: schedules[0].action: \"destroy\" is not an action"),
            (schedule("").replace("\"down\"", "\"up\""), "test.toml: schedules[0].action: \"up\" is not an action"),
            (schedule("").replace("[\"lt1\"]", "[\"lt9\"]"), "test.toml: schedules[0].environments[0]: there is no environment `lt9`"),
            (schedule("").replace("[\"lt1\"]", "[]"), "test.toml: schedules[0].environments: name at least one environment"),
            (format!("{}{}", schedule(""), "[[schedules]]\nname = \"nightly\"\ncron = \"0 23 * * *\"\naction = \"off\"\nenvironments = [\"lt1\"]\n"), "test.toml: schedules[1].name: another schedule is named \"nightly\""),
            (format!("schedules = 3\n{MINIMAL}"), "test.toml: schedules: must be an array of tables"),
        ];
    for (text, expected) in table {
        let errors = errors_of(text);
        assert!(
            errors.iter().any(|e| e.starts_with(expected)),
            "input:\n{text}\nexpected an error starting {expected:?}, got {errors:#?}"
        );
    }
}

#[test]
fn all_errors_are_collected_not_just_the_first() {
    let errors = errors_of(
            "[terraform]\nplan_timeout = \"x\"\n[access]\nsuperusers = []\n\
             [environments.lt1]\nterraform_dir = \"x\"\nmax_lease = \"abc\"\ntimezone = \"Nowhere\"\n\
             [environments.lt2]\nterraform_dir = \"x\"\nregion = \"eu\"\n",
        );
    assert_eq!(
            errors,
            [
                "test.toml: terraform.plan_timeout: invalid duration \"x\": expected number at 0",
                "test.toml: environments.lt1.timezone: unknown time zone \"Nowhere\"; use an IANA name such as \"Europe/Berlin\"",
                "test.toml: environments.lt1.max_lease: invalid duration \"abc\": expected number at 0",
                "test.toml: environments.lt2.region: unknown key; expected one of `terraform_dir`, `workspace`, `channels`, `timezone`, `default_lease`, `max_lease`, `ready_timeout`, `vcpu_quota`, `plans_dir`, `results_link_expiry`, `test_poll_interval`, `shared_plans`, `backend_config`, `default`, `tf_vars`",
                "test.toml: access.superusers: unknown key; expected one of `admins`, `operators`, `viewers`, `open_access`",
            ]
        );
}

#[test]
fn syntax_errors_carry_the_line() {
    let errors = errors_of("[environments.lt1\n");
    assert!(
        errors[0].starts_with("test.toml: TOML parse error at line 1"),
        "{errors:?}"
    );
}

#[test]
fn schedules_are_typed() {
    let config = load_ok(&format!(
            "{MINIMAL}[[schedules]]\nname = \"nightly-down\"\ncron = \"0 22 * * *\"\ntimezone = \"Asia/Tokyo\"\naction = \"up small\"\nenvironments = [\"lt1\"]\nwarn_before = \"15m\"\nskip_dates = [\"2026-12-31\"]\ncatch_up = \"6h\"\n"
        ));
    let schedule = &config.schedules[0];
    assert_eq!(schedule.action, ScheduleAction::Up(SizeName::new("small")));
    assert_eq!(schedule.action.to_string(), "up small");
    assert_eq!(schedule.timezone, chrono_tz::Asia::Tokyo);
    assert_eq!(schedule.warn_before, Some(Duration::from_secs(900)));
    assert_eq!(schedule.catch_up, Some(Duration::from_secs(6 * 3600)));
    assert_eq!(
        schedule.skip_dates,
        [NaiveDate::from_ymd_opt(2026, 12, 31).expect("date")]
    );
    // 22:00 in Tokyo is 13:00 UTC.
    let after = chrono_tz::Asia::Tokyo
        .with_ymd_and_hms(2026, 1, 5, 12, 0, 0)
        .single()
        .expect("time");
    let next = schedule.cron.after(&after).next().expect("fires");
    assert_eq!(next.to_rfc3339(), "2026-01-05T22:00:00+09:00");
}

#[test]
fn next_fires_skip_holidays_in_the_schedule_zone() {
    let config = load_ok(&format!(
            "{MINIMAL}[[schedules]]\nname = \"n\"\ncron = \"0 22 * * *\"\ntimezone = \"Asia/Tokyo\"\naction = \"down\"\nenvironments = [\"lt1\"]\nskip_dates = [\"2026-12-31\"]\n"
        ));
    let after = chrono::Utc
        .with_ymd_and_hms(2026, 12, 30, 14, 0, 0)
        .single()
        .expect("time");
    let fires: Vec<String> = crate::schedule::calendar::next_fires(&config.schedules[0], after, 2)
        .iter()
        .map(|occurrence| occurrence.at.to_rfc3339())
        .collect();
    // 2026-12-30 22:00 JST has passed (13:00 UTC); the 31st is a holiday.
    assert_eq!(
        fires,
        ["2027-01-01T13:00:00+00:00", "2027-01-02T13:00:00+00:00"]
    );
}

/// Weekdays a cron expression fires on in the week starting Monday 2026-01-05.
fn fire_days(expression: &str) -> Vec<Weekday> {
    let schedule = parse_cron(expression).unwrap_or_else(|e| panic!("{e}"));
    let start = chrono::Utc
        .with_ymd_and_hms(2026, 1, 4, 23, 59, 0)
        .single()
        .expect("time");
    schedule
        .after(&start)
        .take_while(|time| time.day() <= 11)
        .map(|time| time.weekday())
        .collect()
}

#[test]
fn crontab_weekdays_keep_their_meaning() {
    use Weekday::*;
    let table: &[(&str, &[Weekday])] = &[
        ("0 22 * * *", &[Mon, Tue, Wed, Thu, Fri, Sat, Sun]),
        ("0 22 * * 1-5", &[Mon, Tue, Wed, Thu, Fri]),
        ("0 22 * * MON-FRI", &[Mon, Tue, Wed, Thu, Fri]),
        ("0 22 * * 0", &[Sun]),
        ("0 22 * * 7", &[Sun]),
        ("0 22 * * 5-7", &[Fri, Sat, Sun]),
        ("0 22 * * 1,3", &[Mon, Wed]),
        ("0 22 * * */2", &[Tue, Thu, Sat, Sun]),
        ("0 22 * * 1-5/2", &[Mon, Wed, Fri]),
        // Six fields go to the cron crate as written: 1 = Sunday there.
        ("0 0 22 * * 1", &[Sun]),
        ("0 0 22 * * MON", &[Mon]),
    ];
    for (expression, expected) in table {
        assert_eq!(&fire_days(expression), expected, "{expression}");
    }
}

#[test]
fn env_overrides_replace_file_values() {
    let mut config = load_ok(MINIMAL);
    let errors = config.apply_env_overrides(|name| match name {
        "LOADTEST_STATE_DIR" => Some("/var/lib/loadtest".into()),
        "LOADTEST_LISTEN" => Some("0.0.0.0:8080".into()),
        _ => None,
    });
    assert!(errors.is_empty());
    assert_eq!(config.store.dir, PathBuf::from("/var/lib/loadtest"));
    assert_eq!(config.slack.listen, "0.0.0.0:8080");
    let errors = config
        .apply_env_overrides(|name| (name == "LOADTEST_LISTEN").then(|| "port 80".to_string()));
    assert_eq!(
            errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["environment: LOADTEST_LISTEN: \"port 80\" is not an address; use host:port such as 127.0.0.1:3000"]
        );
    assert_eq!(config.slack.listen, "0.0.0.0:8080");
}

#[test]
fn commands_find_their_environment() {
    let config = load_ok(
        "[environments.a]\nterraform_dir = \"x\"\nchannels = [\"C1A\"]\n\
             [environments.b]\nterraform_dir = \"x\"\nchannels = [\"C1A\", \"C2B\"]\n\
             [environments.c]\nterraform_dir = \"x\"\ndefault = true\n",
    );
    let resolve = |explicit: Option<&str>, channel: &str| {
        config
            .resolve_env(
                explicit.map(EnvName::new).as_ref(),
                &ChannelId::new(channel),
            )
            .map(|env| env.to_string())
    };
    assert_eq!(resolve(None, "C2B"), Ok("b".into()));
    assert_eq!(resolve(None, "C9Z"), Ok("c".into()));
    assert_eq!(resolve(None, "console"), Ok("c".into()));
    assert_eq!(resolve(Some("a"), "C2B"), Ok("a".into()));
    assert_eq!(
        resolve(None, "C1A"),
        Err("this channel has 2 environments; add one of `env=a`, `env=b`".into())
    );
    assert_eq!(
        resolve(Some("zz"), "C1A"),
        Err("there is no environment `zz`".into())
    );
    assert_eq!(
        config.envs_bound_to(&ChannelId::new("C1A")),
        [EnvName::new("a"), EnvName::new("b")]
    );
    assert_eq!(config.default_env(), Some(&EnvName::new("c")));
    assert_eq!(config.largest_max_lease(), Duration::from_secs(24 * 3600));

    let no_default = load_ok(
        "[environments.a]\nterraform_dir = \"x\"\n[environments.b]\nterraform_dir = \"x\"\n",
    );
    assert_eq!(no_default.default_env(), None);
    assert_eq!(
        no_default
            .resolve_env(None, &ChannelId::new("C1A"))
            .map(|env| env.to_string()),
        Err("which environment? add one of `env=a`, `env=b`".into())
    );
}

#[test]
fn durations_format_compactly() {
    for (seconds, text) in [
        (5400, "1h30m"),
        (86400, "24h"),
        (45, "45s"),
        (0, "0s"),
        (600, "10m"),
    ] {
        assert_eq!(format_duration(Duration::from_secs(seconds)), text);
    }
}

fn write(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(path, text).expect("write");
}

#[test]
fn load_checks_sizes_against_each_terraform_root() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write(
            &root.join("commands/sizes.toml"),
            "[off]\ndescription = \"x\"\nest_hourly_usd = 0\n[off.variables]\njmeter_slave_count = 0\n\
             [down]\ndescription = \"x\"\nest_hourly_usd = 0.1\n[down.variables]\njmeter_slave_count = 0\nmonitoring = \"basic\"\n\
             [small]\ndescription = \"x\"\nest_hourly_usd = 1\n[small.variables]\njmeter_slave_count = 2\n",
        );
    // `good` declares everything; `bad` lacks `monitoring` and `aws_endpoint`.
    write(
            &root.join("tf/good/variables.tf"),
            "variable \"jmeter_slave_count\" {}\nvariable \"monitoring\" {}\nvariable \"aws_endpoint\" {}\n",
        );
    write(
        &root.join("tf/bad/variables.tf"),
        "variable \"jmeter_slave_count\" {}\n",
    );
    let config_text = format!(
            "[terraform]\nsizes = \"{sizes}\"\n\
             [environments.good]\nterraform_dir = \"{good}\"\n[environments.good.tf_vars]\naws_endpoint = \"http://127.0.0.1:4566\"\n\
             [environments.bad]\nterraform_dir = \"{bad}\"\n[environments.bad.tf_vars]\naws_endpoint = \"\"\njmeter_slave_count = 3\n\
             [environments.later]\nterraform_dir = \"{missing}\"\n\
             [approval]\nrequired_for = [\"up:huge\", \"up:small\"]\napprovers = [\"U1A\"]\n\
             [[schedules]]\nname = \"n\"\ncron = \"0 22 * * *\"\naction = \"up tiny\"\nenvironments = [\"good\"]\n",
            sizes = root.join("commands/sizes.toml").display(),
            good = root.join("tf/good").display(),
            bad = root.join("tf/bad").display(),
            missing = root.join("tf/missing").display(),
        );
    let config_path = root.join("loadtest.toml");
    write(&config_path, &config_text);
    let errors = match Config::load(&config_path) {
        Ok(_) => panic!("expected cross-check errors"),
        Err(errors) => errors.0,
    };
    let config_label = config_path.display().to_string();
    let sizes_label = root.join("commands/sizes.toml").display().to_string();
    let bad_root = root.join("tf/bad").display().to_string();
    let rendered: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
            rendered,
            [
                format!("{config_label}: schedules[0].action: unknown size `tiny`; sizes: off, down, small"),
                format!("{config_label}: approval.required_for[0]: unknown size `huge`; sizes: off, down, small"),
                format!("{sizes_label}: down.variables.monitoring: variable set `down` names variable `monitoring` the Terraform root does not declare (environment `bad`, {bad_root})"),
                format!("{config_label}: environments.bad.tf_vars.aws_endpoint: the Terraform root {bad_root} does not declare `aws_endpoint`"),
                format!("{config_label}: environments.bad.tf_vars.jmeter_slave_count: variable set `off` sets `jmeter_slave_count` too; sizes own it, so remove it here"),
            ]
        );

    // Fixed, the same files load.
    let fixed = config_text
            .replace("up tiny", "up small")
            .replace("\"up:huge\", ", "")
            .replace(&format!("[environments.bad]\nterraform_dir = \"{bad_root}\"\n[environments.bad.tf_vars]\naws_endpoint = \"\"\njmeter_slave_count = 3\n"), "");
    write(&config_path, &fixed);
    let config = Config::load(&config_path).unwrap_or_else(|errors| panic!("{errors}"));
    assert_eq!(config.environments.len(), 2);
}

#[test]
fn shipped_examples_load() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    for name in ["examples/local.toml", "examples/aws.toml"] {
        let path = manifest.join(name);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let config = Config::from_str(&text, name).unwrap_or_else(|errors| panic!("{errors}"));
        // Cross-check against the shipped sizes and roots where they exist already;
        // paths in the examples are relative to the project root.
        let sizes = manifest.join(&config.terraform.sizes);
        if let Ok(sets) = VariableSets::load_all_errors(&sizes) {
            let mut declared = BTreeMap::new();
            for env in config.environments.values() {
                if let Ok(names) = sizes::declared_variables(&manifest.join(&env.terraform_dir)) {
                    declared.insert(env.name.clone(), names);
                }
            }
            let errors = config.check_against(&sets, &declared);
            assert!(errors.is_empty(), "{name}: {}", ConfigErrors(errors));
        }
    }
}

#[test]
fn serve_needs_access_written_and_unbound_environments_are_named() {
    let base = "[environments.lt1]\nterraform_dir = \"x\"\n[environments.lt2]\nterraform_dir = \"x\"\nchannels = [\"C0LT2\"]\n";
    let open = Config::from_str(base, "bot.toml").unwrap();
    let refusal = open.serve_access_refusal().expect("no [access] is refused");
    assert!(
        refusal.starts_with("bot.toml: `serve` refuses to start without [access]"),
        "{refusal}"
    );
    assert!(refusal.contains("open_access = true"), "{refusal}");
    assert_eq!(open.unbound_envs(), [EnvName::new("lt1")]);
    let explicit =
        Config::from_str(&format!("{base}[access]\nopen_access = true\n"), "bot.toml").unwrap();
    assert_eq!(explicit.serve_access_refusal(), None);
    assert!(explicit.access.as_ref().unwrap().open_access);
    let listed = Config::from_str(
        &format!("{base}[access]\nadmins = [\"U0ADMIN\"]\n"),
        "bot.toml",
    )
    .unwrap();
    assert_eq!(listed.serve_access_refusal(), None);
    assert!(!listed.access.as_ref().unwrap().open_access);
}

#[test]
fn env_passthrough_takes_names_but_never_the_slack_settings() {
    let text =
        "[terraform]\nenv_passthrough = [\"MY_TOOL_HOME\", \"SLACK_BOT_TOKEN\", \"not a name\"]\n\
                [environments.lt1]\nterraform_dir = \"x\"\n";
    let errors = Config::from_str(text, "bot.toml").unwrap_err().to_string();
    assert!(
        errors.contains(
            "terraform.env_passthrough[1]: SLACK_BOT_TOKEN is one of the bot's Slack settings"
        ),
        "{errors}"
    );
    assert!(
        errors.contains(
            "terraform.env_passthrough[2]: \"not a name\" is not an environment variable name"
        ),
        "{errors}"
    );
    let ok = Config::from_str(
        "[terraform]\nenv_passthrough = [\"MY_TOOL_HOME\"]\n[environments.lt1]\nterraform_dir = \"x\"\n",
        "bot.toml",
    )
    .unwrap();
    assert_eq!(ok.terraform.env_passthrough, ["MY_TOOL_HOME"]);
}

#[test]
fn keep_runs_defaults_to_thirty_days() {
    let env = "[environments.lt1]\nterraform_dir = \"x\"\n";
    let config = Config::from_str(env, "bot.toml").unwrap();
    assert_eq!(
        config.store.keep_runs,
        std::time::Duration::from_secs(30 * 86_400)
    );
    let config =
        Config::from_str(&format!("[store]\nkeep_runs = \"90d\"\n{env}"), "bot.toml").unwrap();
    assert_eq!(
        config.store.keep_runs,
        std::time::Duration::from_secs(90 * 86_400)
    );
    let errors = Config::from_str(
        &format!("[store]\nkeep_runs = \"forever\"\n{env}"),
        "bot.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(
        errors.starts_with("bot.toml: store.keep_runs: invalid duration \"forever\""),
        "{errors}"
    );
}

#[test]
fn plans_and_test_settings_are_checked_key_by_key() {
    let config = load_ok(&format!(
        "{MINIMAL}plans_dir = \"examples/plans\"\ntest_poll_interval = \"2s\"\n\
         [plans.\"smoke.jmx\"]\nproperties = [\"host\", \"path\"]\nmax_error_percent = 2.5\n"
    ));
    let env = config.env(&crate::model::EnvName::new("lt1")).unwrap();
    assert_eq!(env.plans_dir.as_deref(), Some(Path::new("examples/plans")));
    assert_eq!(
        env.results_link_expiry,
        std::time::Duration::from_secs(24 * 3600)
    );
    assert_eq!(env.test_poll_interval, std::time::Duration::from_secs(2));
    assert_eq!(config.plan("smoke.jmx").properties, ["host", "path"]);
    assert_eq!(config.plan("smoke.jmx").max_error_percent, 2.5);
    assert_eq!(config.plan("other.jmx"), PlanConfig::default());

    let errors = errors_of(&format!(
        "{MINIMAL}results_link_expiry = \"8d\"\nplans_dir = \" \"\n\
         [plans.\"../x.jmx\"]\n[plans.\"ok.jmx\"]\nproperties = [\"a b\"]\nmax_error_percent = 120.0\n"
    ));
    assert_eq!(
        errors,
        [
            "test.toml: environments.lt1.results_link_expiry: S3 links last at most 7 days (\"7d\")",
            "test.toml: environments.lt1.plans_dir: must name a directory",
            "test.toml: plans.\"../x.jmx\": a plan is named by its file: letters, digits, - _ . ending in .jmx",
            "test.toml: plans.\"ok.jmx\".properties[0]: \"a b\" is not a property name (letters, digits, - _ .)",
            "test.toml: plans.\"ok.jmx\".max_error_percent: must be a percentage from 0 to 100",
        ]
    );
}
