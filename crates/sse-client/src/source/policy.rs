//! [`BoxPolicy`]: the reconnection policy a [`Builder`](crate::Builder) was given.

use sse_core::{Decision, Outcome, Policy};

/// The policy a [`Builder`](crate::Builder) was given (the default rules unless
/// [`Builder::policy`](crate::Builder::policy) set one).
pub(crate) struct BoxPolicy(pub(crate) Box<dyn Policy + Send>);

impl std::fmt::Debug for BoxPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Policy")
    }
}

impl Policy for BoxPolicy {
    fn decide(&mut self, outcome: &Outcome<'_>, default: Decision) -> Decision {
        self.0.decide(outcome, default)
    }
}
