//! The check a resumable reply passes: what the demos' `POST /generate` with
//! `"resumable": true` promises, and `GET /generate/{key}` with `Last-Event-ID`
//! after a dropped connection, item by item as `sse_core::Decoder` yields them.
//!
//! Every message's id is its position in the reply: 1 is the `stream` event
//! (`{"key", "resume"}`), word `n` is at `n + 2`, `done` (JSON saying how many
//! words) at `words + 2`, and the end (`event: end`, `data: done`) at `words + 3`;
//! then the response ends. The `POST`'s response opens with `retry: 1000` and the
//! comment `generating`; a resumed one starts right after its `Last-Event-ID`. So
//! one check follows a reply across its connections: the next message must carry
//! the next position, which catches a gap, a duplicate and a reordering alike.
//! Keep-alive comments may come between any two messages.

use std::time::Duration;

use sse_core::MessageEvent;

use super::check::{Item, Opening, StreamCheck};
use super::words::word;

/// Where a resumable reply stands, across its connections.
#[derive(Debug)]
pub(crate) struct ResumableCheck {
    words: u64,
    /// This connection's opening.
    opening: Opening,
    /// The position the next message must have.
    next: u64,
    /// From the `stream` event.
    key: Option<String>,
    /// The end event came.
    ended: bool,
    error: Option<String>,
}

impl ResumableCheck {
    /// A check for a reply of `words` words, from its `POST`.
    pub(crate) fn new(words: u64) -> Self {
        ResumableCheck {
            words,
            opening: Opening::default(),
            next: 1,
            key: None,
            ended: false,
            error: None,
        }
    }

    /// The reply's key, once its `stream` event came.
    pub(crate) fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// The id of the last message received: the `Last-Event-ID` to resume with.
    pub(crate) fn last_event_id(&self) -> u64 {
        self.next - 1
    }

    /// Words received so far.
    pub(crate) fn received(&self) -> u64 {
        self.next.saturating_sub(2).min(self.words)
    }

    /// The first thing that went wrong, if anything has.
    pub(crate) fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// The connection dropped; the reply goes on on a new one, which has no
    /// opening and starts after [`last_event_id`](Self::last_event_id).
    pub(crate) fn resumed(&mut self) {
        self.opening = Opening::OVER;
    }

    fn fail(&mut self, message: impl FnOnce() -> String) -> Item {
        if self.error.is_none() {
            self.error = Some(message());
        }
        Item::Wrong
    }

    /// A `retry:` field: the `POST`'s opening.
    pub(crate) fn retry(&mut self, retry: Duration) {
        if let Err(error) = self.opening.retry(retry) {
            self.fail(|| error);
        }
    }

    /// A comment: the opening one, or a keep-alive.
    pub(crate) fn comment(&mut self, text: &str) {
        if let Err(error) = self.opening.comment(text) {
            self.fail(|| error);
        }
    }

    /// An event: checks it against the next position and says what it was.
    pub(crate) fn event(&mut self, event: &MessageEvent) -> Item {
        if self.error.is_some() {
            return Item::Wrong;
        }
        if !self.opening.is_over() {
            return self.fail(|| "an event before the opening retry and comment".into());
        }
        if self.ended {
            return self.fail(|| format!("an event after the end: {:?}", event.data));
        }
        let position = self.next;
        if &*event.event_type == sse_core::RESYNC_EVENT {
            return self.fail(|| {
                format!(
                    "resync before position {position}: the server dropped messages this \
                     viewer had not read (max_bytes or the budget)"
                )
            });
        }
        if event.last_event_id.parse() != Ok(position) {
            return self.fail(|| {
                format!(
                    "id {:?} where position {position} was due (a gap or a duplicate)",
                    event.last_event_id
                )
            });
        }
        let words = self.words;
        let kind = &*event.event_type;
        let item = match position {
            1 if kind == "stream" => self.stream(&event.data),
            p if (2..words + 2).contains(&p) => {
                let n = p - 2;
                if kind != "message" || event.data != word(n) {
                    return self.fail(|| {
                        format!(
                            "word {n}: expected {:?}, got {kind} {:?}",
                            word(n),
                            event.data
                        )
                    });
                }
                Item::Word
            }
            p if p == words + 2 && kind == "done" => {
                let said = serde_json::from_str::<serde_json::Value>(&event.data)
                    .ok()
                    .and_then(|done| done.get("words")?.as_u64());
                if said != Some(words) {
                    return self.fail(|| format!("done saying {:?}", event.data));
                }
                Item::Done
            }
            p if p == words + 3 && kind == "end" && event.data == "done" => {
                self.ended = true;
                Item::Other
            }
            _ => {
                return self
                    .fail(|| format!("position {position}: unexpected {kind} {:?}", event.data));
            }
        };
        if item != Item::Wrong {
            self.next += 1;
        }
        item
    }

