//! One running test, followed to its end: its message updated in place every poll, the
//! master's start command checked once it ends, `results/<key>/status.json` looked for in the
//! bucket (the master writes it last, after the JTL and the report), then the results
//! summarised and posted. A test whose results never come is `lost` at its deadline.

use super::live::{read_argv, Reading};
use super::{summary_of, verdict_mark, LoadTests, TestOutcome, TestSite};
use crate::aws::load_test::TestAws;
use crate::config::format_duration;
use crate::outlet::{MessageHandle, UpdateKind};
use crate::render::views::LoadTestView;
use crate::render::Message;
use crate::results::{summarise, summary_mrkdwn, summary_text, TestSummary};
use crate::store::{TestEnd, TestRecord, TestState};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;

/// How long past its expected end a test may take to report (JMeter's shutdown, the report,
/// the upload) before it counts as lost.
const REPORT_GRACE: Duration = Duration::from_secs(15 * 60);

/// The live figures of one test: the SSM command reading the exporter's file that has not
/// answered yet, and the last two readings (throughput is their difference).
#[derive(Default)]
struct LiveReads {
    pending: Option<String>,
    latest: Option<Reading>,
    earlier: Option<Reading>,
}

/// What the master's `status.json` says.
#[derive(serde::Deserialize)]
struct MasterStatus {
    state: String,
    #[serde(default)]
    exit: Option<i64>,
}

impl LoadTests {
    pub(super) fn watch_in_background(
        self: &Arc<Self>,
        record: TestRecord,
        aws: TestAws,
        site: TestSite,
    ) {
        let this = Arc::clone(self);
        // Subscribed before the task starts, so an end is never announced to nobody.
        let _ = this.watch(record.id);
        tokio::spawn(async move { this.follow(record, aws, site).await });
    }

