//! The Packer image of the JMeter hosts (`terraform/images/`): its HCL is well-formed and
//! canonically formatted (checked with Terraform's own HCL formatter, since Packer is not one
//! of the tools the suite installs), it installs what the artifact manifest pins, and its
//! installer (`install-artifacts.sh`) falls back to the next URL, refuses a file whose checksum
//! differs from the manifest's, and lays the software out where the boot scripts look for it.
//!
//! The installer runs against a stub `curl` that serves `file://` URLs from a temp directory;
//! nothing here reaches the network or writes outside temp directories.

use crate::support::{repo_root, terraform_binary};
use serde_json::{json, Value};
use sha2::{Digest, Sha256, Sha512};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn images_dir() -> PathBuf {
    repo_root().join("terraform/images")
}

/// `terraform fmt -` on the file's text: fails on HCL syntax errors, prints the canonical form.
fn hcl_canonical(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut child = Command::new(terraform_binary())
        .args(["fmt", "-no-color", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run terraform fmt");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{} is not valid HCL:\n{}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn packer_files_are_well_formed_canonical_hcl() {
    for name in ["loadtest-al2023.pkr.hcl", "plugins.pkr.hcl"] {
        let path = images_dir().join(name);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            hcl_canonical(&path),
            text,
            "{name} is not formatted (packer fmt)"
        );
    }
    // The formatter really parses: a broken block is refused.
    let broken = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        broken.path(),
        "source \"amazon-ebs\" \"x\" {\n  region = \n",
    )
    .unwrap();
    let output = Command::new(terraform_binary())
        .args(["fmt", "-no-color", "-"])
        .stdin(std::fs::File::open(broken.path()).unwrap())
        .output()
        .unwrap();
    assert!(!output.status.success());
}

