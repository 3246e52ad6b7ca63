//! Why starting, attaching or sending failed.

use std::fmt;

use http::StatusCode;
use sse_core::EndReason;
use sse_core::{EncodedEventError, Message};

use crate::observe::Error;

/// Why [`RedisResumable::start`](crate::RedisResumable::start) did not start a
/// stream.
#[derive(Debug)]
#[non_exhaustive]
pub enum StartError {
    /// The key is not one [`sse_core::is_valid_key`] accepts.
    InvalidKey,
    /// A stream with this key exists (live, or lingering after its end).
    Exists,
    /// This process has as many live producers as
    /// [`ResumeOptions::max_streams`](crate::ResumeOptions#structfield.max_streams).
    AtCapacity,
    /// Redis could not be reached, or refused the command.
    Unavailable(Error),
}

impl StartError {
    /// The HTTP status to answer with: 400, 409, 503, 503.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            StartError::InvalidKey => StatusCode::BAD_REQUEST,
            StartError::Exists => StatusCode::CONFLICT,
            StartError::AtCapacity | StartError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::InvalidKey => f.write_str("invalid stream key"),
            StartError::Exists => f.write_str("a stream with this key exists"),
            StartError::AtCapacity => f.write_str("too many live streams on this process"),
            StartError::Unavailable(error) => write!(f, "redis is unavailable: {error}"),
        }
    }
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StartError::Unavailable(error) => Some(error),
            _ => None,
        }
    }
}

/// Why [`RedisResumable::attach`](crate::RedisResumable::attach) could not tell
/// whether there is a stream to attach to.
#[derive(Debug)]
#[non_exhaustive]
pub enum AttachError {
    /// This process has as many viewers as
    /// [`ResumeOptions::max_viewers`](crate::ResumeOptions#structfield.max_viewers).
    AtCapacity,
    /// Redis could not be reached, or refused the command.
    Unavailable(Error),
}

impl AttachError {
    /// The HTTP status to answer with: 503 (with `Retry-After`: the viewer comes
    /// back with its `Last-Event-ID`).
    #[must_use]
    pub fn status(&self) -> StatusCode {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

impl fmt::Display for AttachError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttachError::AtCapacity => f.write_str("too many viewers on this process"),
            AttachError::Unavailable(error) => write!(f, "redis is unavailable: {error}"),
        }
    }
}

impl std::error::Error for AttachError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AttachError::Unavailable(error) => Some(error),
            AttachError::AtCapacity => None,
        }
    }
}

/// Why a message cannot be an entry of a resumable stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidMessage {
    /// Its fields cannot be stored as one event (a frame whose bytes the encoder
    /// would not write).
    Encoding(EncodedEventError),
    /// It is larger than the stream's
    /// [`max_bytes`](crate::ResumeOptions#structfield.max_bytes).
    TooLarge,
}

impl fmt::Display for InvalidMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvalidMessage::Encoding(error) => write!(f, "not one event without an id: {error}"),
            InvalidMessage::TooLarge => f.write_str("larger than the stream's byte bound"),
        }
    }
}

/// Why a [`RedisProducer`](crate::RedisProducer)'s send or flush failed. The
/// message, when it was not taken, is handed back.
#[derive(Debug)]
#[non_exhaustive]
pub enum SendError {
    /// The stream is over (cancelled on any process, abandoned, or finished):
    /// stop producing. Messages still waiting in the producer are dropped.
    Ended(EndReason, Option<Message>),
    /// Redis no longer holds the stream (it restarted empty, or the key was
    /// deleted or expired): no viewer can be served it; stop producing.
    Lost(Option<Message>),
    /// Redis could not be reached, or refused the command. The message waits in
    /// the producer (`None`) and is written before anything sent later, exactly
    /// once, by the next send, [`flush`](crate::RedisProducer::flush) or
    /// [`finish`](crate::RedisProducer::finish); or, when
    /// [`max_pending`](crate::ResumeOptions#structfield.max_pending) messages
    /// already wait, it is handed back (`Some`). Nothing was reported written that
    /// was not.
    Unavailable(Error, Option<Message>),
    /// The message cannot be an entry; nothing was sent.
    Invalid(InvalidMessage, Message),
}

impl SendError {
    /// The message, when it was handed back.
    #[must_use]
    pub fn into_message(self) -> Option<Message> {
        match self {
            SendError::Ended(_, message)
            | SendError::Lost(message)
            | SendError::Unavailable(_, message) => message,
            SendError::Invalid(_, message) => Some(message),
        }
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Ended(reason, _) => write!(f, "the stream ended ({reason})"),
            SendError::Lost(_) => f.write_str("redis no longer holds the stream"),
            SendError::Unavailable(error, None) => {
                write!(f, "redis is unavailable, the message waits: {error}")
            }
            SendError::Unavailable(error, Some(_)) => {
                write!(f, "redis is unavailable and the producer is full: {error}")
            }
            SendError::Invalid(invalid, _) => write!(f, "invalid message: {invalid}"),
        }
    }
}

impl std::error::Error for SendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SendError::Unavailable(error, _) => Some(error),
            _ => None,
        }
    }
}

/// Why [`RedisProducer::try_send`](crate::RedisProducer::try_send) did not queue
/// a message, handed back.
#[derive(Debug)]
#[non_exhaustive]
pub enum TrySendError {
    /// [`max_pending`](crate::ResumeOptions#structfield.max_pending) messages wait
    /// already: [`flush`](crate::RedisProducer::flush) first.
    Full(Message),
    /// The stream is over.
    Ended(EndReason, Message),
    /// Redis no longer holds the stream.
    Lost(Message),
    /// The message cannot be an entry.
    Invalid(InvalidMessage, Message),
}

impl TrySendError {
    /// The message that was not queued.
    #[must_use]
    pub fn into_inner(self) -> Message {
        match self {
            TrySendError::Full(message)
            | TrySendError::Ended(_, message)
            | TrySendError::Lost(message)
            | TrySendError::Invalid(_, message) => message,
        }
    }
}

impl fmt::Display for TrySendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("the producer's queue is full"),
            TrySendError::Ended(reason, _) => write!(f, "the stream ended ({reason})"),
            TrySendError::Lost(_) => f.write_str("redis no longer holds the stream"),
            TrySendError::Invalid(invalid, _) => write!(f, "invalid message: {invalid}"),
        }
    }
}

impl std::error::Error for TrySendError {}
