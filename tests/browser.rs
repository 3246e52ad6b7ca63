//! A real browser's `EventSource` against the axum demo: headless Chromium opens the
//! demo page, which reports every event it receives (`report=browser-report`: each
//! one as JSON `{"type", "data", "lastEventId"}` in an event on that topic), and this
//! test listens to the reports with its own SSE client.
//!
//! It checks what only a browser can: that its parser reads our frames (multi-line
//! data, named events, ids), and that after the server ends its stream it reconnects
//! by itself with `Last-Event-ID` and gets exactly the events it missed, from replay,
//! also when the stream ended before its first event (the opening checkpoint).
//!
//! Run it locally (Debian; as root):
//!
//! ```sh
//! apt-get install -y --no-install-recommends chromium && cargo test --test browser
//! ```
//!
//! Without Chromium (`/usr/bin/chromium`, or the path in `$CHROMIUM`) the test prints
//! a notice and passes, so `cargo test --workspace` works on a fresh machine; with the
//! `CI` environment variable set it fails instead (`.ci/run` installs Chromium).

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use sse_testkit::client::{Connect, SseClient};
use sse_testkit::demo::{Adapter, run};

/// The demo the browser loads.
const AXUM: Adapter = sse_testkit::adapter!(axum);

/// The topic the page reports on.
const REPORT: &str = "browser-report";
/// How long Chromium may take to start and connect (a cold start on a loaded 2-core
/// machine takes seconds).
const BROWSER_START: Duration = Duration::from_secs(60);

/// Chromium with a fresh profile in a process group of its own: dropping it kills
/// the whole group (the browser and every helper process it started) and removes
/// the profile.
#[derive(Debug)]
struct Chromium {
    child: Child,
    profile: PathBuf,
    log: PathBuf,
}

impl Chromium {
    /// The browser to use: `$CHROMIUM`, else `/usr/bin/chromium`, if it exists.
    fn find() -> Option<PathBuf> {
        let path = std::env::var_os("CHROMIUM")
            .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
        path.exists().then_some(path)
    }

