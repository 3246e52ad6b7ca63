//! Why a resumable stream could not start.

use std::fmt;

use http::StatusCode;

/// Why [`Resumable::start`](super::Resumable::start) refused a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StartError {
    /// The key is not valid (see [`is_valid_key`](super::is_valid_key)): empty,
    /// longer than [`MAX_KEY_LEN`](super::MAX_KEY_LEN), or with a character that
    /// URLs or ids would have to escape.
    InvalidKey,
    /// A live or lingering stream has that key (a key names one reply: use a new
    /// one, a run id, for the next).
    Exists,
    /// [`ResumeConfig::max_streams`](super::ResumeConfig::max_streams) streams
    /// are live.
    AtCapacity,
}

impl StartError {
    /// The HTTP status an adapter answers with: 400 (invalid key), 409 (exists),
    /// 503 (at capacity).
    ///
    /// ```
    /// use sse_core::StartError;
    ///
    /// assert_eq!(StartError::Exists.status(), http::StatusCode::CONFLICT);
    /// ```
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            StartError::InvalidKey => StatusCode::BAD_REQUEST,
            StartError::Exists => StatusCode::CONFLICT,
            StartError::AtCapacity => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StartError::InvalidKey => {
                "invalid stream key (1 to 128 of A-Z a-z 0-9 - _ . ~, not dots alone)"
            }
            StartError::Exists => "a stream with this key is live or lingering",
            StartError::AtCapacity => "too many resumable streams are live",
        })
    }
}

impl std::error::Error for StartError {}
