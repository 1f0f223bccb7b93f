//! Access tokens: any string is refused unless this server signed it; a token it minted
//! verifies as its user until it expires, and one changed character is refused.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;
use std::time::Duration;
use veilgram_auth::keys::KeyRing;
use veilgram_auth::tokens::{AccessTokens, TokenSettings};
use veilgram_core::{Timestamp, UserId};

static TOKENS: LazyLock<AccessTokens> = LazyLock::new(|| {
    let ring = KeyRing::from_bytes(&KeyRing::fresh_bytes()).expect("a fresh key ring");
    let settings = TokenSettings {
        issuer: "veilgram".into(),
        audience: "veilgram-api".into(),
        access_ttl: Duration::from_secs(900),
    };
    AccessTokens::new(settings, ring, None)
});

/// One token minted at start, for a user, valid from `MINTED` for 900 s.
const MINTED: Timestamp = Timestamp::from_millis(1_800_000_000_000);
static MINTED_TOKEN: LazyLock<(UserId, String)> = LazyLock::new(|| {
    let user = UserId::random();
    (user, TOKENS.mint(user, MINTED, 0).0)
});

fuzz_target!(|input: (&str, u16)| {
    let (raw, at) = input;
    let (user, token) = &*MINTED_TOKEN;
    let now = MINTED.plus(Duration::from_secs(60));
    assert!(TOKENS.verify(raw, now).is_err(), "{raw:?} accepted");
    assert_eq!(
        TOKENS.verify(token, now).map(|v| v.user_id).ok(),
        Some(*user)
    );
    let later = MINTED.plus(Duration::from_secs(901));
    assert!(TOKENS.verify(token, later).is_err(), "expired");
    let mut altered = token.clone().into_bytes();
    let at = usize::from(at) % altered.len();
    altered[at] = if altered[at] == b'x' { b'y' } else { b'x' };
    let altered = String::from_utf8(altered).expect("ASCII");
    assert!(
        TOKENS.verify(&altered, now).is_err(),
        "{altered:?} accepted"
    );
});
