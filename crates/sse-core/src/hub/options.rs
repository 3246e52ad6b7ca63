//! What a client asks for when it connects: [`ConnectOptions`], and the rule its
//! topics meet ([`distinct_topics`]), which both the hub's early check and its
//! state apply.
//!
//! Layer 0 of the hub: words.

use super::errors::ConnectError;

/// What a client asks for when it connects.
///
/// ```
/// # use sse_core::ConnectOptions;
/// let options = ConnectOptions::new()
///     .client_id("tab-7")
///     .topic("prices")
///     .topic("news")
///     .last_event_id("1041");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectOptions {
    /// The id to register under; `None` or empty lets the hub generate one.
    pub client_id: Option<String>,
    /// The topics to subscribe to (besides broadcasts, which every client gets).
    pub topics: Vec<String>,
    /// Resume after this event id (the `Last-Event-ID` header).
    pub last_event_id: Option<String>,
}

impl ConnectOptions {
    /// No id, no topics, no replay.
    #[must_use]
    pub fn new() -> Self {
        ConnectOptions::default()
    }

    /// Sets the client id.
    #[must_use]
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.client_id = Some(id.into());
        self
    }

    /// Adds a topic.
    #[must_use]
    pub fn topic(mut self, topic: impl Into<String>) -> Self {
        self.topics.push(topic.into());
        self
    }

    /// Sets the `Last-Event-ID` to resume after.
    #[must_use]
    pub fn last_event_id(mut self, id: impl Into<String>) -> Self {
        self.last_event_id = Some(id.into());
        self
    }
}

/// `topics` without repeats, in their order; [`ConnectError::TooManyTopics`] when
/// there are more than `limit`. O(`topics` × `limit`): it stops at the first topic
/// past the limit.
pub(crate) fn distinct_topics(topics: &[String], limit: usize) -> Result<Vec<&str>, ConnectError> {
    let mut distinct: Vec<&str> = Vec::with_capacity(topics.len().min(limit));
    for topic in topics {
        if distinct.contains(&topic.as_str()) {
            continue;
        }
        if distinct.len() == limit {
            return Err(ConnectError::TooManyTopics);
        }
        distinct.push(topic);
    }
    Ok(distinct)
}
