//! The bot's side of the AWS account, end to end against real Terraform and a real moto: the
//! lease backstop the var file carries (the slaves' group gets its scheduled action after
//! `up small for 1h` and loses it after `down`); readiness in the result, read from the SSM
//! parameters the hosts would write and the slaves' group; the On-Demand vCPU quota in
//! `check` and before an `up` (moto's Service Quotas knows no EC2 quota, so the stated
//! `vcpu_quota` is the source that can be over, and the emulator's answer the one that cannot
//! be read); the AMI pin (kept across two `up`s, cleared by `refresh-image`). One environment
//! lifecycle covers it all, because moto needs seconds per instance.

use crate::support::bot::{BotFixture, ExecResult};
use crate::support::moto::{boto3, MotoServer};
use serde_json::Value;

/// The scheduled actions of the group, as the emulator reports them: `[(name, start UTC)]`.
fn scheduled_actions(endpoint: &str, group: &str) -> Vec<(String, String)> {
    let found = boto3(
        endpoint,
        &format!(
            "actions = autoscaling.describe_scheduled_actions(AutoScalingGroupName='{group}')['ScheduledUpdateGroupActions']\n\
             print(json.dumps([[a['ScheduledActionName'], \
             a['StartTime'].astimezone(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')] for a in actions]))"
        ),
    );
    found
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| {
            (
                pair[0].as_str().unwrap().to_string(),
                pair[1].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Writes a readiness parameter of the environment `local` as a host's boot would.
fn put_ready(endpoint: &str, role: &str, value: &str) {
    boto3(
        endpoint,
        &format!(
            "ssm.put_parameter(Name='/loadtest/local/ready/{role}', Value='{value}', Type='String', Overwrite=True)\nprint('{{}}')"
        ),
    );
}

fn delete_ready(endpoint: &str, role: &str) {
    boto3(
        endpoint,
        &format!("ssm.delete_parameter(Name='/loadtest/local/ready/{role}')\nprint('{{}}')"),
    );
}

/// The variables the run wrote for Terraform.
fn var_file(bot: &BotFixture, run: i64) -> serde_json::Map<String, Value> {
    let path = bot
        .state_dir()
        .join("runs")
        .join(run.to_string())
        .join("vars.tfvars.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// The run id an `exec` answer names.
fn run_id(result: &ExecResult) -> i64 {
    let start = result
        .stdout
        .find("run #")
        .unwrap_or_else(|| panic!("no run in {}", result.stdout))
        + 5;
    result.stdout[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect::<String>()
        .parse()
        .unwrap()
}

fn exec_ok(bot: &BotFixture, words: &[&str]) -> ExecResult {
    let result = bot.exec(words);
    assert_eq!(
        result.code, 0,
        "{words:?}:\n{}\n{}",
        result.stdout, result.stderr
    );
    result
}

#[test]
fn backstop_follows_the_lease_against_moto() {
    let moto = MotoServer::start();
    let endpoint = moto.endpoint();
    let bot = BotFixture::with_terraform(&endpoint, "", "vcpu_quota = 8");

    // check: small (10), medium and large are past the stated 8 vCPUs, down (6) is not.
    let check = bot.run(&[
        "--config",
        &bot.config_path().display().to_string(),
        "check",
    ]);
    assert_eq!(check.code, 0, "{}\n{}", check.stdout, check.stderr);
    for (size, need) in [("small", 10), ("medium", 40), ("large", 96)] {
        assert!(
            check.stdout.contains(&format!(
                "[local] ⚠️ size `{size}` needs {need} On-Demand vCPUs, but the account's quota in us-east-1 is 8"
            )),
            "{}",
            check.stdout
        );
    }
    assert!(!check.stdout.contains("size `down`"), "{}", check.stdout);
    // Without a stated quota, Service Quotas (moto's) is asked; it has no EC2 quota: a note.
    let config_text = std::fs::read_to_string(bot.config_path()).unwrap();
    let unstated = bot.write_config("unstated.toml", &config_text.replace("vcpu_quota = 8", ""));
    let check = bot.run(&["--config", &unstated.display().to_string(), "check"]);
    assert_eq!(check.code, 0, "{}\n{}", check.stdout, check.stderr);
    assert!(
        check
            .stdout
            .contains("[local] note: the On-Demand vCPU quota in us-east-1 could not be read (")
            && check.stdout.contains("size `large` needs 96 vCPUs"),
        "{}",
        check.stdout
    );

    // up small for 1h: the var file carries the lease end, AWS gets the backstop at end + 1h.
    // The hosts of `small` report ready as their boots would (moto boots nothing).
    for role in ["master", "prometheus", "grafana"] {
        put_ready(&endpoint, role, "ok 2026-05-01T10:00:00Z");
    }
    let before = chrono::Utc::now();
    let up = exec_ok(&bot, &["up", "small", "for", "1h"]);
    assert!(up.stdout.contains("succeeded"), "{}", up.stdout);
    assert!(
        up.stdout.contains(
            "[local] ⚠️ size `small` needs 10 On-Demand vCPUs, but the account's quota in us-east-1 is 8"
        ),
        "the up warns while it plans:\n{}",
        up.stdout
    );
    assert!(
        up.stdout
            .contains("Ready:* master ✓, 2/2 slaves ✓, prometheus ✓, grafana ✓"),
        "every host of small is ready, the slaves by their group:\n{}",
        up.stdout
    );
    let vars = var_file(&bot, run_id(&up));
    assert_eq!(
        vars.get("ami_id"),
        None,
        "nothing pinned before the first apply"
    );
    let env = loadtest_bot::model::EnvName::new("local");
    let pinned = bot
        .store()
        .pinned_ami(&env)
        .unwrap()
        .expect("the first apply pinned the image");
    assert!(pinned.starts_with("ami-"), "{pinned}");
    let lease_end = vars["lease_ends_at"]
        .as_str()
        .expect("lease_ends_at is set");
    let lease_end = chrono::DateTime::parse_from_rfc3339(lease_end)
        .unwrap_or_else(|e| panic!("{lease_end:?} is not RFC 3339: {e}"))
        .with_timezone(&chrono::Utc);
    assert!(
        lease_end >= before + chrono::Duration::minutes(59)
            && lease_end <= chrono::Utc::now() + chrono::Duration::hours(1),
        "lease end {lease_end} is an hour after the up"
    );
    let group = moto
        .inventory("local")
        .slave_group()
        .expect("the slaves' group exists")
        .name;
    let expected_at = (lease_end + chrono::Duration::hours(1))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    assert_eq!(
        scheduled_actions(&endpoint, &group),
        vec![("loadtest-lease-backstop".to_string(), expected_at.clone())],
        "the backstop sits at lease end + the default grace"
    );
    // The result and status say when AWS scales the slaves to 0.
    let shown = (lease_end + chrono::Duration::hours(1))
        .format("%Y-%m-%d %H:%M UTC")
        .to_string();
    assert!(
        up.stdout
            .contains(&format!("AWS backstop:* slaves → 0 at {shown}")),
        "{}",
        up.stdout
    );
    let status = exec_ok(&bot, &["status"]);
    assert!(
        status
            .stdout
            .contains(&format!("AWS backstop:* slaves → 0 at {shown}")),
        "{}",
        status.stdout
    );
    // An extend moves the lease in the store only: status says the backstop follows at the
    // next apply.
    exec_ok(&bot, &["extend", "2h"]);
    let status = exec_ok(&bot, &["status"]);
    assert!(
        status.stdout.contains("moves there only at the next apply"),
        "{}",
        status.stdout
    );

    // A second up keeps the pinned image in its var file.
    let again = exec_ok(&bot, &["up", "small", "for", "1h"]);
    assert_eq!(var_file(&bot, run_id(&again))["ami_id"], pinned.as_str());
    // refresh-image plans the current size with the pin cleared; its apply pins what the root
    // resolved (moto's Amazon Linux parameter has not moved: the same id).
    let refresh = exec_ok(&bot, &["refresh-image"]);
    assert!(
        refresh.stdout.contains("[local] refresh-image: succeeded")
            || refresh.stdout.contains("[local] refresh-image: no changes"),
        "{}",
        refresh.stdout
    );
    let vars = var_file(&bot, run_id(&refresh));
    assert_eq!(vars["ami_id"], "", "refresh-image clears the pin");
    assert_eq!(
        vars["jmeter_slave_count"], 2,
        "at the size the environment is at"
    );
    assert_eq!(
        bot.store().pinned_ami(&env).unwrap().as_deref(),
        Some(pinned.as_str())
    );
    // down: no lease end, and the bot's own scale-down removes the backstop. Grafana never
    // reports (its parameter is gone) and the master reports a failure: the run still
    // succeeds, and its result names both after the environment's 1 s wait.
    delete_ready(&endpoint, "grafana");
    put_ready(&endpoint, "master", "failed: jmeter did not start");
    let down = exec_ok(&bot, &["down"]);
    assert!(down.stdout.contains("down: succeeded"), "{}", down.stdout);
    assert!(
        down.stdout.contains(
            "Ready:* ⚠️ master: failed: jmeter did not start, prometheus ✓, grafana: not ready after 1s (the apply itself succeeded)"
        ),
        "what is not ready is named, without slaves at 0:\n{}",
        down.stdout
    );
    assert_eq!(var_file(&bot, run_id(&down))["ami_id"], pinned.as_str());
    let stored = bot
        .store()
        .get_run(loadtest_bot::model::RunId(run_id(&down)))
        .unwrap();
    assert_eq!(
        stored.unwrap().outcome,
        loadtest_bot::model::RunOutcome::Succeeded
    );
    assert_eq!(var_file(&bot, run_id(&down))["lease_ends_at"], "");
    assert_eq!(scheduled_actions(&endpoint, &group), vec![]);
    let status = exec_ok(&bot, &["status"]);
    assert!(!status.stdout.contains("AWS backstop"), "{}", status.stdout);
}
