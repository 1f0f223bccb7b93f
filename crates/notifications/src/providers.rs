//! The mobile push providers: APNs (HTTP/2, ES256 provider tokens) and FCM HTTP v1 (OAuth 2
//! access tokens from a service account's RS256-signed assertion). Both only ever carry a
//! "something new" signal: the app fetches its notifications itself.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{
    EcdsaKeyPair, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING, RSA_PKCS1_SHA256,
};
use std::sync::Mutex;
use std::time::Duration;
use veilgram_core::Timestamp;

/// The DER inside a PEM document (a `.p8` key, a service account's `private_key`).
pub fn pem_to_der(pem: &str) -> Option<Vec<u8>> {
    let body: String = pem
        .lines()
        .map(str::trim)
        .filter(|line| !line.starts_with("-----"))
        .collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}

/// What a provider's answer means for the job.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    Delivered,
    /// The device token is no longer valid: forget the device.
    Gone,
    Retry(String, Option<Duration>),
    Refused(String),
}

/// A compact JWS: `base64url(header).base64url(claims).base64url(sign(…))`.
pub(crate) fn jwt(
    header: &serde_json::Value,
    claims: &serde_json::Value,
    sign: impl FnOnce(&[u8]) -> Option<Vec<u8>>,
) -> Option<String> {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = sign(input.as_bytes())?;
    Some(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

/// A response's JSON body (`Null` when it has none).
async fn read_json(response: reqwest::Response) -> serde_json::Value {
    let bytes = response.bytes().await.unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or_default()
}

/// A `Retry-After` given in seconds.
pub(crate) fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    response
        .headers()
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse().ok())
        .map(Duration::from_secs)
}

/// APNs settings: the `.p8` key (PKCS#8), its id, the team, the app's topic, the endpoint.
#[derive(Clone, Debug)]
pub struct ApnsSettings {
    pub key_pkcs8: Vec<u8>,
    pub key_id: String,
    pub team_id: String,
    pub topic: String,
    /// `https://api.push.apple.com` (or the sandbox).
    pub endpoint: String,
}

pub struct Apns {
    settings: ApnsSettings,
    key: EcdsaKeyPair,
    /// HTTP/2 only (negotiated over TLS; prior knowledge on a plain `http://` endpoint).
    client: reqwest::Client,
    /// The provider token and when it was made: APNs wants it renewed within the hour, and no
    /// more than every 20 minutes.
    token: Mutex<Option<(String, i64)>>,
}

impl Apns {
    pub fn new(settings: ApnsSettings) -> Result<Self, String> {
        let key = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &settings.key_pkcs8,
            &SystemRandom::new(),
        )
        .map_err(|_| "the APNs key is not a P-256 PKCS#8 key".to_owned())?;
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(15));
        if settings.endpoint.starts_with("http://") {
            builder = builder.http2_prior_knowledge();
        }
        let client = builder.build().map_err(|error| error.to_string())?;
        Ok(Self {
            settings,
            key,
            client,
            token: Mutex::new(None),
        })
    }

    fn provider_token(&self, now_seconds: i64) -> Option<String> {
        let mut cached = self.token.lock().ok()?;
        if let Some((token, made)) = cached.as_ref() {
            if now_seconds - made < 40 * 60 {
                return Some(token.clone());
            }
        }
        let header = serde_json::json!({ "alg": "ES256", "kid": self.settings.key_id });
        let claims = serde_json::json!({ "iss": self.settings.team_id, "iat": now_seconds });
        let token = jwt(&header, &claims, |input| {
            self.key
                .sign(&SystemRandom::new(), input)
                .ok()
                .map(|signature| signature.as_ref().to_vec())
        })?;
        *cached = Some((token.clone(), now_seconds));
        Some(token)
    }

    /// A silent "something new" push to one device.
    pub async fn send(&self, device_token: &str) -> Answer {
        let client = &self.client;
        let Some(token) = self.provider_token(Timestamp::now().as_millis() / 1000) else {
            return Answer::Refused("cannot sign an APNs provider token".into());
        };
        let url = format!(
            "{}/3/device/{device_token}",
            self.settings.endpoint.trim_end_matches('/')
        );
        let sent = client
            .post(url)
            .header("authorization", format!("bearer {token}"))
            .header("apns-topic", &self.settings.topic)
            .header("apns-push-type", "background")
            .header("apns-priority", "5")
            .body(r#"{"aps":{"content-available":1}}"#)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(error) => return Answer::Retry(format!("APNs unreachable: {error}"), None),
        };
        let status = response.status().as_u16();
        let wait = retry_after(&response);
        let reason = read_json(response).await["reason"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        match (status, reason.as_str()) {
            (200, _) => Answer::Delivered,
            (410, _) | (400, "BadDeviceToken" | "DeviceTokenNotForTopic") => Answer::Gone,
            (429, _) | (500..=599, _) => Answer::Retry(format!("APNs {status} {reason}"), wait),
            _ => Answer::Refused(format!("APNs {status} {reason}")),
        }
    }
}