#[test]
fn packer_template_builds_al2023_from_the_shared_manifest() {
    let template = std::fs::read_to_string(images_dir().join("loadtest-al2023.pkr.hcl")).unwrap();
    // The manifest the boot scripts use, by default, relative to terraform/images.
    assert!(template.contains(r#"default     = "../modules/artifacts/artifacts.json""#));
    assert!(template.contains(r#"default     = ["jmeter", "node_exporter"]"#));
    assert!(template.contains(r#"source "amazon-ebs" "al2023""#));
    assert!(template.contains(r#"name                = "al2023-ami-2023.*-kernel-*-x86_64""#));
    assert!(template.contains(r#"owners      = ["amazon"]"#));
    assert!(template.contains("java-17-amazon-corretto-headless"));
    assert!(template.contains(r#""loadtest:image"         = "jmeter-host""#));

    // Every artifact the image installs is in the manifest, complete.
    let manifest_path = repo_root().join("terraform/modules/artifacts/artifacts.json");
    {
        let text = std::fs::read_to_string(&manifest_path).expect("the artifact manifest");
        let manifest: Value = serde_json::from_str(&text).expect("artifacts.json is JSON");
        for name in ["jmeter", "node_exporter", "prometheus"] {
            let entry = manifest
                .as_array()
                .and_then(|list| list.iter().find(|a| a["name"] == name))
                .unwrap_or_else(|| panic!("{name} is not in {}", manifest_path.display()));
            for key in ["version", "file", "unpacks_to", "urls"] {
                assert!(!entry[key].is_null(), "{name} has no {key}");
            }
            assert!(
                entry["sha512"].is_string() || entry["sha256"].is_string(),
                "{name} has no checksum"
            );
        }
    }
}

/// One fake artifact: a tar.gz holding `<top>/<executable>`.
struct Artifact {
    name: &'static str,
    top: &'static str,
    executable: &'static str,
    file: &'static str,
}

const JMETER: Artifact = Artifact {
    name: "jmeter",
    top: "apache-jmeter-9.9.9",
    executable: "bin/jmeter",
    file: "apache-jmeter-9.9.9.tgz",
};
const NODE_EXPORTER: Artifact = Artifact {
    name: "node_exporter",
    top: "node_exporter-9.9.9.linux-amd64",
    executable: "node_exporter",
    file: "node_exporter-9.9.9.linux-amd64.tar.gz",
};

/// Builds the artifact's archive in `served` and returns its bytes.
fn build_archive(artifact: &Artifact, served: &Path) -> Vec<u8> {
    let staging = tempfile::tempdir().unwrap();
    let executable = staging.path().join(artifact.top).join(artifact.executable);
    std::fs::create_dir_all(executable.parent().unwrap()).unwrap();
    std::fs::write(&executable, "#!/bin/sh\necho fake\n").unwrap();
    let status = Command::new("chmod")
        .arg("+x")
        .arg(&executable)
        .status()
        .unwrap();
    assert!(status.success());
    let archive = served.join(artifact.file);
    let status = Command::new("tar")
        .arg("-czf")
        .arg(&archive)
        .arg("-C")
        .arg(staging.path())
        .arg(artifact.top)
        .status()
        .expect("tar");
    assert!(status.success());
    std::fs::read(&archive).unwrap()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A `curl` that serves `file://` URLs and fails like `curl --fail` on anything else, logging
/// each call's arguments (one line per call).
fn write_stub_curl(bin: &Path, log: &Path) {
    std::fs::create_dir_all(bin).unwrap();
    let script = format!(
        r#"#!/usr/bin/env bash
# Test stub of curl: copies file:// URLs to --output, fails (22) on anything else.
echo "$*" >> '{log}'
out=""; url=""
while [ $# -gt 0 ]; do
  case $1 in
    --output|-o) out=$2; shift 2 ;;
    --max-time|--retry|--retry-delay|--connect-timeout) shift 2 ;;
    -*) shift ;;
    *) url=$1; shift ;;
  esac
done
path=${{url#file://}}
if [ "$path" != "$url" ] && [ -f "$path" ]; then cp "$path" "$out"; exit 0; fi
echo "curl: (22) The requested URL returned error: 404" >&2
exit 22
"#,
        log = log.display()
    );
    let path = bin.join("curl");
    std::fs::write(&path, script).unwrap();
    let status = Command::new("chmod").arg("+x").arg(&path).status().unwrap();
    assert!(status.success());
}

struct Install {
    output: Output,
    root: PathBuf,
    curl_calls: Vec<String>,
    _dir: tempfile::TempDir,
}

fn run_installer(manifest: &Value, names: &[&str], work: &Path) -> Install {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let bin = dir.path().join("bin");
    let log = dir.path().join("curl.log");
    write_stub_curl(&bin, &log);
    let manifest_path = work.join("artifacts.json");
    std::fs::write(
        &manifest_path,
        serde_json::to_string_pretty(manifest).unwrap(),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = Command::new("bash")
        .arg(images_dir().join("install-artifacts.sh"))
        .args(names)
        .env("ARTIFACTS_MANIFEST", &manifest_path)
        .env("IMAGE_ROOT", &root)
        .env("PATH", path)
        .stdin(Stdio::null())
        .output()
        .expect("run install-artifacts.sh");
    let curl_calls = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    Install {
        output,
        root,
        curl_calls,
        _dir: dir,
    }
}

fn manifest_for(served: &Path, jmeter_sha512: &str, node_sha256: &str) -> Value {
    json!([
        {
            "name": JMETER.name, "version": "9.9.9", "file": JMETER.file, "unpacks_to": JMETER.top,
            "sha512": jmeter_sha512,
            "urls": [
                "https://mirror.invalid/jmeter/apache-jmeter-9.9.9.tgz",
                format!("file://{}/{}", served.display(), JMETER.file),
            ],
        },
        {
            "name": NODE_EXPORTER.name, "version": "9.9.9", "file": NODE_EXPORTER.file,
            "unpacks_to": NODE_EXPORTER.top, "sha256": node_sha256,
            "urls": [format!("file://{}/{}", served.display(), NODE_EXPORTER.file)],
        },
    ])
}

#[test]
fn installer_verifies_and_lays_out_the_pinned_artifacts() {
    let served = tempfile::tempdir().unwrap();
    let jmeter_sha512 = hex(&Sha512::digest(build_archive(&JMETER, served.path())));
    let node_sha256 = hex(&Sha256::digest(build_archive(
        &NODE_EXPORTER,
        served.path(),
    )));
    let manifest = manifest_for(served.path(), &jmeter_sha512, &node_sha256);

    let install = run_installer(&manifest, &["jmeter", "node_exporter"], served.path());
    let stderr = String::from_utf8_lossy(&install.output.stderr);
    assert!(install.output.status.success(), "{stderr}");

    // Where the boot scripts look: /opt/<unpacks_to>/..., JMeter also as /opt/jmeter.
    let jmeter = install.root.join("opt").join(JMETER.top).join("bin/jmeter");
    assert!(jmeter.is_file(), "{}", jmeter.display());
    assert_eq!(
        std::fs::read_link(install.root.join("opt/jmeter")).unwrap(),
        PathBuf::from("/opt").join(JMETER.top)
    );
    assert!(install
        .root
        .join("opt")
        .join(NODE_EXPORTER.top)
        .join("node_exporter")
        .is_file());
    // Nothing left behind but the two installs and the link.
    let mut left: Vec<String> = std::fs::read_dir(install.root.join("opt"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, [JMETER.top, "jmeter", NODE_EXPORTER.top]);

    // The first JMeter URL failed, the second was used; every download has a time limit.
    assert_eq!(install.curl_calls.len(), 3, "{:?}", install.curl_calls);
    assert!(install.curl_calls[0].contains("https://mirror.invalid/"));
    assert!(install.curl_calls[1].contains(JMETER.file));
    assert!(install
        .curl_calls
        .iter()
        .all(|call| call.contains("--max-time") && call.contains("--fail")));
}

#[test]
fn installer_refuses_a_checksum_mismatch_and_unknown_names() {
    let served = tempfile::tempdir().unwrap();
    build_archive(&JMETER, served.path());
    let node_sha256 = hex(&Sha256::digest(build_archive(
        &NODE_EXPORTER,
        served.path(),
    )));
    let wrong = "0".repeat(128);
    let manifest = manifest_for(served.path(), &wrong, &node_sha256);

    let install = run_installer(&manifest, &["jmeter"], served.path());
    let stderr = String::from_utf8_lossy(&install.output.stderr);
    assert!(!install.output.status.success(), "{stderr}");
    assert!(stderr.contains("not installing it"), "{stderr}");
    assert!(!install.root.join("opt").join(JMETER.top).exists());
    assert!(!install.root.join("opt/jmeter").exists());

    let install = run_installer(&manifest, &["grafana"], served.path());
    let stderr = String::from_utf8_lossy(&install.output.stderr);
    assert!(!install.output.status.success());
    assert!(stderr.contains("grafana is not in"), "{stderr}");
    assert!(install.curl_calls.is_empty());
}
