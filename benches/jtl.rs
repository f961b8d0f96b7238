//! Benchmark of the JTL summariser (src/results/): a 1,000,000-sample CSV JTL with JMeter 5's
//! default columns (20 labels, about 1 % errors) is written to a temporary file, then
//! summarised three times in this process (the median is reported) and once in a child process
//! of this bench that reports its own peak RSS (VmHWM), so the memory figure is that of a
//! process doing nothing but summarising. Budget: 2 s and 100 MB.
//!
//! Run with `cargo bench --bench jtl` (or `make bench`); under `cargo test` it runs as a smoke
//! test on 10,000 samples.

use loadtest_bot::results::{summarise, TestSummary};
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Set in the child process: the JTL file it summarises before reporting its peak RSS.
const CHILD_ENV: &str = "JTL_BENCH_SUMMARISE";
const LABELS: u64 = 20;

fn samples() -> u64 {
    if std::env::args().any(|a| a == "--bench") {
        1_000_000
    } else {
        10_000
    }
}

/// xorshift64*: reproducible latencies and errors without a dependency.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// Writes `count` samples as JMeter 5 writes them by default (17 columns).
fn write_jtl(path: &Path, count: u64) -> std::io::Result<()> {
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
    writeln!(
        out,
        "timeStamp,elapsed,label,responseCode,responseMessage,threadName,dataType,success,\
         failureMessage,bytes,sentBytes,grpThreads,allThreads,URL,Latency,IdleTime,Connect"
    )?;
    let mut random = Random(0x9E37_79B9_7F4A_7C15);
    let start = 1_700_000_000_000u64;
    for i in 0..count {
        let r = random.next();
        let label = r % LABELS;
        // Mostly tens of milliseconds, a long tail up to ~8 s.
        let elapsed = 5
            + (r >> 8) % 60
            + if (r >> 20) % 50 == 0 {
                (r >> 32) % 8000
            } else {
                0
            };
        let failed = (r >> 40) % 100 == 0;
        let (code, message, success, failure) = if failed {
            (
                "500",
                "Internal Server Error",
                "false",
                "\"Test failed: code, expected 200\"",
            )
        } else {
            ("200", "OK", "true", "")
        };
        writeln!(
            out,
            "{},{elapsed},GET /api/item/{label},{code},{message},Users 1-{},text,{success},\
             {failure},{},180,100,100,http://sut.internal:8080/api/item/{label},{},0,{}",
            start + i * 3,
            i % 100 + 1,
            1200 + label * 10,
            elapsed.saturating_sub(2),
            elapsed % 3
        )?;
    }
    out.flush()
}

fn summarise_file(path: &Path) -> TestSummary {
    let file = File::open(path).expect("the generated JTL");
    summarise(BufReader::with_capacity(256 * 1024, file)).expect("the generated JTL summarises")
}

fn peak_rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status")
}

/// The child: summarise once, print the sample count and the peak RSS in kB.
fn child(path: &str) {
    let summary = summarise_file(Path::new(path));
    println!("{} {}", summary.samples, peak_rss_kb());
}

fn main() {
    if let Ok(path) = std::env::var(CHILD_ENV) {
        return child(&path);
    }
    let count = samples();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bench.jtl");
    write_jtl(&path, count).expect("write the JTL");
    let size_mb = std::fs::metadata(&path).expect("size").len() as f64 / 1e6;

    let mut times: Vec<Duration> = Vec::new();
    let mut summary = None;
    for _ in 0..3 {
        let started = Instant::now();
        summary = Some(summarise_file(&path));
        times.push(started.elapsed());
    }
    times.sort();
    let summary = summary.expect("three runs");
    assert_eq!(summary.samples, count);
    assert_eq!(summary.label_count, LABELS as usize);
    assert!(
        summary.error_pct > 0.5 && summary.error_pct < 1.5,
        "{}",
        summary.error_pct
    );

    let output = Command::new(std::env::current_exe().expect("this bench"))
        .env(CHILD_ENV, &path)
        .output()
        .expect("the child summariser");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    let mut fields = text
        .split_whitespace()
        .map(|f| f.parse::<u64>().expect("a number"));
    let (child_samples, peak_kb) = (fields.next().expect("samples"), fields.next().expect("kB"));
    assert_eq!(child_samples, count);

    let seconds = times[1].as_secs_f64();
    let peak_mb = peak_kb as f64 / 1024.0;
    let millions = count as f64 / 1e6;
    println!(
        "jtl summarise {millions}M samples: {seconds:.2} s, peak RSS {peak_mb:.1} MB \
         (budget 2 s / 100 MB)"
    );
    let name = format!("JTL summarise {millions}M samples ({size_mb:.0} MB), median of 3");
    println!(
        "| {name:<52} | {:>22} | {:<14} |",
        format!("{seconds:.2} s"),
        "< 2 s"
    );
    let name = "  … peak RSS of a process summarising it";
    println!(
        "| {name:<52} | {:>22} | {:<14} |",
        format!("{peak_mb:.1} MB"),
        "< 100 MB"
    );
    println!(
        "  (p50/p95/p99 {} / {} / {} ms, {:.0} samples/s summarised)",
        summary.latency.percentiles.p50_ms,
        summary.latency.percentiles.p95_ms,
        summary.latency.percentiles.p99_ms,
        count as f64 / seconds
    );
}
