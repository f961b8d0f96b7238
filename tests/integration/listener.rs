//! The listener as an attacker on the network sees it (HTTP mode faces the internet): slow and
//! idle connections, huge bodies and headers, unsigned floods, a client holding a connection
//! through SIGTERM, a second `serve` on the same state directory, and `/metrics` moved to a
//! listener of its own.

use crate::support::fake_slack::{get, post_form, slash_command_form, FakeSlack};
use crate::support::serve::{bound_fixture, post_signed, Mode, Serve, CHANNEL};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn address(serve: &Serve) -> String {
    serve.base_url.trim_start_matches("http://").to_string()
}

/// Opens a connection and sends half a request head, as a slow-loris client does.
fn slow_client(address: &str) -> TcpStream {
    let mut stream = TcpStream::connect(address).expect("connect");
    stream
        .write_all(b"POST /slack/commands HTTP/1.1\r\nHost: bot\r\n")
        .expect("half a head");
    stream
}

/// Whether the bot has closed `stream` (EOF or reset), waiting up to `limit`.
fn closed_by_the_bot(stream: &mut TcpStream, limit: Duration) -> bool {
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut buffer = [0u8; 512];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return true,
            // An answer (408/400) before the close is fine; keep reading to the close.
            Ok(_) => continue,
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false
            }
            Err(_) => return true,
        }
    }
}

/// Sends a raw request head (and `body`) and returns the status line's code.
fn raw_status(address: &str, head: &str, body: &[u8]) -> u16 {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    let _ = stream.write_all(body);
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 1024];
    while !answer.windows(2).any(|w| w == b"\r\n") {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buffer[..n]),
        }
    }
    let line = String::from_utf8_lossy(&answer).to_string();
    line.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {line:?}"))
}

#[test]
fn a_thousand_slow_connections_cannot_keep_a_signed_command_out() {
    let fake = FakeSlack::start();
    let bot = bound_fixture();
    let serve = Serve::start(&bot, &fake, Mode::Http, &[]);
    let address = address(&serve);

    let mut slow: Vec<TcpStream> = (0..1000).map(|_| slow_client(&address)).collect();
    let (status, answer) = post_signed(
        &serve,
        "/slack/commands",
        &slash_command_form("U0ALICE", CHANNEL, "status"),
    );
    assert_eq!(status, 200, "a signed status is served: {answer}");
    assert!(answer.contains("status"), "{answer}");
    assert!(
        closed_by_the_bot(&mut slow[0], Duration::from_secs(5)),
        "the longest-idle connection was closed to make room"
    );
    // The newest ones are within the cap and their time; the head timeout then closes them.
    let newest = slow.last_mut().unwrap();
    assert!(
        closed_by_the_bot(newest, Duration::from_secs(25)),
        "a head that never completes is closed after the header read timeout"
    );
    let (status, body) = get(&format!("{}/healthz", serve.base_url));
    assert_eq!((status, body.trim()), (200, "ok"));
}

