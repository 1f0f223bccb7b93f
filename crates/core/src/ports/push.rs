//! Push devices: where a user's notifications are pushed (Web Push, FCM, APNs).

use super::*;

/// Where a push goes: a provider's device token, or a Web Push subscription.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PushTarget {
    Fcm {
        token: String,
    },
    Apns {
        token: String,
    },
    WebPush {
        endpoint: String,
        /// The subscription's P-256 public key and authentication secret, base64url.
        p256dh: String,
        auth: String,
    },
}

impl PushTarget {
    pub const fn platform(&self) -> &'static str {
        match self {
            Self::Fcm { .. } => "fcm",
            Self::Apns { .. } => "apns",
            Self::WebPush { .. } => "webpush",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushDevice {
    pub id: PushDeviceId,
    pub user_id: UserId,
    pub target: PushTarget,
    pub created_at: Timestamp,
}

#[async_trait]
pub trait PushDeviceStore: Send + Sync {
    /// Registers a device; one registered before (the same token or endpoint) now belongs to
    /// this user, keeping its id. Answers the stored device.
    async fn register_device(&self, device: &PushDevice) -> Result<PushDevice, StoreError>;

    /// `NotFound` unless the device is the user's.
    async fn remove_device(&self, user_id: UserId, id: PushDeviceId) -> Result<(), StoreError>;

    async fn devices_of(&self, user_id: UserId) -> Result<Vec<PushDevice>, StoreError>;

    async fn device(&self, id: PushDeviceId) -> Result<Option<PushDevice>, StoreError>;

    /// Forgets a device its push service no longer knows (404/410 answers).
    async fn forget_device(&self, id: PushDeviceId) -> Result<(), StoreError>;
}
