//! The check every per-request stream passes: what `POST /generate` promises, item
//! by item as `sse_core::Decoder` yields them.
//!
//! `retry: 1000`, the comment `generating`, then the words `word(0)`, `word(1)`, …
//! in order (events of type `message`; each carries the last checkpoint's id, so a
//! missing, extra or wrong id-only frame is caught at the next event), then one
//! `done` event whose JSON says how many words, carrying the id of the final
//! checkpoint; nothing after it. Keep-alive comments may come between any two.

use std::time::Duration;

use sse_core::MessageEvent;

use super::words::{checkpoint_before, word};

/// Where a response's opening stands: every reply starts with a `retry:` of one
/// second, then the comment `generating`; only keep-alive comments come after.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Opening(u8);

impl Opening {
    /// The opening of a resumed connection, which has none.
    pub(crate) const OVER: Opening = Opening(2);

    /// A `retry:` field: only the opening's.
    pub(crate) fn retry(&mut self, retry: Duration) -> Result<(), String> {
        if self.0 == 0 && retry == Duration::from_secs(1) {
            self.0 = 1;
            Ok(())
        } else {
            Err(format!("unexpected retry: {} ms", retry.as_millis()))
        }
    }

    /// A comment: the opening one, or a keep-alive after it.
    pub(crate) fn comment(&mut self, text: &str) -> Result<(), String> {
        match self.0 {
            1 if text == "generating" => self.0 = 2,
            2 => {}
            _ => {
                return Err(format!(
                    "comment {text:?} before the opening retry and comment"
                ));
            }
        }
        Ok(())
    }

    /// Whether both were seen: events may come.
    pub(crate) fn is_over(self) -> bool {
        self.0 == 2
    }
}

/// Where a stream stands against its request.
#[derive(Debug)]
pub(crate) struct StreamCheck {
    words: u64,
    opening: Opening,
    /// Words received so far.
    next: u64,
    done: bool,
    /// The first thing that went wrong.
    error: Option<String>,
}

/// What an event was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Item {
    /// The next word: a token.
    Word,
    /// The `done` event.
    Done,
    /// An event of a resumable reply's framing: its `stream` event, its end.
    Other,
    /// Anything wrong (see [`StreamCheck::error`]).
    Wrong,
}

impl StreamCheck {
    /// A check for a reply of `words` words.
    pub(crate) fn new(words: u64) -> Self {
        StreamCheck {
            words,
            opening: Opening::default(),
            next: 0,
            done: false,
            error: None,
        }
    }

    /// Words received so far.
    #[cfg(test)]
    pub(crate) fn received(&self) -> u64 {
        self.next
    }

    /// The first thing that went wrong, if anything has.
    pub(crate) fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    fn fail(&mut self, message: impl FnOnce() -> String) -> Item {
        if self.error.is_none() {
            self.error = Some(message());
        }
        Item::Wrong
    }

    /// A `retry:` field.
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

    /// An event: checks it and says what it was.
    pub(crate) fn event(&mut self, event: &MessageEvent) -> Item {
        if self.error.is_some() {
            return Item::Wrong;
        }
        if !self.opening.is_over() {
            return self.fail(|| "an event before the opening retry and comment".into());
        }
        if self.done {
            return self.fail(|| format!("an event after done: {:?}", event.data));
        }
        let (n, words) = (self.next, self.words);
        let id_ok = |expected: Option<u64>| match expected {
            None => event.last_event_id.is_empty(),
            Some(id) => event.last_event_id.parse() == Ok(id),
        };
        match &*event.event_type {
            "message" if n >= self.words => self.fail(|| format!("a word after all {words} words")),
            "message" if event.data != word(n) => self.fail(|| {
                format!(
                    "word {n}: expected {:?}, got {:?} (lost or out of order)",
                    word(n),
                    event.data
                )
            }),
            "message" if !id_ok(checkpoint_before(n, self.words)) => self.fail(|| {
                format!(
                    "word {n}: last event id {:?}, expected checkpoint {:?}",
                    event.last_event_id,
                    checkpoint_before(n, words)
                )
            }),
            "message" => {
                self.next += 1;
                Item::Word
            }
            "done" => {
                let said = serde_json::from_str::<serde_json::Value>(&event.data)
                    .ok()
                    .and_then(|done| done.get("words")?.as_u64());
                if n != words || said != Some(words) {
                    return self.fail(|| {
                        format!("done after {n} of {words} words, saying {:?}", event.data)
                    });
                }
                if !id_ok(checkpoint_before(n, self.words)) {
                    return self.fail(|| format!("done: last event id {:?}", event.last_event_id));
                }
                self.done = true;
                Item::Done
            }
            other => self.fail(|| format!("unexpected event type {other:?}")),
        }
    }

