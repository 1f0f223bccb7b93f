//! Rate limits: a budget per kind of request, counted in fixed windows on the cache port (so the
//! limits hold across every process sharing it), per account for authenticated requests and per
//! keyed hash of the client address otherwise.
//!
//! Client addresses are never stored: a bucket is named by HMAC-SHA256 of the address (an IPv6
//! address by its /64, which one subscriber usually holds whole) under a random key made for the
//! day. Day keys live in the relational store, apart from the hashes in the cache, and the key of
//! the day before yesterday is destroyed, so yesterday's buckets cannot be linked to addresses.
//! `X-Forwarded-For` is believed only from configured trusted proxies.

use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::{bearer_token, Authenticated};
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use veilgram_core::cache::{Cache, CacheKey};
use veilgram_core::ports::{ServerSecrets, StandingStore};
use veilgram_core::{Timestamp, UserId};

static RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
static RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// A per-address budget spent this many times over blocks its address for a while.
const FLOOD_FACTOR: u64 = 3;

/// The kinds of request that have budgets of their own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Budget {
    Signup,
    Login,
    Refresh,
    Posting,
    Commenting,
    Liking,
    Following,
    /// Links in new posts, edits and comments, counted per link (see `veilgram_core::text::links`).
    Links,
    Uploads,
    /// Other changes (edits, deletions, reports, votes, profile changes).
    Writes,
    Reads,
}

impl Budget {
    pub const ALL: [Self; 11] = [
        Self::Signup,
        Self::Login,
        Self::Refresh,
        Self::Posting,
        Self::Commenting,
        Self::Liking,
        Self::Following,
        Self::Links,
        Self::Uploads,
        Self::Writes,
        Self::Reads,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Self::Signup => "signup",
            Self::Login => "login",
            Self::Refresh => "refresh",
            Self::Posting => "posting",
            Self::Commenting => "commenting",
            Self::Liking => "liking",
            Self::Following => "following",
            Self::Links => "links",
            Self::Uploads => "uploads",
            Self::Writes => "writes",
            Self::Reads => "reads",
        }
    }

    /// Defaults close to Mastodon's published limits: sign-ups 5 per 30 minutes and logins 5
    /// per 5 minutes per address; statuses (posts, comments) 300 per 3 hours; media 30 per 30
    /// minutes; follows 400 per day; links 100 per 3 hours; everything else 300 per 5 minutes.
    pub const fn default_limit(self) -> Limit {
        let (count, seconds) = match self {
            Self::Signup => (5, 1800),
            Self::Login => (5, 300),
            Self::Refresh => (60, 300),
            Self::Posting | Self::Commenting => (300, 3 * 3600),
            Self::Links => (100, 3 * 3600),
            Self::Uploads => (30, 1800),
            Self::Following => (400, 24 * 3600),
            Self::Liking | Self::Writes | Self::Reads => (300, 300),
        };
        Limit { count, seconds }
    }

    /// The budget a request spends, from its method and route template.
    pub fn of(method: &Method, route: &str) -> Option<Self> {
        let budget = match (method.as_str(), route) {
            ("POST", "/api/v1/auth/signup") => Self::Signup,
            ("POST", "/api/v1/auth/login") => Self::Login,
            ("POST", "/api/v1/auth/refresh") => Self::Refresh,
            ("POST", "/api/v1/posts") => Self::Posting,
            ("POST", "/api/v1/posts/{id}/comments") => Self::Commenting,
            ("POST" | "DELETE", "/api/v1/posts/{id}/like" | "/api/v1/comments/{id}/like") => {
                Self::Liking
            }
            ("POST" | "DELETE", "/api/v1/users/{id}/follow") => Self::Following,
            ("POST", "/api/v1/media") => Self::Uploads,
            ("GET", _) if route.starts_with("/api/v1/") => Self::Reads,
            (_, _) if route.starts_with("/api/v1/") => Self::Writes,
            _ => return None,
        };
        Some(budget)
    }

    /// Budgets a new account earns over time (see `trust`).
    const fn earned(self) -> bool {
        matches!(
            self,
            Self::Posting | Self::Commenting | Self::Following | Self::Links
        )
    }

    /// Budgets that count per address even for authenticated callers (they guard sign-in).
    const fn per_address(self) -> bool {
        matches!(self, Self::Signup | Self::Login | Self::Refresh)
    }
}

