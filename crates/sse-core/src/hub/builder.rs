//! Building a hub from its parts.
//!
//! Layer 4 of the hub: hub, the public API. [`HubBuilder::build`] is in `mod.rs`,
//! so this file need not import the [`Hub`](super::Hub).

use std::fmt;

use super::config::HubConfig;
use super::hooks::{Hooks, NoHooks};
use super::replay::ReplaySource;

/// Builds a [`Hub`](super::Hub) with settings, hooks and a [`ReplaySource`], each optional.
///
/// ```
/// use sse_core::{Hub, HubConfig, NoHooks};
///
/// let hub = Hub::builder()
///     .config(HubConfig::default().history(64))
///     .hooks(NoHooks)
///     .build();
/// assert_eq!(hub.config().history, 64);
/// ```
#[must_use]
pub struct HubBuilder {
    pub(crate) config: HubConfig,
    pub(crate) hooks: Box<dyn Hooks>,
    pub(crate) replay_source: Option<Box<dyn ReplaySource>>,
}

impl Default for HubBuilder {
    fn default() -> Self {
        HubBuilder {
            config: HubConfig::default(),
            hooks: Box::new(NoHooks),
            replay_source: None,
        }
    }
}

impl HubBuilder {
    /// The settings [`HubConfig::default`] otherwise.
    pub fn config(mut self, config: HubConfig) -> Self {
        self.config = config;
        self
    }

    /// The settings so far.
    #[must_use]
    pub fn config_ref(&self) -> &HubConfig {
        &self.config
    }

    /// The hooks ([`NoHooks`] otherwise).
    pub fn hooks(mut self, hooks: impl Hooks) -> Self {
        self.hooks = Box::new(hooks);
        self
    }

    /// Where to replay from when the hub's own history does not hold a client's
    /// `Last-Event-ID` (nowhere otherwise: that is a replay miss).
    pub fn replay_source(mut self, source: impl ReplaySource) -> Self {
        self.replay_source = Some(Box::new(source));
        self
    }
}

impl fmt::Debug for HubBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HubBuilder")
            .field("config", &self.config)
            .field("replay_source", &self.replay_source.is_some())
            .finish_non_exhaustive()
    }
}
