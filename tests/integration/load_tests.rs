//! Load tests from chat against real Terraform and a real moto: `run` copies the plans to the
//! environment's bucket and sends `loadtest-run` to the master through SSM (read back from
//! moto's SSM API); `stop` sends `loadtest-stop`; results the test places in the bucket (the
//! master's part, tested on its own in `host_scripts`) are summarised and posted, `exec` exits
//! by the plan's error threshold; a scheduled `off` waits for a running test, then runs.
//! One environment (`down`: a master, no slaves) covers it all: moto needs seconds per host.

use crate::support::bot::{BotFixture, ExecResult};
use crate::support::moto::{boto3, MotoServer};
use std::io::Read;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// One SSM command as moto reports it: its command line and the instances it went to.
#[derive(Debug)]
struct SentCommand {
    line: String,
    instances: Vec<String>,
}

/// Every SSM command moto has seen, oldest first.
fn ssm_commands(endpoint: &str) -> Vec<SentCommand> {
    let found = boto3(
        endpoint,
        "cs = sorted(ssm.list_commands()['Commands'], key=lambda c: c['RequestedDateTime'])\n\
         print(json.dumps([[c['Parameters']['commands'][0], c['InstanceIds']] for c in cs]))",
    );
    let rows: Vec<(String, Vec<String>)> = serde_json::from_value(found).unwrap();
    rows.into_iter()
        .map(|(line, instances)| SentCommand { line, instances })
        .collect()
}

fn bucket_keys(endpoint: &str, bucket: &str) -> Vec<String> {
    let found = boto3(
        endpoint,
        &format!(
            "r = s3.list_objects_v2(Bucket='{bucket}')\n\
             print(json.dumps(sorted(o['Key'] for o in r.get('Contents', []))))"
        ),
    );
    serde_json::from_value(found).unwrap()
}

/// Places what the master's `loadtest-run` uploads: the JTL, the report, status.json last.
fn place_results(endpoint: &str, bucket: &str, key: &str, jtl: &str, state: &str) {
    let jtl = crate::support::repo_root()
        .join("tests/fixtures/jtl")
        .join(jtl);
    boto3(
        endpoint,
        &format!(
            "p = 'results/{key}/'\n\
             s3.upload_file('{jtl}', '{bucket}', p + 'results.jtl')\n\
             s3.put_object(Bucket='{bucket}', Key=p + 'report/index.html', Body=b'<html></html>')\n\
             s3.put_object(Bucket='{bucket}', Key=p + 'status.json', Body=json.dumps({{'state': '{state}', 'exit': 0}}).encode())\n\
             print('{{}}')",
            jtl = jtl.display()
        ),
    );
}

/// The test key (`--test-id`) of the newest `loadtest-run` sent, waiting for it to appear.
fn wait_for_run_command(endpoint: &str, seen: usize) -> (String, String, Vec<String>) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let commands = ssm_commands(endpoint);
        if let Some(found) = commands
            .iter()
            .skip(seen)
            .find(|command| command.line.starts_with("'loadtest-run'"))
        {
            let line = &found.line;
            let key = line
                .split("'--test-id' '")
                .nth(1)
                .and_then(|rest| rest.split('\'').next())
                .unwrap_or_else(|| panic!("no --test-id in {line}"))
                .to_string();
            return (key, line.clone(), found.instances.clone());
        }
        assert!(
            Instant::now() < deadline,
            "no loadtest-run sent: {commands:?}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Waits for a background `exec` to end; its exit code and output.
fn finish(mut child: Child, what: &str) -> (i32, String) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut out = String::new();
            child
                .stdout
                .take()
                .unwrap()
                .read_to_string(&mut out)
                .unwrap();
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            return (status.code().unwrap_or(-1), format!("{out}\n{err}"));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what} did not end");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn spawn_exec(bot: &BotFixture, words: &[&str]) -> Child {
    let config = bot.config_path().display().to_string();
    let mut args = vec!["--config", config.as_str(), "exec", "--"];
    args.extend_from_slice(words);
    bot.command(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn exec")
}

fn refused(result: &ExecResult, needle: &str) {
    assert_eq!(result.code, 2, "{}\n{}", result.stdout, result.stderr);
    assert!(
        result.stdout.contains(needle),
        "want {needle:?} in:\n{}",
        result.stdout
    );
}

