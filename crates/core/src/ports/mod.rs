//! Ports: the traits a storage engine implements. Services hold them as `Arc<dyn Port>` and never
//! know which engine is behind them; the binary picks the adapter from configuration.
//!
//! Hidden contract shared by every method: an operation that returns `Err` has written nothing
//! (each is one transaction in the relational adapter).
//!
//! One module per area; everything is re-exported here.

use crate::events::{EventEnvelope, EventFor, LoggedEvent};
use crate::{
    AddressBlockId, AliasBlockId, CommentId, EventId, IdMap, IdSet, MediaId, NotificationId,
    PollId, PostId, PushDeviceId, ReportId, SessionFamilyId, StoreError, Timestamp, UserId,
};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

mod abuse;
mod comments;
mod events;
mod feeds;
mod graph;
mod media;
mod moderation;
mod notifications;
mod platform;
mod polls;
mod posts;
mod push;
mod search;

pub use abuse::*;
pub use comments::*;
pub use events::*;
pub use feeds::*;
pub use graph::*;
pub use media::*;
pub use moderation::*;
pub use notifications::*;
pub use platform::*;
pub use polls::*;
pub use posts::*;
pub use push::*;
pub use search::*;
