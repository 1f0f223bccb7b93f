//! Signed pagination cursors: any string a client sends is a position only if the server
//! sealed it for that list under its key; a sealed position comes back whole, and one changed
//! byte is refused.
#![no_main]

use libfuzzer_sys::fuzz_target;
use veilgram_core::Timestamp;
use veilgram_feeds::cursor::{seal, unseal};
use veilgram_feeds::FeedCursor;

const KEY: &[u8] = b"fuzzing cursor key";

fuzz_target!(|input: (&str, &str, u8)| {
    let (raw, position, flip) = input;
    let now = Timestamp::from_millis(1_800_000_000_000);
    // Nothing but a sealed cursor decodes: a fuzzer cannot forge the MAC.
    assert!(unseal(KEY, "home", raw, now).is_err(), "{raw:?} accepted");
    let _ = FeedCursor::decode(KEY, "home", raw, now);
    if position.len() > 300 || position.contains('|') {
        return;
    }
    let sealed = seal(KEY, "user-posts", position, now);
    assert_eq!(
        unseal(KEY, "user-posts", &sealed, now).as_deref(),
        Ok(position)
    );
    assert!(unseal(KEY, "followers", &sealed, now).is_err());
    assert!(unseal(b"another key", "user-posts", &sealed, now).is_err());
    let mut altered = sealed.into_bytes();
    let at = usize::from(flip) % altered.len();
    altered[at] = if altered[at] == b'A' { b'B' } else { b'A' };
    if let Ok(altered) = String::from_utf8(altered) {
        assert!(
            unseal(KEY, "user-posts", &altered, now).is_err(),
            "{altered:?}"
        );
    }
});
