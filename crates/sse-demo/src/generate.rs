//! `/generate`: a per-request stream, as an LLM answers a prompt: a generated reply,
//! word by word at a given rate, through a channel from a producer task.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use futures_lite::{StreamExt, future, stream};
use serde::Deserialize;
use serde_json::json;
use sse_core::{Comment, Event, Message, ResponseStream, Sender, channel};
use sse_redis::SendError;

use crate::Refusal;
use crate::replies::{Answer, Replies, ReplyProducer, location, resume_headers};

/// The most words one reply may have.
pub const MAX_WORDS: u64 = 1_000_000;

/// The fastest pace, in words per second (0 means as fast as they are read).
pub const MAX_RATE: f64 = 100_000.0;

/// The slowest pace, in words per second: a word every 1 000 s. A positive rate
/// below it is refused (400), as are rates that are not a number.
pub const MIN_RATE: f64 = 0.001;

/// How many replies may be generated at once by default (`--max-generations`):
/// more are refused with 503 and `Retry-After`.
pub const MAX_GENERATIONS: usize = 1_000;

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
        let refused = || {
            Refusal::bad_request(format!(
                "rate: 0 (as fast as read), or from {MIN_RATE} to {MAX_RATE} words per second"
            ))
        };
        if rate == 0.0 {
            return Ok((words, None));
        }
        if !(MIN_RATE..=MAX_RATE).contains(&rate) {
            return Err(refused());
        }
        // Within those bounds the pause is at most 1 000 s: never out of range.
        let pause = Duration::try_from_secs_f64(1.0 / rate).map_err(|_| refused())?;
        Ok((words, Some(pause)))
    }
}

/// What `/generate` has done, for `/stats`, and how many producers may run.
#[derive(Debug)]
pub(crate) struct Generations {
    /// The most producers running at once.
    limit: usize,
    /// Producers running now (each holds a [`Slot`]).
    active: AtomicUsize,
    started: AtomicU64,
    completed: AtomicU64,
    /// Stopped early: the client went away.
    cancelled: AtomicU64,
    /// Refused with 503: `limit` were running.
    refused: AtomicU64,
}

impl Generations {
    /// At most `limit` producers at once.
    pub(crate) fn new(limit: usize) -> Self {
        Generations {
            limit,
            active: AtomicUsize::new(0),
            started: AtomicU64::new(0),
            completed: AtomicU64::new(0),
            cancelled: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        json!({
            "started": self.started.load(Relaxed),
            "completed": self.completed.load(Relaxed),
            "cancelled": self.cancelled.load(Relaxed),
            "refused": self.refused.load(Relaxed),
            "active": self.active.load(Relaxed),
            "limit": self.limit,
        })
    }

    /// A slot for one more producer, or the 503 to answer when `limit` run.
    fn slot(self: &Arc<Self>, retry_after: Duration) -> Result<Slot, Refusal> {
        let taken = self
            .active
            .fetch_update(Relaxed, Relaxed, |active| {
                (active < self.limit).then_some(active + 1)
            })
            .is_ok();
        if !taken {
            self.refused.fetch_add(1, Relaxed);
            return Err(Refusal::unavailable(
                format!(
                    "{} replies are being generated: try again later",
                    self.limit
                ),
                retry_after,
            ));
        }
        self.started.fetch_add(1, Relaxed);
        Ok(Slot(self.clone()))
    }
}

/// One running producer's place among [`Generations::limit`]: given back when the
/// producer ends, or when its task is dropped unfinished.
struct Slot(Arc<Generations>);

impl Slot {
    /// Counts how the producer ended, and gives the slot back.
    fn finished(self, produced: Result<(), Gone>) {
        let counter = match produced {
            Ok(()) => &self.0.completed,
            Err(Gone) => &self.0.cancelled,
        };
        counter.fetch_add(1, Relaxed);
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Relaxed);
    }
}

/// A boxed future the demo hands to its runtime's `spawn`.
pub type Task = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Starts a reply's producer with `spawn` (pacing it with `sleep`), and returns the
/// response stream its words go to. `resume` is the request's `Last-Event-ID`: a
/// checkpoint this demo sent, after which the reply goes on. At the limit of
/// producers, the refusal says to retry after `retry_after`.
pub(crate) fn start<F>(
    request: &Generate,
    resume: Option<&str>,
    generations: &Arc<Generations>,
    retry_after: Duration,
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
    let slot = generations.slot(retry_after)?;
    let (sender, receiver) = channel(64);
    let resumed = resume.map(str::to_owned);
    let prompt_words = request.prompt.split_whitespace().count();
    let opening = resumed.map(|id| named("resumed", id));
    spawn(Box::pin(async move {
        let produced = produce(&sender, opening, prompt_words, from..words, pause, sleep).await;
        slot.finished(produced);
    }));
    Ok(ResponseStream::from(receiver)
        .retry(Duration::from_secs(1))
        .open(Comment::new("generating")))
}