/// `count` requests per `seconds`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    pub count: u64,
    pub seconds: u64,
}

impl Limit {
    /// Parses `count/seconds`, e.g. `300/300`.
    pub fn parse(text: &str) -> Option<Self> {
        let (count, seconds) = text.trim().split_once('/')?;
        let limit = Self {
            count: count.trim().parse().ok()?,
            seconds: seconds.trim().parse().ok()?,
        };
        (limit.seconds > 0).then_some(limit)
    }
}

/// A network (`addr/prefix`) whose `X-Forwarded-For` is believed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Network {
    address: IpAddr,
    prefix: u8,
}

impl Network {
    pub fn parse(text: &str) -> Option<Self> {
        let (address, prefix) = match text.trim().split_once('/') {
            Some((address, prefix)) => (address.parse().ok()?, prefix.parse().ok()?),
            None => {
                let address: IpAddr = text.trim().parse().ok()?;
                (address, if address.is_ipv4() { 32 } else { 128 })
            }
        };
        let bits = if address.is_ipv4() { 32 } else { 128 };
        (prefix <= bits).then_some(Self { address, prefix })
    }

    /// The network's address and prefix length.
    pub const fn parts(&self) -> (IpAddr, u8) {
        (self.address, self.prefix)
    }

    pub fn contains(&self, address: IpAddr) -> bool {
        match (self.address, canonical(address)) {
            (IpAddr::V4(network), IpAddr::V4(address)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(network) & mask == u32::from(address) & mask
            }
            (IpAddr::V6(network), IpAddr::V6(address)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(network) & mask == u128::from(address) & mask
            }
            _ => false,
        }
    }
}

/// Whether `address` is in one of `networks`.
pub(crate) fn within(networks: &[Network], address: IpAddr) -> bool {
    networks.iter().any(|network| network.contains(address))
}

/// IPv4-mapped IPv6 addresses are their IPv4 address.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        IpAddr::V4(_) => address,
    }
}

/// What an address is keyed on: IPv4 whole, IPv6 by its /64.
pub(crate) fn address_bytes(address: IpAddr) -> Vec<u8> {
    match canonical(address) {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets()[..8].to_vec(),
    }
}

#[derive(Clone, Debug)]
pub struct RateLimitSettings {
    /// Multiplies every budget; 0 turns limits off.
    pub scale: f64,
    pub limits: Vec<(Budget, Limit)>,
    pub trusted_proxies: Vec<Network>,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            scale: 1.0,
            limits: Budget::ALL
                .iter()
                .map(|budget| (*budget, budget.default_limit()))
                .collect(),
            trusted_proxies: Vec::new(),
        }
    }
}

pub struct RateLimiter {
    cache: Arc<dyn Cache>,
    secrets: Arc<dyn ServerSecrets>,
    settings: RateLimitSettings,
    /// Today's address key, by day number.
    day_key: Mutex<Option<(i64, Vec<u8>)>>,
    /// Accounts' age and kept content, for the budgets new accounts earn; none: full budgets.
    standing: Option<Arc<dyn StandingStore>>,
    /// Trust as last read, per account, for `STANDING_TTL`.
    trusted: Mutex<std::collections::HashMap<UserId, (std::time::Instant, f64)>>,
}

/// How long an account's trust is reused before it is read again.
const STANDING_TTL: Duration = Duration::from_secs(300);
/// Accounts whose trust this process remembers at most.
const STANDING_KEPT: usize = 100_000;

/// The share of the posting, commenting, following and link budgets an account has earned: a tenth
/// at sign-up, growing with age to the whole after a week, and by a twentieth for every post or
/// comment older than a day that is still up.
pub fn trust(age: Duration, content_kept: i64) -> f64 {
    let week = 7.0 * 24.0 * 3600.0;
    let aged = (age.as_secs_f64() / week).min(1.0);
    let kept = f64::from(u32::try_from(content_kept.clamp(0, 20)).unwrap_or(0));
    (0.1 + 0.9 * aged + 0.05 * kept).min(1.0)
}

