//! A `POST /generate` request as the demos read it, for the baselines: the same
//! fields, limits and defaults as `sse_demo::generate`, so every server answers the
//! same requests the same way.

use std::time::Duration;

use serde::Deserialize;

/// The demos' limits and defaults (`sse_demo::generate`).
const MAX_WORDS: u64 = 1_000_000;
const MAX_RATE: f64 = 100_000.0;
const DEFAULT_WORDS: u64 = 40;
const DEFAULT_RATE: f64 = 20.0;
/// The demos' producer channel: `sse_core::channel(64)`; every baseline's channel
/// has this capacity too.
pub(crate) const CHANNEL: usize = 64;

/// The body, as JSON.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    #[serde(default)]
    prompt: String,
    words: Option<u64>,
    rate: Option<f64>,
    /// The demos' switch between a resumable reply and a plain one: a baseline
    /// serves plain ones only, so it takes `false` and refuses `true`.
    resumable: Option<bool>,
}

/// What a reply is asked to be.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Request {
    /// Words in the reply.
    pub(crate) words: u64,
    /// The pause before each word (`None`: as fast as the channel takes them).
    pub(crate) pause: Option<Duration>,
    /// Words in the prompt, which `done` reports.
    pub(crate) prompt_words: usize,
}

impl Request {
    /// Reads a request body; the error is the message of a 400's JSON.
    pub(crate) fn read(body: &[u8]) -> Result<Request, String> {
        let body: Body = serde_json::from_slice(body).map_err(|e| format!("invalid JSON: {e}"))?;
        if body.resumable == Some(true) {
            return Err("resumable: this server streams plain replies only".into());
        }
        let words = body.words.unwrap_or(DEFAULT_WORDS);
        if words > MAX_WORDS {
            return Err(format!("words: at most {MAX_WORDS}"));
        }
        let rate = body.rate.unwrap_or(DEFAULT_RATE);
        if !(0.0..=MAX_RATE).contains(&rate) {
            return Err(format!("rate: from 0 to {MAX_RATE} words per second"));
        }
        Ok(Request {
            words,
            pause: (rate > 0.0).then(|| Duration::from_secs_f64(1.0 / rate)),
            prompt_words: body.prompt.split_whitespace().count(),
        })
    }

    /// The `done` event's JSON.
    pub(crate) fn done(&self) -> String {
        serde_json::json!({ "words": self.words, "prompt_words": self.prompt_words }).to_string()
    }

    /// A 400's JSON body.
    pub(crate) fn error_json(message: &str) -> String {
        serde_json::json!({ "error": message }).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_as_the_demos_do() {
        let flood =
            Request::read(br#"{"prompt": "a b", "words": 3, "rate": 0, "resumable": false}"#)
                .unwrap();
        assert_eq!(
            flood,
            Request {
                words: 3,
                pause: None,
                prompt_words: 2
            }
        );
        assert_eq!(flood.done(), r#"{"prompt_words":2,"words":3}"#);
        let paced = Request::read(b"{}").unwrap();
        assert_eq!(paced.words, DEFAULT_WORDS);
        assert_eq!(paced.pause, Some(Duration::from_millis(50)));
        assert!(Request::read(br#"{"words": 1000001}"#).is_err());
        assert!(Request::read(br#"{"rate": -1}"#).is_err());
        assert!(Request::read(br#"{"other": 1}"#).is_err());
        assert!(Request::read(br#"{"resumable": true}"#).is_err());
        assert!(Request::read(b"not json").is_err());
    }
}