/// FCM settings, from a service account: its email, private key (PKCS#8 RSA), project, the
/// token endpoint, and FCM's own endpoint.
#[derive(Clone, Debug)]
pub struct FcmSettings {
    pub client_email: String,
    pub private_key_pkcs8: Vec<u8>,
    pub project_id: String,
    /// `https://oauth2.googleapis.com/token`.
    pub token_uri: String,
    /// `https://fcm.googleapis.com`.
    pub endpoint: String,
}

impl FcmSettings {
    /// From a service account's JSON key file (as Google issues it) and FCM's endpoint.
    pub fn from_service_account(json: &str, endpoint: &str) -> Result<Self, String> {
        let account: serde_json::Value = serde_json::from_str(json)
            .map_err(|_| "the service account file is not JSON".to_owned())?;
        let field = |name: &str| {
            account[name]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("the service account has no {name}"))
        };
        let private_key_pkcs8 = pem_to_der(&field("private_key")?)
            .ok_or_else(|| "the service account's private_key is not PEM".to_owned())?;
        Ok(Self {
            client_email: field("client_email")?,
            private_key_pkcs8,
            project_id: field("project_id")?,
            token_uri: field("token_uri")?,
            endpoint: endpoint.to_owned(),
        })
    }
}

pub struct Fcm {
    settings: FcmSettings,
    key: RsaKeyPair,
    /// The OAuth access token and when it expires (seconds).
    access: tokio::sync::Mutex<Option<(String, i64)>>,
}

impl Fcm {
    pub fn new(settings: FcmSettings) -> Result<Self, String> {
        let key = RsaKeyPair::from_pkcs8(&settings.private_key_pkcs8)
            .map_err(|_| "the FCM service account key is not a PKCS#8 RSA key".to_owned())?;
        Ok(Self {
            settings,
            key,
            access: tokio::sync::Mutex::new(None),
        })
    }

    /// An access token: the cached one, or a new one for a signed assertion.
    async fn access_token(&self, client: &reqwest::Client) -> Result<String, Answer> {
        let now = Timestamp::now().as_millis() / 1000;
        let mut cached = self.access.lock().await;
        if let Some((token, expires)) = cached.as_ref() {
            if *expires - 60 > now {
                return Ok(token.clone());
            }
        }
        let header = serde_json::json!({ "alg": "RS256", "typ": "JWT" });
        let claims = serde_json::json!({
            "iss": self.settings.client_email,
            "scope": "https://www.googleapis.com/auth/firebase.messaging",
            "aud": self.settings.token_uri,
            "iat": now,
            "exp": now + 3600,
        });
        let assertion = jwt(&header, &claims, |input| {
            let mut signature = vec![0u8; self.key.public().modulus_len()];
            self.key
                .sign(
                    &RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    input,
                    &mut signature,
                )
                .ok()
                .map(|()| signature)
        })
        .ok_or_else(|| Answer::Refused("cannot sign the FCM assertion".into()))?;
        let form = format!(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={assertion}"
        );
        let response = client
            .post(&self.settings.token_uri)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .map_err(|error| Answer::Retry(format!("OAuth unreachable: {error}"), None))?;
        if !response.status().is_success() {
            let status = response.status().as_u16();
            return Err(if status >= 500 || status == 429 {
                Answer::Retry(format!("OAuth {status}"), retry_after(&response))
            } else {
                Answer::Refused(format!("OAuth refused the service account: {status}"))
            });
        }
        let body = read_json(response).await;
        let token = body["access_token"]
            .as_str()
            .ok_or_else(|| Answer::Retry("OAuth answered no token".into(), None))?
            .to_owned();
        let expires = now + body["expires_in"].as_i64().unwrap_or(3600);
        *cached = Some((token.clone(), expires));
        Ok(token)
    }

    /// A data-only "something new" message to one device.
    pub async fn send(&self, client: &reqwest::Client, device_token: &str) -> Answer {
        let access = match self.access_token(client).await {
            Ok(access) => access,
            Err(answer) => return answer,
        };
        let url = format!(
            "{}/v1/projects/{}/messages:send",
            self.settings.endpoint.trim_end_matches('/'),
            self.settings.project_id
        );
        let message = serde_json::json!({
            "message": {
                "token": device_token,
                "data": { "veilgram": "sync" },
                "android": { "priority": "normal" },
            }
        });
        let sent = client
            .post(url)
            .bearer_auth(access)
            .header("content-type", "application/json")
            .body(message.to_string())
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(error) => return Answer::Retry(format!("FCM unreachable: {error}"), None),
        };
        let status = response.status().as_u16();
        let wait = retry_after(&response);
        let body = read_json(response).await;
        let code = body["error"]["details"]
            .as_array()
            .and_then(|details| {
                details
                    .iter()
                    .find_map(|detail| detail["errorCode"].as_str())
            })
            .unwrap_or_else(|| body["error"]["status"].as_str().unwrap_or_default())
            .to_owned();
        match (status, code.as_str()) {
            (200, _) => Answer::Delivered,
            (404, _) | (_, "UNREGISTERED") => Answer::Gone,
            (429, _) | (500..=599, _) => Answer::Retry(format!("FCM {status} {code}"), wait),
            _ => Answer::Refused(format!("FCM {status} {code}")),
        }
    }
}
