//! [`EventSource::next`]: the stream's next item without a `StreamExt` trait.

use std::future::poll_fn;
use std::pin::Pin;

use futures_core::Stream;

use crate::error::Error;
use crate::source::{Event, EventSource};

impl EventSource {
    /// The next item: an event, a change of the connection, or the error that ends
    /// the stream; `None` once it has ended. The same as `StreamExt::next`, without
    /// another crate.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), sse_client::Error> {
    /// let mut source = sse_client::EventSource::new("http://127.0.0.1:8080/events")?;
    /// while let Some(item) = source.next().await {
    ///     if let sse_client::Event::Message(event) = item? {
    ///         println!("{}", event.data);
    ///     }
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn next(&mut self) -> Option<Result<Event, Error>> {
        poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }
}
