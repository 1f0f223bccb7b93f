//! Push delivery as jobs on the job-queue port: every notification becomes one job per device
//! of its recipient; a worker sends it, retrying with exponential backoff (never sooner than a
//! `Retry-After`), dead-lettering after the last attempt, and forgetting devices their push
//! service no longer knows (404, 410).
//!
//! Web Push messages carry the notification encrypted for the browser (RFC 8291, RFC 8292
//! VAPID); APNs and FCM messages carry only a "something new" signal (see `providers`).
//!
//! The HTTP client resolves names itself and refuses any that lead to this network (unless
//! local endpoints are allowed for development), and follows no redirects: an endpoint cannot
//! be used to reach an internal service.

use crate::providers::{retry_after, Answer, Apns, Fcm};
use crate::push::internal;
use crate::webpush::{encrypt, VapidKey};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use veilgram_core::jobs::{backoff, JobQueue, NewJob};
use veilgram_core::ports::{NotificationRecord, PushDeviceStore, PushTarget};
use veilgram_core::{JobId, PushDeviceId, StoreError, Timestamp};

pub const PUSH_QUEUE: &str = "push";
const ATTEMPTS: i64 = 5;
/// How long a push service should keep an undelivered message.
const TIME_TO_LIVE_SECONDS: u64 = 24 * 3600;

#[derive(Serialize, Deserialize)]
struct PushJob {
    device_id: PushDeviceId,
    /// The notification as clients see it (encrypted before it leaves).
    notification: serde_json::Value,
}

/// Queues push jobs for notifications.
pub struct PushQueue {
    devices: Arc<dyn PushDeviceStore>,
    jobs: Arc<dyn JobQueue>,
    /// Platforms this deployment delivers to (`webpush`, and `fcm`/`apns` when configured).
    platforms: Vec<&'static str>,
}

impl PushQueue {
    pub fn new(
        devices: Arc<dyn PushDeviceStore>,
        jobs: Arc<dyn JobQueue>,
        platforms: Vec<&'static str>,
    ) -> Self {
        Self {
            devices,
            jobs,
            platforms,
        }
    }

    /// One job per device of the notification's recipient on a delivered platform.
    pub async fn queue(&self, notification: &NotificationRecord) -> Result<(), StoreError> {
        for device in self.devices.devices_of(notification.user_id).await? {
            if !self.platforms.contains(&device.target.platform()) {
                continue;
            }
            let job = PushJob {
                device_id: device.id,
                notification: crate::to_json(notification),
            };
            self.jobs
                .enqueue(NewJob {
                    id: JobId::generate(),
                    queue: PUSH_QUEUE,
                    payload: serde_json::to_string(&job).unwrap_or_default(),
                    max_attempts: ATTEMPTS,
                })
                .await?;
        }
        Ok(())
    }
}

