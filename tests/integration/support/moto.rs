//! The local AWS emulator for one test: a `moto_server` on a free port of 127.0.0.1, killed when
//! the [`MotoServer`] is dropped; and [`inventory`], what really runs in it by its own API
//! (`tests/support/aws_inventory.py` with boto3), not by Terraform's view.

use super::{find_on_path, is_executable, repo_root, terraform_binary, tools_dir};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const STARTUP_LIMIT: Duration = Duration::from_secs(90);

pub struct MotoServer {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

/// `moto_server`: bootstrap's venv first, else PATH. Panics when there is none.
pub fn moto_server_binary() -> PathBuf {
    let venv = tools_dir().join("moto-venv/bin/moto_server");
    if is_executable(&venv) {
        return venv;
    }
    find_on_path("moto_server").unwrap_or_else(|| {
        panic!(
            "moto is missing: neither {} nor `moto_server` on PATH. Run `scripts/bootstrap` \
             (or `make test`, which runs it) to install the local AWS emulator.",
            venv.display()
        )
    })
}

/// The Python next to `moto_server` (its venv has boto3). Panics when there is none.
pub fn python() -> PathBuf {
    let moto = moto_server_binary();
    let dir = moto.parent().expect("moto_server has a directory");
    for name in ["python", "python3"] {
        let candidate = dir.join(name);
        if is_executable(&candidate) {
            return candidate;
        }
    }
    panic!(
        "no python next to {} (the moto venv, with boto3, is needed to inspect the emulator); \
         run `scripts/bootstrap`",
        moto.display()
    )
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port on 127.0.0.1")
}

/// Whether an HTTP server answers on the port (moto's own dashboard API).
fn answers(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request = format!("GET /moto-api/data.json HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.")
}

impl MotoServer {
    /// Starts a fresh emulator (empty: every test gets its own) and waits until it answers.
    /// Panics, never skips, when moto or Terraform is missing or moto does not come up.
    pub fn start() -> MotoServer {
        let moto = moto_server_binary();
        // The tests that need moto run Terraform against it: fail early and clearly.
        let _ = terraform_binary();
        let _ = python();
        let mut last_error = String::new();
        for _attempt in 0..3 {
            let dir = tempfile::tempdir().expect("temp dir");
            let log = dir.path().join("moto.log");
            let port = free_port();
            let log_file = std::fs::File::create(&log).expect("moto log file");
            let child = Command::new(&moto)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                // Like AWS, refuse unknown instance types and key pairs (moto skips both
                // checks by default). The console test's failing apply relies on it.
                .env("MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION", "true")
                .env("MOTO_ENABLE_KEYPAIR_VALIDATION", "true")
                .stdin(Stdio::null())
                .stdout(log_file.try_clone().expect("log file"))
                .stderr(log_file)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", moto.display()));
            let mut server = MotoServer {
                child,
                port,
                log,
                _dir: dir,
            };
            let deadline = Instant::now() + STARTUP_LIMIT;
            loop {
                if let Ok(Some(status)) = server.child.try_wait() {
                    // Most likely the port was taken between picking and binding: retry.
                    last_error = format!("moto_server exited ({status}):\n{}", server.log_tail());
                    break;
                }
                if answers(port) {
                    return server;
                }
                if Instant::now() > deadline {
                    panic!(
                        "moto_server did not answer on 127.0.0.1:{port} within {STARTUP_LIMIT:?}:\n{}",
                        server.log_tail()
                    );
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        panic!(
            "could not start moto_server ({}): {last_error}",
            moto.display()
        );
    }

    /// `http://127.0.0.1:<port>`: the value of the `aws_endpoint` Terraform variable.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// What runs in this emulator for one `loadtest:env`.
    pub fn inventory(&self, environment: &str) -> Inventory {
        inventory(&self.endpoint(), environment)
    }

    /// The end of moto's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `tests/support/aws_inventory.py` against `endpoint` for environment `environment`.
pub fn inventory(endpoint: &str, environment: &str) -> Inventory {
    let script = repo_root().join("tests/support/aws_inventory.py");
    let output = Command::new(python())
        .arg(&script)
        .args([
            "--endpoint",
            endpoint,
            "--env",
            environment,
            "--region",
            "us-east-1",
        ])
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_DEFAULT_PROFILE")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "aws_inventory.py failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let raw: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("aws_inventory.py output: {e}\n{stdout}"));
    Inventory { raw }
}

/// One autoscaling group as the emulator reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupInfo {
    pub name: String,
    pub desired: u64,
    pub min: u64,
    pub max: u64,
    pub instances: u64,
    pub role: Option<String>,
    pub propagated_tags: Vec<String>,
}

/// The emulator's answer for one environment (see `aws_inventory.py` for the fields).
#[derive(Clone)]
pub struct Inventory {
    pub raw: Value,
}

impl std::fmt::Debug for Inventory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.raw)
    }
}