#[test]
fn huge_bodies_and_heads_are_refused_at_once_and_slow_bodies_time_out() {
    let fake = FakeSlack::start();
    let bot = bound_fixture();
    let serve = Serve::start(&bot, &fake, Mode::Http, &[]);
    let address = address(&serve);

    // A body declared at 2,000,000 bytes: refused before any of it is read.
    let started = Instant::now();
    let status = raw_status(
        &address,
        "POST /slack/commands HTTP/1.1\r\nHost: bot\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 2000000\r\n\r\n",
        b"token=x",
    );
    assert_eq!(status, 413);
    assert!(started.elapsed() < Duration::from_secs(5));
    // The same without a length (chunked): refused once 64 KiB have been read.
    let mut chunked = Vec::new();
    for _ in 0..80 {
        chunked.extend_from_slice(format!("{:x}\r\n", 1024).as_bytes());
        chunked.extend_from_slice(&[b'a'; 1024]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let status = raw_status(
        &address,
        "POST /slack/commands HTTP/1.1\r\nHost: bot\r\nTransfer-Encoding: chunked\r\n\r\n",
        &chunked,
    );
    assert_eq!(status, 413);
    // A 40 KB header: refused (431) by the head limit.
    let huge_header = format!(
        "GET /healthz HTTP/1.1\r\nHost: bot\r\nX-Junk: {}\r\n\r\n",
        "j".repeat(40_000)
    );
    assert_eq!(raw_status(&address, &huge_header, b""), 431);
    // A body that never finishes: 408 after the body read timeout.
    let status = raw_status(
        &address,
        "POST /slack/commands HTTP/1.1\r\nHost: bot\r\nContent-Length: 100\r\n\r\n",
        b"token=only-part",
    );
    assert_eq!(status, 408);

    let (status, _) = post_signed(
        &serve,
        "/slack/commands",
        &slash_command_form("U0ALICE", CHANNEL, "help"),
    );
    assert_eq!(status, 200, "still serving");
}

#[test]
fn an_unsigned_flood_is_counted_but_audited_once_per_source_per_minute() {
    let fake = FakeSlack::start();
    let bot = bound_fixture();
    let serve = Serve::start(&bot, &fake, Mode::Http, &[]);
    let url = format!("{}/slack/commands", serve.base_url);
    let body = slash_command_form("U0MALLORY", CHANNEL, "up large");
    for _ in 0..300 {
        let (status, _) = post_form(&url, &[], &body);
        assert_eq!(status, 401);
    }
    let (_, metrics) = get(&format!("{}/metrics", serve.base_url));
    assert!(
        metrics.contains("loadtest_http_unauthorized_total 300\n"),
        "{metrics}"
    );
    let rows: Vec<String> = bot
        .audit_decisions()
        .into_iter()
        .filter(|decision| decision.starts_with("unauthorized"))
        .collect();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let log_lines = serve
        .log()
        .lines()
        .filter(|line| line.contains("bad signature"))
        .count();
    assert!(
        log_lines <= 1,
        "one log line per source per minute, saw {log_lines}"
    );
}

#[test]
fn sigterm_ends_serve_in_time_while_clients_hold_connections() {
    let fake = FakeSlack::start();
    let bot = bound_fixture();
    let mut serve = Serve::start(&bot, &fake, Mode::Http, &[]);
    let address = address(&serve);
    let _slow_head = slow_client(&address);
    // A body that is still arriving when the signal comes.
    let mut slow_body = TcpStream::connect(&address).unwrap();
    slow_body
        .write_all(
            b"POST /slack/commands HTTP/1.1\r\nHost: bot\r\nContent-Length: 100\r\n\r\ntoken",
        )
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    serve.terminate();
    // No runs and an empty outbox: the listener's drain (5 s) bounds the exit.
    let code = serve.wait_exit(Duration::from_secs(15));
    assert_eq!(
        code,
        Some(0),
        "serve must exit within its deadline whatever clients do:\n{}",
        serve.log()
    );
}

#[test]
fn a_second_serve_on_the_same_state_directory_exits_2_naming_the_first() {
    let fake = FakeSlack::start();
    let bot = bound_fixture();
    let first = Serve::start(&bot, &fake, Mode::Http, &[]);
    let config = bot.config_path().display().to_string();
    let output = bot
        .command(&["--config", &config, "serve"])
        .env("SLACK_BOT_TOKEN", "xoxb-test-token")
        .env("SLACK_SIGNING_SECRET", "secret")
        .env("SLACK_API_URL", fake.api_url())
        .env("LOADTEST_LISTEN", "127.0.0.1:0")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("pid {}", first.child.id())),
        "names the holder: {stderr}"
    );
    assert!(
        stderr.contains("already serving the state directory"),
        "{stderr}"
    );
    let (status, _) = get(&format!("{}/healthz", first.base_url));
    assert_eq!(status, 200, "the first one goes on");
}

#[test]
fn metrics_can_move_to_a_listener_of_their_own() {
    let fake = FakeSlack::start();
    let bot = bound_fixture();
    bot.append_config("[slack]\nmetrics_listen = \"127.0.0.1:0\"\n");
    let serve = Serve::start(&bot, &fake, Mode::Http, &[]);
    let (status, _) = get(&format!("{}/metrics", serve.base_url));
    assert_eq!(status, 404, "not on the public listener");
    let deadline = Instant::now() + Duration::from_secs(10);
    let metrics_url = loop {
        let log = serve.log();
        if let Some(line) = log
            .lines()
            .find_map(|l| l.strip_prefix("loadtest-bot: metrics on "))
        {
            break line.trim().to_string();
        }
        assert!(
            Instant::now() < deadline,
            "no metrics listener line:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let (status, metrics) = get(&metrics_url);
    assert_eq!(status, 200);
    assert!(
        metrics.contains("loadtest_http_unauthorized_total"),
        "{metrics}"
    );
}
