//! Load tests from the channel: `run` starts the plan on the environment's master through SSM
//! Run Command, one message follows it in place (elapsed and remaining, a Grafana link with the
//! test's time range, a Stop button), and its results come back from the bucket as a summary,
//! presigned links to the HTML report and the JTL, and the summary as a thread file.
//!
//! Where the test runs comes from the environment's Terraform outputs (`results_bucket`,
//! `jmeter_master_instance_id`, `grafana_url`), so the bot and Terraform never disagree. The
//! test's record in the store is the truth: one starting or running test per environment
//! (across processes), ended once (`finish_test` is conditional), and watched again after a
//! restart ([`LoadTests::resume`]).
//!
//! The live message shows elapsed and remaining time and, once the master has samples, the
//! test's throughput, error %, p95 and active threads, read from the master's JTL exporter
//! through SSM ([`live`]); the full picture is on Grafana, linked with the test's range.

mod live;
pub mod shared;
mod watch;

use crate::aws::load_test::{plan_files, TestAws};
use crate::aws::AwsTarget;
use crate::command::TestRequest;
use crate::model::{ChannelId, EnvName, SlackUserId};
use crate::services::Services;
use crate::store::{NewTest, TestEnd, TestRecord, TestState};
use crate::terraform::state::read_outputs;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch as channel;

/// How a test ended, for a caller waiting on it (`exec`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TestOutcome {
    pub state: TestState,
    /// The error rate stayed within the plan's threshold (a finished test only).
    pub passed: bool,
}

/// A plan `run` can start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AvailablePlan {
    pub name: String,
    /// Shared in the channel, rather than from `plans_dir`.
    pub shared: bool,
}

/// Where an environment's plans come from, each when it has it.
struct PlanDirs {
    plans_dir: Option<std::path::PathBuf>,
    /// The plans shared in its channel (`shared_plans = true`).
    shared: Option<std::path::PathBuf>,
}

/// Where an environment's tests run.
#[derive(Clone, Debug)]
struct TestSite {
    aws: AwsTarget,
    bucket: String,
    instance: String,
    grafana_url: Option<String>,
}

pub struct LoadTests {
    services: Arc<Services>,
    /// The end of each test this process watches.
    ends: Mutex<HashMap<i64, channel::Sender<Option<TestOutcome>>>>,
}

impl LoadTests {
    pub fn new(services: Arc<Services>) -> Arc<LoadTests> {
        Arc::new(LoadTests {
            services,
            ends: Mutex::new(HashMap::new()),
        })
    }

    /// The plans `run` can start in `env`: the `.jmx` files at the top of its `plans_dir`,
    /// then those shared in its channel (a shared plan never shadows one of `plans_dir`).
    pub fn plans(&self, env: &EnvName) -> Result<Vec<AvailablePlan>, String> {
        let PlanDirs {
            plans_dir,
            shared: shared_dir,
        } = self.plan_dirs(env)?;
        let mut plans = Vec::new();
        if let Some(dir) = plans_dir {
            let files = plan_files(&dir)
                .map_err(|error| format!("cannot read plans_dir {}: {error}", dir.display()))?;
            plans.extend(
                files
                    .into_iter()
                    .map(|(name, _)| name)
                    .filter(|name| !name.contains('/') && crate::config::is_plan_name(name))
                    .map(|name| AvailablePlan {
                        name,
                        shared: false,
                    }),
            );
        }
        if let Some(dir) = shared_dir {
            for name in shared::list(&dir) {
                if !plans.iter().any(|plan| plan.name == name) {
                    plans.push(AvailablePlan { name, shared: true });
                }
            }
        }
        Ok(plans)
    }

    /// Where `env`'s plans come from; an environment with neither is refused.
    fn plan_dirs(&self, env: &EnvName) -> Result<PlanDirs, String> {
        let config = self
            .services
            .config
            .env(env)
            .ok_or_else(|| format!("unknown environment `{env}`"))?;
        let shared = config
            .shared_plans
            .then(|| shared::shared_dir(&self.services.state_dir, env.as_str()));
        if config.plans_dir.is_none() && shared.is_none() {
            return Err(format!(
                "`{env}` runs no tests from chat: set `plans_dir` in [environments.{env}] to \
                 the checkout of the team's JMeter plans, or `shared_plans = true` to run \
                 plans shared in its channel"
            ));
        }
        Ok(PlanDirs {
            plans_dir: config.plans_dir.clone(),
            shared,
        })
    }

