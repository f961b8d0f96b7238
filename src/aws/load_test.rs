//! The AWS side of a load test started from the channel: the team's plans copied to the
//! environment's bucket, the master told to start or stop JMeter through SSM Run Command (no
//! SSH, no inbound port), and the results read back from the bucket with presigned links.
//!
//! What runs on the master is the master's own `loadtest-run` / `loadtest-stop`; the bot only
//! sends their argv. Each argument was validated by the parser and is single-quoted here as
//! well, so no user text is ever read by a shell as anything but one word.

use super::{error_text, AwsTarget};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the master keeps plans: `s3://<bucket>/plans/` (its `loadtest-run` syncs from here).
pub const PLANS_PREFIX: &str = "plans/";

/// Files deeper than this under `plans_dir` are not copied (a checkout's data lives near the
/// top; a deeper tree is likely a mistake such as a `node_modules`).
const MAX_PLAN_DEPTH: usize = 4;

/// The clients for one environment's account and region.
pub struct TestAws {
    s3: aws_sdk_s3::Client,
    ssm: aws_sdk_ssm::Client,
}

/// What the master's `loadtest-run` printed and how its SSM command ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandResult {
    /// SSM's status: `Pending`, `InProgress`, `Success`, `Failed`, `TimedOut`, `Cancelled`…
    pub status: String,
    pub output: String,
}

impl CommandResult {
    pub fn is_done(&self) -> bool {
        matches!(
            self.status.as_str(),
            "Success" | "Failed" | "TimedOut" | "Cancelled" | "Undeliverable" | "Terminated"
        )
    }
}

impl TestAws {
    pub async fn new(target: &AwsTarget) -> TestAws {
        let config = target.sdk_config().await;
        // The emulator serves buckets as paths, not as host names.
        let s3_config = aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(target.endpoint.is_some())
            .build();
        TestAws {
            s3: aws_sdk_s3::Client::from_conf(s3_config),
            ssm: aws_sdk_ssm::Client::new(&config),
        }
    }

    /// Copies every file under `dir` to `plans/<path>` in the bucket; returns how many files.
    pub async fn sync_plans(&self, bucket: &str, dir: &Path) -> Result<usize, String> {
        let files = plan_files(dir).map_err(|error| {
            format!("cannot read the plans directory {}: {error}", dir.display())
        })?;
        for (relative, path) in &files {
            let body = ByteStream::from_path(path)
                .await
                .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
            self.s3
                .put_object()
                .bucket(bucket)
                .key(format!("{PLANS_PREFIX}{relative}"))
                .body(body)
                .send()
                .await
                .map_err(|error| {
                    format!(
                        "copying {relative} to s3://{bucket}: {}",
                        error_text(&error)
                    )
                })?;
        }
        Ok(files.len())
    }

    /// Runs `argv` on `instance` as one shell line of single-quoted words; returns the
    /// command's id.
    pub async fn send(
        &self,
        instance: &str,
        comment: &str,
        argv: &[String],
    ) -> Result<String, String> {
        let line = shell_line(argv);
        let sent = self
            .ssm
            .send_command()
            .document_name("AWS-RunShellScript")
            .instance_ids(instance)
            .comment(comment)
            .parameters("commands", vec![line])
            .send()
            .await
            .map_err(|error| format!("SSM SendCommand to {instance}: {}", error_text(&error)))?;
        sent.command()
            .and_then(|command| command.command_id())
            .map(str::to_string)
            .ok_or_else(|| "SSM SendCommand answered without a command id".to_string())
    }

    /// How the command ended on `instance` so far, with what it printed.
    pub async fn command_result(
        &self,
        command_id: &str,
        instance: &str,
    ) -> Result<CommandResult, String> {
        let answer = self
            .ssm
            .get_command_invocation()
            .command_id(command_id)
            .instance_id(instance)
            .send()
            .await
            .map_err(|error| format!("SSM GetCommandInvocation: {}", error_text(&error)))?;
        let output = [
            answer.standard_output_content().unwrap_or_default(),
            answer.standard_error_content().unwrap_or_default(),
        ]
        .iter()
        .map(|text| text.trim())
        .filter(|text| !text.is_empty())
        .collect::<Vec<_>>()
        .join("\n");
        Ok(CommandResult {
            status: answer
                .status()
                .map(|status| status.as_str().to_string())
                .unwrap_or_else(|| "Pending".to_string()),
            output,
        })
    }

