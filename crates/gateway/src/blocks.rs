//! Blocked addresses and networks, kept only as keyed hashes (the seed's "hash-based IP
//! blocking"): an operator (`veilgram block-address`) or a moderator (the API) blocks an address
//! or network for a while, and floods (of sign-ups, logins or failed proofs of work) block their
//! address themselves for an hour. A blocked network may read but not write: sign-up, login,
//! challenges and every change answer 403 `address_blocked`; logging out and deleting one's
//! account still work.
//!
//! How it fits the daily key rotation of the rate limits: a block is stored as one hash per day
//! it lasts, `HMAC(key of that day, family | prefix | network bytes)`, made at block time (the
//! keys of the coming days are made then, ahead of their day). A request is checked against
//! today's hashes only. Two days after a day ends its key is destroyed, and with it any way of
//! telling which network that day's hash named; the row of the block keeps only the family,
//! the prefix length, the reason and the end. So nobody, the operator included, can read the
//! blocked addresses back, and a leaked database names them only for today and yesterday, and
//! only to someone who tries every candidate address (IPv4 is small enough for that: a keyed
//! hash hides an address from readers of the table, not from the holder of the day's key).
//! Blocks last at most 90 days.

use crate::error::ApiError;
use crate::limits::{address_bytes, Network, RateLimiter};
use axum::http::StatusCode;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use veilgram_core::ports::{AddressBlock, AddressBlockKind, AddressBlockStore, DayHash};
use veilgram_core::{AddressBlockId, Timestamp};

pub const MAX_BLOCK: Duration = Duration::from_secs(90 * 24 * 3600);
/// How long a flood blocks its address.
pub const FLOOD_BLOCK: Duration = Duration::from_secs(3600);
/// How stale this process's copy of today's hashes may be (blocks made elsewhere show after it).
const REFRESH: Duration = Duration::from_secs(2);
const DAY_MS: i64 = 24 * 3600 * 1000;

#[derive(Default)]
struct Snapshot {
    day: i64,
    loaded: Option<Instant>,
    /// The (family, prefix) pairs of the blocks in force.
    prefixes: Vec<(&'static str, u8)>,
    hashes: HashSet<String>,
}

pub struct AddressBlocks {
    store: Arc<dyn AddressBlockStore>,
    limiter: Arc<RateLimiter>,
    snapshot: tokio::sync::Mutex<Snapshot>,
}

/// A network's family, prefix length (an IPv6 one at most 64: addresses are keyed by their /64)
/// and bytes under the prefix.
fn network_of(address: IpAddr, prefix: u8) -> (&'static str, u8, Vec<u8>) {
    let bytes = address_bytes(address);
    let family = if bytes.len() == 4 { "ipv4" } else { "ipv6" };
    let prefix = prefix.min(u8::try_from(bytes.len() * 8).unwrap_or(u8::MAX));
    let mut masked = bytes;
    for (index, byte) in masked.iter_mut().enumerate() {
        let start = index * 8;
        let keep = usize::from(prefix).saturating_sub(start).min(8);
        *byte &= if keep == 0 { 0 } else { 0xffu8 << (8 - keep) };
    }
    (family, prefix, masked)
}

fn day_of(at: Timestamp) -> i64 {
    at.as_millis().div_euclid(DAY_MS)
}

fn day_hash(key: &[u8], family: &str, prefix: u8, bytes: &[u8]) -> Result<String, ApiError> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .map_err(|_| ApiError::internal(&"address key"))?;
    mac.update(format!("block|{family}|{prefix}|").as_bytes());
    mac.update(bytes);
    Ok(veilgram_core::hex(&mac.finalize().into_bytes()[..16]))
}

impl AddressBlocks {
    pub fn new(store: Arc<dyn AddressBlockStore>, limiter: Arc<RateLimiter>) -> Self {
        Self {
            store,
            limiter,
            snapshot: tokio::sync::Mutex::default(),
        }
    }

    /// Blocks `network` (`203.0.113.7`, `203.0.113.0/24`, `2001:db8::/48`) for `lasting`.
    pub async fn block(
        &self,
        network: &str,
        lasting: Duration,
        kind: AddressBlockKind,
        reason: &str,
        now: Timestamp,
    ) -> Result<AddressBlock, ApiError> {
        let parsed = Network::parse(network).ok_or_else(|| {
            ApiError::invalid_field("network", "an IPv4 or IPv6 address, or a network in CIDR")
        })?;
        let (address, prefix) = parsed.parts();
        let least = if address.is_ipv4() { 8 } else { 16 };
        if prefix < least {
            return Err(ApiError::invalid_field(
                "network",
                "too wide: at least /8 for IPv4 and /16 for IPv6",
            ));
        }
        self.block_network(address, prefix, lasting, kind, reason, now)
            .await
    }

    /// Blocks one address (an IPv6 one by its /64) for `lasting`, as a flood does.
    pub async fn block_address(
        &self,
        address: IpAddr,
        lasting: Duration,
        reason: &str,
        now: Timestamp,
    ) -> Result<AddressBlock, ApiError> {
        self.block_network(address, 128, lasting, AddressBlockKind::Flood, reason, now)
            .await
    }