const DAY_MS: i64 = 24 * 3600 * 1000;

impl RateLimiter {
    pub fn new(
        cache: Arc<dyn Cache>,
        secrets: Arc<dyn ServerSecrets>,
        settings: RateLimitSettings,
    ) -> Self {
        Self {
            cache,
            secrets,
            settings,
            day_key: Mutex::new(None),
            standing: None,
            trusted: Mutex::default(),
        }
    }

    /// Gives new accounts lower posting, commenting, following and link budgets, read from
    /// `store`.
    pub fn with_standing(mut self, store: Arc<dyn StandingStore>) -> Self {
        self.standing = Some(store);
        self
    }

    /// `user`'s trust (1 without a standing store, or when it cannot be read).
    async fn trust_of(&self, user: UserId, now: Timestamp) -> f64 {
        let Some(store) = &self.standing else {
            return 1.0;
        };
        if let Ok(trusted) = self.trusted.lock() {
            if let Some((at, trust)) = trusted.get(&user) {
                if at.elapsed() < STANDING_TTL {
                    return *trust;
                }
            }
        }
        let trust = match store.standing(user, now).await {
            Ok(Some(standing)) => {
                let age =
                    u64::try_from(now.as_millis() - standing.created_at.as_millis()).unwrap_or(0);
                trust(Duration::from_millis(age), standing.content_kept)
            }
            Ok(None) => 1.0,
            Err(error) => {
                tracing::warn!(%error, "an account's standing was not read; full budget");
                return 1.0;
            }
        };
        if let Ok(mut trusted) = self.trusted.lock() {
            if trusted.len() >= STANDING_KEPT {
                trusted.clear();
            }
            trusted.insert(user, (std::time::Instant::now(), trust));
        }
        trust
    }

    /// Whether any budget is enforced (a scale of 0 turns them all off).
    pub fn enabled(&self) -> bool {
        self.settings.scale > 0.0
    }

    fn limit(&self, budget: Budget) -> Option<Limit> {
        if self.settings.scale <= 0.0 {
            return None;
        }
        let limit = self
            .settings
            .limits
            .iter()
            .find(|(candidate, _)| *candidate == budget)
            .map_or_else(|| budget.default_limit(), |(_, limit)| *limit);
        Some(Limit {
            count: ((limit.count as f64) * self.settings.scale).ceil().max(1.0) as u64,
            seconds: limit.seconds,
        })
    }

    /// The address a request comes from: the peer, or the last address `X-Forwarded-For` names
    /// before the trusted proxies.
    pub fn client_address(&self, peer: Option<IpAddr>, forwarded: Option<&str>) -> Option<IpAddr> {
        let mut address = peer?;
        if let Some(forwarded) = forwarded {
            for hop in forwarded.rsplit(',') {
                if !self.trusted(address) {
                    break;
                }
                match hop.trim().parse::<IpAddr>() {
                    Ok(hop) => address = hop,
                    Err(_) => break,
                }
            }
        }
        Some(canonical(address))
    }