    fn open(binary: &PathBuf, url: &str) -> Chromium {
        let unique = format!(
            "sse-browser-test-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        );
        let profile = std::env::temp_dir().join(&unique);
        std::fs::create_dir_all(&profile).expect("a profile directory");
        let log = std::env::temp_dir().join(format!("{unique}.log"));
        let output = File::create(&log).expect("a log file");
        let child = std::os::unix::process::CommandExt::process_group(
            Command::new(binary)
                .args([
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                ])
                .arg(format!("--user-data-dir={}", profile.display()))
                .arg(url)
                .stdin(Stdio::null())
                .stdout(output.try_clone().expect("a log file"))
                .stderr(output),
            0,
        )
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        Chromium {
            child,
            profile,
            log,
        }
    }

    /// Signals the browser's whole process group.
    fn signal(&self, signal: &str) {
        let _ = Command::new("kill")
            .args([signal, "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        // Politely first, then for sure; the group id is the browser's pid.
        self.signal("-TERM");
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.signal("-KILL");
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<_> = log.lines().rev().take(40).collect();
            eprintln!("--- the last lines Chromium printed:");
            tail.iter().rev().for_each(|line| eprintln!("{line}"));
        }
        let _ = std::fs::remove_dir_all(&self.profile);
        let _ = std::fs::remove_file(&self.log);
    }
}

/// What the page reported seeing.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    kind: String,
    data: String,
    last_event_id: String,
}

impl Seen {
    fn new(kind: &str, data: &str, last_event_id: &str) -> Seen {
        Seen {
            kind: kind.into(),
            data: data.into(),
            last_event_id: last_event_id.into(),
        }
    }
}

/// The next report from the page. The reporting client gets the broadcasts too:
/// those are skipped (a report is a JSON object, and no event the test publishes is).
async fn next_report(reports: &mut SseClient) -> Seen {
    let report = loop {
        let event = reports.next_event().await;
        if let Ok(report @ Value::Object(_)) = serde_json::from_str(&event.data) {
            break report;
        }
    };
    let field = |name: &str| {
        report[name]
            .as_str()
            .unwrap_or_else(|| panic!("report without {name}: {report}"))
            .to_owned()
    };
    Seen {
        kind: field("type"),
        data: field("data"),
        last_event_id: field("lastEventId"),
    }
}

/// The next `n` reports, in the order the browser received the events (the page
/// sends one report at a time, so they arrive in that order).
async fn reports(reports: &mut SseClient, n: usize) -> Vec<Seen> {
    let mut seen = Vec::with_capacity(n);
    for _ in 0..n {
        seen.push(next_report(reports).await);
    }
    seen
}

#[test]
fn browser_event_source_receives_events_and_replays_after_a_reconnect() {
    with_chromium(browser_test);
}

#[test]
fn browser_last_event_id_follows_an_id_only_checkpoint() {
    with_chromium(checkpoint_test);
}

#[test]
fn browser_page_resumes_a_reply_after_a_reload() {
    with_chromium(reload_test);
}

#[test]
fn browser_dropped_before_any_event_resumes_from_the_opening_checkpoint() {
    with_chromium(position_test);
}

/// Runs `test` with the browser to use, on a runtime of its own; passes with a
/// notice when there is no Chromium (fails under CI).
fn with_chromium<F: std::future::Future<Output = ()>>(test: impl FnOnce(PathBuf) -> F) {
    let Some(binary) = Chromium::find() else {
        let message = "Chromium not found (/usr/bin/chromium, or set $CHROMIUM): install it with \
                       `apt-get install -y --no-install-recommends chromium`";
        assert!(std::env::var_os("CI").is_none(), "{message}");
        // Straight to stderr: the test harness would hide an `eprintln!` of a passing test.
        let _ = writeln!(
            std::io::stderr(),
            "\n!!!!!!!!\n!!!!!!!! SKIPPED the browser test: {message}\n!!!!!!!!\n"
        );
        return;
    };
    run(test(binary));
}

/// A per-request stream (`GET /generate?words=3`) ends with an id-only frame (a
/// checkpoint, `id: 3`, no data): the browser's `lastEventId` moves to it without
/// an event, and when it reconnects (the reply ended) it sends it back as
/// `Last-Event-ID`, which the demo answers with `resumed`.
async fn checkpoint_test(binary: PathBuf) {
    let server = AXUM.start_issuing_ids(&[]);
    let mut reports_client = Connect::new().topic(REPORT).open(&server).await;
    let url = server.url(&format!("/?client=reader&generate=3&report={REPORT}"));
    let _browser = Chromium::open(&binary, &url);
    let mut seen = Vec::new();
    for _ in 0..5 {
        seen.push(next_report(&mut reports_client).await);
    }
    let done = json!({"words": 3, "prompt_words": 0}).to_string();
    assert_eq!(
        seen,
        [
            Seen::new("message", sse_demo::word(0), ""),
            Seen::new("message", sse_demo::word(1), ""),
            Seen::new("message", sse_demo::word(2), ""),
            Seen::new("done", &done, "3"),
            Seen::new("resumed", "3", "3"),
        ]
    );
}

/// The page streams a resumable reply (`reply=600`, 300 words a second) and reloads
/// itself once after 100 of its words (`reload_after=100`); the reloaded page finds
/// the reply in `localStorage` and resumes it with `Last-Event-ID`. It shows the
/// complete reply exactly once, and the reply was generated once.
async fn reload_test(binary: PathBuf) {
    let server = AXUM.start_issuing_ids(&[]);
    let mut reports_client = Connect::new().topic(REPORT).open(&server).await;
    let page = format!("/?reply=600&reply_rate=300&reload_after=100&report={REPORT}");
    let _browser = Chromium::open(&binary, &server.url(&page));
    let seen = next_report(&mut reports_client).await;
    assert_eq!(seen.kind, "reply", "{seen:?}");
    let reply: Value = serde_json::from_str(&seen.data).expect("JSON");
    let expected: String = (0..600).map(sse_demo::word).collect();
    assert_eq!(reply["reason"], "done", "{reply}");
    assert!(
        reply["text"] == expected.as_str(),
        "the text differs: {reply}"
    );
    let stats = server.stats().await;
    assert_eq!(stats["generate"]["started"], 1, "generated once: {stats}");
    // At least once: the page being unloaded may resume too, before it goes.
    let resumed = stats["replies"]["resumed"].as_u64();
    assert!(resumed >= Some(1), "resumed after the reload: {stats}");
    // Shown once: the next report is a marker published now, not the reply again.
    let marker = server.broadcast("the marker").await;
    assert_eq!(
        next_report(&mut reports_client).await,
        Seen::new("message", "the marker", &marker)
    );
}

/// Every hub stream opens with an id-only checkpoint of where the client stands:
/// a browser whose stream ends before its first event (on a quiet stream, the
/// usual case) reconnects by itself with it as `Last-Event-ID`, and gets what was
/// published meanwhile, once.
async fn position_test(binary: PathBuf) {
    let server = AXUM.start(&["--retry", "500"]);
    let mut reports_client = Connect::new().topic(REPORT).open(&server).await;
    let url = server.url(&format!("/?client=quiet&events=client-id&report={REPORT}"));
    let _browser = Chromium::open(&binary, &url);
    // The browser has read its opening frames (the client-id event, then the
    // checkpoint) once it reports the first.
    let opened = tokio::time::timeout(BROWSER_START, next_report(&mut reports_client))
        .await
        .expect("the browser connects");
    assert_eq!(opened, Seen::new("client-id", "quiet", ""));

    let reply = server.disconnect("quiet").await;
    assert_eq!(reply.status, 200, "POST /disconnect: {reply:?}");
    let missed = server.broadcast("published while it was away").await;
    let back = next_report(&mut reports_client).await;
    assert_eq!((&*back.kind, &*back.data), ("client-id", "quiet"));
    let position: u64 = back
        .last_event_id
        .parse()
        .expect("a position from the checkpoint");
    assert!(position < missed.parse().expect("a sequence"), "{back:?}");
    assert_eq!(
        next_report(&mut reports_client).await,
        Seen::new("message", "published while it was away", &missed)
    );
    let stats = server.stats().await;
    assert_eq!(stats["replays"], 1, "{stats}");
    assert_eq!(stats["replay_misses"], 0, "{stats}");
    // Nothing twice: the next report is the next event.
    let marker = server.broadcast("the marker").await;
    assert_eq!(
        next_report(&mut reports_client).await,
        Seen::new("message", "the marker", &marker)
    );
}

async fn browser_test(binary: PathBuf) {
    let server = AXUM.start(&["--retry", "500"]);
    let mut reports_client = Connect::new().topic(REPORT).open(&server).await;
    let url = server.url(&format!("/?client=browser&events=chat&report={REPORT}"));
    let _browser = Chromium::open(&binary, &url);
    server
        .wait_for_client_within(BROWSER_START, "browser")
        .await;

    // Three kinds of event, published back to back.
    let plain = server.broadcast("a plain event").await;
    let multi_line = server.broadcast("line 1\nline 2").await;
    let chat = server
        .publish(&json!({ "data": "a chat message", "event": "chat" }))
        .await;
    assert_eq!(
        reports(&mut reports_client, 3).await,
        [
            Seen::new("message", "a plain event", &plain),
            Seen::new("message", "line 1\nline 2", &multi_line),
            Seen::new("chat", "a chat message", &chat),
        ]
    );
    let stats = server.stats().await;
    assert_eq!(
        stats["connects"], 2,
        "the reporter and the browser: {stats}"
    );

    // End the browser's stream; what is published now, it can only get from replay.
    let reply = server.disconnect("browser").await;
    assert_eq!(reply.status, 200, "POST /disconnect: {reply:?}");
    let missed_1 = server.broadcast("missed 1").await;
    let missed_2 = server
        .publish(&json!({ "data": "missed 2", "event": "chat" }))
        .await;
    assert_eq!(
        reports(&mut reports_client, 2).await,
        [
            Seen::new("message", "missed 1", &missed_1),
            Seen::new("chat", "missed 2", &missed_2),
        ]
    );
    let stats = server.stats().await;
    assert!(stats["replays"].as_u64() >= Some(1), "{stats}");
    assert_eq!(stats["replay_misses"], 0, "{stats}");
    assert_eq!(
        stats["connects"], 3,
        "the browser reconnected once: {stats}"
    );

    // Nothing twice: the next report is the next event.
    let last = server.broadcast("after the reconnect").await;
    assert_eq!(
        next_report(&mut reports_client).await,
        Seen::new("message", "after the reconnect", &last)
    );
    // And nothing else since: the report after that one is the next event's.
    let marker = server.broadcast("the marker").await;
    assert_eq!(
        next_report(&mut reports_client).await,
        Seen::new("message", "the marker", &marker)
    );
}