    /// The `stream` event: `{"key", "resume": "/generate/{key}"}`.
    fn stream(&mut self, data: &str) -> Item {
        let named = serde_json::from_str::<serde_json::Value>(data).ok();
        let key = named
            .as_ref()
            .and_then(|named| named.get("key")?.as_str())
            .filter(|key| sse_core::is_valid_key(key));
        let resume = named
            .as_ref()
            .and_then(|named| named.get("resume")?.as_str());
        match key {
            Some(key) if resume == Some(&format!("/generate/{key}")) => {
                self.key = Some(key.to_owned());
                Item::Other
            }
            _ => self.fail(|| format!("a stream event without a key to resume: {data:?}")),
        }
    }

    /// At the end of a response: `Ok` when the whole reply came and ended with
    /// `end: done`, otherwise what went wrong.
    pub(crate) fn finish(&self) -> Result<(), String> {
        if let Some(error) = &self.error {
            return Err(error.clone());
        }
        if !self.ended {
            return Err(format!(
                "ended after {} of {} words without the end event",
                self.received(),
                self.words
            ));
        }
        Ok(())
    }
}

/// The check of one reply, plain or resumable.
#[derive(Debug)]
pub(crate) enum ReplyCheck {
    Plain(StreamCheck),
    Resumable(ResumableCheck),
}

impl ReplyCheck {
    /// A check for a reply of `words` words.
    pub(crate) fn new(words: u64, resumable: bool) -> Self {
        if resumable {
            ReplyCheck::Resumable(ResumableCheck::new(words))
        } else {
            ReplyCheck::Plain(StreamCheck::new(words))
        }
    }

    /// The resumable check, when it is one.
    pub(crate) fn resumable(&mut self) -> Option<&mut ResumableCheck> {
        match self {
            ReplyCheck::Plain(_) => None,
            ReplyCheck::Resumable(check) => Some(check),
        }
    }

    pub(crate) fn retry(&mut self, retry: Duration) {
        match self {
            ReplyCheck::Plain(check) => check.retry(retry),
            ReplyCheck::Resumable(check) => check.retry(retry),
        }
    }

    pub(crate) fn comment(&mut self, text: &str) {
        match self {
            ReplyCheck::Plain(check) => check.comment(text),
            ReplyCheck::Resumable(check) => check.comment(text),
        }
    }

    pub(crate) fn event(&mut self, event: &MessageEvent) -> Item {
        match self {
            ReplyCheck::Plain(check) => check.event(event),
            ReplyCheck::Resumable(check) => check.event(event),
        }
    }

    pub(crate) fn error(&self) -> Option<&str> {
        match self {
            ReplyCheck::Plain(check) => check.error(),
            ReplyCheck::Resumable(check) => check.error(),
        }
    }