impl Inventory {
    /// Running (or pending) instances of the environment with this `loadtest:role`.
    pub fn running(&self, role: &str) -> u64 {
        self.raw["instances_by_role"][role].as_u64().unwrap_or(0)
    }

    /// Running instances per role (only roles with at least one).
    pub fn running_by_role(&self) -> std::collections::BTreeMap<String, u64> {
        self.raw["instances_by_role"]
            .as_object()
            .map(|roles| {
                roles
                    .iter()
                    .map(|(role, n)| (role.clone(), n.as_u64().unwrap_or(0)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every running instance in the emulator, whatever its tags.
    pub fn running_total(&self) -> u64 {
        self.raw["running_instances_total"].as_u64().unwrap_or(0)
    }

    /// The environment's instances in any state but terminated (stopped ones still cost EBS).
    pub fn not_terminated(&self) -> u64 {
        self.raw["instances_not_terminated"].as_u64().unwrap_or(0)
    }

    /// Every load balancer in the emulator (ELBv2 and classic).
    pub fn load_balancers(&self) -> u64 {
        self.raw["load_balancers"].as_u64().unwrap_or(0)
    }

    pub fn autoscaling_groups(&self) -> Vec<GroupInfo> {
        let number = |g: &Value, key: &str| g[key].as_u64().unwrap_or(0);
        self.raw["autoscaling_groups"]
            .as_array()
            .map(|groups| {
                groups
                    .iter()
                    .map(|g| GroupInfo {
                        name: g["name"].as_str().unwrap_or_default().to_string(),
                        desired: number(g, "desired"),
                        min: number(g, "min"),
                        max: number(g, "max"),
                        instances: number(g, "instances"),
                        role: g["tags"]["loadtest:role"].as_str().map(str::to_string),
                        propagated_tags: g["propagated_tags"]
                            .as_array()
                            .map(|t| {
                                t.iter()
                                    .filter_map(|k| k.as_str().map(str::to_string))
                                    .collect()
                            })
                            .unwrap_or_default(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The slaves' group (tagged `loadtest:role = jmeter-slave`), if it exists.
    pub fn slave_group(&self) -> Option<GroupInfo> {
        self.autoscaling_groups()
            .into_iter()
            .find(|g| g.role.as_deref() == Some("jmeter-slave"))
    }

    pub fn slave_desired_capacity(&self) -> Option<u64> {
        self.slave_group().map(|g| g.desired)
    }
}

/// Runs a Python snippet with boto3 clients `autoscaling`, `ssm`, `s3` and `ec2` bound to the
/// emulator at `endpoint`; its stdout is JSON.
pub fn boto3(endpoint: &str, code: &str) -> serde_json::Value {
    let program = format!(
        "import boto3, datetime, json\nkw = dict(region_name='us-east-1', endpoint_url='{endpoint}', \
         aws_access_key_id='test', aws_secret_access_key='test')\n\
         autoscaling = boto3.client('autoscaling', **kw)\nssm = boto3.client('ssm', **kw)\n\
         s3 = boto3.client('s3', **kw)\nec2 = boto3.client('ec2', **kw)\n{code}\n"
    );
    let output = std::process::Command::new(python())
        .args(["-c", &program])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run python with boto3");
    assert!(
        output.status.success(),
        "boto3 snippet failed:\n{code}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "boto3 snippet printed no JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}
