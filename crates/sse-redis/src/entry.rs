//! Stream entries: their ids, their fields, and reading them out of Redis replies.

use std::fmt;
use std::str::FromStr;

use redis::Value;
use sse_core::{EncodedEvent, EncodedEventError};

/// The field holding the encoded event.
pub(crate) const EVENT_FIELD: &str = "e";
/// The field holding the topic, absent for a broadcast.
pub(crate) const TOPIC_FIELD: &str = "t";

/// A Redis stream entry id, `<milliseconds>-<sequence>`: ordered, and the SSE id of
/// the event in that entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    /// The milliseconds part.
    pub millis: u64,
    /// The sequence within the millisecond.
    pub sequence: u64,
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.millis, self.sequence)
    }
}

/// Not a stream entry id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidStreamId;

impl fmt::Display for InvalidStreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a Redis stream id (<milliseconds>-<sequence>)")
    }
}

impl std::error::Error for InvalidStreamId {}

impl FromStr for StreamId {
    type Err = InvalidStreamId;

    fn from_str(id: &str) -> Result<Self, Self::Err> {
        let (millis, sequence) = id.split_once('-').ok_or(InvalidStreamId)?;
        let number = |digits: &str| {
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(InvalidStreamId);
            }
            digits.parse().map_err(|_| InvalidStreamId)
        };
        Ok(StreamId {
            millis: number(millis)?,
            sequence: number(sequence)?,
        })
    }
}

/// One entry read from the stream.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) id: StreamId,
    /// The event, or why the entry holds none (written by something else).
    pub(crate) event: Result<EncodedEvent, InvalidEntry>,
    pub(crate) topic: Option<String>,
}

/// Why an entry of the stream is not an event this crate wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidEntry {
    /// It has no `e` field.
    NoEvent,
    /// Its `e` field is not an encoded event.
    Event(EncodedEventError),
    /// Its topic is not UTF-8.
    Topic,
}

impl fmt::Display for InvalidEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvalidEntry::NoEvent => f.write_str("the entry has no event field"),
            InvalidEntry::Event(error) => write!(f, "the entry's event is invalid: {error}"),
            InvalidEntry::Topic => f.write_str("the entry's topic is not UTF-8"),
        }
    }
}

impl std::error::Error for InvalidEntry {}

/// A reply that is not shaped as the command's reply is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct UnexpectedReply(pub(crate) &'static str);

/// The entries of an `XRANGE` reply (or of one stream in an `XREAD` reply).
pub(crate) fn parse_entries(reply: Value) -> Result<Vec<Entry>, UnexpectedReply> {
    let Value::Array(entries) = reply else {
        return Err(UnexpectedReply("a list of entries"));
    };
    entries.into_iter().map(parse_entry).collect()
}

/// The entries of an `XREAD` reply for one stream: none on a timeout.
pub(crate) fn parse_read(reply: Value) -> Result<Vec<Entry>, UnexpectedReply> {
    let mut entries = Vec::new();
    for stream in read_streams(reply)? {
        entries.extend(parse_entries(stream)?);
    }
    Ok(entries)
}

/// Each stream's list of entries in an `XREAD` reply (RESP2 or RESP3): none on a
/// timeout.
pub(crate) fn read_streams(reply: Value) -> Result<Vec<Value>, UnexpectedReply> {
    Ok(match reply {
        Value::Nil => return Ok(Vec::new()),
        Value::Array(streams) => streams
            .into_iter()
            .map(|stream| match stream {
                Value::Array(pair) => <[Value; 2]>::try_from(pair)
                    .map(|[_, entries]| entries)
                    .map_err(|_| UnexpectedReply("a stream name and its entries")),
                _ => Err(UnexpectedReply("a stream name and its entries")),
            })
            .collect::<Result<Vec<_>, _>>()?,
        Value::Map(streams) => streams.into_iter().map(|(_, entries)| entries).collect(),
        _ => return Err(UnexpectedReply("streams and their entries")),
    })
}

/// An entry's id and its fields, as name and value pairs (RESP2 or RESP3).
pub(crate) fn entry_fields(
    entry: Value,
) -> Result<(StreamId, Vec<(Value, Value)>), UnexpectedReply> {
    let Value::Array(pair) = entry else {
        return Err(UnexpectedReply("an entry id and its fields"));
    };
    let [id, fields] =
        <[Value; 2]>::try_from(pair).map_err(|_| UnexpectedReply("an entry id and its fields"))?;
    let id = text(&id)
        .and_then(|id| id.parse().ok())
        .ok_or(UnexpectedReply("an entry id"))?;
    let fields = match fields {
        Value::Array(flat) => pairs(flat),
        Value::Map(map) => map,
        _ => return Err(UnexpectedReply("an entry's fields")),
    };
    Ok((id, fields))
}

