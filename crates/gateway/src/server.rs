//! The HTTP server loop: what `axum::serve` does, plus what a listener facing the internet
//! needs against slow and greedy clients.
//!
//! - A request's head must arrive within [`ServerLimits::header_timeout`]; the same clock runs
//!   while a kept-alive connection waits for its next request, so it is also the idle timeout.
//! - A request body must keep coming: a pause longer than [`ServerLimits::body_timeout`]
//!   between two of its frames ends the request.
//! - At most [`ServerLimits::max_connections`] connections at once, and at most
//!   [`ServerLimits::max_connections_per_address`] from one address (an IPv6 address by its
//!   /64; trusted proxies are not capped, the addresses behind them are by the rate limits).
//!   Beyond either the connection is closed as soon as it is accepted, so the backlog keeps
//!   draining and everyone else is still served.
//! - The overall cap stays below the process's file-descriptor limit, less what is open at
//!   start and a reserve for the store, caches and media files; if descriptors run out anyway, one held in reserve is let
//!   go to accept (and close) the waiting connection, so accepting never stalls.
//!
//! Addresses are counted under a keyed hash (a random key made at start), never kept.

use crate::limits::{address_bytes, within, Network};
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use std::collections::HashMap;
use std::future::Future;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tower::ServiceExt as _;
use tower_http::timeout::RequestBodyTimeout;

/// Descriptors kept free of connections for everything else the process opens (a quarter of
/// the limit when that is less).
const DESCRIPTOR_RESERVE: usize = 256;

#[derive(Clone, Debug)]
pub struct ServerLimits {
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub max_connections: usize,
    pub max_connections_per_address: usize,
    /// Peers not capped per address (a reverse proxy speaks for many people).
    pub trusted_proxies: Vec<Network>,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(15),
            max_connections: 16_384,
            max_connections_per_address: 256,
            trusted_proxies: Vec::new(),
        }
    }
}

impl ServerLimits {
    /// The cap on connections this process can really hold: the configured one, or less when
    /// the file-descriptor limit, less what is open already, would not leave the reserve free.
    pub fn effective_max_connections(&self) -> usize {
        match open_files_limit() {
            Some(limit) => {
                let open = std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count);
                let free = limit
                    .saturating_sub(open)
                    .saturating_sub(DESCRIPTOR_RESERVE.min(limit / 4));
                self.max_connections.min(free.max(16))
            }
            None => self.max_connections,
        }
    }
}

/// The soft limit on open files (Linux: from `/proc/self/limits`).
fn open_files_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Counts of something held per client address, under a keyed hash of the address.
#[derive(Debug)]
pub struct AddressCounts {
    key: std::hash::RandomState,
    limit: usize,
    held: Mutex<HashMap<u64, usize>>,
}

/// One unit counted for an address, given back on drop.
#[derive(Debug)]
pub struct AddressSlot {
    counts: Arc<AddressCounts>,
    address: u64,
}

impl AddressCounts {
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            key: std::hash::RandomState::new(),
            limit,
            held: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for `address`, unless it already holds the limit.
    pub fn claim(self: &Arc<Self>, address: IpAddr) -> Option<AddressSlot> {
        let hashed = self.key.hash_one(address_bytes(address));
        let mut held = self
            .held
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = held.entry(hashed).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(AddressSlot {
            counts: Arc::clone(self),
            address: hashed,
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut held = self
            .counts
            .held
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = held.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.address);
            }
        }
    }
}

/// A descriptor held so that one is always free to accept with when the limit is reached.
fn reserve_descriptor() -> Option<std::fs::File> {
    std::fs::File::open("/dev/null").ok()
}

fn out_of_descriptors(error: &std::io::Error) -> bool {
    // EMFILE (24) and ENFILE (23): no errno crate needed for two numbers.
    matches!(error.raw_os_error(), Some(23 | 24))
}

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting, lets every
/// connection finish its requests, and returns once they have.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()>,
) {
    let max_connections = limits.effective_max_connections();
    let connections = Arc::new(Semaphore::new(max_connections));
    let per_address = AddressCounts::new(limits.max_connections_per_address);
    let (closing_sender, closing) = watch::channel(false);
    let mut reserve = reserve_descriptor();
    let mut shutdown = pin!(shutdown);
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .enable_connect_protocol()
        .keep_alive_interval(Some(limits.header_timeout))
        .keep_alive_timeout(limits.header_timeout);
    let builder = Arc::new(builder);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) if out_of_descriptors(&error) => {
                tracing::warn!("out of file descriptors: shedding a connection");
                drop(reserve.take());
                if let Ok((stream, _)) = listener.accept().await {
                    drop(stream);
                }
                reserve = reserve_descriptor();
                continue;
            }
            Err(error) => {
                // Errors of one connection (reset before accept, ...): go on at once.
                tracing::debug!(%error, "accept failed");
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&connections).try_acquire_owned() else {
            tracing::debug!("connection cap reached: closing a new connection");
            continue;
        };
        let slot = if within(&limits.trusted_proxies, peer.ip()) {
            None
        } else {
            let Some(slot) = per_address.claim(peer.ip()) else {
                tracing::debug!("per-address connection cap reached: closing");
                continue;
            };
            Some(slot)
        };
        let _ = stream.set_nodelay(true);
        let service = RequestBodyTimeout::new(router.clone(), limits.body_timeout).map_request(
            move |mut request: axum::http::Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            },
        );
        let builder = Arc::clone(&builder);
        let mut closing = closing.clone();
        tokio::spawn(async move {
            let _held = (permit, slot);
            let connection = builder.serve_connection_with_upgrades(
                TokioIo::new(stream),
                TowerToHyperService::new(service),
            );
            let mut connection = pin!(connection);
            let closing = async move {
                let _ = closing.wait_for(|closing| *closing).await;
            };
            tokio::select! {
                outcome = connection.as_mut() => {
                    if let Err(error) = outcome {
                        tracing::trace!(error = %error, "connection ended with an error");
                    }
                    return;
                }
                () = closing => connection.as_mut().graceful_shutdown(),
            }
            // Closing: the connection finishes what it serves, then ends.
            if let Err(error) = connection.as_mut().await {
                tracing::trace!(error = %error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    let _ = closing_sender.send(true);
    // Every connection gives its permit back when it is done.
    let _ = connections.acquire_many(max_connections as u32).await;
}
