//! The Terraform stack (`terraform/`) on its own, with the real Terraform and the local AWS
//! emulator: formatting and validation of both roots, the size lifecycle small → large → down →
//! off checked in the emulator's own API, and the rendered boot scripts.
//!
//! Every Terraform file written (data dir, state, plans, tfvars) lives in a temp directory; the
//! lifecycle test proves nothing appeared under `terraform/`.

use crate::support::moto::{boto3, MotoServer};
use crate::support::{repo_root, terraform_binary, terraform_tree_snapshot, Terraform};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

const PROVIDER_ZIP_SHA256: &str =
    "4b75e0a259b56d97e66b7d69f3f25bd4cc7be2440c0fe35529f46de7d40a49d3";
const ROOT_OUTPUTS: [&str; 12] = [
    "grafana_url",
    "jmeter_master_instance_id",
    "jmeter_master_ip",
    "jmeter_slave_count",
    "kibana_url",
    "lease_backstop_at",
    "ready_parameter_prefix",
    "ready_roles",
    "resolved_ami_id",
    "results_bucket",
    "slave_asg_name",
    "slave_autoscaling_group",
];
/// A lease end far enough ahead that AWS would accept the backstop's start time.
const LEASE_ENDS_AT: &str = "2031-01-01T10:00:00Z";
const BACKSTOP_AT: &str = "2031-01-01T11:00:00Z";
const SET_VARIABLES: [&str; 5] = [
    "jmeter_master_enabled",
    "jmeter_master_instance_type",
    "jmeter_slave_count",
    "jmeter_slave_instance_type",
    "monitoring",
];
const MONITORING_ROLES: [&str; 4] = ["prometheus", "grafana", "elasticsearch", "kibana"];

// ---------------------------------------------------------------------------------------------
// helpers

fn sizes() -> toml::Table {
    let path = repo_root().join("commands/sizes.toml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.parse::<toml::Table>()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn set_variables<'a>(sizes: &'a toml::Table, name: &str) -> &'a toml::Table {
    sizes
        .get(name)
        .and_then(|set| set.get("variables"))
        .and_then(|v| v.as_table())
        .unwrap_or_else(|| panic!("commands/sizes.toml has no [{name}.variables]"))
}

fn toml_to_json(value: &toml::Value) -> Value {
    match value {
        toml::Value::String(s) => json!(s),
        toml::Value::Integer(i) => json!(i),
        toml::Value::Float(f) => json!(f),
        toml::Value::Boolean(b) => json!(b),
        other => panic!("a variable set value must be a string, number or bool, not {other:?}"),
    }
}

/// The `.tfvars.json` the bot would generate: the set's variables plus the per-environment ones.
fn write_tfvars(path: &Path, variables: &toml::Table, environment: &str, endpoint: &str) {
    let mut vars: Map<String, Value> = variables
        .iter()
        .map(|(k, v)| (k.clone(), toml_to_json(v)))
        .collect();
    vars.insert("environment_name".into(), json!(environment));
    vars.insert("aws_endpoint".into(), json!(endpoint));
    std::fs::write(
        path,
        serde_json::to_string_pretty(&Value::Object(vars)).unwrap(),
    )
    .unwrap();
}

/// What a set must leave running, derived from its variables.
#[derive(Debug, PartialEq)]
struct Expected {
    roles: BTreeMap<String, u64>,
    slaves: u64,
    load_balancers: u64,
    monitoring: String,
    master: bool,
}

fn expected(variables: &toml::Table) -> Expected {
    let master = variables["jmeter_master_enabled"]
        .as_bool()
        .expect("jmeter_master_enabled is a bool");
    let slaves = variables["jmeter_slave_count"]
        .as_integer()
        .expect("jmeter_slave_count is an integer") as u64;
    let monitoring = variables["monitoring"]
        .as_str()
        .expect("monitoring is a string")
        .to_string();
    let basic = monitoring != "off";
    let full = monitoring == "full";
    let mut roles = BTreeMap::new();
    let mut put = |role: &str, n: u64| {
        if n > 0 {
            roles.insert(role.to_string(), n);
        }
    };
    put("jmeter-master", master as u64);
    put("jmeter-slave", slaves);
    put("prometheus", basic as u64);
    put("grafana", basic as u64);
    put("elasticsearch", full as u64);
    put("kibana", full as u64);
    Expected {
        roles,
        slaves,
        load_balancers: basic as u64,
        monitoring,
        master,
    }
}

fn spec_vars(master: bool, slaves: i64, monitoring: &str) -> toml::Table {
    let mut vars = toml::Table::new();
    vars.insert("jmeter_master_enabled".into(), toml::Value::Boolean(master));
    vars.insert("jmeter_slave_count".into(), toml::Value::Integer(slaves));
    vars.insert("monitoring".into(), toml::Value::String(monitoring.into()));
    vars
}

fn secs(started: Instant) -> f64 {
    started.elapsed().as_secs_f64()
}

/// Names declared by `kind` blocks (`variable`, `output`) in the .tf files of a directory.
fn declared(dir: &Path, kind: &str) -> BTreeSet<String> {
    let pattern = regex::Regex::new(&format!(r#"(?m)^{kind}\s+"([A-Za-z0-9_-]+)""#)).unwrap();
    let mut names = BTreeSet::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "tf") {
            let text = std::fs::read_to_string(&path).unwrap();
            names.extend(pattern.captures_iter(&text).map(|c| c[1].to_string()));
        }
    }
    names
}

/// `gzip -dc` of the bytes (the user data is gzipped for EC2's 16 KB limit).
fn gunzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut child = Command::new("gzip")
        .arg("-dc")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run gzip");
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "user data is not gzip");
    output.stdout
}

fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => (c - b'A') as u32,
            b'a'..=b'z' => (c - b'a' + 26) as u32,
            b'0'..=b'9' => (c - b'0' + 52) as u32,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c:?}"),
        }
    };
    let clean: Vec<u8> = text
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
        .collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        let mut acc = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            acc |= value(*c) << (18 - 6 * i);
        }
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    out
}

/// The slaves' lifecycle hooks and scheduled actions, as the emulator reports them.
fn group_hooks_and_schedules(endpoint: &str, group: &str) -> (Value, Value) {
    let found = boto3(
        endpoint,
        &format!(
            "hooks = autoscaling.describe_lifecycle_hooks(AutoScalingGroupName='{group}')['LifecycleHooks']\n\
             actions = autoscaling.describe_scheduled_actions(AutoScalingGroupName='{group}')['ScheduledUpdateGroupActions']\n\
             print(json.dumps({{'hooks': hooks, 'actions': [dict(name=a['ScheduledActionName'], \
             start=a['StartTime'].astimezone(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ'), \
             min=a.get('MinSize'), max=a.get('MaxSize'), desired=a.get('DesiredCapacity')) for a in actions]}}, default=str))"
        ),
    );
    (found["hooks"].clone(), found["actions"].clone())
}

/// `id` and `ami` of the master in Terraform's state.
fn master_id_and_ami(tf: &Terraform) -> (String, String) {
    let shown = tf.run(&[
        "state",
        "show",
        "-no-color",
        "module.jmeter.aws_instance.master[0]",
    ]);
    let attribute = |name: &str| {
        let pattern = regex::Regex::new(&format!(r#"(?m)^\s+{name}\s+=\s+"([^"]+)""#)).unwrap();
        pattern
            .captures(&shown)
            .map(|c| c[1].to_string())
            .unwrap_or_else(|| panic!("no {name} in the master's state:\n{shown}"))
    };
    (attribute("id"), attribute("ami"))
}

// ---------------------------------------------------------------------------------------------
// 1. fmt, init -lockfile=readonly, validate

#[test]
fn terraform_fmt_init_readonly_and_validate_both_roots() {
    let root = repo_root();
    let fmt = Command::new(terraform_binary())
        .args(["fmt", "-check", "-recursive", "-diff", "-no-color"])
        .arg(root.join("terraform"))
        .stdin(Stdio::null())
        .output()
        .expect("run terraform fmt");
    assert!(
        fmt.status.success(),
        "terraform fmt -check -recursive terraform/ wants changes:\n{}{}",
        String::from_utf8_lossy(&fmt.stdout),
        String::from_utf8_lossy(&fmt.stderr)
    );

    let mut variables = Vec::new();
    for name in ["local", "aws"] {
        let started = Instant::now();
        let dir = tempfile::tempdir().unwrap();
        let tf = Terraform::new(name, &dir.path().join("state"));
        let lock_path = tf.root().join(".terraform.lock.hcl");
        let lock = std::fs::read_to_string(&lock_path)
            .unwrap_or_else(|e| panic!("{}: {e}", lock_path.display()));
        assert!(
            lock.contains("version     = \"3.39.0\""),
            "{name}: lock pins hashicorp/aws 3.39.0:\n{lock}"
        );
        assert!(
            lock.contains("\"h1:"),
            "{name}: lock has the h1: hash:\n{lock}"
        );
        assert!(
            lock.contains(&format!("\"zh:{PROVIDER_ZIP_SHA256}\"")),
            "{name}: lock has the zh: hash:\n{lock}"
        );

        tf.init_without_backend();
        let validate = tf.run(&["validate", "-no-color"]);
        assert!(validate.contains("Success"), "{name}: {validate}");
        assert_eq!(
            std::fs::read_to_string(&lock_path).unwrap(),
            lock,
            "{name}: init rewrote the lock file"
        );
        assert!(
            !tf.root().join(".terraform").exists(),
            "{name}: a .terraform dir appeared in the source tree"
        );

        let outputs = declared(tf.root(), "output");
        assert_eq!(
            outputs,
            ROOT_OUTPUTS.iter().map(|s| s.to_string()).collect(),
            "{name}: outputs"
        );
        variables.push(declared(tf.root(), "variable"));
        eprintln!(
            "terraform_stack: init + validate of envs/{name}: {:.1}s",
            secs(started)
        );
    }
    assert_eq!(
        variables[0], variables[1],
        "envs/local and envs/aws declare different variables"
    );

    // The variable sets name only declared variables, all five, and never the per-environment ones.
    let declared_vars = &variables[0];
    for required in SET_VARIABLES
        .iter()
        .chain(["environment_name", "aws_endpoint", "aws_region"].iter())
    {
        assert!(
            declared_vars.contains(*required),
            "the roots lack variable {required}"
        );
    }
    let sizes = sizes();
    for (name, _) in sizes.iter() {
        let vars = set_variables(&sizes, name);
        for key in vars.keys() {
            assert!(
                declared_vars.contains(key),
                "[{name}.variables] names undeclared variable {key}"
            );
            assert!(
                key != "environment_name" && key != "aws_endpoint",
                "[{name}] sets {key}"
            );
        }
        for key in SET_VARIABLES {
            assert!(vars.contains_key(key), "[{name}.variables] lacks {key}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 2. the lifecycle against a fresh emulator

#[test]
fn lifecycle_small_large_down_off_against_moto() {
    const ENV: &str = "itest";
    let tree_before = terraform_tree_snapshot();
    let sizes = sizes();

    // The shipped sets: small 2 slaves with basic monitoring, large 20 with full; down keeps
    // the master and monitoring with no slaves; off runs nothing.
    let spec: [(&str, Expected); 4] = [
        ("small", expected(&spec_vars(true, 2, "basic"))),
        ("large", expected(&spec_vars(true, 20, "full"))),
        ("down", expected(&spec_vars(true, 0, "basic"))),
        ("off", expected(&spec_vars(false, 0, "off"))),
    ];
    for (name, want) in &spec {
        assert_eq!(
            &expected(set_variables(&sizes, name)),
            want,
            "commands/sizes.toml [{name}]"
        );
    }

    let moto = MotoServer::start();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let tf = Terraform::new("local", &state);
    let started = Instant::now();
    tf.init_with_local_state();
    eprintln!("terraform_stack lifecycle: init {:.1}s", secs(started));
    std::fs::create_dir_all(state.join("plans")).unwrap();

    let lifecycle = Instant::now();
    let mut group_name: Option<String> = None;
    for (size, want) in &spec {
        let tfvars = state.join(format!("{size}.tfvars.json"));
        // `up small for <lease>`: the bot passes the lease's end; the other sizes run without.
        let leased = *size == "small";
        let mut variables = set_variables(&sizes, size).clone();
        if leased {
            variables.insert(
                "lease_ends_at".into(),
                toml::Value::String(LEASE_ENDS_AT.into()),
            );
        }
        write_tfvars(&tfvars, &variables, ENV, &moto.endpoint());
        let var_file = format!("-var-file={}", tfvars.display());
        let plan = state.join("plans").join(format!("{size}.tfplan"));
        let out = format!("-out={}", plan.display());

        // As the bot does it: plan to a file, apply that plan.
        let started = Instant::now();
        tf.run(&[
            "plan",
            "-input=false",
            "-no-color",
            "-lock-timeout=60s",
            &var_file,
            &out,
        ]);
        let planned = secs(started);
        tf.run(&[
            "apply",
            "-input=false",
            "-no-color",
            "-lock-timeout=60s",
            &plan.display().to_string(),
        ]);
        eprintln!(
            "terraform_stack lifecycle: {size}: plan {planned:.1}s + apply {:.1}s = {:.1}s",
            secs(started) - planned,
            secs(started)
        );

        // What really runs, by the emulator's own API.
        let inventory = moto.inventory(ENV);
        assert_eq!(
            inventory.running_by_role(),
            want.roles,
            "{size}: running instances per role: {inventory:?}"
        );
        assert_eq!(
            inventory.running_total(),
            want.roles.values().sum::<u64>(),
            "{size}: instances without the environment's tags run: {inventory:?}"
        );
        assert_eq!(
            inventory.not_terminated(),
            inventory.running_total(),
            "{size}: stopped instances left: {inventory:?}"
        );
        let group = inventory
            .slave_group()
            .unwrap_or_else(|| panic!("{size}: no slave group: {inventory:?}"));
        assert_eq!(
            (group.desired, group.min, group.max, group.instances),
            (want.slaves, want.slaves, want.slaves, want.slaves),
            "{size}: slave group desired/min/max/instances: {group:?}"
        );
        for tag in ["loadtest:env", "loadtest:role"] {
            assert!(
                group.propagated_tags.iter().any(|t| t == tag),
                "{size}: {tag} not propagated at launch: {group:?}"
            );
        }
        assert_eq!(
            inventory.load_balancers(),
            want.load_balancers,
            "{size}: load balancers: {inventory:?}"
        );

        // Terraform's outputs.
        let outputs = tf.outputs();
        let output = |name: &str| outputs.get(name).cloned().unwrap_or(Value::Null);
        assert_eq!(
            output("jmeter_slave_count"),
            json!(want.slaves),
            "{size}: {outputs:?}"
        );
        assert_eq!(
            output("slave_autoscaling_group"),
            json!(group.name),
            "{size}: {outputs:?}"
        );
        let master_ip = output("jmeter_master_ip");
        if want.master {
            let ip = master_ip
                .as_str()
                .unwrap_or_else(|| panic!("{size}: jmeter_master_ip: {outputs:?}"));
            assert!(
                ip.parse::<std::net::Ipv4Addr>().is_ok(),
                "{size}: jmeter_master_ip {ip}"
            );
        } else {
            assert!(
                master_ip.is_null(),
                "{size}: jmeter_master_ip should be null: {outputs:?}"
            );
        }
        let grafana = output("grafana_url");
        let kibana = output("kibana_url");
        match want.monitoring.as_str() {
            "off" => {
                assert!(
                    grafana.is_null() && kibana.is_null(),
                    "{size}: dashboards: {outputs:?}"
                );
            }
            level => {
                let url = grafana
                    .as_str()
                    .unwrap_or_else(|| panic!("{size}: grafana_url: {outputs:?}"));
                assert!(
                    url.starts_with("http://") || url.starts_with("https://"),
                    "{size}: {url}"
                );
                if level == "full" {
                    let url = kibana
                        .as_str()
                        .unwrap_or_else(|| panic!("{size}: kibana_url: {outputs:?}"));
                    assert!(url.contains("/kibana"), "{size}: {url}");
                } else {
                    assert!(
                        kibana.is_null(),
                        "{size}: kibana_url should be null: {outputs:?}"
                    );
                }
            }
        }
        // The group keeps its name through every size (the bot reports it).
        match &group_name {
            Some(name) => assert_eq!(name, &group.name, "{size}: the slave group was replaced"),
            None => group_name = Some(group.name.clone()),
        }

        // Readiness: the launch hook holds every slave until its boot completes it.
        let (hooks, actions) = group_hooks_and_schedules(&moto.endpoint(), &group.name);
        let hook = hooks
            .as_array()
            .and_then(|h| {
                h.iter()
                    .find(|h| h["LifecycleHookName"] == "loadtest-ready")
            })
            .unwrap_or_else(|| panic!("{size}: no loadtest-ready hook on the slaves: {hooks}"));
        assert_eq!(
            (&hook["LifecycleTransition"], &hook["DefaultResult"]),
            (
                &json!("autoscaling:EC2_INSTANCE_LAUNCHING"),
                &json!("ABANDON")
            ),
            "{size}: {hook}"
        );
        let heartbeat = hook["HeartbeatTimeout"].as_u64().unwrap_or(0);
        assert!((30..=7200).contains(&heartbeat), "{size}: heartbeat {hook}");
        assert_eq!(
            output("slave_asg_name"),
            json!(group.name),
            "{size}: {outputs:?}"
        );
        assert_eq!(
            output("ready_parameter_prefix"),
            json!(format!("/loadtest/{ENV}/ready/")),
            "{size}"
        );
        let mut roles = Vec::new();
        if want.master {
            roles.push("master");
        }
        if want.monitoring != "off" {
            roles.extend(["prometheus", "grafana"]);
        }
        if want.monitoring == "full" {
            roles.extend(["elasticsearch", "kibana"]);
        }
        assert_eq!(output("ready_roles"), json!(roles), "{size}");

        // The lease backstop exists exactly while a lease is passed.
        let backstops: Vec<&Value> = actions
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|a| a["name"] == "loadtest-lease-backstop")
                    .collect()
            })
            .unwrap_or_default();
        if leased {
            assert_eq!(
                backstops,
                vec![
                    &json!({"name": "loadtest-lease-backstop", "start": BACKSTOP_AT,
                             "min": 0, "max": 0, "desired": 0})
                ],
                "{size}: backstop at lease end + 60 min"
            );
            assert_eq!(output("lease_backstop_at"), json!(BACKSTOP_AT), "{size}");
        } else {
            assert!(backstops.is_empty(), "{size}: backstop left: {actions}");
            assert_eq!(output("lease_backstop_at"), json!(""), "{size}");
        }

        // The environment's bucket, in every size, off included.
        let bucket = output("results_bucket");
        assert_eq!(
            bucket,
            json!(format!("loadtest-{ENV}-123456789012")),
            "{size}"
        );
        let bucket_state = boto3(
            &moto.endpoint(),
            &format!(
                "b = '{}'\nprint(json.dumps(dict(versioning=s3.get_bucket_versioning(Bucket=b).get('Status'), \
                 block=s3.get_public_access_block(Bucket=b)['PublicAccessBlockConfiguration'], \
                 sse=s3.get_bucket_encryption(Bucket=b)['ServerSideEncryptionConfiguration']['Rules'][0]\
                 ['ApplyServerSideEncryptionByDefault']['SSEAlgorithm'], \
                 config=sorted(o['Key'] for o in s3.list_objects_v2(Bucket=b, Prefix='config/').get('Contents', [])))))",
                bucket.as_str().unwrap()
            ),
        );
        assert_eq!(
            bucket_state,
            json!({
                "versioning": "Enabled",
                "block": {"BlockPublicAcls": true, "IgnorePublicAcls": true,
                          "BlockPublicPolicy": true, "RestrictPublicBuckets": true},
                "sse": "AES256",
                "config": ["config/elasticsearch/loadtest-jtl.json", "config/grafana/hosts.json",
                           "config/grafana/loadtest.json", "config/kibana/data-view.json"],
            }),
            "{size}: the environment's bucket"
        );

        // The image is pinned: a second `up` with the same variables keeps the AMI and the master.
        let ami = output("resolved_ami_id");
        assert!(
            ami.as_str().is_some_and(|a| a.starts_with("ami-")),
            "{size}: resolved_ami_id {ami}"
        );
        if leased {
            let before = master_id_and_ami(&tf);
            assert_eq!(json!(before.1), ami, "the master runs the resolved AMI");
            tf.run(&[
                "apply",
                "-input=false",
                "-no-color",
                "-auto-approve",
                "-lock-timeout=60s",
                &var_file,
            ]);
            assert_eq!(
                master_id_and_ami(&tf),
                before,
                "a second up replaced the master"
            );
            assert_eq!(tf.outputs()["resolved_ami_id"], ami, "the AMI moved");
        }

        // Applied means settled: a second plan finds nothing to do (the bot's "no changes").
        let again = tf.try_run(&[
            "plan",
            "-input=false",
            "-no-color",
            "-detailed-exitcode",
            &var_file,
        ]);
        assert_eq!(
            again.status.code(),
            Some(0),
            "{size}: a plan right after the apply is not empty:\n{}\n{}",
            String::from_utf8_lossy(&again.stdout),
            String::from_utf8_lossy(&again.stderr)
        );
    }
    eprintln!(
        "terraform_stack lifecycle: small → large → down → off: {:.1}s",
        secs(lifecycle)
    );

    // A person at a terminal: `-var=jmeter_slave_count=3` reaches the validation as a string on
    // Terraform 1.0 and must pass it; a fraction must not.
    let off_vars = format!("-var-file={}", state.join("off.tfvars.json").display());
    let by_hand = tf.try_run(&[
        "plan",
        "-input=false",
        "-no-color",
        "-detailed-exitcode",
        &off_vars,
        "-var=jmeter_slave_count=3",
        "-var=lease_grace_minutes=30",
    ]);
    let by_hand_out = String::from_utf8_lossy(&by_hand.stdout).to_string();
    assert_eq!(
        by_hand.status.code(),
        Some(2),
        "by-hand -var plan:\n{by_hand_out}\n{}",
        String::from_utf8_lossy(&by_hand.stderr)
    );
    assert!(
        by_hand_out.contains("desired_capacity          = 0 -> 3"),
        "by-hand plan scales the slaves to 3:\n{by_hand_out}"
    );
    let fraction = tf.try_run(&[
        "plan",
        "-input=false",
        "-no-color",
        &off_vars,
        "-var=jmeter_slave_count=2.5",
    ]);
    assert!(!fraction.status.success(), "2.5 slaves accepted");
    assert!(
        String::from_utf8_lossy(&fraction.stderr).contains("must be a whole number from 0 to 200"),
        "{}",
        String::from_utf8_lossy(&fraction.stderr)
    );

    // `off` costs nothing: no instance runs or is stopped, no load balancer, no slave.
    let inventory = moto.inventory(ENV);
    assert_eq!(inventory.running_total(), 0, "{inventory:?}");
    assert_eq!(inventory.not_terminated(), 0, "{inventory:?}");
    assert_eq!(inventory.load_balancers(), 0, "{inventory:?}");

    // Clean up: destroy what stays in `off` (network, IAM, the empty group, the bucket once
    // emptied: Terraform never deletes results), then prove it.
    boto3(
        &moto.endpoint(),
        &format!(
            "b = 'loadtest-{ENV}-123456789012'\n\
             listing = s3.list_object_versions(Bucket=b)\n\
             for v in listing.get('Versions', []) + listing.get('DeleteMarkers', []):\n    \
             s3.delete_object(Bucket=b, Key=v['Key'], VersionId=v['VersionId'])\nprint('{{}}')"
        ),
    );
    let started = Instant::now();
    tf.run(&[
        "destroy",
        "-input=false",
        "-no-color",
        "-auto-approve",
        &off_vars,
    ]);
    eprintln!("terraform_stack lifecycle: destroy {:.1}s", secs(started));
    let inventory = moto.inventory(ENV);
    assert!(inventory.autoscaling_groups().is_empty(), "{inventory:?}");

    assert!(
        tf.state_file().is_file(),
        "the state lives in the temp state dir"
    );
    drop(moto);
    drop(dir);
    assert_eq!(
        terraform_tree_snapshot(),
        tree_before,
        "files appeared or changed under terraform/"
    );
}

// ---------------------------------------------------------------------------------------------
// 3. the rendered boot scripts

#[test]
fn rendered_user_data_scripts_pass_bash_n() {
    let moto = MotoServer::start();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let tf = Terraform::new("local", &state);
    tf.init_with_local_state();

    // Every role at once: master, slaves, full monitoring.
    let mut variables = set_variables(&sizes(), "large").clone();
    variables.insert("jmeter_slave_count".into(), toml::Value::Integer(2));
    // The addresses the boot scripts wire together, pinned as on AWS (only planned here).
    variables.insert("pin_private_ips".into(), toml::Value::Boolean(true));
    let tfvars = state.join("all-roles.tfvars.json");
    write_tfvars(&tfvars, &variables, "udtest", &moto.endpoint());
    let plan = state.join("all-roles.tfplan");
    tf.run(&[
        "plan",
        "-input=false",
        "-no-color",
        &format!("-var-file={}", tfvars.display()),
        &format!("-out={}", plan.display()),
    ]);
    let shown: Value =
        serde_json::from_str(&tf.run(&["show", "-json", "-no-color", &plan.display().to_string()]))
            .expect("terraform show -json");

    // role → (script, private IP)
    let mut scripts: BTreeMap<String, (String, Option<String>)> = BTreeMap::new();
    for change in shown["resource_changes"]
        .as_array()
        .expect("resource_changes")
    {
        let after = &change["change"]["after"];
        let (role, encoded) = match change["type"].as_str() {
            Some("aws_instance") => (
                after["tags"]["loadtest:role"]
                    .as_str()
                    .expect("instance has loadtest:role")
                    .to_string(),
                after["user_data_base64"].as_str(),
            ),
            Some("aws_launch_template") => {
                ("jmeter-slave".to_string(), after["user_data"].as_str())
            }
            _ => continue,
        };
        let encoded = encoded.unwrap_or_else(|| {
            panic!(
                "{}: user data unknown at plan time (it must only use plan-time values)",
                change["address"]
            )
        });
        let script =
            String::from_utf8(gunzip(&base64_decode(encoded))).expect("user data is UTF-8");
        assert!(
            base64_decode(encoded).len() <= 16 * 1024,
            "{}: user data over EC2's 16 KB",
            change["address"]
        );
        scripts.insert(
            role,
            (script, after["private_ip"].as_str().map(str::to_string)),
        );
    }
    let roles: BTreeSet<&str> = scripts.keys().map(String::as_str).collect();
    let mut want: BTreeSet<&str> = MONITORING_ROLES.into_iter().collect();
    want.extend(["jmeter-master", "jmeter-slave"]);
    assert_eq!(roles, want, "one boot script per role");

    let scripts_dir = dir.path().join("rendered");
    std::fs::create_dir_all(&scripts_dir).unwrap();
    for (role, (script, _)) in &scripts {
        assert!(
            script.starts_with("#!/bin/bash\n"),
            "{role}: no bash shebang:\n{script}"
        );
        assert!(
            script.contains("set -eEuo pipefail"),
            "{role}: not strict mode"
        );
        let path: PathBuf = scripts_dir.join(format!("{role}.sh"));
        std::fs::write(&path, script).unwrap();
        let check = Command::new("bash")
            .arg("-n")
            .arg(&path)
            .output()
            .expect("run bash -n");
        assert!(
            check.status.success(),
            "{role}: bash -n fails:\n{}\n--- script ---\n{script}",
            String::from_utf8_lossy(&check.stderr)
        );
    }

    // The wiring that the scripts carry.
    let script = |role: &str| scripts[role].0.as_str();
    let ip = |role: &str| {
        scripts[role]
            .1
            .clone()
            .unwrap_or_else(|| panic!("{role}: no fixed private IP"))
    };
    assert!(
        script("jmeter-slave").contains("jmeter-server"),
        "slaves start jmeter-server"
    );
    assert!(
        script("jmeter-slave").contains("server.rmi.localport=50000"),
        "fixed RMI port"
    );
    assert!(
        script("jmeter-master").contains("remote_hosts="),
        "the master writes remote_hosts"
    );
    assert!(
        script("jmeter-master").contains("LifecycleState==`InService`"),
        "the master lists InService slaves"
    );
    assert!(
        script("jmeter-master").contains("node_exporter"),
        "node exporter on the master"
    );
    assert!(
        script("jmeter-slave").contains("node_exporter"),
        "node exporter on the slaves"
    );
    assert!(
        script("prometheus").contains("ec2_sd_configs"),
        "Prometheus discovers by EC2 tags"
    );
    assert!(
        script("prometheus").contains("values: ['udtest']"),
        "Prometheus filters on loadtest:env"
    );
    assert!(
        script("prometheus").contains("port: 9100"),
        "Prometheus scrapes node exporters"
    );
    assert!(
        script("grafana").contains(&format!("url: 'http://{}:9090'", ip("prometheus"))),
        "Grafana's data source is the Prometheus host"
    );
    assert!(
        script("kibana").contains(&format!("http://{}:9200", ip("elasticsearch"))),
        "Kibana points at the Elasticsearch host"
    );
    drop(moto);
}
