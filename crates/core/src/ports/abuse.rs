//! Abuse control without personal data: blocked addresses and networks, kept as keyed hashes.

use super::*;

/// Why an address is blocked: by an operator or moderator, or by itself (a flood).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressBlockKind {
    Manual,
    Flood,
}

impl AddressBlockKind {
    pub const fn name(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::Flood => "flood",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "manual" => Some(Self::Manual),
            "flood" => Some(Self::Flood),
            _ => None,
        }
    }
}

/// A block as it is listed: what kind of network (family and prefix length), never which.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddressBlock {
    pub id: AddressBlockId,
    pub kind: AddressBlockKind,
    /// `ipv4` or `ipv6`.
    pub family: &'static str,
    pub prefix: u8,
    pub reason: String,
    pub until: Timestamp,
    pub created_at: Timestamp,
}

/// One day's keyed hash of a blocked network: it names the network only under that day's key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DayHash {
    pub day: i64,
    pub hash: String,
}

#[async_trait]
pub trait AddressBlockStore: Send + Sync {
    /// Records a block with its hashes, one per day it lasts (and forgets expired blocks).
    async fn add_address_block(
        &self,
        block: &AddressBlock,
        hashes: &[DayHash],
    ) -> Result<(), StoreError>;

    /// The blocks in force at `now`, newest first.
    async fn address_blocks(&self, now: Timestamp) -> Result<Vec<AddressBlock>, StoreError>;

    /// The hashes of day `day` of the blocks in force at `now`.
    async fn blocked_hashes(&self, day: i64, now: Timestamp) -> Result<Vec<String>, StoreError>;

    /// Lifts a block; `false` when there was none.
    async fn lift_address_block(&self, id: AddressBlockId) -> Result<bool, StoreError>;
}

/// What an account's trust is judged by: its age and how much of its content stayed up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Standing {
    pub created_at: Timestamp,
    /// Posts and comments older than a day that are still up (neither deleted nor hidden).
    pub content_kept: i64,
}

#[async_trait]
pub trait StandingStore: Send + Sync {
    /// `None` for an account that does not exist.
    async fn standing(&self, user: UserId, now: Timestamp) -> Result<Option<Standing>, StoreError>;
}