    /// Keeps a plan shared in `env`'s channel; returns whether it replaced an earlier one of
    /// that name. Refused (with the reason) unless the environment takes shared plans and the
    /// file is a JMeter plan whose name `plans_dir` does not already use.
    pub fn add_shared_plan(
        &self,
        env: &EnvName,
        name: &str,
        content: &[u8],
    ) -> Result<bool, String> {
        let Some(dir) = self.plan_dirs(env)?.shared else {
            return Err(format!(
                "`{env}` takes no plans shared in the channel (`shared_plans = true` in \
                 [environments.{env}])"
            ));
        };
        shared::check(name, content)?;
        let taken = self
            .plans(env)?
            .into_iter()
            .any(|plan| plan.name == name && !plan.shared);
        if taken {
            return Err(format!(
                "`{name}` is already a plan of plans_dir; share it under another name"
            ));
        }
        shared::keep(&dir, name, content).map_err(|error| format!("cannot keep `{name}`: {error}"))
    }

    /// Checks a `run` against the plans on disk and the plan's allowed properties.
    pub fn check_request(&self, env: &EnvName, test: &TestRequest) -> Result<(), String> {
        let plans: Vec<String> = self.plans(env)?.into_iter().map(|plan| plan.name).collect();
        if !plans.contains(&test.plan) {
            return Err(format!(
                "no plan `{}`; plans: {}",
                test.plan,
                list_or_none(&plans)
            ));
        }
        let allowed = self.services.config.plan(&test.plan).properties;
        for (name, _) in &test.properties {
            if !allowed.contains(name) {
                return Err(format!(
                    "`{}` takes no property `-J{name}`; allowed: {} ([plans.\"{}\"] properties)",
                    test.plan,
                    list_or_none(&allowed),
                    test.plan
                ));
            }
        }
        Ok(())
    }

    /// Where `env`'s tests run, from its Terraform outputs.
    async fn site(&self, env: &EnvName) -> Result<TestSite, String> {
        let services = &self.services;
        let (Some(workspace), Some(config)) = (services.workspace(env), services.config.env(env))
        else {
            return Err(format!("unknown environment `{env}`"));
        };
        let outputs = read_outputs(&services.runner, &workspace)
            .await
            .ok_or_else(|| format!("cannot read `{env}`'s Terraform outputs; is it deployed?"))?;
        let text = |name: &str| -> Option<String> {
            let value = outputs
                .get(name)?
                .value
                .as_ref()?
                .as_str()?
                .trim()
                .to_string();
            (!value.is_empty()).then_some(value)
        };
        let instance = text("jmeter_master_instance_id")
            .ok_or_else(|| format!("`{env}` has no JMeter master running; `up <size>` first"))?;
        let bucket = text("results_bucket")
            .ok_or_else(|| format!("`{env}` has no results bucket (output `results_bucket`)"))?;
        Ok(TestSite {
            aws: AwsTarget::of_tf_vars(&config.tf_vars),
            bucket,
            instance,
            grafana_url: text("grafana_url"),
        })
    }

