//! Access-token forgery: every variant of API.md's "Bad input" list is refused.

use crate::helpers::TestApp;
use axum::http::StatusCode;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use serde_json::{json, Value};
use veilgram_testkit::TestDatabase;

fn encode(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

fn decode(part: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// The server's current signing key, read from its key file.
fn server_key(app: &TestApp) -> (String, SigningKey) {
    let file: Value = serde_json::from_slice(&std::fs::read(app.key_file()).unwrap()).unwrap();
    let key = file["keys"].as_array().unwrap().last().unwrap();
    let seed: [u8; 32] = STANDARD
        .decode(key["secret"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    (
        key["kid"].as_str().unwrap().to_owned(),
        SigningKey::from_bytes(&seed),
    )
}

fn sign(key: &SigningKey, header: &Value, claims: &Value) -> String {
    let input = format!("{}.{}", encode(header), encode(claims));
    let signature = key.sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
}

async fn issued_tokens_carry_only_the_documented_claims(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let account = app.signup(None).await;
    let parts: Vec<&str> = account.access_token.split('.').collect();
    let header = decode(parts[0]);
    let claims = decode(parts[1]);
    assert_eq!(header["alg"], "EdDSA");
    let mut claim_names: Vec<&str> = claims
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    claim_names.sort_unstable();
    assert_eq!(claim_names, ["aud", "exp", "iss", "sub", "typ"]);
    assert_eq!(claims["sub"], account.user_id.as_str());
    assert_eq!(claims["typ"], "access");

    // The JWKS document publishes the key that verifies it.
    let jwks = app.get("/.well-known/jwks.json", None).await;
    assert_eq!(jwks.status, StatusCode::OK);
    let jwk = jwks.body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|key| key["kid"] == header["kid"])
        .expect("the token's kid is published");
    assert_eq!(
        (jwk["kty"].as_str(), jwk["crv"].as_str()),
        (Some("OKP"), Some("Ed25519"))
    );
    assert!(jwk.get("d").is_none(), "no private material in the JWKS");
    let public: [u8; 32] = URL_SAFE_NO_PAD
        .decode(jwk["x"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let signature: [u8; 64] = URL_SAFE_NO_PAD
        .decode(parts[2])
        .unwrap()
        .try_into()
        .unwrap();
    VerifyingKey::from_bytes(&public)
        .unwrap()
        .verify(
            format!("{}.{}", parts[0], parts[1]).as_bytes(),
            &ed25519_dalek::Signature::from_bytes(&signature),
        )
        .unwrap();
}

async fn forged_and_misused_tokens_are_refused(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let account = app.signup(None).await;
    let (kid, key) = server_key(&app);
    let parts: Vec<&str> = account.access_token.split('.').collect();
    let header = json!({ "alg": "EdDSA", "typ": "JWT", "kid": kid });
    let claims = decode(parts[1]);
    let exp = claims["exp"].as_i64().unwrap();
    let with = |field: &str, value: Value| {
        let mut changed = claims.clone();
        changed[field] = value;
        changed
    };

    // Sanity: a token this test signs with the server's key and the same claims is accepted.
    assert_eq!(
        app.me(&sign(&key, &header, &claims)).await.status,
        StatusCode::OK
    );

    let mut altered_payload = account
        .access_token
        .split('.')
        .map(str::to_owned)
        .collect::<Vec<_>>();
    altered_payload[1] = encode(&with("sub", json!(uuid::Uuid::new_v4().to_string())));
    let public_key_bytes = key.verifying_key().to_bytes();
    let hs256 = {
        use hmac::Mac;
        let header = encode(&json!({ "alg": "HS256", "typ": "JWT", "kid": kid }));
        let input = format!("{header}.{}", parts[1]);
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&public_key_bytes).unwrap();
        mac.update(input.as_bytes());
        format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        )
    };
    let other_key = SigningKey::from_bytes(&[7u8; 32]);
    let mut extra_claim = claims.clone();
    extra_claim["role"] = json!("moderator");

    let forged = [
        (
            "alg none",
            format!(
                "{}.{}.",
                encode(&json!({ "alg": "none", "kid": kid })),
                parts[1]
            ),
        ),
        ("altered payload", altered_payload.join(".")),
        ("HS256 with the public key", hs256),
        ("stripped signature", format!("{}.{}.", parts[0], parts[1])),
        ("no signature part", format!("{}.{}", parts[0], parts[1])),
        (
            "expired",
            sign(&key, &header, &with("exp", json!(exp - 3600))),
        ),
        (
            "wrong audience",
            sign(&key, &header, &with("aud", json!("another-api"))),
        ),
        (
            "wrong issuer",
            sign(&key, &header, &with("iss", json!("someone-else"))),
        ),
        (
            "wrong type",
            sign(&key, &header, &with("typ", json!("refresh"))),
        ),
        ("undocumented claim", sign(&key, &header, &extra_claim)),
        ("another key, same kid", sign(&other_key, &header, &claims)),
        (
            "unknown kid",
            sign(&key, &json!({ "alg": "EdDSA", "kid": "nope" }), &claims),
        ),
        ("refresh token as bearer", account.refresh_token.clone()),
        ("garbage", "not.a.token".to_owned()),
    ];
    for (label, token) in forged {
        let response = app.me(&token).await;
        assert_eq!(
            response.status,
            StatusCode::UNAUTHORIZED,
            "{label} must be refused"
        );
        assert_eq!(response.code(), "invalid_token", "{label}");
    }
}

veilgram_testkit::for_each_engine!(
    issued_tokens_carry_only_the_documented_claims,
    forged_and_misused_tokens_are_refused,
);