    /// [`Self::client_address`] of a request, from its connection and its headers.
    pub fn request_address(
        &self,
        extensions: &axum::http::Extensions,
        headers: &axum::http::HeaderMap,
    ) -> Option<IpAddr> {
        let peer = extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip());
        let forwarded = headers
            .get("x-forwarded-for")
            .and_then(|value| value.to_str().ok());
        self.client_address(peer, forwarded)
    }

    fn trusted(&self, address: IpAddr) -> bool {
        within(&self.settings.trusted_proxies, address)
    }

    /// The key of day `day`, made on first use and shared through the store; the key of two
    /// days before is destroyed then.
    async fn day_key(&self, day: i64) -> Result<Vec<u8>, ApiError> {
        if let Ok(current) = self.day_key.lock() {
            if let Some((known, key)) = current.as_ref() {
                if *known == day {
                    return Ok(key.clone());
                }
            }
        }
        let key = self
            .secrets
            .server_secret(&format!("address-key:{day}"))
            .await?;
        self.secrets
            .forget_server_secret(&format!("address-key:{}", day - 2))
            .await?;
        if let Ok(mut current) = self.day_key.lock() {
            *current = Some((day, key.clone()));
        }
        Ok(key)
    }

    /// The address key of day `day`: today's as the rate limits use it, another day's (made
    /// ahead of its day by a block that lasts into it) read or made without forgetting any.
    pub async fn key_of_day(&self, day: i64, now: Timestamp) -> Result<Vec<u8>, ApiError> {
        if day == now.as_millis().div_euclid(DAY_MS) {
            return self.day_key(day).await;
        }
        Ok(self
            .secrets
            .server_secret(&format!("address-key:{day}"))
            .await?)
    }

    /// The bucket name of an address today: a keyed hash, never the address.
    pub async fn address_bucket(
        &self,
        address: IpAddr,
        now: Timestamp,
    ) -> Result<String, ApiError> {
        let key = self.day_key(now.as_millis().div_euclid(DAY_MS)).await?;
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key)
            .map_err(|_| ApiError::internal(&"address key"))?;
        mac.update(&address_bytes(address));
        let digest = mac.finalize().into_bytes();
        Ok(veilgram_core::hex(&digest[..16]))
    }

    /// Spends `links` links of `user`'s link budget for a post, edit or comment about to be
    /// written. Over the budget, the links are given back (the refused text is not written)
    /// and the answer is a 429 `rate_limited` with `Retry-After`.
    pub async fn spend_links(&self, user: UserId, links: usize) -> Result<(), ApiError> {
        let amount = u64::try_from(links).unwrap_or(u64::MAX);
        if amount == 0 {
            return Ok(());
        }
        let who = Who::User(user);
        let now = Timestamp::now();
        let spent = self.spend(Budget::Links, &who, now, amount).await?;
        let Spent::Counted {
            over: true,
            reset,
            limit,
            ..
        } = &spent
        else {
            return Ok(());
        };
        if let Some(key) = Self::bucket(Budget::Links, &who, now, *limit) {
            let refund = -i64::try_from(amount).unwrap_or(i64::MAX);
            if self.cache.increment(&key, refund, None).await.is_err() {
                tracing::warn!("refused links were not given back: the cache is unavailable");
            }
        }
        Err(spent.refusal(*reset, "links in too many posts and comments"))
    }

    /// The cache key counting `budget` for `who` in the window `now` falls in.
    fn bucket(budget: Budget, who: &Who, now: Timestamp, limit: Limit) -> Option<CacheKey> {
        let window_ms = i64::try_from(limit.seconds).ok()?.checked_mul(1000)?;
        let window = now.as_millis().div_euclid(window_ms);
        let name = format!("rl:{}:{window}", budget.name());
        Some(match who {
            Who::User(user_id) => CacheKey::of_user(*user_id, &name),
            Who::Address(bucket) => CacheKey::named(&format!("{name}:a:{bucket}")),
        })
    }

    /// Spends `amount` of `budget` for `who`; the answer says whether it may go on.
    async fn spend(
        &self,
        budget: Budget,
        who: &Who,
        now: Timestamp,
        amount: u64,
    ) -> Result<Spent, ApiError> {
        let Some(mut limit) = self.limit(budget) else {
            return Ok(Spent::Unlimited);
        };
        if let (Who::User(user), true) = (who, budget.earned()) {
            let trust = self.trust_of(*user, now).await;
            limit.count = ((limit.count as f64) * trust).floor().max(1.0) as u64;
        }
        let window_ms = limit.seconds as i64 * 1000;
        let window = now.as_millis().div_euclid(window_ms);
        let Some(key) = Self::bucket(budget, who, now, limit) else {
            return Ok(Spent::Unlimited);
        };
        let ttl = Duration::from_millis(window_ms as u64);
        let delta = i64::try_from(amount).unwrap_or(i64::MAX);
        let used = match self.cache.increment(&key, delta, Some(ttl)).await {
            Ok(used) => used.max(0) as u64,
            Err(error) => {
                // Limits fail open: a cache outage must not take the whole API down with it.
                tracing::warn!(error = %error, "rate limit not checked: the cache is unavailable");
                return Ok(Spent::Unlimited);
            }
        };
        let left_ms = ((window + 1) * window_ms - now.as_millis()).max(0) as u64;
        let reset = left_ms.div_ceil(1000).max(1);
        Ok(Spent::Counted {
            budget,
            used,
            limit,
            remaining: limit.count.saturating_sub(used),
            reset,
            over: used > limit.count,
        })
    }
}

