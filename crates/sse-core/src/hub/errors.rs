//! Why the hub refuses a call: [`ConnectError`] (a connection, with the HTTP status
//! it maps to) and [`SendError`] (a frame to one client).
//!
//! Layer 0 of the hub: words.

use std::fmt;

use http::StatusCode;

use crate::request::Rejection;

/// Why a client could not connect.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectError {
    /// The hub is shutting down.
    ShuttingDown,
    /// [`HubConfig::max_clients`](super::HubConfig::max_clients) are connected.
    AtCapacity,
    /// The id is connected and
    /// [`DuplicateIdPolicy::RefuseNew`](super::DuplicateIdPolicy::RefuseNew) is set.
    DuplicateId,
    /// The admission hook refused.
    Refused(Rejection),
    /// The connection asks for more distinct topics than
    /// [`HubConfig::max_topics_per_client`](super::HubConfig::max_topics_per_client).
    TooManyTopics,
    /// Its topics would need more topic logs than
    /// [`HubConfig::max_topics`](super::HubConfig::max_topics), even after freeing idle
    /// ones.
    TopicsFull,
}

impl ConnectError {
    /// The HTTP status this maps to: 503 (shutting down, at capacity, no room for
    /// its topics), 409 (duplicate id), 400 (too many topics), or the refusal's
    /// own.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            ConnectError::ShuttingDown | ConnectError::AtCapacity | ConnectError::TopicsFull => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ConnectError::TooManyTopics => StatusCode::BAD_REQUEST,
            ConnectError::DuplicateId => StatusCode::CONFLICT,
            ConnectError::Refused(refusal) => refusal.status(),
        }
    }
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::ShuttingDown => f.write_str("the server is shutting down"),
            ConnectError::AtCapacity => f.write_str("too many clients are connected"),
            ConnectError::DuplicateId => f.write_str("a client with this id is connected"),
            ConnectError::Refused(refusal) => f.write_str(refusal.message()),
            ConnectError::TooManyTopics => f.write_str("too many topics for one connection"),
            ConnectError::TopicsFull => f.write_str("too many topics are held"),
        }
    }
}

impl std::error::Error for ConnectError {}

/// Why [`Hub::send_to`](super::Hub::send_to) did not queue a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SendError {
    /// No client with this id is connected.
    UnknownClient,
    /// The client's queue was full; under
    /// [`LagPolicy::Disconnect`](super::LagPolicy::Disconnect) it was disconnected.
    QueueFull,
    /// The hub is shutting down.
    ShuttingDown,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SendError::UnknownClient => "no client with this id is connected",
            SendError::QueueFull => "the client's queue is full",
            SendError::ShuttingDown => "the server is shutting down",
        })
    }
}

impl std::error::Error for SendError {}
