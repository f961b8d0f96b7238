//! The once-per-account root `terraform/bootstrap` and the bot's IAM policy
//! `terraform/bot-iam-policy.json`, with the real Terraform and the local AWS emulator: the root
//! is formatted and valid, applies and then plans clean, creates a versioned, encrypted, private
//! state bucket, the lock table and the bot's policy from that very file; the policy is IAM the
//! emulator accepts, names real API operations only, and allows every action the environment's
//! Terraform and the bot are known to call (`tests/fixtures/aws/bot-iam-actions.txt`).
//!
//! Everything Terraform writes stays in a temp directory; nothing here touches `terraform/`.

use crate::support::moto::{python, MotoServer};
use crate::support::{repo_root, terraform_binary, Terraform};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn bootstrap_root() -> PathBuf {
    repo_root().join("terraform/bootstrap")
}

fn policy_file() -> PathBuf {
    repo_root().join("terraform/bot-iam-policy.json")
}

fn policy_json() -> Value {
    let path = policy_file();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// Runs `tests/support/bot_policy.py <args>` with the moto venv's Python; panics with its output
/// unless it succeeds. Returns its stdout parsed as JSON.
fn bot_policy_py(args: &[&str]) -> Value {
    let script = repo_root().join("tests/support/bot_policy.py");
    let output = Command::new(python())
        .arg(&script)
        .args(args)
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_DEFAULT_PROFILE")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "bot_policy.py {} failed ({}):\n{stdout}\n{}",
        args.first().copied().unwrap_or_default(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("bot_policy.py output: {e}\n{stdout}"))
}

fn write_json(path: &Path, value: &Value) {
    std::fs::write(path, serde_json::to_string_pretty(value).unwrap()).unwrap();
}

fn as_strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

/// IAM's action matching: case-insensitive, `*` any run of characters, `?` one character.
fn action_matches(pattern: &str, action: &str) -> bool {
    fn matches(p: &[u8], a: &[u8]) -> bool {
        match (p.first(), a.first()) {
            (None, None) => true,
            (Some(b'*'), _) => matches(&p[1..], a) || (!a.is_empty() && matches(p, &a[1..])),
            (Some(b'?'), Some(_)) => matches(&p[1..], &a[1..]),
            (Some(x), Some(y)) if x.eq_ignore_ascii_case(y) => matches(&p[1..], &a[1..]),
            _ => false,
        }
    }
    matches(pattern.as_bytes(), action.as_bytes())
}

/// The actions of the fixture: one per line, `#` comments.
fn needed_actions() -> Vec<String> {
    let path = repo_root().join("tests/fixtures/aws/bot-iam-actions.txt");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .map(|line| line.split('#').next().unwrap_or_default().trim())
        .filter(|line| !line.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn action_matching_follows_iam_wildcards() {
    assert!(action_matches("ec2:Describe*", "ec2:DescribeVpcs"));
    assert!(action_matches(
        "s3:Get*Configuration",
        "s3:GetLifecycleConfiguration"
    ));
    assert!(action_matches("ssm:GetParameter*", "ssm:GetParameter"));
    assert!(action_matches("iam:passrole", "iam:PassRole"));
    assert!(!action_matches("ec2:Describe*", "ec2:DeleteVpc"));
    assert!(!action_matches("s3:GetObject", "s3:GetObjectTagging"));
    assert!(!action_matches("ssm:Get*", "ec2:GetConsoleOutput"));
}

#[test]
fn bootstrap_root_is_formatted_and_valid() {
    let fmt = Command::new(terraform_binary())
        .args(["fmt", "-check", "-diff", "-recursive"])
        .arg(bootstrap_root())
        .stdin(Stdio::null())
        .output()
        .expect("run terraform fmt");
    assert!(
        fmt.status.success(),
        "terraform fmt -check terraform/bootstrap:\n{}{}",
        String::from_utf8_lossy(&fmt.stdout),
        String::from_utf8_lossy(&fmt.stderr)
    );

    let dir = tempfile::tempdir().unwrap();
    let terraform = Terraform::for_root(&bootstrap_root(), dir.path());
    terraform.init_without_backend();
    let out = terraform.run(&["validate", "-no-color"]);
    assert!(out.contains("The configuration is valid"), "{out}");
}

#[test]
fn bot_policy_is_iam_the_emulator_accepts_and_allows_every_needed_action() {
    let policy = policy_json();
    let moto = MotoServer::start();
    let policy_path = policy_file();
    let summary = bot_policy_py(&[
        "check-policy",
        "--policy",
        policy_path.to_str().unwrap(),
        "--endpoint",
        &moto.endpoint(),
    ]);
    let statements = policy["Statement"].as_array().expect("a Statement list");
    assert_eq!(summary["statements"], json!(statements.len()), "{summary}");
    assert_eq!(summary["broken_copy_refused"], json!(true), "{summary}");
    assert!(
        summary["size_without_whitespace"].as_u64().unwrap() <= 6144,
        "{summary}"
    );

    // Every action the environment's Terraform and the bot call is allowed by some statement.
    let allowed: Vec<String> = statements
        .iter()
        .filter(|s| s["Effect"] == "Allow")
        .flat_map(|s| as_strings(&s["Action"]))
        .collect();
    let needed = needed_actions();
    assert!(
        needed.len() > 100,
        "the fixture lists only {} actions",
        needed.len()
    );
    let missing: Vec<&String> = needed
        .iter()
        .filter(|action| {
            !allowed
                .iter()
                .any(|pattern| action_matches(pattern, action))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "terraform/bot-iam-policy.json does not allow: {missing:?}"
    );

    // The bot's own scoping rules, as a reviewer would check them.
    let statement = |sid: &str| -> &Value {
        statements
            .iter()
            .find(|s| s["Sid"] == sid)
            .unwrap_or_else(|| panic!("no statement {sid}"))
    };
    let pass_role = statement("PassHostRolesToEc2");
    assert_eq!(as_strings(&pass_role["Action"]), ["iam:PassRole"]);
    assert_eq!(
        as_strings(&pass_role["Resource"]),
        ["arn:aws:iam::*:role/lt-*"]
    );
    assert_eq!(
        pass_role["Condition"]["StringEquals"]["iam:PassedToService"],
        "ec2.amazonaws.com"
    );
    // iam:PassRole appears nowhere else.
    let pass_role_statements = statements
        .iter()
        .filter(|s| {
            as_strings(&s["Action"])
                .iter()
                .any(|a| action_matches(a, "iam:PassRole"))
        })
        .count();
    assert_eq!(pass_role_statements, 1);
    // Run Command: only the one document, and only on env-tagged masters.
    let run_on = statement("RunCommandOnMastersOnly");
    assert_eq!(
        run_on["Condition"]["StringEquals"]["ssm:resourceTag/loadtest:role"],
        "jmeter-master"
    );
    assert_eq!(
        as_strings(&statement("RunShellScriptDocument")["Resource"]),
        ["arn:aws:ssm:*::document/AWS-RunShellScript"]
    );
    // Only the read-only statement may name every resource.
    for s in statements {
        if as_strings(&s["Resource"]).iter().any(|r| r == "*") {
            assert_eq!(s["Sid"], "ReadOnlyDiscovery", "{s}");
            for action in as_strings(&s["Action"]) {
                let name = action.split(':').nth(1).unwrap_or_default();
                assert!(
                    ["Describe", "Get", "List"]
                        .iter()
                        .any(|verb| name.starts_with(verb)),
                    "{action} on every resource"
                );
            }
        }
    }
}

#[test]
fn bootstrap_applies_on_moto_and_the_bot_policy_is_the_shipped_file() {
    let moto = MotoServer::start();
    let dir = tempfile::tempdir().unwrap();
    let terraform = Terraform::for_root(&bootstrap_root(), dir.path());
    terraform.init_with_local_state();

    let vars = dir.path().join("bootstrap.tfvars.json");
    write_json(
        &vars,
        &json!({
            "aws_endpoint": moto.endpoint(),
            "bot_role_trusted_services": ["ec2.amazonaws.com"],
            "bot_role_trusted_arns": ["arn:aws:iam::123456789012:root"],
            "create_bot_user": true,
            "extra_tags": {"team": "perf"},
        }),
    );
    let var_file = format!("-var-file={}", vars.display());

    // A state bucket outside the policy's tfstate-loadtest-* prefix is refused at plan time.
    let bad = terraform.try_run(&[
        "plan",
        "-input=false",
        "-no-color",
        &var_file,
        "-var=state_bucket_name=my-state",
    ]);
    let bad_text = String::from_utf8_lossy(&bad.stderr);
    assert!(
        !bad.status.success(),
        "a bucket name off the prefix was accepted"
    );
    assert!(
        bad_text.contains("must be empty or start with tfstate-loadtest-"),
        "{bad_text}"
    );

    terraform.run(&[
        "apply",
        "-auto-approve",
        "-input=false",
        "-no-color",
        &var_file,
    ]);
    let outputs = terraform.outputs();
    let bucket = outputs["state_bucket"].as_str().unwrap().to_string();
    let table = outputs["lock_table"].as_str().unwrap().to_string();
    // moto's account is 123456789012.
    assert_eq!(bucket, "tfstate-loadtest-123456789012");
    assert_eq!(table, "tfstate-loadtest-locks");
    assert_eq!(
        outputs["backend_config"],
        json!({"bucket": bucket, "region": "us-east-1", "dynamodb_table": table, "encrypt": true})
    );
    assert_eq!(outputs["bot_user"], "loadtest-bot");
    assert_eq!(outputs["bot_instance_profile"], "loadtest-bot");
    let policy_arn = outputs["bot_policy_arn"].as_str().unwrap().to_string();
    let role_arn = outputs["bot_role_arn"].as_str().unwrap();
    assert!(role_arn.ends_with(":role/loadtest-bot"), "{role_arn}");

    // A second plan finds nothing to do: the root does not fight what it created.
    let replan = terraform.try_run(&[
        "plan",
        "-detailed-exitcode",
        "-input=false",
        "-no-color",
        &var_file,
    ]);
    assert_eq!(
        replan.status.code(),
        Some(0),
        "second plan is not clean:\n{}{}",
        String::from_utf8_lossy(&replan.stdout),
        String::from_utf8_lossy(&replan.stderr)
    );

    let seen = bot_policy_py(&[
        "inspect-bootstrap",
        "--endpoint",
        &moto.endpoint(),
        "--policy-arn",
        &policy_arn,
        "--bucket",
        &bucket,
        "--table",
        &table,
        "--role",
        "loadtest-bot",
        "--user",
        "loadtest-bot",
        "--instance-profile",
        "loadtest-bot",
    ]);

    // The managed policy is the shipped file, statement for statement.
    assert_eq!(seen["policy_document"], policy_json());

    assert_eq!(seen["bucket_versioning"], "Enabled");
    assert_eq!(seen["bucket_encryption"], json!(["AES256"]));
    assert_eq!(
        seen["bucket_public_access_block"],
        json!({"BlockPublicAcls": true, "IgnorePublicAcls": true,
               "BlockPublicPolicy": true, "RestrictPublicBuckets": true})
    );
    let deny = &seen["bucket_policy"]["Statement"][0];
    assert_eq!(deny["Effect"], "Deny");
    assert_eq!(deny["Condition"]["Bool"]["aws:SecureTransport"], "false");
    assert_eq!(
        seen["bucket_lifecycle"][0]["NoncurrentVersionExpiration"]["NoncurrentDays"],
        90
    );

    assert_eq!(seen["table_key_schema"], json!([["LockID", "HASH"]]));
    assert_eq!(seen["table_attributes"], json!({"LockID": "S"}));
    assert_eq!(seen["table_billing_mode"], "PAY_PER_REQUEST");

    assert_eq!(seen["attached"]["role"], json!([policy_arn]));
    assert_eq!(seen["attached"]["user"], json!([policy_arn]));
    assert_eq!(
        seen["attached"]["instance_profile_roles"],
        json!(["loadtest-bot"])
    );
    let trust = &seen["attached"]["role_trust"]["Statement"];
    assert_eq!(
        trust[0]["Principal"]["Service"],
        json!(["ec2.amazonaws.com"])
    );
    assert_eq!(
        trust[1]["Principal"]["AWS"],
        json!(["arn:aws:iam::123456789012:root"])
    );
}
