//! Domain vocabulary shared by every VeilGram crate: ids, time, errors and the ports (traits) that
//! adapters implement and services consume.
//!
//! # Layout
//! - [`ids`]: newtypes for identifiers, so a `UserId` cannot be passed where a session id is meant.
//! - [`time`]: [`Timestamp`], the one representation of an instant (UTC milliseconds).
//! - [`error`]: [`StoreError`], what any storage port may answer.
//! - [`events`]: the versioned domain-event envelope every change others care about produces.
//! - [`jobs`]: the job queue port (lease, ack, retry with backoff, dead letters).
//! - [`pubsub`]: the pub/sub port (messages to every process's subscribers).
//! - [`ports`]: the traits a storage engine implements; services hold them as `Arc<dyn …>`.
//! - [`cache`]: the cache port (values, counters, sorted sets, expiry) and its hash-tagged keys.
//! - [`text`]: nickname keys and look-alike folding, shared by nicknames and mentions.
//! - [`memo`]: [`memo::Memo`], values remembered while they still check out, within a budget.
//! - [`sequence`]: [`sequence::SequenceCursor`], for tailing append-only tables from many processes.
//!
//! This crate depends on no engine, no web framework and no service: it is the root of the crate
//! graph.

pub mod cache;
pub mod error;
pub mod events;
pub mod ids;
pub mod jobs;
pub mod live;
pub mod memo;
pub mod ports;
pub mod pubsub;
pub mod sequence;
pub mod text;
pub mod time;

pub use error::{Conflict, StoreError};

/// One Prometheus metric without labels: name, kind (`counter` or `gauge`), help, value.
pub type Metric<'a> = (&'a str, &'a str, &'a str, u64);

/// `metrics` in Prometheus text format (for `/metrics`).
pub fn render_metrics(metrics: &[Metric<'_>]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for (name, kind, help, value) in metrics {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        let _ = writeln!(out, "{name} {value}");
    }
    out
}

/// Bytes as lower-case hexadecimal (digests in keys, ETags, random names).
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, byte| {
            let _ = write!(out, "{byte:02x}");
            out
        })
}
pub use ids::{
    AddressBlockId, AliasBlockId, CommentId, EventId, IdMap, IdSet, JobId, MediaId, NotificationId,
    PollId, PostId, PushDeviceId, ReportId, SessionFamilyId, UserId,
};
pub use time::Timestamp;