/// `POST /generate` made resumable: starts the reply under a fresh key in
/// `replies`, its producer detached from this connection, and answers with the
/// first viewer's stream, its head naming where to resume. Its producer counts
/// toward the limit as a plain one does.
pub(crate) async fn start_resumable<F>(
    request: &Generate,
    replies: &Replies,
    generations: &Arc<Generations>,
    retry_after: Duration,
    spawn: impl FnOnce(Task),
    sleep: impl Fn(Duration) -> F + Send + 'static,
) -> Result<Answer, Refusal>
where
    F: Future + Send,
{
    let (words, pause) = request.checked()?;
    let slot = generations.slot(retry_after)?;
    let key = replies.new_key();
    let producer = replies.start(&key, retry_after).await?;
    let stream = replies.first_viewer(&key, retry_after).await?;
    let prompt_words = request.prompt.split_whitespace().count();
    let named_stream = json!({ "key": key, "resume": location(&key) });
    let opening = Some(named("stream", named_stream.to_string()));
    spawn(Box::pin(async move {
        let produced = produce(&producer, opening, prompt_words, 0..words, pause, sleep).await;
        slot.finished(produced);
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
    fn send(&self, message: Message) -> impl Future<Output = Result<(), Gone>> + Send;

    /// Completes when no one will ever read what it is sent: the client went
    /// away (a channel), or the reply was cancelled (a resumable stream).
    fn closed(&self) -> impl Future<Output = ()> + Send + 'static;

    /// Whether its ids are its own (a resumable stream numbers every message),
    /// so the reply sends no checkpoints.
    fn numbers_messages(&self) -> bool;
}

impl Sink for Sender {
    async fn send(&self, message: Message) -> Result<(), Gone> {
        Sender::send(self, message).await.map_err(|_| Gone)
    }

    fn closed(&self) -> impl Future<Output = ()> + Send + 'static {
        Sender::closed(self)
    }

    fn numbers_messages(&self) -> bool {
        false
    }
}

impl Sink for ReplyProducer {
    async fn send(&self, message: Message) -> Result<(), Gone> {
        match self {
            ReplyProducer::Local(producer) => producer.send(message).await.map_err(|_| Gone),
            ReplyProducer::Redis(producer) => match producer.send(message).await {
                // Redis is down: the message waits in the producer, written
                // before the next once it is back (until too many wait).
                Ok(()) | Err(SendError::Unavailable(_, None)) => Ok(()),
                Err(_) => Err(Gone),
            },
        }
    }

    fn closed(&self) -> impl Future<Output = ()> + Send + 'static {
        let closed: Pin<Box<dyn Future<Output = ()> + Send>> = match self {
            ReplyProducer::Local(producer) => Box::pin(producer.closed()),
            ReplyProducer::Redis(producer) => Box::pin(producer.closed()),
        };
        closed
    }

    fn numbers_messages(&self) -> bool {
        true
    }
}

/// The client went away, or the reply was cancelled.
struct Gone;

/// Sends the reply: `opening` first (when resuming, or naming the stream), the
/// words (with a checkpoint every [`CHECKPOINT_EVERY`] where the sink does not
/// number its messages itself), then `done`. Stops as soon as no one will read
/// it: a send fails then, and the pause between two words ends with
/// [`Sink::closed`].
async fn produce<F: Future>(
    sink: &impl Sink,
    opening: Option<Message>,
    prompt_words: usize,
    words: std::ops::Range<u64>,
    pause: Option<Duration>,
    sleep: impl Fn(Duration) -> F,
) -> Result<(), Gone> {
    let send = |message: Message| sink.send(message);
    if let Some(opening) = opening {
        send(opening).await?;
    }
    let checkpoints = !sink.numbers_messages();
    let total = words.end;
    let mut closed = std::pin::pin!(sink.closed());
    for n in words {
        if let Some(pause) = pause {
            let pausing = sleep(pause);
            let paused = async {
                pausing.await;
                Ok(())
            };
            let gone = async {
                closed.as_mut().await;
                Err(Gone)
            };
            future::or(paused, gone).await?;
        }
        // An owned `String` per word, as a model's detokenizer hands tokens out: what
        // a real producer costs (the load tool's baselines send the same).
        send(word(n).to_owned().into()).await?;
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