    async fn follow(self: Arc<Self>, record: TestRecord, aws: TestAws, site: TestSite) {
        let services = Arc::clone(&self.services);
        let poll = services
            .config
            .env(&record.env)
            .map(|env| env.test_poll_interval)
            .unwrap_or(Duration::from_secs(15));
        let deadline = record.expected_end_at.unwrap_or(record.created_at)
            + chrono::Duration::from_std(REPORT_GRACE).unwrap_or_default();
        let handle = services.outlet.post(
            &record.channel,
            &self.live_message(&record, &site, Utc::now(), None),
        );
        let mut start_checked = false;
        let mut live = LiveReads::default();
        loop {
            tokio::time::sleep(poll).await;
            let current = services.store.get_test(record.id).ok().flatten();
            if let Some(current) = current.filter(|c| !c.state.is_active()) {
                // Ended by another process watching the same store: show its result here too.
                let message = self.message(&current, ended_text(&current), false);
                services.outlet.update(&handle, &message, UpdateKind::Final);
                self.announce_end(record.id, outcome_of(&current));
                return;
            }
            if !start_checked {
                match self.start_failure(&aws, &record, &site).await {
                    Some(Err(output)) => {
                        let end = TestEnd {
                            error: Some(output.clone()),
                            ..TestEnd::default()
                        };
                        let text = format!(
                            "*[{}] test #{} did not start* `{}`:\n```{}```",
                            record.env,
                            record.id,
                            record.plan,
                            output.replace('`', "'")
                        );
                        self.end(&record, &handle, TestState::Failed, end, text, None);
                        return;
                    }
                    Some(Ok(())) => start_checked = true,
                    None => {}
                }
            }
            let status_key = format!("results/{}/status.json", record.key);
            match aws.read_text(&site.bucket, &status_key).await {
                Ok(Some(status)) => {
                    self.report(&record, &aws, &site, &handle, &status).await;
                    return;
                }
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, test = record.id, "reading the test's status"),
            }
            let now = Utc::now();
            if now > deadline {
                self.lost(&record, &handle, &site, deadline);
                return;
            }
            let figures = if start_checked {
                self.live_figures(&aws, &site, &record, &mut live).await
            } else {
                None
            };
            let message = self.live_message(&record, &site, now, figures);
            services
                .outlet
                .update(&handle, &message, UpdateKind::Progress);
        }
    }

    /// The latest figures of the running test: the answer to the last reading's command if it
    /// came, then the next reading asked for. Figures lag one poll; a master that cannot be
    /// asked shows none (the Grafana link still does).
    async fn live_figures(
        &self,
        aws: &TestAws,
        site: &TestSite,
        record: &TestRecord,
        live: &mut LiveReads,
    ) -> Option<String> {
        if let Some(command) = live.pending.clone() {
            if let Ok(result) = aws.command_result(&command, &site.instance).await {
                if result.is_done() {
                    live.pending = None;
                    let now = std::time::Instant::now();
                    if let Some(reading) = Reading::parse(&result.output, &record.key, now) {
                        live.earlier = live.latest.replace(reading);
                    }
                }
            }
        }
        if live.pending.is_none() {
            let comment = format!("loadtest {}: figures", record.key);
            live.pending = aws.send(&site.instance, &comment, &read_argv()).await.ok();
        }
        let latest = live.latest.as_ref()?;
        Some(latest.figures(live.earlier.as_ref()))
    }

    /// No results by the deadline: the master or its upload went away.
    fn lost(
        &self,
        record: &TestRecord,
        handle: &MessageHandle,
        site: &TestSite,
        deadline: DateTime<Utc>,
    ) {
        let end = TestEnd {
            error: Some("no results by the test's deadline".into()),
            ..TestEnd::default()
        };
        let text = format!(
            "*[{}] test #{} lost* `{}`: no results in s3://{}/results/{}/ by {}; \
             the master may have stopped (see `status`)",
            record.env,
            record.id,
            record.plan,
            site.bucket,
            record.key,
            self.services.format_time(&record.env, deadline)
        );
        self.end(record, handle, TestState::Lost, end, text, None);
    }

    /// `None` while the start command runs, `Some(Ok)` once it succeeded, `Some(Err(output))`
    /// when the master refused or failed to start the test.
    async fn start_failure(
        &self,
        aws: &TestAws,
        record: &TestRecord,
        site: &TestSite,
    ) -> Option<Result<(), String>> {
        let command_id = record.command_id.as_deref()?;
        let result = aws.command_result(command_id, &site.instance).await.ok()?;
        if !result.is_done() {
            return None;
        }
        if result.status == "Success" {
            return Some(Ok(()));
        }
        let output = if result.output.is_empty() {
            format!("the start command ended {}", result.status)
        } else {
            result.output
        };
        Some(Err(output))
    }

    /// The results are in: summarise the JTL, link the report, post, record.
    async fn report(
        &self,
        record: &TestRecord,
        aws: &TestAws,
        site: &TestSite,
        handle: &MessageHandle,
        status: &str,
    ) {
        let services = &self.services;
        let state = match serde_json::from_str::<MasterStatus>(status) {
            Ok(status) if status.state == "finished" && status.exit.unwrap_or(0) == 0 => {
                TestState::Finished
            }
            Ok(status) if status.state == "stopped" => TestState::Stopped,
            _ => TestState::Failed,
        };
        let prefix = format!("results/{}", record.key);
        let summary = self.summary(aws, site, record, &prefix).await;
        let threshold = services.config.plan(&record.plan).max_error_percent;
        let passed = match &summary {
            Ok(summary) => state == TestState::Finished && summary.error_pct <= threshold,
            Err(_) => false,
        };
        let expiry = services
            .config
            .env(&record.env)
            .map(|env| env.results_link_expiry)
            .unwrap_or(Duration::from_secs(24 * 3600));
        let link = |key: String| async move { aws.presign(&site.bucket, &key, expiry).await.ok() };
        let report = link(format!("{prefix}/report/index.html")).await;
        let jtl = link(format!("{prefix}/results.jtl")).await;
        let verdict = match (state, passed) {
            (TestState::Finished, true) => format!("✅ errors within the plan's {threshold} %"),
            (TestState::Finished, false) => {
                format!("❌ errors over the plan's {threshold} % (or no results)")
            }
            (TestState::Stopped, _) => "⏹ stopped".to_string(),
            _ => "❌ JMeter failed".to_string(),
        };
        let mut text = format!(
            "*[{}] test #{} {}* `{}` by <@{}>: {verdict}",
            record.env, record.id, state, record.args, record.actor
        );
        match &summary {
            Ok(summary) => {
                text.push('\n');
                text.push_str(&summary_mrkdwn(summary));
            }
            Err(error) => text.push_str(&format!("\nno summary: {error}")),
        }
        let mut links = Vec::new();
        if let Some(url) = report {
            links.push(format!("<{url}|HTML report>"));
        }
        if let Some(url) = jtl {
            links.push(format!("<{url}|JTL>"));
        }
        if !links.is_empty() {
            text.push_str(&format!(
                "\n{} (links valid {})",
                links.join(" · "),
                format_duration(expiry)
            ));
        }
        let end = TestEnd {
            summary: summary
                .as_ref()
                .ok()
                .and_then(|s| serde_json::to_string(s).ok()),
            passed: Some(passed),
            error: summary.as_ref().err().cloned(),
        };
        let file = summary.ok().map(|summary| summary_text(&summary));
        self.end(record, handle, state, end, text, file);
    }

    /// The JTL from the bucket, streamed to a file under the state directory and summarised
    /// there (a JTL can be gigabytes; the summariser holds one sample at a time).
    async fn summary(
        &self,
        aws: &TestAws,
        site: &TestSite,
        record: &TestRecord,
        prefix: &str,
    ) -> Result<TestSummary, String> {
        let dir = self.services.state_dir.join("tests");
        crate::private_fs::create_private_dir_all(&dir).map_err(|error| error.to_string())?;
        // One file per process: a `shell` and an `exec` may follow the same test, and one
        // must not read the JTL while the other rewrites or deletes it.
        let path = dir.join(format!("{}.{}.jtl", record.key, std::process::id()));
        let downloaded = aws
            .download(&site.bucket, &format!("{prefix}/results.jtl"), &path)
            .await;
        let summary = match downloaded {
            Ok(true) => {
                let reading = path.clone();
                tokio::task::spawn_blocking(move || {
                    let file = std::fs::File::open(&reading).map_err(|error| error.to_string())?;
                    summarise(std::io::BufReader::new(file)).map_err(|error| error.to_string())
                })
                .await
                .unwrap_or_else(|error| Err(error.to_string()))
            }
            Ok(false) => Err(format!("no results.jtl in s3://{}/{prefix}/", site.bucket)),
            Err(error) => Err(error),
        };
        let _ = std::fs::remove_file(&path);
        summary
    }

    /// Records the end (once), updates the message to its final form, tells waiters.
    fn end(
        &self,
        record: &TestRecord,
        handle: &MessageHandle,
        state: TestState,
        end: TestEnd,
        text: String,
        file: Option<String>,
    ) {
        let services = &self.services;
        let passed = end.passed.unwrap_or(false);
        match services
            .store
            .finish_test(record.id, state, &end, Utc::now())
        {
            Ok(true) => {
                services.outlet.update(
                    handle,
                    &self.message(record, text, false),
                    UpdateKind::Final,
                );
                if let Some(file) = file {
                    let name = format!("test-{}-summary.txt", record.id);
                    services.outlet.attach_log(handle, &name, &file);
                }
            }
            Ok(false) => {
                // Another process following the same test recorded its end first: show and
                // report that end, as the store holds it.
                if let Ok(Some(stored)) = services.store.get_test(record.id) {
                    let message = self.message(&stored, ended_text(&stored), false);
                    services.outlet.update(handle, &message, UpdateKind::Final);
                    self.announce_end(record.id, outcome_of(&stored));
                    return;
                }
            }
            Err(error) => tracing::error!(%error, test = record.id, "recording the test's end"),
        }
        self.announce_end(record.id, TestOutcome { state, passed });
    }

    /// The running test: elapsed and remaining, the Grafana link, [Stop test].
    fn live_message(
        &self,
        record: &TestRecord,
        site: &TestSite,
        now: DateTime<Utc>,
        figures: Option<String>,
    ) -> Message {
        let elapsed = (now - record.created_at).to_std().unwrap_or_default();
        let progress = match record.expected_end_at {
            Some(end) if record.args.contains("duration=") => {
                let total = (end - record.created_at).to_std().unwrap_or_default();
                let left = total.saturating_sub(elapsed);
                format!(
                    "running, {} of {} ({} left)",
                    whole_seconds(elapsed),
                    whole_seconds(total),
                    whole_seconds(left)
                )
            }
            _ => format!("running for {}", whole_seconds(elapsed)),
        };
        let mut text = format!(
            "*[{}] test #{}* `{}` by <@{}>: {progress}",
            record.env, record.id, record.args, record.actor
        );
        if let Some(figures) = figures {
            text.push('\n');
            text.push_str(&figures);
        }
        if let Some(grafana) = &site.grafana_url {
            text.push_str(&format!(
                "\n<{}/d/loadtest-jmeter?var-test_id={}&from={}&to=now|Grafana: this test live>",
                grafana.trim_end_matches('/'),
                record.key,
                record.created_at.timestamp_millis()
            ));
        }
        self.message(record, text, true)
    }

    fn message(&self, record: &TestRecord, text: String, running: bool) -> Message {
        let view = LoadTestView {
            env: record.env.clone(),
            text,
            stop_button: running,
            keep_button: false,
        };
        self.services
            .message(self.services.renderer.load_test(&view))
    }
}

fn whole_seconds(duration: Duration) -> String {
    format_duration(Duration::from_secs(duration.as_secs()))
}

/// A test's end as the store recorded it, for a watcher that did not record it itself.
fn ended_text(record: &TestRecord) -> String {
    let mut text = format!(
        "*[{}] test #{} {}*{} `{}` by <@{}>",
        record.env,
        record.id,
        record.state,
        verdict_mark(record.passed),
        record.args,
        record.actor
    );
    if let Some(summary) = summary_of(record) {
        text.push('\n');
        text.push_str(&summary_mrkdwn(&summary));
    } else if let Some(error) = &record.error {
        text.push_str(&format!(": {error}"));
    }
    text
}

pub(super) fn outcome_of(record: &TestRecord) -> TestOutcome {
    TestOutcome {
        state: record.state,
        passed: record.passed.unwrap_or(false),
    }
}