    async fn block_network(
        &self,
        address: IpAddr,
        prefix: u8,
        lasting: Duration,
        kind: AddressBlockKind,
        reason: &str,
        now: Timestamp,
    ) -> Result<AddressBlock, ApiError> {
        if lasting.is_zero() || lasting > MAX_BLOCK {
            return Err(ApiError::invalid_field(
                "duration_seconds",
                "between one second and 90 days",
            ));
        }
        let reason: String = reason.trim().chars().take(200).collect();
        let (family, prefix, bytes) = network_of(address, prefix);
        let until = now.plus(lasting);
        let mut hashes = Vec::new();
        for day in day_of(now)..=day_of(until) {
            let key = self.limiter.key_of_day(day, now).await?;
            hashes.push(DayHash {
                day,
                hash: day_hash(&key, family, prefix, &bytes)?,
            });
        }
        let block = AddressBlock {
            id: AddressBlockId::generate(),
            kind,
            family,
            prefix,
            reason,
            until,
            created_at: now,
        };
        self.store.add_address_block(&block, &hashes).await?;
        self.snapshot.lock().await.loaded = None;
        Ok(block)
    }

    pub async fn list(&self, now: Timestamp) -> Result<Vec<AddressBlock>, ApiError> {
        Ok(self.store.address_blocks(now).await?)
    }

    pub async fn lift(&self, id: AddressBlockId) -> Result<bool, ApiError> {
        let lifted = self.store.lift_address_block(id).await?;
        self.snapshot.lock().await.loaded = None;
        Ok(lifted)
    }

    /// Whether `address` is in a block in force. A store out of reach blocks nobody (the
    /// last copy read is kept meanwhile).
    pub async fn blocked(&self, address: IpAddr, now: Timestamp) -> bool {
        let day = day_of(now);
        let mut snapshot = self.snapshot.lock().await;
        let stale = snapshot.day != day
            || snapshot
                .loaded
                .is_none_or(|loaded| loaded.elapsed() >= REFRESH);
        if stale {
            match self.load(day, now).await {
                Ok(fresh) => *snapshot = fresh,
                Err(error) => {
                    tracing::warn!(%error, "address blocks not read; the last copy is used");
                    snapshot.loaded = Some(Instant::now());
                }
            }
        }
        if snapshot.hashes.is_empty() {
            return false;
        }
        let Ok(key) = self.limiter.key_of_day(day, now).await else {
            return false;
        };
        snapshot.prefixes.iter().any(|(family, prefix)| {
            let (own, prefix, bytes) = network_of(address, *prefix);
            own == *family
                && day_hash(&key, family, prefix, &bytes)
                    .is_ok_and(|hash| snapshot.hashes.contains(&hash))
        })
    }

    async fn load(&self, day: i64, now: Timestamp) -> Result<Snapshot, veilgram_core::StoreError> {
        let blocks = self.store.address_blocks(now).await?;
        let mut prefixes: Vec<(&'static str, u8)> = blocks
            .iter()
            .map(|block| (block.family, block.prefix))
            .collect();
        prefixes.sort_unstable();
        prefixes.dedup();
        let hashes = self.store.blocked_hashes(day, now).await?;
        Ok(Snapshot {
            day,
            loaded: Some(Instant::now()),
            prefixes,
            hashes: hashes.into_iter().collect(),
        })
    }
}

/// Whether a request to `route` is refused from a blocked network: every change under the API
/// but logging out, deleting one's account and the moderators' own routes.
pub fn guarded(method: &axum::http::Method, route: &str) -> bool {
    use axum::http::Method;
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
        || !route.starts_with("/api/v1/")
        || route.starts_with("/api/v1/admin/")
    {
        return false;
    }
    !matches!(
        (method.as_str(), route),
        ("POST", "/api/v1/auth/logout") | ("DELETE", "/api/v1/users/me")
    )
}

/// The answer to a write from a blocked network.
pub fn refusal() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "address_blocked",
        "this network is blocked from making changes for a while",
    )
}

/// Parses `7d`, `12h`, `30m`, `90s` or a number of seconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().last()? {
        (at, unit) if unit.is_ascii_alphabetic() => (&text[..at], unit),
        _ => (text, 's'),
    };
    let number: u64 = number.parse().ok()?;
    let seconds = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return None,
    };
    Some(Duration::from_secs(number.checked_mul(seconds)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_are_masked_to_their_prefix() {
        let (family, prefix, bytes) = network_of("203.0.113.77".parse().unwrap(), 24);
        assert_eq!((family, prefix, bytes), ("ipv4", 24, vec![203, 0, 113, 0]));
        let (_, _, bytes) = network_of("203.0.113.77".parse().unwrap(), 20);
        assert_eq!(bytes, vec![203, 0, 112, 0]);
        let (family, prefix, bytes) = network_of("2001:db8:1:2:3::9".parse().unwrap(), 128);
        assert_eq!((family, prefix), ("ipv6", 64), "IPv6 is keyed by its /64");
        assert_eq!(bytes, vec![0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2]);
    }

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(parse_duration("7d"), Some(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_duration("12h"), Some(Duration::from_secs(43_200)));
        assert_eq!(parse_duration("90"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("3w"), None);
        assert_eq!(parse_duration("d"), None);
    }
}
