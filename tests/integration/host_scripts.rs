//! The hosts' boot scripts and test scripts, run for real: each boot template is rendered by
//! Terraform (a tiny root calling `templatefile` on the modules' templates) and run with bash
//! under a temporary root (`LOADTEST_ROOT`) with stub `aws`, `curl`, `systemctl`, `dnf`, `ss`,
//! `systemd-run`... on PATH that log their arguments in order. The tests read the files and
//! units produced and the order of the calls: a slave completes its launch hook with CONTINUE
//! only after `ss` showed jmeter-server listening, and ABANDONs when it never does.

use crate::support::{repo_root, terraform_binary};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

mod exporter;

const BUCKET: &str = "loadtest-hs-123456789012";

/// The stub commands. Each logs `name args...` to $STUB_LOG; state lives in $STUB_DIR.
const STUBS: &[(&str, &str)] = &[
    (
        "aws",
        r#"echo "aws $*" >>"$STUB_LOG"
s3path() { local p=${1#s3://}; echo "$FAKE_S3/$p"; }
pos=()
while [ $# -gt 0 ]; do
  case $1 in
    --region|--query|--output|--document-name|--comment|--parameters|--command-id|--instance-id|--auto-scaling-group-names|--filters|--name|--type|--value|--resources|--tags|--lifecycle-hook-name|--auto-scaling-group-name|--lifecycle-action-result) pos+=("$1" "$2"); shift ;;
    *) pos+=("$1") ;;
  esac
  shift
done
set -- "${pos[@]}"
case "$1 $2" in
  "s3 cp"|"s3 sync")
    files=()
    shift 2
    while [ $# -gt 0 ]; do
      case $1 in --region) shift ;; --*) ;; *) files+=("$1") ;; esac
      shift
    done
    src=${files[0]} dst=${files[1]}
    case $src in s3://*) src=$(s3path "$src") ;; esac
    case $dst in s3://*) dst=$(s3path "$dst") ;; esac
    if [ -d "$src" ]; then mkdir -p "$dst" && cp -r "$src/." "$dst/"; exit 0; fi
    [ -f "$src" ] || { [ "${pos[1]}" = sync ] && exit 0; echo "stub aws: no $src" >&2; exit 1; }
    mkdir -p "$(dirname "$dst")" && cp "$src" "$dst" ;;
  "autoscaling describe-auto-scaling-groups") cat "$STUB_DIR/in-service" 2>/dev/null || true ;;
  "ec2 describe-instances")
    case "$*" in
      *loadtest:ready*) cat "$STUB_DIR/ready" 2>/dev/null || true ;;
      *Values=elasticsearch*) cat "$STUB_DIR/es-ip" 2>/dev/null || true ;;
    esac ;;
  "ssm send-command") echo cmd-42 ;;
  "ssm get-command-invocation") echo Success ;;
esac
exit 0
"#,
    ),
    (
        "curl",
        r#"echo "curl $*" >>"$STUB_LOG"
out="" url=""
while [ $# -gt 0 ]; do
  case $1 in
    -o|--output) out=$2; shift ;;
    -H|-X|--max-time|--retry|--retry-delay|--connect-timeout|--data-binary|-F) shift ;;
    -*) ;;
    *) url=$1 ;;
  esac
  shift
done
case $url in
  */api/token) echo token ;;
  */meta-data/instance-id) echo i-0hoststub ;;
  */meta-data/local-ipv4) echo 10.42.1.7 ;;
  http://127.0.0.1:*) ;;
  *) f="$FAKE_MIRROR/${url##*/}"; [ -f "$f" ] || exit 22; cp "$f" "$out" ;;
