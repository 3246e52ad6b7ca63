//! Resumable streams across processes: a reply that outlives its connection,
//! started on one process, attached to and resumed on any other. How they live
//! in Redis is told in the crate's documentation.

mod entries;
mod errors;
mod key;
mod metrics;
mod options;
mod producer;
mod registry;
mod run;
mod scripts;
mod stored;
mod viewer;
mod wire;
mod writer;

pub use errors::{AttachError, InvalidMessage, SendError, StartError, TrySendError};
pub use metrics::RedisResumeMetrics;
pub use options::ResumeOptions;
pub use producer::RedisProducer;
pub use registry::RedisResumable;
