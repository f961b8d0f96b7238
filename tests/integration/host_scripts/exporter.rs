//! The master's JTL exporter (`terraform/modules/jmeter/files/loadtest-jtl-exporter`) run for
//! real with python3 over a JTL written by real JMeter, fed to it the way JMeter writes it
//! (in pieces, a line cut in two, a line that is no sample), and its output read in the
//! Prometheus text format: the sample counts, buckets, sums and threads equal what this test
//! counts itself from the CSV; `jmeter_test_running` goes to 0 when the test ends; and every
//! metric and label the load-test dashboard's queries use is in what it writes.

use super::fixture_jtl;
use crate::support::repo_root;
use promql_parser::parser::{self, Expr, LabelModifier};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One sample line of the text format: its name, labels and value.
#[derive(Debug)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A parsed exposition.
#[derive(Debug)]
pub struct Exposition {
    pub samples: Vec<Sample>,
    pub types: BTreeMap<String, String>,
}

impl Exposition {
    /// Samples of `name` whose labels include every pair of `with`.
    pub fn matching<'a>(
        &'a self,
        name: &'a str,
        with: &'a [(&str, &str)],
    ) -> impl Iterator<Item = &'a Sample> {
        self.samples.iter().filter(move |s| {
            s.name == name
                && with
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
    }

    pub fn value(&self, name: &str, with: &[(&str, &str)]) -> Option<f64> {
        let found: Vec<&Sample> = self.matching(name, with).collect();
        assert!(found.len() <= 1, "several {name} {with:?}: {found:?}");
        found.first().map(|s| s.value)
    }

    pub fn sum(&self, name: &str, with: &[(&str, &str)]) -> f64 {
        self.matching(name, with).map(|s| s.value).sum()
    }
}

/// Parses the Prometheus text format strictly: valid metric and label names, quoted and escaped
/// label values, a float value, no timestamp (node_exporter's textfile collector refuses them),
/// and a `# TYPE` line before each family's first sample.
pub fn parse_exposition(text: &str) -> Exposition {
    let mut out = Exposition {
        samples: Vec::new(),
        types: BTreeMap::new(),
    };
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or_else(|| panic!("{line}"));
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            let first = out.types.insert(name.to_string(), kind.to_string());
            assert!(first.is_none(), "TYPE twice: {line}");
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let chars: Vec<char> = line.chars().collect();
        let mut i = chars
            .iter()
            .position(|c| *c == '{' || *c == ' ')
            .unwrap_or(chars.len());
        let name: String = chars[..i].iter().collect();
        assert!(valid_name(&name), "bad metric name in {line}");
        let mut labels = BTreeMap::new();
        if chars.get(i) == Some(&'{') {
            i += 1;
            while chars.get(i) != Some(&'}') {
                let eq = (i..chars.len())
                    .find(|&k| chars[k] == '=')
                    .unwrap_or_else(|| panic!("{line}"));
                let key: String = chars[i..eq].iter().collect();
                assert!(valid_name(&key), "bad label name {key:?} in {line}");
                assert_eq!(chars.get(eq + 1), Some(&'"'), "unquoted value in {line}");
                let (value, end) = quoted(&chars, eq + 2, line);
                assert!(labels.insert(key, value).is_none(), "label twice: {line}");
                i = end;
                match chars.get(i) {
                    Some(',') => i += 1,
                    Some('}') => {}
                    _ => panic!("bad label list in {line}"),
                }
            }
            i += 1;
        }
        let rest: String = chars[i..].iter().collect();
        let fields: Vec<&str> = rest.split_whitespace().collect();
        assert_eq!(fields.len(), 1, "one value and no timestamp: {line}");
        let value = match fields[0] {
            "+Inf" => f64::INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value in {line}")),
        };
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .filter(|f| out.types.get(*f).map(String::as_str) == Some("histogram"))
            .unwrap_or(&name)
            .to_string();
        assert!(out.types.contains_key(&family), "no # TYPE before {line}");
        out.samples.push(Sample {
            name,
            labels,
            value,
        });
    }
    out
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().enumerate().all(|(i, c)| {
            c == '_' || c == ':' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())
        })
}

/// A label value from `start` (just after its opening quote): the unescaped value and the
/// index after its closing quote.
fn quoted(chars: &[char], start: usize, line: &str) -> (String, usize) {
    let mut value = String::new();
    let mut i = start;
    loop {
        match chars.get(i) {
            Some('\\') => {
                value.push(match chars.get(i + 1) {
                    Some('n') => '\n',
                    Some(c @ ('\\' | '"')) => *c,
                    other => panic!("bad escape {other:?} in {line}"),
                });
                i += 2;
            }
            Some('"') => return (value, i + 1),
            Some(c) => {
                value.push(*c);
                i += 1;
            }
            None => panic!("unterminated label value in {line}"),
        }
    }
}

