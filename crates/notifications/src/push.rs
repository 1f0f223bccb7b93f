//! Devices registered for push: validated here, before anything is stored. A Web Push endpoint
//! is a URL the server will call, so it must be `https` and must not name this network (a
//! loopback, private, link-local or otherwise internal address, or a local host name): no
//! server-side request forgery. Tests and development allow local endpoints by setting.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use std::net::IpAddr;
use std::sync::Arc;
use veilgram_core::ports::{PushDevice, PushDeviceStore, PushTarget};
use veilgram_core::{PushDeviceId, StoreError, Timestamp, UserId};

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("{1}")]
    Invalid(&'static str, String),
    #[error("device not found")]
    NotFound,
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for PushError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => Self::NotFound,
            other => Self::Store(other),
        }
    }
}

pub struct PushDevices {
    store: Arc<dyn PushDeviceStore>,
    /// Development and tests only: Web Push endpoints on this network (http, loopback).
    allow_local_endpoints: bool,
}

/// Whether an address belongs to this host or a private network.
pub(crate) fn internal(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || v4.octets()[0] == 0
                || (v4.octets()[0] == 100 && (64..128).contains(&v4.octets()[1]))
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| internal(IpAddr::V4(v4)))
        }
    }
}

fn key(text: &str, field: &'static str, length: usize) -> Result<Vec<u8>, PushError> {
    URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .ok()
        .filter(|bytes| bytes.len() == length)
        .ok_or_else(|| {
            PushError::Invalid(field, format!("{field} must be {length} bytes, base64url"))
        })
}

impl PushDevices {
    pub fn new(store: Arc<dyn PushDeviceStore>, allow_local_endpoints: bool) -> Self {
        Self {
            store,
            allow_local_endpoints,
        }
    }

    fn validate(&self, target: &PushTarget) -> Result<(), PushError> {
        match target {
            PushTarget::Fcm { token } => {
                if token.is_empty()
                    || token.len() > 4096
                    || !token.bytes().all(|b| b.is_ascii_graphic())
                {
                    return Err(PushError::Invalid(
                        "token",
                        "an FCM token is 1 to 4096 visible characters".into(),
                    ));
                }
            }
            PushTarget::Apns { token } => {
                if !(64..=200).contains(&token.len())
                    || !token.bytes().all(|b| b.is_ascii_hexdigit())
                {
                    return Err(PushError::Invalid(
                        "token",
                        "an APNs token is 64 to 200 hex digits".into(),
                    ));
                }
            }
            PushTarget::WebPush {
                endpoint,
                p256dh,
                auth,
            } => {
                let invalid =
                    |message: &str| PushError::Invalid("subscription.endpoint", message.to_owned());
                if endpoint.len() > 2048 {
                    return Err(invalid("the endpoint is too long"));
                }
                let url =
                    url::Url::parse(endpoint).map_err(|_| invalid("the endpoint is not a URL"))?;
                let secure = url.scheme() == "https"
                    || (self.allow_local_endpoints && url.scheme() == "http");
                if !secure || !url.username().is_empty() || url.password().is_some() {
                    return Err(invalid("the endpoint must be an https URL"));
                }
                let local = match url.host() {
                    None => true,
                    Some(url::Host::Ipv4(v4)) => internal(IpAddr::V4(v4)),
                    Some(url::Host::Ipv6(v6)) => internal(IpAddr::V6(v6)),
                    Some(url::Host::Domain(domain)) => {
                        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
                        !domain.contains('.')
                            || [
                                "localhost",
                                ".local",
                                ".internal",
                                ".localdomain",
                                ".home.arpa",
                            ]
                            .iter()
                            .any(|suffix| {
                                domain == suffix.trim_start_matches('.') || domain.ends_with(suffix)
                            })
                    }
                };
                if local && !self.allow_local_endpoints {
                    return Err(invalid("the endpoint must be on the public internet"));
                }
                let point = key(p256dh, "subscription.keys.p256dh", 65)?;
                if point.first() != Some(&0x04) {
                    return Err(PushError::Invalid(
                        "subscription.keys.p256dh",
                        "p256dh must be an uncompressed P-256 point".into(),
                    ));
                }
                key(auth, "subscription.keys.auth", 16)?;
            }
        }
        Ok(())
    }

    /// Registers (or takes over) a device for `user_id`.
    pub async fn register(
        &self,
        user_id: UserId,
        target: PushTarget,
    ) -> Result<PushDevice, PushError> {
        self.validate(&target)?;
        let device = PushDevice {
            id: PushDeviceId::random(),
            user_id,
            target,
            created_at: Timestamp::now(),
        };
        Ok(self.store.register_device(&device).await?)
    }

    pub async fn remove(&self, user_id: UserId, id: PushDeviceId) -> Result<(), PushError> {
        Ok(self.store.remove_device(user_id, id).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_told_apart() {
        for address in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(internal(address.parse().unwrap()), "{address}");
        }
        for address in ["8.8.8.8", "142.250.1.1", "2607:f8b0:4005::200e"] {
            assert!(!internal(address.parse().unwrap()), "{address}");
        }
    }
}
