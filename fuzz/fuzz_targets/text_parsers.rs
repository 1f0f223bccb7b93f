//! Hashtags, mentions and links in any text: each hashtag is non-empty, at most 100 tag
//! characters and distinct; mentions are distinct nickname keys; links are distinct and at most
//! one per word (words of the NFKC-normalised text, split at white space and angle brackets, as
//! in `<https://example.com>`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use unicode_normalization::UnicodeNormalization;
use veilgram_core::text::{hashtags, is_tag_char, links, mention_keys, MAX_HASHTAG_CHARS};

fuzz_target!(|text: &str| {
    let tags = hashtags(text);
    for (index, tag) in tags.iter().enumerate() {
        let length = tag.chars().count();
        assert!((1..=MAX_HASHTAG_CHARS).contains(&length), "{tag:?}");
        assert!(!tags[..index].contains(tag), "{tag:?} twice");
        // A tag is its own tag: searching for `#tag` finds what the post was filed under.
        if tag.chars().all(is_tag_char) {
            assert_eq!(hashtags(&format!("#{tag}")).first(), Some(tag));
        }
    }
    let keys = mention_keys(text);
    for (index, key) in keys.iter().enumerate() {
        assert!(!keys[..index].contains(key), "{key:?} twice");
    }
    let found = links(text);
    let normalised: String = text.nfkc().collect();
    let words = normalised
        .split(|c: char| c.is_whitespace() || c == '<' || c == '>')
        .filter(|word| !word.is_empty())
        .count();
    assert!(found <= words, "{found} links in {words} words");
    // Links are counted once each: the same text twice has no more.
    assert_eq!(links(&format!("{text} {text}")), found);
});