    /// A small object's text, `None` when it is not there (yet).
    pub async fn read_text(&self, bucket: &str, key: &str) -> Result<Option<String>, String> {
        match self.s3.get_object().bucket(bucket).key(key).send().await {
            Ok(object) => {
                let bytes = object
                    .body
                    .collect()
                    .await
                    .map_err(|error| format!("reading s3://{bucket}/{key}: {error}"))?
                    .into_bytes();
                Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
            }
            Err(error) if error.as_service_error().is_some_and(|e| e.is_no_such_key()) => Ok(None),
            Err(error) => Err(format!(
                "reading s3://{bucket}/{key}: {}",
                error_text(&error)
            )),
        }
    }

    /// Streams an object to `path` (a JTL can be gigabytes: never held in memory).
    pub async fn download(&self, bucket: &str, key: &str, path: &Path) -> Result<bool, String> {
        use tokio::io::AsyncWriteExt;
        let mut object = match self.s3.get_object().bucket(bucket).key(key).send().await {
            Ok(object) => object,
            Err(error) if error.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
                return Ok(false)
            }
            Err(error) => {
                return Err(format!(
                    "reading s3://{bucket}/{key}: {}",
                    error_text(&error)
                ))
            }
        };
        let mut file = tokio::fs::File::create(path)
            .await
            .map_err(|error| format!("creating {}: {error}", path.display()))?;
        while let Some(chunk) = object.body.next().await {
            let chunk = chunk.map_err(|error| format!("reading s3://{bucket}/{key}: {error}"))?;
            file.write_all(&chunk)
                .await
                .map_err(|error| format!("writing {}: {error}", path.display()))?;
        }
        file.flush()
            .await
            .map_err(|error| format!("writing {}: {error}", path.display()))?;
        Ok(true)
    }

    /// A link anyone holding it can open until `expires_in`.
    pub async fn presign(
        &self,
        bucket: &str,
        key: &str,
        expires_in: Duration,
    ) -> Result<String, String> {
        let config = PresigningConfig::expires_in(expires_in).map_err(|error| error.to_string())?;
        let request = self
            .s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .presigned(config)
            .await
            .map_err(|error| format!("presigning s3://{bucket}/{key}: {error}"))?;
        Ok(request.uri().to_string())
    }
}

/// `argv` as one shell line of single-quoted words (`'` inside a word closes, escapes and
/// reopens the quote), so the shell SSM starts reads each exactly as given.
pub fn shell_line(argv: &[String]) -> String {
    argv.iter()
        .map(|word| format!("'{}'", word.replace('\'', r"'\''")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Every regular file under `dir` as (path relative to `dir` with `/`, full path), hidden
/// files and directories left out, sorted.
pub fn plan_files(dir: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let mut found = Vec::new();
    walk(dir, "", 0, &mut found)?;
    found.sort();
    Ok(found)
}

fn walk(
    dir: &Path,
    prefix: &str,
    depth: usize,
    found: &mut Vec<(String, PathBuf)>,
) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with('.') {
            continue;
        }
        let relative = format!("{prefix}{name}");
        let kind = entry.file_type()?;
        if kind.is_dir() && depth + 1 < MAX_PLAN_DEPTH {
            walk(&entry.path(), &format!("{relative}/"), depth + 1, found)?;
        } else if kind.is_file() {
            found.push((relative, entry.path()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_reaches_the_shell_as_one_word() {
        let argv: Vec<String> = ["loadtest-run", "--plan", "a b.jmx", "-Jx=it's $(rm -rf /)"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let line = shell_line(&argv);
        assert_eq!(
            line,
            r#"'loadtest-run' '--plan' 'a b.jmx' '-Jx=it'\''s $(rm -rf /)'"#
        );
    }

    #[test]
    fn plan_files_are_relative_sorted_and_skip_hidden_ones() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("smoke.jmx"), "<jmeterTestPlan/>").unwrap();
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        std::fs::write(dir.path().join("data/users.csv"), "u1\n").unwrap();
        std::fs::create_dir_all(dir.path().join(".git")).unwrap();
        std::fs::write(dir.path().join(".git/HEAD"), "x").unwrap();
        let names: Vec<String> = plan_files(dir.path())
            .unwrap()
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        assert_eq!(names, ["data/users.csv", "smoke.jmx"]);
    }
}