enum Who {
    User(UserId),
    Address(String),
}

enum Spent {
    Unlimited,
    Counted {
        budget: Budget,
        /// Requests counted in this window, this one included.
        used: u64,
        limit: Limit,
        remaining: u64,
        reset: u64,
        over: bool,
    },
}

impl Spent {
    /// The 429 for a spent budget, with `Retry-After` and the budget's headers.
    fn refusal(&self, reset: u64, what: &str) -> ApiError {
        let mut error = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("{what}; retry in {reset} s"),
        );
        if let Ok(value) = HeaderValue::from_str(&reset.to_string()) {
            error.headers.push((header::RETRY_AFTER, value));
        }
        error.headers.extend(self.headers());
        error
    }

    fn headers(&self) -> Vec<(HeaderName, HeaderValue)> {
        let Self::Counted {
            budget,
            limit,
            remaining,
            reset,
            ..
        } = self
        else {
            return Vec::new();
        };
        let name = budget.name();
        let policy = format!("\"{name}\";q={};w={}", limit.count, limit.seconds);
        let state = format!("\"{name}\";r={remaining};t={reset}");
        [(&RATELIMIT_POLICY, policy), (&RATELIMIT, state)]
            .into_iter()
            .filter_map(|(header, value)| {
                HeaderValue::from_str(&value)
                    .ok()
                    .map(|value| (header.clone(), value))
            })
            .collect()
    }
}