    /// Starts a checked `run`: records it, copies the plans to the bucket and tells the
    /// master to start it. Returns once the master accepted the command; the test is watched
    /// from then on. A refusal or failure comes back as text and leaves no running test.
    pub async fn start(
        self: &Arc<Self>,
        env: &EnvName,
        test: &TestRequest,
        actor: &SlackUserId,
        channel: &ChannelId,
    ) -> Result<TestRecord, String> {
        let site = self.site(env).await?;
        let PlanDirs {
            plans_dir,
            shared: shared_dir,
        } = self.plan_dirs(env)?;
        let new = NewTest {
            env: env.clone(),
            plan: test.plan.clone(),
            args: test.args_text(),
            actor: actor.clone(),
            channel: channel.clone(),
        };
        let now = chrono::Utc::now();
        let record = match self.services.store.begin_test(&new, now) {
            Ok(Ok(record)) => record,
            Ok(Err(active)) => {
                return Err(format!(
                    "test #{} (`{}` by <@{}>) is {} in `{env}`; one test at a time per \
                     environment: `stop` ends it",
                    active.id, active.plan, active.actor, active.state
                ))
            }
            Err(error) => return Err(format!("cannot record the test: {error}")),
        };
        let aws = TestAws::new(&site.aws).await;
        let started = async {
            copy_plans(&aws, &site.bucket, shared_dir, plans_dir).await?;
            let argv = run_argv(&record.key, test);
            let comment = format!("loadtest {}: {}", record.key, test.plan);
            aws.send(&site.instance, &comment, &argv).await
        }
        .await;
        let command_id = match started {
            Ok(command_id) => command_id,
            Err(error) => {
                let end = TestEnd {
                    error: Some(error.clone()),
                    ..TestEnd::default()
                };
                let _ = self.services.store.finish_test(
                    record.id,
                    TestState::Failed,
                    &end,
                    chrono::Utc::now(),
                );
                return Err(format!("test #{} did not start: {error}", record.id));
            }
        };
        let expected_end =
            now + chrono::Duration::from_std(expected_length(test)).unwrap_or_default();
        let stored = self.services.store.mark_test_running(
            record.id,
            &site.bucket,
            &site.instance,
            &command_id,
            expected_end,
        );
        if let Err(error) = stored {
            tracing::error!(%error, test = record.id, "the started test could not be recorded");
        }
        let record = self
            .services
            .store
            .get_test(record.id)
            .ok()
            .flatten()
            .unwrap_or(record);
        self.watch_in_background(record.clone(), aws, site);
        Ok(record)
    }

    /// Ends `env`'s running test: JMeter's graceful shutdown, or at once with `now`.
    pub async fn stop(&self, env: &EnvName, now: bool) -> Result<TestRecord, String> {
        let active = self
            .services
            .store
            .active_test(env)
            .map_err(|error| format!("cannot read the store: {error}"))?
            .ok_or_else(|| format!("no test is running in `{env}`"))?;
        let Some(instance) = active.instance_id.clone() else {
            return Err(format!(
                "test #{} is still starting; `stop` again in a moment",
                active.id
            ));
        };
        let config = self
            .services
            .config
            .env(env)
            .ok_or_else(|| format!("unknown environment `{env}`"))?;
        let aws = TestAws::new(&AwsTarget::of_tf_vars(&config.tf_vars)).await;
        let mut argv = vec!["loadtest-stop".to_string()];
        if now {
            argv.push("--now".to_string());
        }
        let comment = format!("loadtest {}: stop", active.key);
        aws.send(&instance, &comment, &argv).await?;
        Ok(active)
    }

    /// The end of test `id` as this process sees it (`None` until it ends).
    pub fn watch(&self, id: i64) -> channel::Receiver<Option<TestOutcome>> {
        let mut ends = self.ends.lock().unwrap_or_else(|e| e.into_inner());
        ends.entry(id)
            .or_insert_with(|| channel::channel(None).0)
            .subscribe()
    }

    fn announce_end(&self, id: i64, outcome: TestOutcome) {
        let ends = self.ends.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(sender) = ends.get(&id) {
            sender.send_replace(Some(outcome));
        }
    }

    /// Watches again every test the store says is running (after a restart, or in a second
    /// process such as a `shell` opened while an `exec` runs a test).
    pub fn resume(self: &Arc<Self>) {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            for record in this.services.store.active_tests().unwrap_or_default() {
                let this = Arc::clone(&this);
                tokio::spawn(async move { this.resume_one(record).await });
            }
        });
    }

    /// One active test: watched once a master accepted it. A test still `starting` may be
    /// another live process's, between recording it and the master's answer, so it is looked
    /// at again until it runs; only one still starting after [`STARTING_AT_MOST`] is taken
    /// for a process that died while starting it, and ended as failed.
    async fn resume_one(self: Arc<Self>, mut record: TestRecord) {
        while record.state == TestState::Starting {
            let age = chrono::Utc::now() - record.created_at;
            if age.to_std().is_ok_and(|age| age >= STARTING_AT_MOST) {
                let end = TestEnd {
                    error: Some("the bot stopped while starting this test".into()),
                    ..TestEnd::default()
                };
                let now = chrono::Utc::now();
                let _ = self
                    .services
                    .store
                    .finish_test(record.id, TestState::Failed, &end, now);
                return;
            }
            tokio::time::sleep(STARTING_LOOK_EVERY).await;
            match self.services.store.get_test(record.id) {
                Ok(Some(now)) => record = now,
                _ => return,
            }
        }
        if !record.state.is_active() {
            return;
        }
        let Some(config) = self.services.config.env(&record.env) else {
            return;
        };
        let (Some(bucket), Some(instance)) = (record.bucket.clone(), record.instance_id.clone())
        else {
            return;
        };
        let target = AwsTarget::of_tf_vars(&config.tf_vars);
        let aws = TestAws::new(&target).await;
        let site = TestSite {
            aws: target,
            bucket,
            instance,
            grafana_url: None,
        };
        self.watch_in_background(record, aws, site);
    }
}

