//! A resumable stream's entries, read out of `XRANGE` and `XREAD` replies.

use redis::Value;
use sse_core::{EncodedEvent, EndReason, Message};

use super::scripts::{END_FIELD, SEQUENCE_FIELD, START_FIELD};
use super::stored::{PLAIN_FIELD, plain_message};
use crate::entry::{EVENT_FIELD, StreamId, entry_fields, read_streams, text};
use crate::observe::Error;

/// One entry of a resumable stream.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Item {
    pub(crate) id: StreamId,
    pub(crate) kind: Kind,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The first entry, written by `start`.
    Start,
    /// An event, and its sequence number (1, 2, …): sent with the entry's id.
    Data(u64, EncodedEvent),
    /// A comment or a retry hint, and its sequence number: sent as it is.
    Plain(u64, Message),
    /// The last entry: why the stream ended.
    End(EndReason),
    /// Not an entry this crate writes (skipped).
    Other,
}

/// The entries of an `XRANGE` reply.
pub(crate) fn parse_range(reply: Value) -> Result<Vec<Item>, Error> {
    let Value::Array(entries) = reply else {
        return Err(unexpected());
    };
    entries.into_iter().map(item).collect()
}

/// The entries of an `XREAD` reply for one stream: none on a timeout.
pub(crate) fn parse_read(reply: Value) -> Result<Vec<Item>, Error> {
    let mut streams = read_streams(reply).map_err(|_| unexpected())?;
    streams.pop().map_or(Ok(Vec::new()), parse_range)
}

fn unexpected() -> Error {
    Error::UnexpectedReply("a stream's entries")
}

fn item(entry: Value) -> Result<Item, Error> {
    let (id, fields) =
        entry_fields(entry).map_err(|unexpected| Error::UnexpectedReply(unexpected.0))?;
    let mut sequence = None;
    let mut event = None;
    let mut plain = None;
    let mut kind = Kind::Other;
    for (name, value) in fields {
        match text(&name) {
            Some(START_FIELD) => kind = Kind::Start,
            Some(END_FIELD) => {
                let reason = text(&value).and_then(|reason| reason.parse().ok());
                kind = Kind::End(reason.unwrap_or(EndReason::Done));
            }
            Some(SEQUENCE_FIELD) => sequence = text(&value).and_then(|n| n.parse().ok()),
            Some(EVENT_FIELD) => {
                if let Value::BulkString(bytes) = value {
                    event = EncodedEvent::from_bytes(bytes).ok();
                }
            }
            Some(PLAIN_FIELD) => {
                if let Value::BulkString(bytes) = value {
                    plain = plain_message(&bytes);
                }
            }
            _ => {}
        }
    }
    if let (Kind::Other, Some(sequence)) = (&kind, sequence) {
        if let Some(event) = event {
            kind = Kind::Data(sequence, event);
        } else if let Some(message) = plain {
            kind = Kind::Plain(sequence, message);
        }
    }
    Ok(Item { id, kind })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::replies::{bulk, entry};

    fn entries() -> Vec<Value> {
        vec![
            entry("1-0", &[("s", "tok")]),
            entry("1-1", &[("p", "tok"), ("n", "1"), ("e", "data: a\n")]),
            entry(
                "1-2",
                &[("p", "tok"), ("n", "2"), ("e", "data: a\n\ndata: forged\n")],
            ),
            entry("1-3", &[("x", "cancelled")]),
            entry("1-4", &[("y", "z")]),
            entry("1-5", &[("p", "tok"), ("n", "3"), ("c", ": hi\n\n")]),
        ]
    }

    #[test]
    fn ranges_and_reads_give_the_same_items() {
        let range = parse_range(Value::Array(entries())).unwrap();
        let read = parse_read(Value::Array(vec![Value::Array(vec![
            bulk("sse:resume:{k}"),
            Value::Array(entries()),
        ])]))
        .unwrap();
        assert_eq!(range, read);
        let kinds: Vec<&Kind> = range.iter().map(|item| &item.kind).collect();
        assert_eq!(kinds[0], &Kind::Start);
        assert!(matches!(kinds[1], Kind::Data(1, event) if event.as_bytes() == "data: a\n"));
        // An event that would forge a second one is not an event.
        assert_eq!(kinds[2], &Kind::Other);
        assert_eq!(kinds[3], &Kind::End(EndReason::Cancelled));
        assert_eq!(kinds[4], &Kind::Other);
        assert_eq!(
            kinds[5],
            &Kind::Plain(3, sse_core::Comment::new("hi").into())
        );
        assert_eq!(range[3].id.to_string(), "1-3");
    }

    #[test]
    fn a_timeout_is_nothing_and_a_strange_reply_an_error() {
        assert!(parse_read(Value::Nil).unwrap().is_empty());
        assert!(parse_range(Value::Array(Vec::new())).unwrap().is_empty());
        assert!(parse_read(Value::Int(1)).is_err());
        assert!(parse_range(Value::Nil).is_err());
        assert!(parse_range(Value::Array(vec![entry("nope", &[])])).is_err());
    }
}
