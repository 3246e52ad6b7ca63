//! [`Policy`]: the replaceable part of reconnecting, consulted per outcome.

use std::time::Duration;

use http::{HeaderMap, StatusCode};

use super::StopReason;

/// What happened to an attempt, as a [`Policy`] sees it.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum Outcome<'a> {
    /// A response head that does not open a stream (any status but a `200` with
    /// `Content-Type: text/event-stream`).
    Response {
        /// Its status.
        status: StatusCode,
        /// Its headers.
        headers: &'a HeaderMap,
    },
    /// The connection or the request failed before a response head arrived (a
    /// refused connection, TLS, a timeout).
    ConnectError,
    /// An open stream ended.
    StreamEnd {
        /// `true` when the server closed the body normally; `false` when it broke (an
        /// IO error or reset midway, the idle timeout).
        clean: bool,
        /// How many events it delivered (zero makes it a failure).
        events: u64,
    },
}

/// What a [`Policy`] decides about an [`Outcome`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decision {
    /// Connect again after this delay: with the original request, or by `GET` at
    /// the resume location the server named ([`Reconnect::resume_at`]).
    ///
    /// [`Reconnect::resume_at`]: crate::Reconnect::resume_at
    Retry(Duration),
    /// Stop for good.
    Stop(StopReason),
}

/// The replaceable part of reconnecting: for every outcome that does not open a
/// stream, it gets what the default rules decided (from the
/// [`ReconnectConfig`](crate::ReconnectConfig), the delay already computed) and says
/// what happens instead. [`DefaultPolicy`] keeps the rules as they are; a closure
/// `FnMut(&Outcome<'_>, Decision) -> Decision` is a policy too.
///
/// Only [`ReconnectConfig::max_attempts`](crate::ReconnectConfig::max_attempts) holds
/// whatever the policy says, and a [`Reconnect`](crate::Reconnect) stopped for good
/// stays stopped.
///
/// # Examples
///
/// Never reconnect, whatever happens:
///
/// ```
/// use sse_core::{Decision, Outcome, Reconnect, ReconnectConfig, StopReason};
///
/// let never = |_: &Outcome<'_>, default: Decision| match default {
///     Decision::Retry(_) => Decision::Stop(StopReason::Policy),
///     stop => stop,
/// };
/// let reconnect = Reconnect::with_policy(ReconnectConfig::default(), 7, never);
/// ```
///
/// Reconnect only after network errors (a broken stream, no connection), and retry a
/// `401` at once (the application refreshes its token when it sees the failure):
///
/// ```
/// use std::time::Duration;
/// use http::StatusCode;
/// use sse_core::{Decision, Outcome, StopReason};
///
/// fn policy(outcome: &Outcome<'_>, default: Decision) -> Decision {
///     match outcome {
///         Outcome::Response { status, .. } if *status == StatusCode::UNAUTHORIZED => {
///             Decision::Retry(Duration::ZERO)
///         }
///         Outcome::ConnectError | Outcome::StreamEnd { clean: false, .. } => default,
///         _ => match default {
///             Decision::Retry(_) => Decision::Stop(StopReason::Policy),
///             stop => stop,
///         },
///     }
/// }
/// # let _ = sse_core::Reconnect::with_policy(sse_core::ReconnectConfig::default(), 1, policy);
/// ```
pub trait Policy {
    /// Decides what `outcome` means; `default` is what the default rules say.
    fn decide(&mut self, outcome: &Outcome<'_>, default: Decision) -> Decision;
}

/// The default rules, unchanged (see [`Reconnect`](crate::Reconnect)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DefaultPolicy;

impl Policy for DefaultPolicy {
    fn decide(&mut self, _: &Outcome<'_>, default: Decision) -> Decision {
        default
    }
}

impl<F> Policy for F
where
    F: FnMut(&Outcome<'_>, Decision) -> Decision,
{
    fn decide(&mut self, outcome: &Outcome<'_>, default: Decision) -> Decision {
        self(outcome, default)
    }
}