#[test]
fn run_stop_results_and_a_waiting_scale_down_against_moto() {
    let moto = MotoServer::start();
    let endpoint = moto.endpoint();
    let plans = tempfile::tempdir().unwrap();
    std::fs::copy(
        crate::support::repo_root().join("tests/fixtures/jtl/subresults.jmx"),
        plans.path().join("smoke.jmx"),
    )
    .unwrap();
    std::fs::create_dir_all(plans.path().join("data")).unwrap();
    std::fs::write(plans.path().join("data/users.csv"), "user1\nuser2\n").unwrap();
    std::fs::write(plans.path().join(".hidden"), "not copied").unwrap();
    let bot = BotFixture::with_terraform(
        &endpoint,
        "",
        &format!(
            "plans_dir = \"{}\"\ntest_poll_interval = \"1s\"\nshared_plans = true",
            plans.path().display()
        ),
    );
    bot.append_config(
        "[plans.\"smoke.jmx\"]\nproperties = [\"host\"]\nmax_error_percent = 50.0\n\n\
         [[schedules]]\nname = \"every-minute\"\ncron = \"* * * * *\"\naction = \"off\"\n\
         environments = [\"local\"]\n",
    );

    // A plan shared in the channel earlier (the Slack side is `slack::shared_plans…`), and one
    // shared under a name plans_dir also has: plans_dir's wins, in `plans` and in the bucket.
    let shared = bot.state_dir().join("shared-plans/local");
    std::fs::create_dir_all(&shared).unwrap();
    std::fs::write(shared.join("checkout.jmx"), "<jmeterTestPlan/>").unwrap();
    std::fs::write(
        shared.join("smoke.jmx"),
        "<jmeterTestPlan>shadowed</jmeterTestPlan>",
    )
    .unwrap();

    // Before there is a master: refused, nothing sent.
    refused(&bot.exec(&["run", "smoke.jmx"]), "Terraform outputs");
    let up = bot.exec(&["down"]);
    assert_eq!(up.code, 0, "{}\n{}", up.stdout, up.stderr);
    let master = boto3(
        &endpoint,
        "r = ec2.describe_instances(Filters=[{'Name':'instance-state-name','Values':['running']},\
         {'Name':'tag:Name','Values':['*-jmeter-master']}])\n\
         print(json.dumps([i['InstanceId'] for res in r['Reservations'] for i in res['Instances']]))",
    );
    let master: Vec<String> = serde_json::from_value(master).unwrap();
    assert_eq!(master.len(), 1, "one master: {master:?}");
    let bucket = boto3(
        &endpoint,
        "print(json.dumps([b['Name'] for b in s3.list_buckets()['Buckets']]))",
    );
    let bucket = bucket.as_array().unwrap()[0].as_str().unwrap().to_string();

    // Bad input: a clear answer, nothing sent to the master.
    let plans_answer = bot.exec(&["plans"]);
    assert_eq!(plans_answer.code, 0, "{}", plans_answer.stdout);
    assert!(
        plans_answer
            .stdout
            .contains("`smoke.jmx`: -Jhost=…; fails above 50 % errors")
            && plans_answer
                .stdout
                .contains("`checkout.jmx` (shared in the channel): no -J properties")
            && !plans_answer.stdout.contains("`smoke.jmx` (shared"),
        "{}",
        plans_answer.stdout
    );
    refused(
        &bot.exec(&["run", "nope.jmx"]),
        "no plan `nope.jmx`; plans: smoke.jmx, checkout.jmx",
    );
    refused(
        &bot.exec(&["run", "smoke.jmx", "-Jother=1"]),
        "takes no property `-Jother`; allowed: host",
    );
    refused(
        &bot.exec(&["run", "smoke.jmx", "-Jhost=$(reboot)"]),
        "a value is",
    );
    refused(&bot.exec(&["stop"]), "no test is running in `local`");
    assert!(
        ssm_commands(&endpoint).is_empty(),
        "nothing sent for refused commands"
    );

    // Test 1: started, visible in status, alone, stopped, then its results come back.
    let first = spawn_exec(
        &bot,
        &[
            "run",
            "smoke.jmx",
            "threads=10",
            "duration=1m",
            "-Jhost=api.example.com",
        ],
    );
    let (key, line, instances) = wait_for_run_command(&endpoint, 0);
    // moto lists every instance of the account under a command sent without `Targets` (its
    // target filter is empty, which matches all); the master must be among them.
    assert!(
        instances.contains(&master[0]),
        "sent to the master: {instances:?}"
    );
    assert_eq!(
        line,
        format!("'loadtest-run' '--test-id' '{key}' '--plan' 'smoke.jmx' '--threads' '10' '--duration' '60' '-Jhost=api.example.com'")
    );
    let keys = bucket_keys(&endpoint, &bucket);
    assert!(
        keys.contains(&"plans/smoke.jmx".to_string())
            && keys.contains(&"plans/data/users.csv".to_string())
            && keys.contains(&"plans/checkout.jmx".to_string()),
        "{keys:?}"
    );
    let smoke = boto3(
        &endpoint,
        &format!(
            "print(json.dumps(s3.get_object(Bucket='{bucket}', Key='plans/smoke.jmx')['Body'].read().decode()))"
        ),
    );
    assert!(
        !smoke.as_str().unwrap().contains("shadowed"),
        "plans_dir's smoke.jmx wins"
    );
    assert!(!keys.iter().any(|k| k.contains(".hidden")), "{keys:?}");
    let status = bot.exec(&["status"]);
    assert!(
        status
            .stdout
            .contains("Load test:* #1 `smoke.jmx threads=10 duration=1m -Jhost=api.example.com`"),
        "{}",
        status.stdout
    );
    refused(
        &bot.exec(&["run", "smoke.jmx"]),
        "test #1 (`smoke.jmx` by <@",
    );
    let stop = bot.exec(&["stop"]);
    assert_eq!(stop.code, 0, "{}\n{}", stop.stdout, stop.stderr);
    let commands = ssm_commands(&endpoint);
    let stops: Vec<&SentCommand> = commands
        .iter()
        .filter(|c| c.line.starts_with("'loadtest-stop'"))
        .collect();
    assert_eq!(stops.len(), 1, "{commands:?}");
    assert_eq!(stops[0].line, "'loadtest-stop'");
    assert!(stops[0].instances.contains(&master[0]));
    // The live figures are read from the master's exporter file (moto runs nothing, so the
    // message shows none; `load_tests::live` reads a real exporter's text).
    assert!(
        commands.iter().any(|c| c.line.starts_with("'grep' '-hE'")
            && c.line
                .ends_with("'/var/lib/node_exporter/textfile/loadtest-jmeter.prom'")),
        "{commands:?}"
    );
    place_results(&endpoint, &bucket, &key, "csv-default.jtl", "finished");
    let (code, output) = finish(first, "the first run");
    assert_eq!(code, 0, "within the plan's 50 %: {output}");
    assert!(output.contains("test #1 finished"), "{output}");
    assert!(
        output.contains("821 samples") || output.contains("821"),
        "{output}"
    );
    assert!(
        output.contains("X-Amz-Signature"),
        "presigned links: {output}"
    );
    assert!(
        output.contains(&format!("results/{key}/report/index.html")),
        "{output}"
    );

    // Test 2, with the shell's scheduler open: the every-minute `off` waits for the test.
    let second = spawn_exec(&bot, &["run", "smoke.jmx", "threads=5", "duration=30s"]);
    let (key2, _, _) = wait_for_run_command(&endpoint, commands.len());
    let config = bot.config_path().display().to_string();
    let mut shell = bot
        .command(&["--config", &config, "shell"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn shell");
    let audit = || -> Vec<String> {
        let db = rusqlite::Connection::open(bot.state_dir().join("loadtest.db")).unwrap();
        let mut query = db
            .prepare("SELECT decision FROM audit WHERE actor = 'scheduler' ORDER BY id")
            .unwrap();
        let rows = query.query_map([], |row| row.get(0)).unwrap();
        rows.map(|row| row.unwrap()).collect()
    };
    let deadline = Instant::now() + Duration::from_secs(75);
    while !audit().iter().any(|d| d == "waiting for test #2") {
        assert!(
            Instant::now() < deadline,
            "the scheduled down never waited: {:?}",
            audit()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        !audit().iter().any(|d| d.starts_with("allowed")),
        "nothing ran while the test runs: {:?}",
        audit()
    );
    place_results(&endpoint, &bucket, &key2, "xml.jtl", "stopped");
    let (code, output) = finish(second, "the second run");
    assert_eq!(code, 1, "a stopped test fails the gate: {output}");
    assert!(output.contains("test #2 stopped"), "{output}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !audit().iter().any(|d| d == "test #2 ended") {
        assert!(
            Instant::now() < deadline,
            "the parked down never ran: {:?}",
            audit()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    drop(shell.stdin.take());
    let (_, shell_output) = finish(shell, "the shell");
    assert!(shell_output.contains("waits for test #2"), "{shell_output}");

    // Both tests in history, side by side in compare.
    let history = bot.exec(&["history"]);
    assert!(
        history.stdout.contains("test #1") && history.stdout.contains("*finished* ✓"),
        "{}",
        history.stdout
    );
    assert!(
        history.stdout.contains("test #2") && history.stdout.contains("*stopped* ✗"),
        "{}",
        history.stdout
    );
    let compare = bot.exec(&["compare", "#1", "#2"]);
    assert_eq!(compare.code, 0, "{}", compare.stdout);
    assert!(compare.stdout.contains("A = test #1"), "{}", compare.stdout);
    refused(&bot.exec(&["compare", "#1", "#9"]), "has no test #9");
}
