//! `/generate`: a per-request stream, as an LLM answers a prompt: a generated reply,
//! word by word at a given rate, through a channel from a producer task.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use futures_lite::{StreamExt, stream};
use serde::Deserialize;
use serde_json::json;
use sse_core::{Comment, Event, Message, ResponseStream, Sender, channel};

use crate::Refusal;

/// The most words one reply may have.
pub const MAX_WORDS: u64 = 1_000_000;

/// The fastest pace, in words per second (0 means as fast as they are read).
pub const MAX_RATE: f64 = 100_000.0;

/// A checkpoint (an id-only frame) is sent after every this many words, and after
/// the last: its id is the number of words sent, where a reconnecting client
/// resumes.
pub const CHECKPOINT_EVERY: u64 = 100;

/// How a reply's words are spaced.
const DEFAULT_RATE: f64 = 20.0;
const DEFAULT_WORDS: u64 = 40;

/// The words replies are made of, in turn.
const VOCABULARY: [&str; 16] = [
    "Server", "-Sent", " Events", " stream", " each", " token", " as", " soon", " as", " it",
    " is", " ready,", " in", " order,", " without", " loss.",
];

/// Word `n` of every reply (each reply is the same text, repeated as needed).
#[must_use]
pub fn word(n: u64) -> &'static str {
    VOCABULARY[(n % VOCABULARY.len() as u64) as usize]
}

/// A generate request: `POST /generate` with JSON `{"prompt"?, "words"?, "rate"?,
/// "fail_after"?}`, or `GET /generate?words=N&rate=R` (for an `EventSource`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Generate {
    #[serde(default)]
    prompt: String,
    words: Option<u64>,
    /// Words per second; 0 for as fast as the client reads.
    rate: Option<f64>,
    /// Fail after this many words (a fallible stream that errs): the response ends
    /// with an `error` event after them.
    fail_after: Option<u64>,
}

impl Generate {
    /// Reads a `POST` body.
    pub(crate) fn from_json(body: &[u8]) -> Result<Self, Refusal> {
        serde_json::from_slice(body).map_err(|e| Refusal::bad_request(format!("invalid JSON: {e}")))
    }

    /// Reads a `GET` query: `words=` and `rate=`.
    pub(crate) fn from_query(query: &str) -> Result<Self, Refusal> {
        let mut request = Generate::default();
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let invalid = || Refusal::bad_request(format!("invalid {name}: {value:?}"));
            match name {
                "words" => request.words = Some(value.parse().map_err(|_| invalid())?),
                "rate" => request.rate = Some(value.parse().map_err(|_| invalid())?),
                _ => {}
            }
        }
        Ok(request)
    }

    /// The number of words and the pause between two, or the 400 to answer.
    fn checked(&self) -> Result<(u64, Option<Duration>), Refusal> {
        let words = self.words.unwrap_or(DEFAULT_WORDS);
        if words > MAX_WORDS {
            return Err(Refusal::bad_request(format!("words: at most {MAX_WORDS}")));
        }
        let rate = self.rate.unwrap_or(DEFAULT_RATE);
        if !(0.0..=MAX_RATE).contains(&rate) {
            return Err(Refusal::bad_request(format!(
                "rate: from 0 to {MAX_RATE} words per second"
            )));
        }
        let pause = (rate > 0.0).then(|| Duration::from_secs_f64(1.0 / rate));
        Ok((words, pause))
    }
}

/// What `/generate` has done, for `/stats`.
#[derive(Debug, Default)]
pub(crate) struct Generations {
    started: AtomicU64,
    completed: AtomicU64,
    /// Stopped early: the client went away, so sending failed.
    cancelled: AtomicU64,
}

impl Generations {
    pub(crate) fn json(&self) -> serde_json::Value {
        let started = self.started.load(Relaxed);
        let completed = self.completed.load(Relaxed);
        let cancelled = self.cancelled.load(Relaxed);
        json!({
            "started": started,
            "completed": completed,
            "cancelled": cancelled,
            "active": started - completed - cancelled,
        })
    }
}

/// A boxed future the demo hands to its runtime's `spawn`.
pub type Task = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Starts a reply's producer with `spawn` (pacing it with `sleep`), and returns the
/// response stream its words go to. `resume` is the request's `Last-Event-ID`: a
/// checkpoint this demo sent, after which the reply goes on.
pub(crate) fn start<F>(
    request: &Generate,
    resume: Option<&str>,
    generations: &Arc<Generations>,
    spawn: impl FnOnce(Task),
    sleep: impl Fn(Duration) -> F + Send + 'static,
) -> Result<ResponseStream, Refusal>
where
    F: Future + Send,
{
    let (words, pause) = request.checked()?;
    if let Some(fail_after) = request.fail_after {
        return Ok(failing(fail_after.min(words)));
    }
    let from = resume
        .and_then(|id| id.parse::<u64>().ok())
        .unwrap_or(0)
        .min(words);
    let (sender, receiver) = channel(64);
    let generations = generations.clone();
    generations.started.fetch_add(1, Relaxed);
    let resumed = resume.map(str::to_owned);
    let prompt_words = request.prompt.split_whitespace().count();
    spawn(Box::pin(async move {
        let produced = produce(&sender, resumed, prompt_words, from..words, pause, sleep).await;
        let counter = match produced {
            Ok(()) => &generations.completed,
            Err(Gone) => &generations.cancelled,
        };
        counter.fetch_add(1, Relaxed);
    }));
    Ok(ResponseStream::from(receiver)
        .retry(Duration::from_secs(1))
        .open(Comment::new("generating")))
}

/// A fallible reply: `words` words, then an error, which ends the response with an
/// `error` event.
fn failing(words: u64) -> ResponseStream {
    let words = stream::iter(0..words).map(|n| Ok(Message::from(word(n))));
    let failure = stream::once(Err("the generator failed"));
    ResponseStream::try_new(words.chain(failure))
        .on_error(|error| Some(named("error", error.to_string())))
}

/// The client went away.
struct Gone;

/// Sends the reply: `resumed` (when resuming), the words with a checkpoint every
/// [`CHECKPOINT_EVERY`], then `done`.
async fn produce<F: Future>(
    sender: &Sender,
    resumed: Option<String>,
    prompt_words: usize,
    words: std::ops::Range<u64>,
    pause: Option<Duration>,
    sleep: impl Fn(Duration) -> F,
) -> Result<(), Gone> {
    let send = |message: Message| async move { sender.send(message).await.map_err(|_| Gone) };
    if let Some(id) = resumed {
        send(named("resumed", id)).await?;
    }
    let total = words.end;
    for n in words {
        if let Some(pause) = pause {
            sleep(pause).await;
        }
        // An owned `String` per word, as a model's detokenizer hands tokens out: what
        // a real producer costs (the load tool's baselines send the same).
        send(word(n).to_owned().into()).await?;
        let sent = n + 1;
        if sent % CHECKPOINT_EVERY == 0 || sent == total {
            send(checkpoint(sent)).await?;
        }
    }
    let done = json!({ "words": total, "prompt_words": prompt_words });
    send(named("done", done.to_string())).await
}

fn named(kind: &'static str, data: String) -> Message {
    Event::new(data)
        .with_event(kind)
        .expect("a valid event type")
        .into()
}

fn checkpoint(sent: u64) -> Message {
    Message::checkpoint(sent.to_string()).expect("digits are a valid id")
}