/// The middleware: finds the request's budget, spends from it, and answers 429 when it is
/// spent; every limited answer carries `RateLimit-Policy` and `RateLimit`.
pub async fn rate_limit(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let limiter = state.rate_limits.as_ref();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned());
    let now = Timestamp::now();
    let address = limiter.request_address(request.extensions(), request.headers());
    if let (Some(route), Some(address)) = (route.as_deref(), address) {
        if crate::blocks::guarded(request.method(), route)
            && state.address_blocks.blocked(address, now).await
        {
            return crate::blocks::refusal().into_response();
        }
    }
    if !limiter.enabled() {
        return next.run(request).await;
    }
    let Some(budget) = route.and_then(|route| Budget::of(request.method(), &route)) else {
        return next.run(request).await;
    };
    // A signed, unexpired token names whose budget to spend from at once; its check against
    // the revocation list shared through the cache goes out together with the spending.
    let token = bearer_token(request.headers())
        .ok()
        .filter(|_| !budget.per_address())
        .and_then(|token| state.auth.verify(token).ok());
    let who = match token {
        Some(token) => Who::User(token.user_id()),
        None => {
            match address {
                Some(address) => match limiter.address_bucket(address, now).await {
                    Ok(bucket) => Who::Address(bucket),
                    Err(error) => return error.into_response(),
                },
                // No peer address (an in-process caller): one shared bucket.
                None => Who::Address("unknown".into()),
            }
        }
    };
    let confirm = async {
        match token {
            Some(token) => state.auth.confirm(token).await.ok(),
            None => None,
        }
    };
    let (principal, spent) = tokio::join!(confirm, limiter.spend(budget, &who, now, 1));
    if let Some(principal) = principal {
        // The handler's extractor takes it from here instead of checking the token again.
        request.extensions_mut().insert(Authenticated(principal));
    }
    let spent = match spent {
        Ok(spent) => spent,
        Err(error) => return error.into_response(),
    };
    if let (Spent::Counted { used, limit, .. }, Some(address)) = (&spent, address) {
        // A flood of sign-ups or logins blocks its address for a while, once.
        if budget.per_address() && *used == limit.count * FLOOD_FACTOR + 1 {
            let reason = format!("{} flood", budget.name());
            match state
                .address_blocks
                .block_address(address, crate::blocks::FLOOD_BLOCK, &reason, now)
                .await
            {
                Ok(_) => tracing::warn!(budget = budget.name(), "a flooding address was blocked"),
                Err(_) => tracing::warn!("a flooding address could not be blocked"),
            }
        }
    }
    let headers = spent.headers();
    let mut response = match spent {
        Spent::Counted {
            over: true, reset, ..
        } => spent
            .refusal(reset, &format!("too many {} requests", budget.name()))
            .into_response(),
        _ => next.run(request).await,
    };
    for (name, value) in headers {
        // A handler's own refusal (the links budget) describes the budget that refused.
        response.headers_mut().entry(name).or_insert(value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_accounts_earn_their_budgets_with_age_and_kept_content() {
        let hour = Duration::from_secs(3600);
        assert!(
            (trust(Duration::ZERO, 0) - 0.1).abs() < 1e-9,
            "a tenth at sign-up"
        );
        assert!(trust(hour * 23, 0) < 0.25, "still low within the first day");
        assert!(trust(hour * 24, 0) > trust(hour * 23, 0), "grows with age");
        assert!(
            trust(hour * 24, 4) > trust(hour * 24, 0) + 0.19,
            "and with kept content"
        );
        assert!(
            (trust(hour * 24 * 7, 0) - 1.0).abs() < 1e-9,
            "whole after a week"
        );
        assert!(
            (trust(hour, 1000) - 1.0).abs() < 1e-9,
            "never more than whole"
        );
        assert!((trust(hour, -5) - trust(hour, 0)).abs() < 1e-9);
    }

    #[test]
    fn networks_match_their_addresses() {
        let network = Network::parse("10.0.0.0/8").unwrap();
        assert!(network.contains("10.200.3.4".parse().unwrap()));
        assert!(network.contains("::ffff:10.1.1.1".parse().unwrap()));
        assert!(!network.contains("11.0.0.1".parse().unwrap()));
        let single = Network::parse("2001:db8::1").unwrap();
        assert!(single.contains("2001:db8::1".parse().unwrap()));
        assert!(!single.contains("2001:db8::2".parse().unwrap()));
        assert!(Network::parse("10.0.0.0/33").is_none());
        assert!(Network::parse("nonsense").is_none());
    }

    #[test]
    fn ipv6_is_keyed_on_its_64_and_ipv4_whole() {
        let a = address_bytes("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = address_bytes("2001:db8:1:2:bbbb::9".parse().unwrap());
        let c = address_bytes("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(
            address_bytes("192.0.2.1".parse().unwrap()),
            address_bytes("192.0.2.2".parse().unwrap())
        );
        assert_eq!(
            address_bytes("::ffff:192.0.2.1".parse().unwrap()),
            address_bytes("192.0.2.1".parse().unwrap())
        );
    }

    #[test]
    fn limits_parse_and_every_route_kind_has_a_budget() {
        assert_eq!(
            Limit::parse(" 3 / 60 "),
            Some(Limit {
                count: 3,
                seconds: 60
            })
        );
        assert_eq!(Limit::parse("3/0"), None);
        assert_eq!(Limit::parse("three/60"), None);
        assert_eq!(
            Budget::of(&Method::POST, "/api/v1/posts/{id}/comments"),
            Some(Budget::Commenting)
        );
        assert_eq!(
            Budget::of(&Method::DELETE, "/api/v1/users/{id}/follow"),
            Some(Budget::Following)
        );
        assert_eq!(
            Budget::of(&Method::GET, "/api/v1/feed/home"),
            Some(Budget::Reads)
        );
        assert_eq!(
            Budget::of(&Method::PATCH, "/api/v1/users/me"),
            Some(Budget::Writes)
        );
        assert_eq!(Budget::of(&Method::GET, "/healthz"), None);
    }
}
