//! Web Push: message encryption (RFC 8291, `aes128gcm` content coding of RFC 8188) and VAPID
//! authentication (RFC 8292), on `ring`. The push service relays ciphertext it cannot read.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM};
use ring::agreement::{agree_ephemeral, EphemeralPrivateKey, UnparsedPublicKey, ECDH_P256};
use ring::hkdf::{KeyType, Salt, HKDF_SHA256};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

#[derive(Debug, thiserror::Error)]
#[error("web push: {0}")]
pub struct WebPushError(pub String);

fn failed(what: &str) -> WebPushError {
    WebPushError(what.to_owned())
}

/// The record size announced in the header (one record holds the whole message).
const RECORD_SIZE: u32 = 4096;

struct Length(usize);

impl KeyType for Length {
    fn len(&self) -> usize {
        self.0
    }
}

fn expand(prk: &ring::hkdf::Prk, info: &[&[u8]], length: usize) -> Result<Vec<u8>, WebPushError> {
    let mut out = vec![0u8; length];
    prk.expand(info, Length(length))
        .and_then(|okm| okm.fill(&mut out))
        .map_err(|_| failed("key derivation"))?;
    Ok(out)
}

/// Encrypts `payload` for a subscription (`p256dh`: its public key, `auth`: its secret, both
/// decoded), as the body of one Web Push request.
pub fn encrypt(payload: &[u8], p256dh: &[u8], auth: &[u8]) -> Result<Vec<u8>, WebPushError> {
    if payload.len() + 17 + 86 > RECORD_SIZE as usize {
        return Err(failed("payload too large"));
    }
    let random = SystemRandom::new();
    let ours = EphemeralPrivateKey::generate(&ECDH_P256, &random).map_err(|_| failed("key"))?;
    let our_public = ours.compute_public_key().map_err(|_| failed("key"))?;
    let their_public = UnparsedPublicKey::new(&ECDH_P256, p256dh);
    let shared = agree_ephemeral(ours, &their_public, |secret| secret.to_vec())
        .map_err(|_| failed("the subscription key is not a P-256 point"))?;
    // IKM = HKDF(auth, ecdh, "WebPush: info\0" || ua_public || as_public, 32)
    let prk_key = Salt::new(HKDF_SHA256, auth).extract(&shared);
    let ikm = expand(
        &prk_key,
        &[b"WebPush: info\0", p256dh, our_public.as_ref()],
        32,
    )?;
    let mut salt = [0u8; 16];
    random.fill(&mut salt).map_err(|_| failed("random"))?;
    let prk = Salt::new(HKDF_SHA256, &salt).extract(&ikm);
    let key = expand(&prk, &[b"Content-Encoding: aes128gcm\0"], 16)?;
    let nonce = expand(&prk, &[b"Content-Encoding: nonce\0"], 12)?;
    let sealing = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &key).map_err(|_| failed("key"))?);
    let mut record = payload.to_vec();
    record.push(0x02); // the last (and only) record
    let nonce = Nonce::try_assume_unique_for_key(&nonce).map_err(|_| failed("nonce"))?;
    sealing
        .seal_in_place_append_tag(nonce, Aad::empty(), &mut record)
        .map_err(|_| failed("encryption"))?;
    let mut body = Vec::with_capacity(16 + 4 + 1 + 65 + record.len());
    body.extend_from_slice(&salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(our_public.as_ref().len() as u8);
    body.extend_from_slice(our_public.as_ref());
    body.extend(record);
    Ok(body)
}

/// The application server's VAPID key (ECDSA P-256), shared by every process.
pub struct VapidKey {
    pair: EcdsaKeyPair,
}

impl VapidKey {
    /// A fresh key as a PKCS#8 document (to be stored once and shared).
    pub fn generate_pkcs8() -> Result<Vec<u8>, WebPushError> {
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .map(|document| document.as_ref().to_vec())
            .map_err(|_| failed("cannot make a VAPID key"))
    }