fn parse_entry(entry: Value) -> Result<Entry, UnexpectedReply> {
    let (id, fields) = entry_fields(entry)?;
    let mut event = Err(InvalidEntry::NoEvent);
    let mut topic = None;
    for (name, value) in fields {
        match text(&name) {
            Some(EVENT_FIELD) => {
                event = match value {
                    Value::BulkString(bytes) => {
                        EncodedEvent::from_bytes(bytes).map_err(InvalidEntry::Event)
                    }
                    _ => Err(InvalidEntry::NoEvent),
                };
            }
            Some(TOPIC_FIELD) => topic = Some(text(&value).map(String::from)),
            _ => {}
        }
    }
    let topic = match topic {
        Some(None) => {
            event = Err(InvalidEntry::Topic);
            None
        }
        Some(topic) => topic,
        None => None,
    };
    Ok(Entry { id, event, topic })
}

fn pairs(flat: Vec<Value>) -> Vec<(Value, Value)> {
    let mut values = flat.into_iter();
    let mut pairs = Vec::with_capacity(values.len() / 2);
    while let (Some(name), Some(value)) = (values.next(), values.next()) {
        pairs.push((name, value));
    }
    pairs
}

/// A reply's text (a bulk or simple string that is UTF-8).
pub(crate) fn text(value: &Value) -> Option<&str> {
    match value {
        Value::BulkString(bytes) => std::str::from_utf8(bytes).ok(),
        Value::SimpleString(text) => Some(text),
        _ => None,
    }
}

/// Replies as Redis sends them, for tests.
#[cfg(test)]
pub(crate) mod replies {
    use redis::Value;

    pub(crate) fn bulk(text: &str) -> Value {
        Value::BulkString(text.as_bytes().to_vec())
    }

    /// An entry in RESP2's shape: its id, then its fields as a flat list.
    pub(crate) fn entry(id: &str, fields: &[(&str, &str)]) -> Value {
        let flat = fields
            .iter()
            .flat_map(|(k, v)| [bulk(k), bulk(v)])
            .collect();
        Value::Array(vec![bulk(id), Value::Array(flat)])
    }
}

#[cfg(test)]
mod tests {
    use super::replies::{bulk, entry};
    use super::*;

    #[test]
    fn stream_ids_parse_print_and_order() {
        let id: StreamId = "1700000000000-12".parse().unwrap();
        assert_eq!(id.to_string(), "1700000000000-12");
        assert!(id < "1700000000000-13".parse().unwrap());
        assert!(id < "1700000000001-0".parse().unwrap());
        for bad in [
            "",
            "5",
            "-1",
            "1-",
            "a-1",
            "1-+2",
            "1-2-3",
            "99999999999999999999-0",
        ] {
            assert_eq!(bad.parse::<StreamId>(), Err(InvalidStreamId), "{bad:?}");
        }
    }

    #[test]
    fn reads_entries_and_keeps_the_invalid_ones_as_errors() {
        let reply = Value::Array(vec![Value::Array(vec![
            bulk("sse"),
            Value::Array(vec![
                entry("1-0", &[("e", "data: a\n")]),
                entry("2-0", &[("t", "news"), ("e", "data: b\n")]),
                entry("3-0", &[("e", "data: a\n\ndata: forged\n")]),
                entry("4-0", &[("x", "y")]),
            ]),
        ])]);
        let entries = parse_read(reply).unwrap();
        let ids: Vec<String> = entries.iter().map(|e| e.id.to_string()).collect();
        assert_eq!(ids, ["1-0", "2-0", "3-0", "4-0"]);
        assert_eq!(entries[0].event.as_ref().unwrap().as_bytes(), "data: a\n");
        assert_eq!(entries[1].topic.as_deref(), Some("news"));
        assert!(matches!(
            entries[2].event,
            Err(InvalidEntry::Event(EncodedEventError::BlankLine))
        ));
        assert_eq!(
            entries[3].event.as_ref().err(),
            Some(&InvalidEntry::NoEvent)
        );
    }

    #[test]
    fn a_timeout_is_no_entries_and_a_strange_reply_is_an_error() {
        assert!(parse_read(Value::Nil).unwrap().is_empty());
        assert!(parse_read(Value::Int(3)).is_err());
        assert!(parse_entries(Value::Array(vec![bulk("1-0")])).is_err());
        assert!(parse_entries(Value::Array(vec![entry("not-an-id", &[])])).is_err());
    }
}