esac
"#,
    ),
    (
        "ss",
        r#"n=$(cat "$STUB_DIR/ss-count" 2>/dev/null || echo 0); n=$((n + 1)); echo "$n" >"$STUB_DIR/ss-count"
if [ -n "${STUB_LISTEN_AFTER:-}" ] && [ "$n" -ge "$STUB_LISTEN_AFTER" ]; then
  echo "ss $* -> listening" >>"$STUB_LOG"; echo "LISTEN 0 50 0.0.0.0:1099 0.0.0.0:*"
else
  echo "ss $* -> nothing" >>"$STUB_LOG"
fi
"#,
    ),
    (
        "systemctl",
        r#"echo "systemctl $*" >>"$STUB_LOG"
case "$*" in *is-active*) exit "${STUB_IS_ACTIVE:-1}" ;; esac
"#,
    ),
    (
        "systemd-run",
        r#"echo "systemd-run $*" >>"$STUB_LOG"
unit=""
while [ $# -gt 0 ]; do case $1 in --unit=*) unit=${1#--unit=}; shift ;; --*) shift ;; *) break ;; esac; done
case $unit in
  loadtest-exporter-*)
    # Lives beside the test as a real unit would; the test waits for "exporter exit".
    ("$@" >>"$STUB_DIR/exporter-output" 2>&1; echo "exporter exit $?" >>"$STUB_DIR/exporter-done") &
    exit 0 ;;
esac
# A real systemd-run returns at once; running the unit in the foreground lets the test read it.
"$@" >>"$STUB_DIR/unit-output" 2>&1 || echo "unit exit $?" >>"$STUB_LOG"
"#,
    ),
    ("dnf", r#"echo "dnf $*" >>"$STUB_LOG""#),
    ("rpm", r#"echo "rpm $*" >>"$STUB_LOG""#),
    ("useradd", r#"echo "useradd $*" >>"$STUB_LOG""#),
    ("chown", r#"echo "chown $*" >>"$STUB_LOG""#),
    ("sysctl", r#"echo "sysctl $*" >>"$STUB_LOG""#),
];

/// A stub JMeter installation: `bin/jmeter` records its argv (one item per line, NUL-safe
/// enough for the values used) and HEAP, and writes the JTL and the report it is asked for.
const JMETER_STUB: &str = r#"#!/bin/bash
printf '%s\n' "$@" >"$STUB_DIR/jmeter-argv"
echo "$HEAP" >>"$STUB_DIR/jmeter-heap"
echo "jmeter $*" >>"$STUB_LOG"
while [ $# -gt 0 ]; do
  case $1 in
    -l) if [ -n "${STUB_JTL:-}" ]; then cp "$STUB_JTL" "$2"; else echo "timeStamp,elapsed,label" >"$2"; fi; shift ;;
    -o) mkdir -p "$2" && echo "<html>report</html>" >"$2/index.html"; shift ;;
    -j) echo "log" >"$2"; shift ;;
  esac
  shift
done
exit "${STUB_JMETER_EXIT:-0}"
"#;

struct Host {
    dir: tempfile::TempDir,
}

impl Host {
    fn new() -> Host {
        let host = Host {
            dir: tempfile::tempdir().unwrap(),
        };
        for sub in ["root/dev", "stubs", "state", "s3", "mirror"] {
            std::fs::create_dir_all(host.path(sub)).unwrap();
        }
        for (name, body) in STUBS {
            write_exec(
                &host.path("stubs").join(name),
                &format!("#!/bin/bash\n{body}\n"),
            );
        }
        std::fs::write(host.path("root/meminfo"), "MemTotal:        4194304 kB\n").unwrap();
        host
    }

    fn path(&self, sub: &str) -> PathBuf {
        self.dir.path().join(sub)
    }

    fn root(&self) -> PathBuf {
        self.path("root")
    }

    fn read(&self, sub: &str) -> String {
        let path = self.root().join(sub.trim_start_matches('/'));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn log(&self) -> Vec<String> {
        std::fs::read_to_string(self.path("state/log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn s3(&self, key: &str) -> PathBuf {
        self.path("s3").join(BUCKET).join(key)
    }

    /// Runs a program with the stubs first on PATH and the host's own scripts after them.
    fn run(&self, program: &[&str], env: &[(&str, &str)]) -> Output {
        let path = format!(
            "{}:{}:{}:{}:{}",
            self.path("stubs").display(),
            self.root().join("usr/local/sbin").display(),
            self.root().join("usr/local/bin").display(),
            repo_root().join("terraform/modules/jmeter/files").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut command = Command::new(program[0]);
        command
            .args(&program[1..])
            .env("PATH", path)
            .env("LOADTEST_ROOT", self.root())
            .env("LOADTEST_MEMINFO", self.root().join("meminfo"))
            .env("LOADTEST_POLL_SECONDS", "0")
            .env("LOADTEST_READY_TIMEOUT", "5")
            .env("STUB_LOG", self.path("state/log"))
            .env("STUB_DIR", self.path("state"))
            .env("FAKE_S3", self.path("s3"))
            .env("FAKE_MIRROR", self.path("mirror"))
            .stdin(Stdio::null());
        for (key, value) in env {
            command.env(key, value);
        }
        command.output().expect("run under the fake host")
    }

    fn boot(&self, script: &str, env: &[(&str, &str)]) -> Output {
        let path = self.path("boot.sh");
        std::fs::write(&path, script).unwrap();
        self.run(&["bash", path.to_str().unwrap()], env)
    }
}

fn write_exec(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn text(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// Fake artifacts: a JMeter tarball holding the stub programs, node_exporter and Prometheus
/// tarballs.
/// Returns the manifest entries (HCL) with their real checksums.
fn make_artifacts(dir: &Path) -> String {
    let build = dir.join("build");
    let jm = build.join("apache-jmeter-5.6.3/bin");
    write_exec(&jm.join("jmeter"), JMETER_STUB);
    for name in ["jmeter-server", "shutdown.sh", "stoptest.sh"] {
        write_exec(
            &jm.join(name),
            &format!("#!/bin/bash\necho \"{name} $*\" >>\"$STUB_LOG\"\n"),
        );
    }
    std::fs::create_dir_all(build.join("apache-jmeter-5.6.3/lib/ext")).unwrap();
    write_exec(
        &build.join("node_exporter-1.8.2.linux-amd64/node_exporter"),
        "#!/bin/sh\n",
    );
    let prometheus = build.join("prometheus-2.54.0.linux-amd64");
    write_exec(&prometheus.join("prometheus"), "#!/bin/sh\n");
    write_exec(
        &prometheus.join("promtool"),
        "#!/bin/sh\necho \"promtool $*\" >>\"$STUB_LOG\"\n",
    );
    let tar = |file: &str, top: &str| {
        let status = Command::new("tar")
            .args(["-czf"])
            .arg(dir.join(file))
            .arg("-C")
            .arg(&build)
            .arg(top)
            .status()
            .unwrap();
        assert!(status.success());
        sha256(&dir.join(file))
    };
    let jm_sum = tar("apache-jmeter-5.6.3.tgz", "apache-jmeter-5.6.3");
    let ne_sum = tar(
        "node_exporter-1.8.2.linux-amd64.tar.gz",
        "node_exporter-1.8.2.linux-amd64",
    );
    let prom_sum = tar(
        "prometheus-2.54.0.linux-amd64.tar.gz",
        "prometheus-2.54.0.linux-amd64",
    );
    format!(
        r#"[
  {{ name = "jmeter", file = "apache-jmeter-5.6.3.tgz", unpacks_to = "apache-jmeter-5.6.3", sha256 = "{jm_sum}", urls = ["https://mirror.example/jmeter/apache-jmeter-5.6.3.tgz"] }},
  {{ name = "node_exporter", file = "node_exporter-1.8.2.linux-amd64.tar.gz", unpacks_to = "node_exporter-1.8.2.linux-amd64", sha256 = "{ne_sum}", urls = ["https://mirror.example/ne/node_exporter-1.8.2.linux-amd64.tar.gz"] }},
  {{ name = "prometheus", file = "prometheus-2.54.0.linux-amd64.tar.gz", unpacks_to = "prometheus-2.54.0.linux-amd64", sha256 = "{prom_sum}", urls = ["https://mirror.example/prom/prometheus-2.54.0.linux-amd64.tar.gz"] }},
]"#
    )
}

/// Renders every boot template with Terraform's templatefile, with the inputs the modules give
/// them. Returns role -> script and the directory holding the fake artifacts.
fn render(artifacts_dir: &Path) -> BTreeMap<String, String> {
    let manifest = make_artifacts(artifacts_dir);
    let modules = repo_root().join("terraform/modules");
    let jm = modules.join("jmeter");
    let mon = modules.join("monitoring");
    let root = tempfile::tempdir().unwrap();
    let config = format!(
        r#"
locals {{
  jm  = "{jm}"
  mon = "{mon}"
  artifacts_script = templatefile("{artifacts}/fetch.sh.tpl", {{ artifacts = {manifest} }})
  common = templatefile("${{local.jm}}/templates/common.sh.tpl", {{
    artifacts_script = local.artifacts_script
    environment_name = "hs", region = "eu-central-1", bucket = "{BUCKET}"
    ready_prefix = "/loadtest/hs/ready/", ready_timeout = 300, asg_name = "lt-hs-jmeter-slaves"
    server_port = 1099, client_rmi_port = 60000, client_tries = 3, client_retries_delay_ms = 5000
    loadtest_jmeter = file("${{local.jm}}/files/loadtest-jmeter")
    loadtest_sync_plans = file("${{local.jm}}/files/loadtest-sync-plans")
  }})
  mon_common = templatefile("${{local.mon}}/templates/common.sh.tpl", {{
    region = "eu-central-1", bucket = "{BUCKET}", ready_prefix = "/loadtest/hs/ready/", ready_timeout = 600
  }})
}}
output "scripts" {{
  value = {{
    "jmeter-slave" = templatefile("${{local.jm}}/templates/slave.sh.tpl", {{
      common = local.common, environment_name = "hs", asg_name = "lt-hs-jmeter-slaves",
      lifecycle_hook = "loadtest-ready", server_port = 1099, server_rmi_port = 50000
    }})
    "jmeter-master" = templatefile("${{local.jm}}/templates/master.sh.tpl", {{
      common = local.common, environment_name = "hs", ready_prefix = "/loadtest/hs/ready/",
      elastic_version = "8.13.4", elastic_major = "8",
      loadtest_refresh = file("${{local.jm}}/files/loadtest-refresh")
      loadtest_run = file("${{local.jm}}/files/loadtest-run")
      loadtest_stop = file("${{local.jm}}/files/loadtest-stop")
      loadtest_jtl_exporter = file("${{local.jm}}/files/loadtest-jtl-exporter")
    }})
    prometheus = templatefile("${{local.mon}}/templates/prometheus.sh.tpl", {{
      common = local.mon_common, artifacts_script = local.artifacts_script,
      environment_name = "hs", region = "eu-central-1", retention = "30d", metrics_port = 9270
    }})
    grafana = templatefile("${{local.mon}}/templates/grafana.sh.tpl", {{
      common = local.mon_common, environment_name = "hs", grafana_version = "10.4.5",
      prometheus_url = "http://10.42.0.11:9090"
    }})
  }}
}}
"#,
        jm = jm.display(),
        mon = mon.display(),
        artifacts = modules.join("artifacts").display(),
    );
    std::fs::write(root.path().join("main.tf"), config).unwrap();
    let tf = |args: &[&str]| {
        let out = Command::new(terraform_binary())
            .arg(format!("-chdir={}", root.path().display()))
            .args(args)
            .env("TF_DATA_DIR", root.path().join(".tf"))
            .env("TF_IN_AUTOMATION", "1")
            .stdin(Stdio::null())
            .output()
            .expect("run terraform");
        assert!(out.status.success(), "terraform {args:?}: {}", text(&out));
        out.stdout
    };
    tf(&["init", "-input=false", "-no-color", "-backend=false"]);
    let state = root.path().join("render.tfstate");
    let state_arg = format!("-state={}", state.display());
    tf(&[
        "apply",
        "-input=false",
        "-no-color",
        "-auto-approve",
        &state_arg,
    ]);
    let json: Value = serde_json::from_slice(&tf(&[
        "output",
        "-json",
        "-no-color",
        &state_arg,
        "scripts",
    ]))
    .expect("terraform output -json");
    json.as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect()
}

fn position(log: &[String], needle: &str) -> Option<usize> {
    log.iter().position(|line| line.contains(needle))
}

// ---------------------------------------------------------------------------------------------

#[test]
fn slave_boot_continues_only_after_jmeter_server_listens_and_abandons_otherwise() {
    // Ready: the third `ss` shows jmeter-server listening.
    let host = Host::new();
    let scripts = render(&host.path("mirror"));
    let ready = host.boot(&scripts["jmeter-slave"], &[("STUB_LISTEN_AFTER", "3")]);
    assert!(ready.status.success(), "{}", text(&ready));
    let log = host.log();
    let listening = position(&log, "-> listening").expect("ss showed jmeter-server listening");
    let cont = position(&log, "--lifecycle-action-result CONTINUE")
        .unwrap_or_else(|| panic!("no CONTINUE: {log:#?}"));
    let tagged = position(&log, "Key=loadtest:ready,Value=true").expect("ready tag");
    assert!(
        log[..listening]
            .iter()
            .filter(|l| l.starts_with("ss "))
            .count()
            == 2,
        "polled until listening: {log:#?}"
    );
    assert!(listening < tagged && tagged < cont, "order: {log:#?}");
    assert!(
        log[cont].contains("--auto-scaling-group-name lt-hs-jmeter-slaves")
            && log[cont].contains("--lifecycle-hook-name loadtest-ready")
            && log[cont].contains("--instance-id i-0hoststub"),
        "{}",
        log[cont]
    );
    assert!(position(&log, "ABANDON").is_none(), "{log:#?}");
    let enable = position(&log, "systemctl enable --now jmeter-server").expect("unit started");
    assert!(enable < listening, "{log:#?}");
    // Files and units.
    let props = host.read("opt/jmeter/bin/user.properties");
    assert!(props.contains("server.rmi.localport=50000"), "{props}");
    assert!(props.contains("server_port=1099"), "{props}");
    let unit = host.read("etc/systemd/system/jmeter-server.service");
    assert!(
        unit.contains("ExecStart=/usr/local/bin/loadtest-jmeter /opt/jmeter/bin/jmeter-server"),
        "{unit}"
    );
    assert!(
        unit.contains("-Djava.rmi.server.hostname=10.42.1.7"),
        "{unit}"
    );
    assert!(host.root().join("usr/local/bin/node_exporter").is_file());
    assert!(host
        .root()
        .join("etc/systemd/system/node_exporter.service")
        .is_file());
    // The bucket had no artifacts: fetched from the mirror once, verified, put in the bucket.
    assert!(position(&log, "curl").is_some());
    assert!(
        host.s3("artifacts/apache-jmeter-5.6.3.tgz").is_file(),
        "{log:#?}"
    );
    assert!(host
        .s3("artifacts/node_exporter-1.8.2.linux-amd64.tar.gz")
        .is_file());

    // Never listening: ABANDON with the reason in a tag, no CONTINUE.
    let host2 = Host::new();
    copy_dir(&host.path("mirror"), &host2.path("mirror"));
    let never = host2.boot(&scripts["jmeter-slave"], &[]);
    assert!(!never.status.success(), "{}", text(&never));
    let log = host2.log();
    assert!(position(&log, "CONTINUE").is_none(), "{log:#?}");
    assert!(position(&log, "Key=loadtest:ready,Value=true").is_none());
    let abandon = position(&log, "--lifecycle-action-result ABANDON").expect("ABANDON");
    let reason = position(
        &log,
        "Key=loadtest:ready-error,Value=jmeter-server is not listening on port 1099",
    )
    .unwrap_or_else(|| panic!("reason tag: {log:#?}"));
    assert!(reason < abandon);
    assert!(String::from_utf8_lossy(&never.stdout).contains("NOT ready"));

    // A tampered artifact (checksum differs) is never unpacked: ABANDON.
    let host3 = Host::new();
    copy_dir(&host.path("mirror"), &host3.path("mirror"));
    std::fs::write(host3.path("mirror/apache-jmeter-5.6.3.tgz"), "tampered").unwrap();
    let bad = host3.boot(&scripts["jmeter-slave"], &[("STUB_LISTEN_AFTER", "1")]);
    assert!(!bad.status.success(), "{}", text(&bad));
    let log = host3.log();
    assert!(
        position(&log, "--lifecycle-action-result ABANDON").is_some(),
        "{log:#?}"
    );
    assert!(position(&log, "CONTINUE").is_none());
    assert!(!host3.root().join("opt/apache-jmeter-5.6.3").exists());
    assert!(!host3.s3("artifacts/apache-jmeter-5.6.3.tgz").exists());
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    let status = Command::new("cp")
        .arg("-r")
        .arg(format!("{}/.", from.display()))
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn master_boot_lists_only_ready_slaves_and_writes_its_readiness() {
    let host = Host::new();
    let scripts = render(&host.path("mirror"));
    // The bucket already holds the artifacts: no mirror is asked.
    for file in [
        "apache-jmeter-5.6.3.tgz",
        "node_exporter-1.8.2.linux-amd64.tar.gz",
    ] {
        std::fs::create_dir_all(host.s3("artifacts")).unwrap();
        std::fs::copy(
            host.path("mirror").join(file),
            host.s3(&format!("artifacts/{file}")),
        )
        .unwrap();
    }
    std::fs::write(
        host.path("mirror/apache-jmeter-5.6.3.tgz"),
        "mirror must not be used",
    )
    .unwrap();
    // Two slaves InService, only one of them tagged ready.
    std::fs::write(host.path("state/in-service"), "i-1\ti-2\n").unwrap();
    std::fs::write(host.path("state/ready"), "i-1\t10.42.2.20\n").unwrap();
    let out = host.boot(&scripts["jmeter-master"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let log = host.log();
    assert!(
        !log.iter()
            .any(|l| l.starts_with("curl") && l.contains("mirror.example")),
        "{log:#?}"
    );
    let props = host.read("opt/jmeter/bin/user.properties");
    assert!(props.contains("remote_hosts=10.42.2.20:1099\n"), "{props}");
    assert!(props.contains("client.tries=3\n"), "{props}");
    assert!(props.contains("client.retries_delay=5000\n"), "{props}");
    let describe = position(&log, "ec2 describe-instances").unwrap();
    assert!(
        log[describe].contains("--instance-ids i-1 i-2"),
        "{}",
        log[describe]
    );
    assert!(log[describe].contains("Name=tag:loadtest:ready,Values=true"));
    let ready = position(&log, "ssm put-parameter").expect("readiness parameter");
    assert!(
        log[ready].contains("--name /loadtest/hs/ready/master")
            && log[ready].contains("--value ok 20"),
        "{}",
        log[ready]
    );
    assert_eq!(ready, log.len() - 1, "readiness is the last call: {log:#?}");
    for script in [
        "usr/local/bin/loadtest-run",
        "usr/local/bin/loadtest-stop",
        "usr/local/sbin/loadtest-refresh",
    ] {
        assert!(host.root().join(script).is_file(), "{script}");
    }
    assert!(host
        .read("etc/loadtest/env")
        .contains("LOADTEST_BUCKET='loadtest-hs-123456789012'"));
    assert!(position(&log, "systemctl enable --now loadtest-refresh.timer").is_some());
    assert_exporter_installed(&host);

    // A failing step writes "failed: <reason>" instead.
    let host2 = Host::new();
    let failed = host2.boot(&scripts["jmeter-master"], &[]);
    assert!(!failed.status.success());
    let log = host2.log();
    let param = position(&log, "/loadtest/hs/ready/master").unwrap_or_else(|| panic!("{log:#?}"));
    assert!(log[param].contains("--value failed: "), "{}", log[param]);
}

/// The master's boot installs the JTL exporter and points node_exporter at its directory.
fn assert_exporter_installed(host: &Host) {
    let exporter = host.read("usr/local/bin/loadtest-jtl-exporter");
    let ours = std::fs::read_to_string(
        repo_root().join("terraform/modules/jmeter/files/loadtest-jtl-exporter"),
    )
    .unwrap();
    assert_eq!(
        exporter.trim_end(),
        ours.trim_end(),
        "the installed exporter differs from the repository's"
    );
    let node = host.read("etc/systemd/system/node_exporter.service");
    assert!(
        node.contains("--collector.textfile.directory=/var/lib/node_exporter/textfile"),
        "{node}"
    );
    assert!(host.root().join("var/lib/node_exporter/textfile").is_dir());
    assert!(host
        .read("etc/loadtest/env")
        .contains("LOADTEST_TEXTFILE_DIR=/var/lib/node_exporter/textfile\n"));
}

#[test]
fn monitoring_boots_write_scrape_targets_grafana_provisioning_and_readiness() {
    let host = Host::new();
    let scripts = render(&host.path("mirror"));
    let out = host.boot(&scripts["prometheus"], &[("STUB_LISTEN_AFTER", "2")]);
    assert!(out.status.success(), "{}", text(&out));
    // Prometheus comes from the pinned artifact set: the bucket lacked it, so the mirror gave
    // it once, it was verified and put in the bucket; its binaries are installed from /opt and
    // promtool checked the configuration it wrote.
    let tarball = "prometheus-2.54.0.linux-amd64.tar.gz";
    assert!(host.s3(&format!("artifacts/{tarball}")).is_file());
    let log = host.log();
    let fetched = position(&log, &format!("mirror.example/prom/{tarball}"));
    assert!(
        fetched.is_some_and(|i| log[i].starts_with("curl ")),
        "{log:#?}"
    );
    assert!(!log.iter().any(|l| l.contains("github.com")), "{log:#?}");
    for program in ["prometheus", "promtool"] {
        assert!(host.root().join("usr/local/bin").join(program).is_file());
    }
    let checked = position(&log, "promtool check config").expect("promtool ran");
    assert!(
        log[checked].contains("/etc/prometheus/prometheus.yml"),
        "{log:#?}"
    );
    let yml = host.read("etc/prometheus/prometheus.yml");
    assert!(
        yml.contains("job_name: jmeter-node") && yml.contains("port: 9100"),
        "{yml}"
    );
    assert_jmeter_scrape_jobs(&yml);
    assert!(yml.contains("values: ['hs']"), "{yml}");
    let log = host.log();
    let listening = position(&log, "-> listening").unwrap();
    let ready = position(&log, "/loadtest/hs/ready/prometheus").unwrap();
    assert!(
        listening < ready && log[ready].contains("--value ok "),
        "{log:#?}"
    );

    let host = Host::new();
    for name in ["loadtest", "hosts"] {
        let key = format!("config/grafana/{name}.json");
        std::fs::create_dir_all(host.s3("config/grafana")).unwrap();
        std::fs::copy(
            repo_root().join(format!(
                "terraform/modules/monitoring/dashboards/{name}.json"
            )),
            host.s3(&key),
        )
        .unwrap();
    }
    let out = host.boot(&scripts["grafana"], &[("STUB_LISTEN_AFTER", "1")]);
    assert!(out.status.success(), "{}", text(&out));
    let ds = host.read("etc/grafana/provisioning/datasources/loadtest.yaml");
    assert!(
        ds.contains("uid: loadtest-prometheus") && ds.contains("url: 'http://10.42.0.11:9090'"),
        "{ds}"
    );
    let provider = host.read("etc/grafana/provisioning/dashboards/loadtest.yaml");
    assert!(
        provider.contains("path: /var/lib/grafana/dashboards/loadtest"),
        "{provider}"
    );
    for name in ["loadtest", "hosts"] {
        let dashboard: Value = serde_json::from_str(
            &host.read(&format!("var/lib/grafana/dashboards/loadtest/{name}.json")),
        )
        .unwrap();
        assert!(dashboard["uid"].is_string(), "{name}");
    }
    let log = host.log();
    assert!(
        position(&log, "/loadtest/hs/ready/grafana").is_some(),
        "{log:#?}"
    );

    // Grafana never listening: "failed: ..." and a failing boot.
    let host = Host::new();
    std::fs::create_dir_all(host.s3("config/grafana")).unwrap();
    for name in ["loadtest", "hosts"] {
        std::fs::write(host.s3(&format!("config/grafana/{name}.json")), "{}").unwrap();
    }
    let out = host.boot(&scripts["grafana"], &[]);
    assert!(!out.status.success());
    let log = host.log();
    let param = position(&log, "/loadtest/hs/ready/grafana").unwrap();
    assert!(
        log[param].contains("--value failed: nothing listens on port 3000"),
        "{}",
        log[param]
    );
}

/// JMeter's series: the master's node exporter port (the textfile collector), every 5 s,
/// jmeter_* only; the node job drops them, so nothing is stored twice. Nothing listens on
/// the old plugin port, so nothing scrapes it.
fn assert_jmeter_scrape_jobs(yml: &str) {
    assert!(!yml.contains("9270"), "{yml}");
    let jmeter_job = &yml[yml.find("job_name: jmeter\n").expect("job jmeter")..];
    let node_job =
        &yml[yml.find("job_name: jmeter-node").unwrap()..yml.find("job_name: jmeter\n").unwrap()];
    for needle in [
        "scrape_interval: 5s",
        "port: 9100",
        "values: ['jmeter-master']\n",
        "regex: 'jmeter_.*'\n        action: keep",
    ] {
        assert!(
            jmeter_job.contains(needle),
            "job jmeter lacks {needle:?}: {yml}"
        );
    }
    assert!(!jmeter_job.contains("jmeter-slave"), "{yml}");
    assert!(
        !jmeter_job.contains("target_label: host"),
        "the exporter's host label would be renamed: {yml}"
    );
    assert!(
        node_job.contains("values: ['jmeter-master', 'jmeter-slave']")
            && node_job.contains("regex: 'jmeter_.*'\n        action: drop"),
        "{yml}"
    );
}

// ---------------------------------------------------------------------------------------------
// loadtest-run / loadtest-stop on a master

/// A master as its boot leaves it: the env file, JMeter (stub), plans in the bucket, slaves.
fn master_host() -> Host {
    let host = Host::new();
    let env = format!(
        "LOADTEST_ENV='hs'\nLOADTEST_REGION='eu-central-1'\nLOADTEST_BUCKET='{BUCKET}'\n\
         LOADTEST_SLAVE_ASG='lt-hs-jmeter-slaves'\nLOADTEST_SERVER_PORT=1099\n\
         LOADTEST_CLIENT_RMI_PORT=60000\nLOADTEST_CLIENT_TRIES=3\n\
         LOADTEST_CLIENT_RETRIES_DELAY_MS=5000\n\
         LOADTEST_TEXTFILE_DIR=/var/lib/node_exporter/textfile\n"
    );
    std::fs::create_dir_all(host.root().join("etc/loadtest")).unwrap();
    std::fs::write(host.root().join("etc/loadtest/env"), env).unwrap();
    let bin = host.root().join("opt/jmeter/bin");
    write_exec(&bin.join("jmeter"), JMETER_STUB);
    for name in ["shutdown.sh", "stoptest.sh"] {
        write_exec(
            &bin.join(name),
            &format!("#!/bin/bash\necho \"{name}\" >>\"$STUB_LOG\"\n"),
        );
    }
    std::fs::create_dir_all(host.root().join("opt/jmeter/lib/ext")).unwrap();
    std::fs::create_dir_all(host.s3("plans")).unwrap();
    std::fs::write(host.s3("plans/smoke.jmx"), "<jmeterTestPlan/>").unwrap();
    std::fs::write(host.s3("plans/users.csv"), "a,b\n").unwrap();
    std::fs::write(host.path("state/in-service"), "i-1\ti-2\n").unwrap();
    std::fs::write(
        host.path("state/ready"),
        "i-1\t10.42.2.20\ni-2\t10.42.2.21\n",
    )
    .unwrap();
    host
}

#[test]
fn loadtest_run_passes_argv_literally_uploads_results_and_status_last() {
    let host = master_host();
    let nasty = r#"-Jpayload=a b;$(touch /tmp/pwned-loadtest)`id`|&"'*"#;
    let out = host.run(
        &[
            "loadtest-run",
            "--test-id",
            "t-1",
            "--plan",
            "smoke.jmx",
            "--threads",
            "50",
            "--duration",
            "600",
            "--rampup",
            "30",
            nasty,
            "-Jhost=example.test",
        ],
        &[("STUB_JTL", fixture_jtl().to_str().unwrap())],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        !Path::new("/tmp/pwned-loadtest").exists(),
        "a property value was evaluated"
    );
    let log = host.log();
    // Detached under its own unit, after the plans reached both ready slaves.
    let sync = position(&log, "ssm send-command").expect("plans synced on the slaves");
    assert!(
        log[sync].contains("--instance-ids i-1 i-2"),
        "{}",
        log[sync]
    );
    let unit = position(&log, "systemd-run --unit=loadtest-test-t-1").expect("detached unit");
    assert!(sync < unit);
    assert!(host.root().join("var/lib/jmeter/plans/users.csv").is_file());

    let argv: Vec<String> = std::fs::read_to_string(host.path("state/jmeter-argv"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    for want in [
        "-n",
        "-r",
        "-Gthreads=50",
        "-Gduration=600",
        "-Grampup=30",
        "-Jthreads=50",
        "-Jclient.tries=3",
        "-Jclient.retries_delay=5000",
        nasty,
        "-Jhost=example.test",
        "-Jjmeter.save.saveservice.output_format=csv",
        "-Jjmeter.save.saveservice.print_field_names=true",
        "-Jjmeter.save.saveservice.hostname=true",
    ] {
        assert!(
            argv.iter().any(|a| a == want),
            "jmeter argv lacks {want:?}: {argv:#?}"
        );
    }
    let t = argv.iter().position(|a| a == "-t").unwrap();
    assert!(
        argv[t + 1].ends_with("/var/lib/jmeter/plans/smoke.jmx"),
        "{argv:?}"
    );
    // The heap comes from MemTotal at this start: 4 GiB * 0.7.
    let heap = std::fs::read_to_string(host.path("state/jmeter-heap")).unwrap();
    assert!(heap.starts_with("-Xms2867m -Xmx2867m"), "{heap}");

    // Uploaded, status.json last.
    assert!(host.s3("results/t-1/results.jtl").is_file());
    assert!(host.s3("results/t-1/report/index.html").is_file());
    assert!(host.s3("results/t-1/jmeter.log").is_file());
    let status: Value =
        serde_json::from_str(&std::fs::read_to_string(host.s3("results/t-1/status.json")).unwrap())
            .unwrap();
    assert_eq!(status, serde_json::json!({"state": "finished", "exit": 0}));
    let uploads: Vec<&String> = log
        .iter()
        .filter(|l| l.contains("s3://loadtest-hs-123456789012/results/"))
        .collect();
    assert!(
        uploads.last().unwrap().contains("results/t-1/status.json"),
        "{uploads:#?}"
    );

    assert_exporter_ran(&host, &log);

    // The same id again: refused, nothing run.
    let again = host.run(
        &["loadtest-run", "--test-id", "t-1", "--plan", "smoke.jmx"],
        &[],
    );
    assert_eq!(again.status.code(), Some(2), "{}", text(&again));

    // A resize changed the memory: the next start sizes the heap anew. JMeter fails: "failed".
    std::fs::write(host.root().join("meminfo"), "MemTotal:       16777216 kB\n").unwrap();
    let failed = host.run(
        &["loadtest-run", "--test-id", "t-2", "--plan", "smoke.jmx"],
        &[("STUB_JMETER_EXIT", "1")],
    );
    assert!(failed.status.success(), "started: {}", text(&failed));
    let heap = std::fs::read_to_string(host.path("state/jmeter-heap")).unwrap();
    assert!(
        heap.lines().last().unwrap().starts_with("-Xms11468m"),
        "{heap}"
    );
    let status = std::fs::read_to_string(host.s3("results/t-2/status.json")).unwrap();
    assert_eq!(status.trim(), r#"{"state":"failed","exit":1}"#);
    wait_for_lines(&host.path("state/exporter-done"), 2);
}

/// The exporter ran beside the test as its own unit, followed the JTL and, once JMeter had
/// ended, said so: test_running 0 and every sample of the JTL counted.
fn assert_exporter_ran(host: &Host, log: &[String]) {
    let unit = position(log, "systemd-run --unit=loadtest-exporter-t-1").expect("exporter unit");
    for want in [
        "--test-id t-1",
        "/var/lib/jmeter/results/t-1/results.jtl",
        "/var/lib/node_exporter/textfile/loadtest-jmeter.prom",
        "--ended-file",
        "--watch-pid",
    ] {
        assert!(
            log[unit].contains(want),
            "exporter argv lacks {want}: {}",
            log[unit]
        );
    }
    assert_eq!(
        wait_for_lines(&host.path("state/exporter-done"), 1)[0],
        "exporter exit 0"
    );
    let prom = host.read("var/lib/node_exporter/textfile/loadtest-jmeter.prom");
    let series = exporter::parse_exposition(&prom);
    assert_eq!(
        series.value("jmeter_test_running", &[("test_id", "t-1")]),
        Some(0.0),
        "{prom}"
    );
    let fixture = exporter::JtlCounts::read(&fixture_jtl());
    assert_eq!(
        series.sum("jmeter_samples_total", &[("test_id", "t-1")]),
        fixture.samples() as f64,
        "{prom}"
    );
}

/// The JMeter output the exporter tests follow: real JMeter's CSV with default columns.
pub(crate) fn fixture_jtl() -> PathBuf {
    repo_root().join("tests/fixtures/jtl/csv-default.jtl")
}

/// Waits (at most 30 s) until `path` has `n` lines; returns them.
fn wait_for_lines(path: &Path, n: usize) -> Vec<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let lines: Vec<String> = std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect();
        if lines.len() >= n {
            return lines;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} has {lines:?}, not {n} lines",
            path.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn loadtest_run_refuses_bad_arguments_and_loadtest_stop_stops() {
    let host = master_host();
    for (args, says) in [
        (vec!["--plan", "smoke.jmx"], "--test-id"),
        (
            vec!["--test-id", "../x", "--plan", "smoke.jmx"],
            "--test-id",
        ),
        (vec!["--test-id", "t", "--plan", "../etc/passwd"], "--plan"),
        (
            vec![
                "--test-id",
                "t",
                "--plan",
                "smoke.jmx",
                "--threads",
                "5; rm",
            ],
            "--threads",
        ),
        (
            vec!["--test-id", "t", "--plan", "smoke.jmx", "-J=x"],
            "-Jname=value",
        ),
        (
            vec!["--test-id", "t", "--plan", "missing.jmx"],
            "no plan missing.jmx",
        ),
        (
            vec!["--test-id", "t", "--plan", "smoke.jmx", "--bogus"],
            "unknown argument",
        ),
    ] {
        let mut argv = vec!["loadtest-run"];
        argv.extend(args.iter().copied());
        let out = host.run(&argv, &[]);
        assert_eq!(out.status.code(), Some(2), "{argv:?}: {}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(says),
            "{argv:?}: {}",
            text(&out)
        );
        assert!(
            position(&host.log(), "systemd-run").is_none(),
            "{argv:?} started something"
        );
    }

    // Stop: graceful runs shutdown.sh, --now stoptest.sh; the test then reports "stopped".
    let none = host.run(&["loadtest-stop"], &[]);
    assert_eq!(none.status.code(), Some(1), "{}", text(&none));
    std::fs::create_dir_all(host.root().join("var/lib/jmeter")).unwrap();
    std::fs::write(host.root().join("var/lib/jmeter/current-test"), "t-9\n").unwrap();
    let graceful = host.run(&["loadtest-stop"], &[]);
    assert!(graceful.status.success(), "{}", text(&graceful));
    assert!(position(&host.log(), "shutdown.sh").is_some());
    assert!(host
        .root()
        .join("var/lib/jmeter/results/t-9/stopped")
        .is_file());
    let now = host.run(&["loadtest-stop", "--now"], &[]);
    assert!(now.status.success(), "{}", text(&now));
    assert!(position(&host.log(), "stoptest.sh").is_some());
    // JMeter ended within the grace: its own script uploads, nothing is killed.
    assert!(position(&host.log(), "systemctl kill").is_none());
    assert!(!host.s3("results/t-9/status.json").exists());

    // JMeter still there after the grace: the unit is killed and this script uploads the
    // partial results, status.json last, so the bot need not wait for the expected end.
    std::fs::write(
        host.root().join("var/lib/jmeter/results/t-9/results.jtl"),
        "timeStamp,elapsed,label\n1,2,home\n",
    )
    .unwrap();
    let killed = host.run(
        &["loadtest-stop", "--now"],
        &[("STUB_IS_ACTIVE", "0"), ("LOADTEST_STOP_GRACE", "1")],
    );
    assert!(killed.status.success(), "{}", text(&killed));
    let log = host.log();
    let kill = position(&log, "systemctl kill --signal=SIGKILL loadtest-test-t-9").expect("killed");
    let jtl = position(&log, "results/t-9/results.jtl").expect("partial JTL uploaded");
    let status = position(&log, "results/t-9/status.json").expect("status uploaded");
    assert!(kill < jtl && jtl < status, "{log:#?}");
    assert_eq!(
        std::fs::read_to_string(host.s3("results/t-9/status.json")).unwrap(),
        "{\"state\":\"stopped\",\"exit\":137}\n"
    );
    assert!(host.s3("results/t-9/results.jtl").is_file());
    assert!(!host.root().join("var/lib/jmeter/current-test").exists());
    let bad = host.run(&["loadtest-stop", "--later"], &[]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn filebeat_ships_each_jtl_line_with_its_test_id_into_the_data_views_indices() {
    let host = master_host();
    std::fs::write(host.path("state/es-ip"), "10.42.0.13\n").unwrap();
    let out = host.run(&["loadtest-refresh"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let yml = host.read("etc/filebeat/filebeat.yml");
    for want in [
        "paths: [\"/var/lib/jmeter/results/*/results.jtl\"]",
        "field: log.file.path",
        "target_prefix: \"\"",
        "hosts: [\"http://10.42.0.13:9200\"]",
        "pipeline: loadtest-jtl",
        "index: \"loadtest-hs\"",
        "setup.template.enabled: false",
    ] {
        assert!(yml.contains(want), "filebeat.yml lacks {want}:\n{yml}");
    }
    assert!(position(&host.log(), "systemctl restart filebeat").is_some());

    // A test writes its JTL where the input looks; the dissect tokenizer turns that path into
    // the test id the pipeline requires (and converts to a number).
    let run = host.run(
        &["loadtest-run", "--test-id", "42", "--plan", "smoke.jmx"],
        &[("STUB_JTL", fixture_jtl().to_str().unwrap())],
    );
    assert!(run.status.success(), "{}", text(&run));
    wait_for_lines(&host.path("state/exporter-done"), 1);
    let jtl = host.root().join("var/lib/jmeter/results/42/results.jtl");
    assert!(jtl.is_file());
    let on_host = format!("/{}", jtl.strip_prefix(host.root()).unwrap().display());
    let tokenizer = yml
        .lines()
        .find_map(|l| l.trim().strip_prefix("tokenizer: "))
        .expect("a dissect tokenizer")
        .trim_matches('"');
    let (before, after) = tokenizer.split_once("%{test_id}").expect("%{test_id}");
    let test_id = on_host
        .strip_prefix(before)
        .and_then(|rest| rest.strip_suffix(after))
        .unwrap_or_else(|| panic!("{tokenizer} does not match {on_host}"));
    assert_eq!(test_id, "42");
    assert!(test_id.parse::<i64>().is_ok());

    // The pipeline demands test_id and the data view reads loadtest-*.
    let pipeline: Value = serde_json::from_str(
        &std::fs::read_to_string(
            repo_root()
                .join("terraform/modules/monitoring/elasticsearch/loadtest-jtl-pipeline.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let fails_without = pipeline["processors"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["fail"]["if"] == "ctx.test_id == null");
    assert!(fails_without, "the pipeline no longer requires test_id");
    let view = std::fs::read_to_string(
        repo_root().join("terraform/modules/monitoring/kibana/data-view.json"),
    )
    .unwrap();
    assert!(view.contains(r#""title":"loadtest-*""#), "{view}");
}