    pub fn from_pkcs8(document: &[u8]) -> Result<Self, WebPushError> {
        let pair = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            document,
            &SystemRandom::new(),
        )
        .map_err(|_| failed("the stored VAPID key is unreadable"))?;
        Ok(Self { pair })
    }

    /// The public key, base64url: browsers subscribe with it (`applicationServerKey`).
    pub fn public_key(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.pair.public_key().as_ref())
    }

    /// The `Authorization` header for a request to `endpoint`: a JWT for the endpoint's origin,
    /// valid for 12 hours, signed with this key (RFC 8292).
    pub fn authorization(
        &self,
        endpoint: &str,
        subject: &str,
        now_seconds: i64,
    ) -> Result<String, WebPushError> {
        let url = url::Url::parse(endpoint).map_err(|_| failed("endpoint"))?;
        let audience = url.origin().ascii_serialization();
        let header = serde_json::json!({ "typ": "JWT", "alg": "ES256" });
        let claims =
            serde_json::json!({ "aud": audience, "exp": now_seconds + 12 * 3600, "sub": subject });
        let token = crate::providers::jwt(&header, &claims, |input| {
            let signature = self.pair.sign(&SystemRandom::new(), input).ok()?;
            Some(signature.as_ref().to_vec())
        })
        .ok_or_else(|| failed("signing"))?;
        Ok(format!("vapid t={token}, k={}", self.public_key()))
    }
}

/// The user agent's side of RFC 8291, as a browser decrypts a push (`ours`: the key its
/// subscription published as `p256dh`): for push services under test. `None` if the message
/// does not open.
pub fn decrypt(
    body: &[u8],
    ours: EphemeralPrivateKey,
    our_public: &[u8],
    auth: &[u8],
) -> Option<Vec<u8>> {
    if body.len() < 21 {
        return None;
    }
    let (salt, rest) = body.split_at(16);
    let id_length = usize::from(rest[4]);
    let (their_public, ciphertext) = rest.get(5..)?.split_at_checked(id_length)?;
    let shared = agree_ephemeral(
        ours,
        &UnparsedPublicKey::new(&ECDH_P256, their_public),
        |s| s.to_vec(),
    )
    .ok()?;
    let prk_key = Salt::new(HKDF_SHA256, auth).extract(&shared);
    let ikm = expand(
        &prk_key,
        &[b"WebPush: info\0", our_public, their_public],
        32,
    )
    .ok()?;
    let prk = Salt::new(HKDF_SHA256, salt).extract(&ikm);
    let key = expand(&prk, &[b"Content-Encoding: aes128gcm\0"], 16).ok()?;
    let nonce = expand(&prk, &[b"Content-Encoding: nonce\0"], 12).ok()?;
    let opening = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &key).ok()?);
    let mut record = ciphertext.to_vec();
    let nonce = Nonce::try_assume_unique_for_key(&nonce).ok()?;
    let plain = opening
        .open_in_place(nonce, Aad::empty(), &mut record)
        .ok()?;
    // One record, the last: its delimiter is 0x02.
    (plain.last() == Some(&0x02)).then(|| plain[..plain.len() - 1].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{UnparsedPublicKey as VerifyKey, ECDSA_P256_SHA256_FIXED};

    #[test]
    fn a_browser_can_read_what_was_encrypted_for_it_and_nobody_else_can() {
        let random = SystemRandom::new();
        let browser = EphemeralPrivateKey::generate(&ECDH_P256, &random).unwrap();
        let browser_public = browser.compute_public_key().unwrap().as_ref().to_vec();
        let auth = [9u8; 16];
        let body = encrypt(b"{\"type\":\"like\"}", &browser_public, &auth).unwrap();
        assert!(
            !body.windows(4).any(|window| window == b"like"),
            "ciphertext only"
        );
        assert_eq!(
            decrypt(&body, browser, &browser_public, &auth).as_deref(),
            Some(&b"{\"type\":\"like\"}"[..])
        );
        assert!(encrypt(b"x", &[4u8; 10], &auth).is_err(), "not a point");
    }

    #[test]
    fn vapid_tokens_verify_with_the_published_key() {
        let key = VapidKey::from_pkcs8(&VapidKey::generate_pkcs8().unwrap()).unwrap();
        let header = key
            .authorization(
                "https://push.example.net/send/abc?x=1",
                "mailto:ops@example.org",
                1_700_000_000,
            )
            .unwrap();
        let (token, public) = header
            .strip_prefix("vapid t=")
            .and_then(|rest| rest.split_once(", k="))
            .unwrap();
        let (signed, signature) = token.rsplit_once('.').unwrap();
        let public = URL_SAFE_NO_PAD.decode(public).unwrap();
        VerifyKey::new(&ECDSA_P256_SHA256_FIXED, &public)
            .verify(
                signed.as_bytes(),
                &URL_SAFE_NO_PAD.decode(signature).unwrap(),
            )
            .unwrap();
        let claims: serde_json::Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(signed.split('.').nth(1).unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(claims["aud"], "https://push.example.net");
        assert_eq!(claims["exp"], 1_700_000_000 + 12 * 3600);
    }
}
