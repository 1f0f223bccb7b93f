//! Proof-of-work sign-up: a challenge is signed, single-use, expiring and bound to its purpose;
//! its difficulty grows with sign-ups from the address; sign-up needs a solution, and so does
//! login after repeated failures from one address.

use crate::helpers::{Options, TestApp};
use axum::http::StatusCode;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};
use std::time::Duration;
use veilgram_auth::proof::{self, ProofSettings};
use veilgram_testkit::TestDatabase;

/// Cheap proofs: four bits of 256 KiB hashes.
fn settings() -> ProofSettings {
    ProofSettings {
        base_bits: 4,
        memory_kib: 256,
        normal_rate: 1000,
        ..ProofSettings::default()
    }
}

async fn app_with(database: &TestDatabase, proof_of_work: ProofSettings) -> TestApp {
    TestApp::with_options(
        database,
        Options {
            proof_of_work,
            ..Options::default()
        },
    )
    .await
}

async fn challenge(app: &TestApp, purpose: &str) -> Value {
    let response = app
        .post(
            "/api/v1/auth/challenge",
            json!({ "purpose": purpose }),
            None,
        )
        .await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text);
    response.body
}

/// A solved challenge, as a request's `proof`.
fn solved(challenge: &Value) -> Value {
    let token = challenge["challenge"].as_str().unwrap();
    let (nonce, _) = proof::solve(token).unwrap();
    json!({ "challenge": token, "nonce": nonce })
}

/// A nonce that does not solve the challenge.
fn unsolved(challenge: &Value) -> Value {
    let salt = URL_SAFE_NO_PAD
        .decode(challenge["salt"].as_str().unwrap())
        .unwrap();
    let id = challenge["salt"].as_str().unwrap();
    let bits = u32::try_from(challenge["bits"].as_u64().unwrap()).unwrap();
    let memory = u32::try_from(challenge["memory_kib"].as_u64().unwrap()).unwrap();
    let nonce = (0u64..)
        .find(|nonce| {
            let digest = proof::hash(format!("{id}:{nonce}").as_bytes(), &salt, memory, 1).unwrap();
            proof::leading_zero_bits(&digest) < bits
        })
        .unwrap();
    json!({ "challenge": challenge["challenge"], "nonce": nonce })
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

async fn sign_up_needs_a_fresh_solved_challenge_of_its_purpose(database: &TestDatabase) {
    let app = app_with(database, settings()).await;
    let refused = app.post("/api/v1/auth/signup", json!({}), None).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(code(&refused.body), "proof_required", "{}", refused.text);

    let first = challenge(&app, "signup").await;
    assert_eq!(
        (
            first["algorithm"].as_str(),
            first["bits"].as_u64(),
            first["memory_kib"].as_u64()
        ),
        (Some("argon2id"), Some(4), Some(256))
    );
    let wrong = app
        .post(
            "/api/v1/auth/signup",
            json!({ "proof": unsolved(&first) }),
            None,
        )
        .await;
    assert_eq!(
        (wrong.status, code(&wrong.body)),
        (StatusCode::FORBIDDEN, "proof_invalid")
    );
    let proof = solved(&first);
    let signed_up = app
        .post(
            "/api/v1/auth/signup",
            json!({ "nickname": "worker_bee", "proof": proof }),
            None,
        )
        .await;
    assert_eq!(signed_up.status, StatusCode::CREATED, "{}", signed_up.text);
    let again = app
        .post("/api/v1/auth/signup", json!({ "proof": proof }), None)
        .await;
    assert_eq!(
        (again.status, code(&again.body)),
        (StatusCode::FORBIDDEN, "proof_expired"),
        "a solution is spent once"
    );

    // The next challenge from the same address is harder.
    let second = challenge(&app, "signup").await;
    assert_eq!(second["bits"].as_u64(), Some(5));

    // A login challenge is not a sign-up's; a forged one (fewer bits) is refused.
    let login = challenge(&app, "login").await;
    let misused = app
        .post(
            "/api/v1/auth/signup",
            json!({ "proof": solved(&login) }),
            None,
        )
        .await;
    assert_eq!(code(&misused.body), "proof_invalid");
    let (body, signature) = second["challenge"]
        .as_str()
        .unwrap()
        .split_once('.')
        .unwrap();
    let mut claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).unwrap()).unwrap();
    claims["bits"] = json!(0);
    let forged = format!(
        "{}.{signature}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap())
    );
    let forged = app
        .post(
            "/api/v1/auth/signup",
            json!({ "proof": { "challenge": forged, "nonce": 0 } }),
            None,
        )
        .await;
    assert_eq!(code(&forged.body), "proof_invalid");
    let malformed = app
        .post(
            "/api/v1/auth/signup",
            json!({ "proof": { "challenge": "x", "nonce": -1 } }),
            None,
        )
        .await;
    assert_eq!(
        malformed.status,
        StatusCode::BAD_REQUEST,
        "{}",
        malformed.text
    );
    let unknown = app
        .post(
            "/api/v1/auth/challenge",
            json!({ "purpose": "posting" }),
            None,
        )
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST, "{}", unknown.text);

    // Expired: a challenge that lives no time at all.
    let hurried = app_with(
        database,
        ProofSettings {
            ttl: Duration::ZERO,
            ..settings()
        },
    )
    .await;
    let stale = challenge(&hurried, "signup").await;
    let late = hurried
        .post(
            "/api/v1/auth/signup",
            json!({ "proof": solved(&stale) }),
            None,
        )
        .await;
    assert_eq!(code(&late.body), "proof_expired", "{}", late.text);
}

async fn logins_need_a_proof_after_repeated_failures(database: &TestDatabase) {
    let app = app_with(database, settings()).await;
    let account = {
        let proof = solved(&challenge(&app, "signup").await);
        let response = app
            .post("/api/v1/auth/signup", json!({ "proof": proof }), None)
            .await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.text);
        response.body
    };
    let login = |key: &str, proof: Option<Value>| {
        let mut body = json!({ "user_id": account["user_id"], "recovery_key": key });
        if let Some(proof) = proof {
            body["proof"] = proof;
        }
        app.post("/api/v1/auth/login", body, None)
    };
    let key = account["recovery_key"].as_str().unwrap();
    assert_eq!(challenge(&app, "login").await["required"], json!(false));
    assert_eq!(
        login(key, None).await.status,
        StatusCode::OK,
        "no proof at first"
    );
    // Another last character (keys are read case-insensitively: `x` for an `X` is no change).
    let last = key.chars().last().unwrap();
    let other = if last.eq_ignore_ascii_case(&'x') {
        'y'
    } else {
        'x'
    };
    let wrong = format!("{}{other}", &key[..key.len() - 1]);
    for _ in 0..3 {
        assert_eq!(login(&wrong, None).await.status, StatusCode::UNAUTHORIZED);
    }
    let refused = login(key, None).await;
    assert_eq!(
        (refused.status, code(&refused.body)),
        (StatusCode::FORBIDDEN, "proof_required"),
        "{}",
        refused.text
    );
    assert_eq!(challenge(&app, "login").await["required"], json!(true));
    let signup_proof = solved(&challenge(&app, "signup").await);
    assert_eq!(
        code(&login(key, Some(signup_proof)).await.body),
        "proof_invalid"
    );
    let proof = solved(&challenge(&app, "login").await);
    assert_eq!(login(key, Some(proof)).await.status, StatusCode::OK);
}

veilgram_testkit::for_each_engine!(
    sign_up_needs_a_fresh_solved_challenge_of_its_purpose,
    logins_need_a_proof_after_repeated_failures,
);