/// What a CSV JTL holds, counted here with the `csv` crate (independently of the exporter).
#[derive(Debug, Default)]
pub struct JtlCounts {
    /// (label, success) -> samples.
    pub by_outcome: BTreeMap<(String, String), u64>,
    /// label -> every elapsed time (ms).
    pub elapsed: BTreeMap<String, Vec<u64>>,
    /// allThreads of the last sample.
    pub last_threads: Option<u64>,
}

impl JtlCounts {
    pub fn read(path: &Path) -> JtlCounts {
        Self::of(&std::fs::read_to_string(path).unwrap())
    }

    pub fn of(text: &str) -> JtlCounts {
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let headers = reader.headers().unwrap().clone();
        let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
        let (label, success, elapsed) = (col("label"), col("success"), col("elapsed"));
        let threads = col("allThreads");
        let mut counts = JtlCounts::default();
        for record in reader.records() {
            let record = record.unwrap();
            let key = (record[label].to_string(), record[success].to_string());
            *counts.by_outcome.entry(key).or_default() += 1;
            let ms: u64 = record[elapsed].parse().unwrap();
            counts
                .elapsed
                .entry(record[label].to_string())
                .or_default()
                .push(ms);
            counts.last_threads = Some(record[threads].parse().unwrap());
        }
        counts
    }

    pub fn samples(&self) -> u64 {
        self.by_outcome.values().sum()
    }
}

fn exporter_path() -> PathBuf {
    repo_root().join("terraform/modules/jmeter/files/loadtest-jtl-exporter")
}

/// The exporter as loadtest-run starts it, polling every 50 ms.
fn start_exporter(dir: &Path, test_id: &str, extra: &[&str]) -> Child {
    Command::new("python3")
        .arg(exporter_path())
        .args(["--test-id", test_id, "--poll", "0.05"])
        .arg("--jtl")
        .arg(dir.join("results.jtl"))
        .arg("--out")
        .arg(dir.join("jmeter.prom"))
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs the exporter (python3 is on the hosts and needed here)")
}