    /// At the end of the response: `Ok` when the whole reply came and ended with
    /// `done`, otherwise what went wrong.
    pub(crate) fn finish(&self) -> Result<(), String> {
        if let Some(error) = &self.error {
            return Err(error.clone());
        }
        if !self.done {
            return Err(format!(
                "ended after {} of {} words without done",
                self.next, self.words
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use sse_core::{Decoded, Decoder};

    use super::*;

    /// The reply the demos send, as bytes.
    fn reply(words: u64) -> String {
        let mut wire = String::from("retry: 1000\n\n: generating\n\n");
        for n in 0..words {
            wire.push_str(&format!("data: {}\n\n", word(n)));
            if (n + 1) % 100 == 0 || n + 1 == words {
                wire.push_str(&format!("id: {}\n\n", n + 1));
            }
        }
        wire.push_str(&format!(
            "event: done\ndata: {{\"prompt_words\":0,\"words\":{words}}}\n\n"
        ));
        wire
    }

    fn check(wire: &str, words: u64) -> Result<u64, String> {
        let mut decoder = Decoder::new();
        decoder.push(wire.as_bytes()).map_err(|e| e.to_string())?;
        let mut check = StreamCheck::new(words);
        for item in &mut decoder {
            match item {
                Decoded::Retry(retry) => check.retry(retry),
                Decoded::Comment(text) => check.comment(&text),
                Decoded::Event(event) => {
                    check.event(&event);
                }
                _ => {}
            }
        }
        check.finish().map(|()| check.received())
    }

    #[test]
    fn a_whole_reply_passes() {
        for words in [0, 1, 99, 100, 101, 250] {
            assert_eq!(check(&reply(words), words), Ok(words), "{words}");
        }
        let with_keep_alive = reply(3).replace("id: 3\n\n", "id: 3\n\n: \n\n");
        assert_eq!(check(&with_keep_alive, 3), Ok(3));
    }

    #[test]
    fn loss_reordering_and_endings_fail() {
        let whole = reply(250);
        let lost = whole.replacen("data:  Events\n\n", "", 1);
        assert!(check(&lost, 250).unwrap_err().contains("word 2"));
        let swapped = whole.replacen(
            "data: Server\n\ndata: -Sent",
            "data: -Sent\n\ndata: Server",
            1,
        );
        assert!(check(&swapped, 250).unwrap_err().contains("word 0"));
        let no_checkpoint = whole.replacen("id: 100\n\n", "", 1);
        assert!(check(&no_checkpoint, 250).unwrap_err().contains("word 100"));
        let cut = &whole[..whole.find("event: done").unwrap()];
        assert!(check(cut, 250).unwrap_err().contains("without done"));
        let no_retry = whole.replacen("retry: 1000\n\n", "", 1);
        assert!(check(&no_retry, 250).is_err());
        let short = whole.replace("\"words\":250", "\"words\":249");
        assert!(check(&short, 250).unwrap_err().contains("done"));
        assert!(check(&format!("{whole}data: x\n\n"), 250).is_err());
    }
}