/// Longer than starting a test can take (Terraform outputs, the plans to the bucket, one SSM
/// command, each with its own timeout): a test still `starting` after this was left so by a
/// process that died.
const STARTING_AT_MOST: Duration = Duration::from_secs(10 * 60);
/// How often a test another process is starting is looked at again.
const STARTING_LOOK_EVERY: Duration = Duration::from_secs(5);

/// `a, b, c`, or `none`.
fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

/// ` ✓` when a test's error rate stayed within its plan's threshold, ` ✗` when not, nothing
/// while that is not known.
pub fn verdict_mark(passed: Option<bool>) -> &'static str {
    match passed {
        Some(true) => " ✓",
        Some(false) => " ✗",
        None => "",
    }
}

/// The results summary the store keeps for a test that has results.
pub fn summary_of(record: &TestRecord) -> Option<crate::results::TestSummary> {
    serde_json::from_str(record.summary.as_deref()?).ok()
}

/// The plans to the bucket: shared plans first, so that `plans_dir` wins a name both hold
/// (as `plans` shows); the shared plans' directory exists once a plan was shared.
async fn copy_plans(
    aws: &TestAws,
    bucket: &str,
    shared_dir: Option<std::path::PathBuf>,
    plans_dir: Option<std::path::PathBuf>,
) -> Result<(), String> {
    for dir in shared_dir
        .filter(|dir| dir.exists())
        .into_iter()
        .chain(plans_dir)
    {
        aws.sync_plans(bucket, &dir).await?;
    }
    Ok(())
}

/// The master's command line for a test (each word single-quoted on the way).
fn run_argv(key: &str, test: &TestRequest) -> Vec<String> {
    let mut argv: Vec<String> = vec![
        "loadtest-run".into(),
        "--test-id".into(),
        key.into(),
        "--plan".into(),
        test.plan.clone(),
    ];
    if let Some(threads) = test.threads {
        argv.extend(["--threads".into(), threads.to_string()]);
    }
    if let Some(duration) = test.duration {
        argv.extend(["--duration".into(), duration.as_secs().to_string()]);
    }
    if let Some(rampup) = test.rampup {
        argv.extend(["--rampup".into(), rampup.as_secs().to_string()]);
    }
    for (name, value) in &test.properties {
        argv.push(format!("-J{name}={value}"));
    }
    argv
}

/// How long the test should take: ramp-up + duration, or the longest test when the plan
/// decides its own duration.
fn expected_length(test: &TestRequest) -> Duration {
    match test.duration {
        Some(duration) => duration + test.rampup.unwrap_or_default(),
        None => crate::command::MAX_TEST_DURATION,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_master_gets_the_test_as_argv_in_seconds() {
        let test = TestRequest {
            plan: "smoke.jmx".into(),
            threads: Some(10),
            duration: Some(Duration::from_secs(1800)),
            rampup: Some(Duration::from_secs(300)),
            properties: vec![("host".into(), "api.example.com".into())],
        };
        assert_eq!(
            run_argv("7-20261202140000", &test).join(" "),
            "loadtest-run --test-id 7-20261202140000 --plan smoke.jmx --threads 10 \
             --duration 1800 --rampup 300 -Jhost=api.example.com"
        );
        assert_eq!(expected_length(&test), Duration::from_secs(2100));
    }
}
