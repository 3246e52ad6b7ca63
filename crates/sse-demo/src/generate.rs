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
use sse_core::{Closed, Comment, Event, Message, Producer, ResponseStream, Sender, channel};

use crate::Refusal;
use crate::replies::{Answer, Replies, location, refused, resume_headers};

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
    /// Whether the reply outlives its connection (`POST` only; default `true`): a
    /// resumable stream, or a plain per-request one, stopped when its client goes.
    resumable: Option<bool>,
}

impl Generate {
    /// Reads a `POST` body.
    pub(crate) fn from_json(body: &[u8]) -> Result<Self, Refusal> {
        serde_json::from_slice(body).map_err(|e| Refusal::bad_request(format!("invalid JSON: {e}")))
    }

    /// Reads a `GET` query: `words=` and `rate=`. Its reply is not resumable: an
    /// `EventSource` that reconnects asks for it again, with its `Last-Event-ID`.
    pub(crate) fn from_query(query: &str) -> Result<Self, Refusal> {
        let mut request = Generate {
            resumable: Some(false),
            ..Generate::default()
        };
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

    /// Whether it asks for a resumable reply: from `POST`, unless it says
    /// `"resumable": false` or asks for a failing one.
    pub(crate) fn is_resumable(&self) -> bool {
        self.resumable != Some(false) && self.fail_after.is_none()
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
    fn finished(&self, produced: Result<(), Gone>) {
        let counter = match produced {
            Ok(()) => &self.completed,
            Err(Gone) => &self.cancelled,
        };
        counter.fetch_add(1, Relaxed);
    }

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
    let opening = resumed.map(|id| named("resumed", id));
    spawn(Box::pin(async move {
        let produced = produce(&sender, opening, prompt_words, from..words, pause, sleep).await;
        generations.finished(produced);
    }));
    Ok(ResponseStream::from(receiver)
        .retry(Duration::from_secs(1))
        .open(Comment::new("generating")))
}

/// `POST /generate` made resumable: starts the reply under a fresh key in
/// `replies`, its producer detached from this connection, and answers with the
/// first viewer's stream, its head naming where to resume.
pub(crate) fn start_resumable<F>(
    request: &Generate,
    replies: &Replies,
    generations: &Arc<Generations>,
    spawn: impl FnOnce(Task),
    sleep: impl Fn(Duration) -> F + Send + 'static,
) -> Result<Answer, Refusal>
where
    F: Future + Send,
{
    let (words, pause) = request.checked()?;
    let key = replies.new_key();
    let producer = replies.streams.start(&key).map_err(|e| refused(&e))?;
    let stream = replies
        .streams
        .attach(&key, None)
        .expect("a stream just started is live");
    let generations = generations.clone();
    generations.started.fetch_add(1, Relaxed);
    let prompt_words = request.prompt.split_whitespace().count();
    let named_stream = json!({ "key": key, "resume": location(&key) });
    let opening = Some(named("stream", named_stream.to_string()));
    spawn(Box::pin(async move {
        let produced = produce(&producer, opening, prompt_words, 0..words, pause, sleep).await;
        generations.finished(produced);
    }));
    let stream = stream
        .retry(Duration::from_secs(1))
        .open(Comment::new("generating"));
    Ok(Answer::Stream(stream, resume_headers(&key)))
}

/// A fallible reply: `words` words, then an error, which ends the response with an
/// `error` event.
fn failing(words: u64) -> ResponseStream {
    let words = stream::iter(0..words).map(|n| Ok(Message::from(word(n))));
    let failure = stream::once(Err("the generator failed"));
    ResponseStream::try_new(words.chain(failure))
        .on_error(|error| Some(named("error", error.to_string())))
}

/// Where a reply's words go: a response's channel, or a resumable stream.
trait Sink {
    /// Sends one message; fails when no one will ever read it.
    fn send(&self, message: Message) -> impl Future<Output = Result<(), Closed>> + Send;

    /// Whether its ids are its own (a resumable stream numbers every message),
    /// so the reply sends no checkpoints.
    fn numbers_messages(&self) -> bool;
}

impl Sink for Sender {
    fn send(&self, message: Message) -> impl Future<Output = Result<(), Closed>> + Send {
        Sender::send(self, message)
    }

    fn numbers_messages(&self) -> bool {
        false
    }
}

impl Sink for Producer {
    fn send(&self, message: Message) -> impl Future<Output = Result<(), Closed>> + Send {
        Producer::send(self, message)
    }

    fn numbers_messages(&self) -> bool {
        true
    }
}

/// The client went away, or the reply was cancelled.
struct Gone;

/// Sends the reply: `opening` first (when resuming, or naming the stream), the
/// words (with a checkpoint every [`CHECKPOINT_EVERY`] where the sink does not
/// number its messages itself), then `done`.
async fn produce<F: Future>(
    sink: &impl Sink,
    opening: Option<Message>,
    prompt_words: usize,
    words: std::ops::Range<u64>,
    pause: Option<Duration>,
    sleep: impl Fn(Duration) -> F,
) -> Result<(), Gone> {
    let send = |message: Message| async move { sink.send(message).await.map_err(|_| Gone) };
    if let Some(opening) = opening {
        send(opening).await?;
    }
    let checkpoints = !sink.numbers_messages();
    let total = words.end;
    for n in words {
        if let Some(pause) = pause {
            sleep(pause).await;
        }
        send(word(n).into()).await?;
        let sent = n + 1;
        if checkpoints && (sent % CHECKPOINT_EVERY == 0 || sent == total) {
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