    pub(crate) fn finish(&self) -> Result<(), String> {
        match self {
            ReplyCheck::Plain(check) => check.finish(),
            ReplyCheck::Resumable(check) => check.finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use sse_core::{Decoded, Decoder};

    use super::*;

    const KEY: &str = "reply-00112233445566778899aabbccddeeff";

    /// What the demos send for a reply, from position `after + 1` on (`after`
    /// 0: the `POST`'s response, with its opening).
    fn reply(words: u64, after: u64) -> String {
        let mut wire = String::new();
        if after == 0 {
            wire.push_str("retry: 1000\n\n: generating\n\n");
        }
        let mut messages = vec![format!(
            "event: stream\ndata: {{\"key\":\"{KEY}\",\"resume\":\"/generate/{KEY}\"}}\n"
        )];
        messages.extend((0..words).map(|n| format!("data: {}\n", word(n))));
        messages.push(format!(
            "event: done\ndata: {{\"prompt_words\":0,\"words\":{words}}}\n"
        ));
        messages.push("event: end\ndata: done\n".into());
        for (position, message) in (1..).zip(messages) {
            if position > after {
                wire.push_str(&format!("{message}id: {position}\n\n"));
            }
        }
        wire
    }

    fn feed(check: &mut ResumableCheck, wire: &str) -> u64 {
        let mut decoder = Decoder::new();
        decoder.push(wire.as_bytes()).expect("decodes");
        let mut words = 0;
        for item in &mut decoder {
            match item {
                Decoded::Retry(retry) => check.retry(retry),
                Decoded::Comment(text) => check.comment(&text),
                Decoded::Event(event) => words += u64::from(check.event(&event) == Item::Word),
                _ => {}
            }
        }
        words
    }

    #[test]
    fn a_whole_reply_passes_and_names_its_key() {
        for words in [0, 1, 250] {
            let mut check = ResumableCheck::new(words);
            assert_eq!(feed(&mut check, &reply(words, 0)), words);
            assert_eq!(check.finish(), Ok(()), "{words}");
            assert_eq!(check.key(), Some(KEY));
            assert_eq!(check.received(), words);
        }
    }

    #[test]
    fn a_reply_resumed_after_its_last_event_id_passes() {
        let whole = reply(50, 0);
        // The first connection breaks after word 9 (position 11).
        let cut = whole.find("id: 11\n\n").unwrap() + "id: 11\n\n".len();
        let mut check = ResumableCheck::new(50);
        assert_eq!(feed(&mut check, &whole[..cut]), 10);
        assert_eq!(check.last_event_id(), 11);
        check.resumed();
        let rest = reply(50, 11).replacen("\n\n", "\n\n: \n\n", 1);
        assert_eq!(feed(&mut check, &rest), 40);
        assert_eq!(check.finish(), Ok(()));
    }

    #[test]
    fn gaps_duplicates_and_endings_fail() {
        let resume = |after: u64| {
            let mut check = ResumableCheck::new(50);
            let whole = reply(50, 0);
            let cut = whole.find("id: 11\n\n").unwrap() + "id: 11\n\n".len();
            feed(&mut check, &whole[..cut]);
            check.resumed();
            feed(&mut check, &reply(50, after));
            check.finish()
        };
        assert!(resume(12).unwrap_err().contains("gap or a duplicate"));
        assert!(resume(10).unwrap_err().contains("gap or a duplicate"));
        let mut check = ResumableCheck::new(50);
        feed(
            &mut check,
            "retry: 1000\n\n: generating\n\nevent: resync\ndata\n\n",
        );
        assert!(check.finish().unwrap_err().contains("resync"));
        assert_eq!(resume(11), Ok(()));

        let whole = reply(50, 0);
        let mut check = ResumableCheck::new(50);
        feed(&mut check, &whole[..whole.find("event: end").unwrap()]);
        assert!(check.finish().unwrap_err().contains("without the end"));
        let mut check = ResumableCheck::new(50);
        feed(
            &mut check,
            &whole.replacen("data:  stream\n", "data:  each\n", 1),
        );
        assert!(check.finish().unwrap_err().contains("word 3"));
        let mut check = ResumableCheck::new(50);
        feed(&mut check, &format!("{whole}data: x\nid: 54\n\n"));
        assert!(check.finish().unwrap_err().contains("after the end"));
        let mut check = ResumableCheck::new(50);
        feed(&mut check, &whole.replacen("\"key\"", "\"other\"", 1));
        assert!(check.finish().unwrap_err().contains("without a key"));
        let mut check = ResumableCheck::new(50);
        feed(&mut check, &whole.replacen("retry: 1000\n\n", "", 1));
        assert!(check.finish().is_err());
    }
}
