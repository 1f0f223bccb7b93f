//! The normalisers every nickname and text check goes through: a nickname key is its own key
//! (so uniqueness and mentions agree however a name is spelt), and the profanity filter
//! answers for any text without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;
use veilgram_core::text::nickname_key;
use veilgram_users::profanity::ProfanityFilter;

static FILTER: LazyLock<ProfanityFilter> = LazyLock::new(ProfanityFilter::bundled);

fuzz_target!(|text: &str| {
    let key = nickname_key(text);
    assert_eq!(nickname_key(&key), key, "the key of {text:?}");
    let _ = FILTER.is_profane(text);
});