/// Waits (at most 30 s) until the exporter's file satisfies `ready`; returns it parsed.
fn wait_for(dir: &Path, what: &str, ready: impl Fn(&Exposition) -> bool) -> Exposition {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(text) = std::fs::read_to_string(dir.join("jmeter.prom")) {
            let parsed = parse_exposition(&text);
            if ready(&parsed) {
                return parsed;
            }
            assert!(Instant::now() < deadline, "never {what}:\n{text}");
        }
        assert!(Instant::now() < deadline, "no output: never {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits (at most 30 s) for the exporter to exit; returns its stderr.
fn wait_exit(mut child: Child) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let output = child.wait_with_output().unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr).to_string();
            assert!(status.success(), "exporter failed: {status:?}\n{stderr}");
            return stderr;
        }
        if Instant::now() > deadline {
            child.kill().ok();
            panic!("the exporter did not end");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn append(path: &Path, text: &str) {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

/// The exporter's figures equal the JTL's: samples per label and outcome; per label a
/// cumulative histogram whose every bucket holds the samples at most that long, +Inf = _count =
/// the label's samples, _sum = their elapsed time.
fn assert_figures(out: &Exposition, test_id: &str, jtl: &JtlCounts) {
    let t = ("test_id", test_id);
    for ((label, success), count) in &jtl.by_outcome {
        let with = [t, ("label", label.as_str()), ("success", success.as_str())];
        assert_eq!(
            out.value("jmeter_samples_total", &with),
            Some(*count as f64),
            "{with:?}"
        );
    }
    assert_eq!(out.sum("jmeter_samples_total", &[t]), jtl.samples() as f64);
    for (label, times) in &jtl.elapsed {
        let with = [t, ("label", label.as_str())];
        let mut buckets: Vec<(f64, f64)> = out
            .matching("jmeter_response_time_seconds_bucket", &with)
            .map(|s| (s.labels["le"].parse().unwrap(), s.value))
            .collect();
        buckets.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
        assert!(buckets.len() > 5, "{label}: {buckets:?}");
        assert_eq!(
            buckets.last().unwrap().0,
            f64::INFINITY,
            "{label}: no +Inf bucket"
        );
        for pair in buckets.windows(2) {
            assert!(
                pair[0].1 <= pair[1].1,
                "{label}: buckets not cumulative: {buckets:?}"
            );
        }
        for (le, count) in &buckets {
            let within = times
                .iter()
                .filter(|ms| (**ms as f64) <= le * 1000.0 + 1e-9)
                .count();
            assert_eq!(*count, within as f64, "{label}: bucket le={le}");
        }
        let n = times.len() as f64;
        assert_eq!(buckets.last().unwrap().1, n, "{label}: +Inf");
        assert_eq!(
            out.value("jmeter_response_time_seconds_count", &with),
            Some(n)
        );
        let sum = out
            .value("jmeter_response_time_seconds_sum", &with)
            .unwrap();
        let expected = times.iter().sum::<u64>() as f64 / 1000.0;
        assert!(
            (sum - expected).abs() < 1e-6,
            "{label}: _sum {sum} != {expected}"
        );
    }
}

#[test]
fn jtl_exporter_follows_real_jmeter_output_and_ends_with_the_test() {
    let dir = tempfile::tempdir().unwrap();
    let jtl = dir.path().join("results.jtl");
    let fixture = std::fs::read_to_string(fixture_jtl()).unwrap();
    let lines: Vec<&str> = fixture.split_inclusive('\n').collect();
    assert!(lines.len() > 500, "the fixture shrank");
    let child = start_exporter(
        dir.path(),
        "t-7",
        &["--ended-file", dir.path().join("ended").to_str().unwrap()],
    );

    // JMeter has written its header and 400 samples.
    let first: String = lines[..401].concat();
    append(&jtl, &first);
    let part = JtlCounts::of(&first);
    let out = wait_for(dir.path(), "400 samples", |o| {
        o.sum("jmeter_samples_total", &[]) == 400.0
    });
    assert_eq!(
        out.value("jmeter_test_running", &[("test_id", "t-7")]),
        Some(1.0)
    );
    assert_figures(&out, "t-7", &part);
    let threads: Vec<&Sample> = out
        .matching("jmeter_active_threads", &[("test_id", "t-7")])
        .collect();
    assert_eq!(
        threads.len(),
        1,
        "one load generator (this JTL has no Hostname column): {threads:?}"
    );
    assert_eq!(threads[0].value, part.last_threads.unwrap() as f64);

    // Half a line: not a sample yet, not an error either.
    let (head, tail) = lines[401].split_at(lines[401].len() / 2);
    append(&jtl, head);
    std::thread::sleep(Duration::from_millis(400));
    let out = wait_for(dir.path(), "still 400", |_| true);
    assert_eq!(out.sum("jmeter_samples_total", &[]), 400.0);
    assert_eq!(
        out.value("jmeter_jtl_lines_skipped_total", &[("test_id", "t-7")]),
        Some(0.0)
    );

    // The rest, one line that is no sample among them; then the test ends.
    append(&jtl, tail);
    append(&jtl, "not,a,sample\n");
    append(&jtl, &lines[402..].concat());
    std::fs::write(dir.path().join("ended"), "0\n").unwrap();
    let stderr = wait_exit(child);
    let out = wait_for(dir.path(), "ended", |_| true);
    assert_eq!(
        out.value("jmeter_test_running", &[("test_id", "t-7")]),
        Some(0.0),
        "{stderr}"
    );
    let all = JtlCounts::read(&fixture_jtl());
    assert_eq!(all.samples() as usize, lines.len() - 1);
    assert_figures(&out, "t-7", &all);
    assert_eq!(
        out.value("jmeter_jtl_lines_skipped_total", &[("test_id", "t-7")]),
        Some(1.0)
    );
    assert!(stderr.contains("not a sample: 'not,a,sample'"), "{stderr}");
    for s in out.matching("jmeter_active_threads", &[]) {
        assert_eq!(s.value, 0.0, "threads after the end: {s:?}");
    }
    assert_eq!(out.types["jmeter_samples_total"], "counter");
    assert_eq!(out.types["jmeter_response_time_seconds"], "histogram");
}

#[test]
fn jtl_exporter_ends_when_the_test_process_dies_and_names_an_unreadable_jtl() {
    // loadtest-stop --now kills the test's unit: no "ended" file, the watched process is gone.
    let dir = tempfile::tempdir().unwrap();
    let mut test = Command::new("sleep").arg("60").spawn().unwrap();
    let pid = test.id().to_string();
    // An XML JTL (or one without field names) is no CSV the exporter can read: it says so.
    std::fs::write(
        dir.path().join("results.jtl"),
        "<?xml version=\"1.0\"?>\n<testResults>\n",
    )
    .unwrap();
    let child = start_exporter(dir.path(), "t-8", &["--watch-pid", &pid]);
    let out = wait_for(dir.path(), "running", |o| {
        o.value("jmeter_test_running", &[]).is_some()
    });
    assert_eq!(
        out.value("jmeter_test_running", &[("test_id", "t-8")]),
        Some(1.0)
    );
    test.kill().unwrap();
    test.wait().unwrap();
    let stderr = wait_exit(child);
    let out = wait_for(dir.path(), "ended", |_| true);
    assert_eq!(
        out.value("jmeter_test_running", &[("test_id", "t-8")]),
        Some(0.0)
    );
    assert_eq!(out.sum("jmeter_samples_total", &[]), 0.0);
    assert_eq!(
        out.value("jmeter_jtl_lines_skipped_total", &[("test_id", "t-8")]),
        Some(1.0)
    );
    assert!(stderr.contains("lacks label, elapsed, success"), "{stderr}");

    // Bad arguments: a clear message, exit 2, nothing written.
    let bad = Command::new("python3")
        .arg(exporter_path())
        .args([
            "--test-id",
            "t-9",
            "--jtl",
            "x.jtl",
            "--out",
            "/nonexistent/dir/x.prom",
        ])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--out: no directory /nonexistent/dir"));
}

/// Every `expr` in the dashboard and every `label_values(...)` variable query, as PromQL.
fn dashboard_queries() -> Vec<Expr> {
    let path = repo_root().join("terraform/modules/monitoring/dashboards/loadtest.json");
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut texts = Vec::new();
    fn collect(value: &Value, texts: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    match (key.as_str(), child.as_str()) {
                        ("expr", Some(expr)) => texts.push(expr.to_string()),
                        ("query", Some(q)) if q.starts_with("label_values(") => {
                            texts.push(q.to_string())
                        }
                        _ => collect(child, texts),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|item| collect(item, texts)),
            _ => {}
        }
    }
    collect(&dashboard, &mut texts);
    texts
        .iter()
        .map(|text| {
            // label_values(<selector>, <label>) asks for <label> on <selector>: the same as
            // grouping the selector by it.
            let text = match text
                .strip_prefix("label_values(")
                .and_then(|r| r.strip_suffix(')'))
            {
                Some(inner) => {
                    let (selector, label) = inner.rsplit_once(',').unwrap();
                    format!("count by ({}) ({})", label.trim(), selector.trim())
                }
                None => text.clone(),
            };
            let text = text.replace("$__rate_interval", "1m");
            parser::parse(&text).unwrap_or_else(|e| panic!("not PromQL: {text}: {e}"))
        })
        .collect()
}

/// (metric, labels it must carry) for every selector: its matchers' labels and the labels of
/// every `by (...)` around it.
fn needs(expr: &Expr, grouping: &BTreeSet<String>, found: &mut Vec<(String, BTreeSet<String>)>) {
    let mut selector = |vs: &promql_parser::parser::VectorSelector| {
        let mut labels = grouping.clone();
        labels.extend(vs.matchers.matchers.iter().map(|m| m.name.clone()));
        found.push((vs.name.clone().expect("a metric name"), labels));
    };
    match expr {
        Expr::VectorSelector(vs) => selector(vs),
        Expr::MatrixSelector(m) => selector(&m.vs),
        Expr::Aggregate(a) => {
            let mut inner = grouping.clone();
            if let Some(LabelModifier::Include(labels)) = &a.modifier {
                inner.extend(labels.labels.iter().cloned());
            }
            needs(&a.expr, &inner, found);
        }
        Expr::Unary(u) => needs(&u.expr, grouping, found),
        Expr::Binary(b) => {
            needs(&b.lhs, grouping, found);
            needs(&b.rhs, grouping, found);
        }
        Expr::Paren(p) => needs(&p.expr, grouping, found),
        Expr::Call(c) => c
            .args
            .args
            .iter()
            .for_each(|arg| needs(arg, grouping, found)),
        _ => {}
    }
}

#[test]
fn jtl_exporter_writes_every_series_and_label_the_load_test_dashboard_queries() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(fixture_jtl(), dir.path().join("results.jtl")).unwrap();
    std::fs::write(dir.path().join("ended"), "0\n").unwrap();
    let child = start_exporter(
        dir.path(),
        "42",
        &["--ended-file", dir.path().join("ended").to_str().unwrap()],
    );
    wait_exit(child);
    let out = wait_for(dir.path(), "written", |_| true);

    let mut wanted = Vec::new();
    for expr in dashboard_queries() {
        needs(&expr, &BTreeSet::new(), &mut wanted);
    }
    let names: BTreeSet<&str> = wanted.iter().map(|(name, _)| name.as_str()).collect();
    for name in [
        "jmeter_samples_total",
        "jmeter_response_time_seconds_bucket",
        "jmeter_active_threads",
        "jmeter_test_running",
    ] {
        assert!(
            names.contains(name),
            "the dashboard no longer queries {name}: update this test"
        );
    }
    for (name, labels) in &wanted {
        let series: Vec<&Sample> = out.matching(name, &[]).collect();
        assert!(
            !series.is_empty(),
            "the dashboard queries {name}, the exporter writes none"
        );
        for label in labels {
            assert!(
                series.iter().all(|s| s.labels.contains_key(label)),
                "the dashboard uses {name}{{{label}}}, the exporter's {name} lacks it"
            );
        }
    }
}