/// Resolves names with the system resolver and drops addresses on this network.
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|address| !internal(address.ip()))
                .collect();
            if found.is_empty() {
                return Err("the endpoint resolves to no public address".into());
            }
            Ok(Box::new(found.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// What one attempt came to.
enum Sent {
    Delivered,
    /// The push service no longer knows the device.
    Gone,
    Retry(String, Option<Duration>),
    Refused(String),
}

impl From<Answer> for Sent {
    fn from(answer: Answer) -> Self {
        match answer {
            Answer::Delivered => Self::Delivered,
            Answer::Gone => Self::Gone,
            Answer::Retry(error, wait) => Self::Retry(error, wait),
            Answer::Refused(error) => Self::Refused(error),
        }
    }
}

pub struct PushWorker {
    devices: Arc<dyn PushDeviceStore>,
    jobs: Arc<dyn JobQueue>,
    vapid: VapidKey,
    /// The VAPID `sub`: how push services reach the operator (`mailto:` or `https:`).
    subject: String,
    client: reqwest::Client,
    backoff: Duration,
    allow_local_endpoints: bool,
    apns: Option<Apns>,
    fcm: Option<Fcm>,
}

impl PushWorker {
    pub fn new(
        devices: Arc<dyn PushDeviceStore>,
        jobs: Arc<dyn JobQueue>,
        vapid: VapidKey,
        subject: String,
        allow_local_endpoints: bool,
        backoff: Duration,
    ) -> Result<Self, reqwest::Error> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(15))
            .user_agent("veilgram");
        if !allow_local_endpoints {
            builder = builder.dns_resolver(Arc::new(PublicOnly));
        }
        Ok(Self {
            devices,
            jobs,
            vapid,
            subject,
            client: builder.build()?,
            backoff,
            allow_local_endpoints,
            apns: None,
            fcm: None,
        })
    }

    /// Delivers to APNs devices too.
    pub fn with_apns(mut self, apns: Apns) -> Self {
        self.apns = Some(apns);
        self
    }

    /// Delivers to FCM devices too.
    pub fn with_fcm(mut self, fcm: Fcm) -> Self {
        self.fcm = Some(fcm);
        self
    }

    /// Sends one due push, if any; answers whether one ran.
    pub async fn run_once(&self) -> Result<bool, StoreError> {
        let Some(job) = self.jobs.lease(PUSH_QUEUE).await? else {
            return Ok(false);
        };
        let task = serde_json::from_str::<PushJob>(&job.payload).ok();
        let outcome = match &task {
            Some(task) => self.send(task).await?,
            None => Sent::Refused("unreadable payload".into()),
        };
        match outcome {
            Sent::Delivered => self.jobs.ack(&job).await?,
            Sent::Gone => {
                if let Some(task) = &task {
                    self.devices.forget_device(task.device_id).await?;
                }
                self.jobs.ack(&job).await?;
            }
            Sent::Retry(error, at_least) => {
                let delay = backoff(self.backoff, job.attempt).max(at_least.unwrap_or_default());
                self.jobs.fail(&job, &error, delay).await?;
            }
            Sent::Refused(error) => {
                tracing::warn!(%error, "a push was refused; dead-lettered");
                self.jobs.dead_letter(&job, &error).await?;
            }
        }
        Ok(true)
    }

    async fn send(&self, task: &PushJob) -> Result<Sent, StoreError> {
        let Some(device) = self.devices.device(task.device_id).await? else {
            return Ok(Sent::Gone); // unregistered meanwhile
        };
        let (endpoint, p256dh, auth) = match &device.target {
            PushTarget::WebPush {
                endpoint,
                p256dh,
                auth,
            } => (endpoint, p256dh, auth),
            PushTarget::Apns { token } => {
                return Ok(match &self.apns {
                    Some(apns) => apns.send(token).await.into(),
                    None => Sent::Refused("APNs is not configured".into()),
                });
            }
            PushTarget::Fcm { token } => {
                return Ok(match &self.fcm {
                    Some(fcm) => fcm.send(&self.client, token).await.into(),
                    None => Sent::Refused("FCM is not configured".into()),
                });
            }
        };
        // Names are checked by the resolver; an address in the URL never reaches it.
        let literal = url::Url::parse(endpoint)
            .ok()
            .and_then(|url| match url.host() {
                Some(url::Host::Ipv4(v4)) => Some(std::net::IpAddr::V4(v4)),
                Some(url::Host::Ipv6(v6)) => Some(std::net::IpAddr::V6(v6)),
                _ => None,
            });
        if !self.allow_local_endpoints && literal.is_some_and(internal) {
            return Ok(Sent::Refused("the endpoint is on this network".into()));
        }
        let keys = (URL_SAFE_NO_PAD.decode(p256dh), URL_SAFE_NO_PAD.decode(auth));
        let (Ok(p256dh), Ok(auth)) = keys else {
            return Ok(Sent::Refused("unreadable subscription keys".into()));
        };
        let body = match encrypt(task.notification.to_string().as_bytes(), &p256dh, &auth) {
            Ok(body) => body,
            Err(error) => return Ok(Sent::Refused(error.to_string())),
        };
        let seconds = Timestamp::now().as_millis() / 1000;
        let authorization = match self.vapid.authorization(endpoint, &self.subject, seconds) {
            Ok(header) => header,
            Err(error) => return Ok(Sent::Refused(error.to_string())),
        };
        let sent = self
            .client
            .post(endpoint)
            .header("authorization", authorization)
            .header("content-encoding", "aes128gcm")
            .header("content-type", "application/octet-stream")
            .header("ttl", TIME_TO_LIVE_SECONDS.to_string())
            .header("urgency", "normal")
            .body(body)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(error) => return Ok(Sent::Retry(format!("unreachable: {error}"), None)),
        };
        let status = response.status().as_u16();
        let retry_after = retry_after(&response);
        Ok(match status {
            200..=299 => Sent::Delivered,
            404 | 410 => Sent::Gone,
            429 | 500..=599 => Sent::Retry(format!("push service answered {status}"), retry_after),
            _ => Sent::Refused(format!("push service refused the message: {status}")),
        })
    }

    /// Sends pushes until the process ends.
    /// Sends pushes until `stop` says so; the push under way is finished first.
    pub fn spawn(
        self: Arc<Self>,
        interval: Duration,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            while !*stop.borrow() {
                match self.run_once().await {
                    Ok(true) => continue,
                    Ok(false) => {}
                    Err(error) => tracing::warn!(%error, "the push worker failed; retrying"),
                }
                tokio::select! {
                    () = tokio::time::sleep(interval) => {}
                    _ = stop.changed() => {}
                }
            }
        })
    }
}
