//! Decoded cache values, remembered by their bytes: every page reads the same cached posts and
//! the reader's relations again, and decoding their JSON was the biggest part of a warm page's
//! work. The same bytes always decode to the same value, so reusing a decoding whose bytes
//! equal what the cache just answered can never show anything the cache did not say: no
//! invalidation is needed, and a changed value simply decodes anew. An in-process cache
//! answers with the very bytes it holds, so those are recognised by address before any are
//! compared.

use serde::de::DeserializeOwned;
use std::hash::Hash;
use std::sync::Arc;
use veilgram_core::cache::Bytes;
use veilgram_core::memo::Memo;

/// Values larger than this are decoded every time (a reader following thousands).
const MAX_VALUE_BYTES: usize = 16 * 1024;

struct Remembered<T> {
    /// Shared with the cache's answer (no copy), and so never freed and reused for other bytes
    /// while remembered here.
    bytes: Bytes,
    value: Arc<T>,
}

pub(crate) struct Decoded<K, T> {
    memo: Memo<K, Remembered<T>>,
}

impl<K: Hash + Eq + Clone, T: DeserializeOwned> Decoded<K, T> {
    /// Remembers at most about `budget` bytes of encoded values (and their decodings).
    pub(crate) fn new(budget: usize) -> Self {
        Self {
            memo: Memo::new(budget),
        }
    }

    /// `bytes` (the value of `key` just read from the cache) decoded; `None` if they do not
    /// decode (an older layout counts as missing).
    pub(crate) fn decode(&self, key: &K, bytes: &Bytes) -> Option<Arc<T>> {
        let reused = self.memo.find(key, |remembered| {
            let same = (remembered.bytes.as_ptr(), remembered.bytes.len())
                == (bytes.as_ptr(), bytes.len())
                || remembered.bytes == *bytes;
            same.then(|| Arc::clone(&remembered.value))
        });
        if reused.is_some() {
            return reused;
        }
        let value = Arc::new(serde_json::from_slice::<T>(bytes).ok()?);
        if bytes.len() <= MAX_VALUE_BYTES {
            let remembered = Remembered {
                bytes: bytes.clone(),
                value: Arc::clone(&value),
            };
            self.memo.remember(key.clone(), remembered, bytes.len());
        }
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_bytes_reuse_their_decoding_and_changed_ones_decode_anew() {
        let decoded: Decoded<u32, Vec<String>> = Decoded::new(1 << 20);
        let first = decoded
            .decode(&1, &Bytes::from_static(br#"["a"]"#))
            .unwrap();
        let again = decoded
            .decode(&1, &Bytes::from_static(br#"["a"]"#))
            .unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        let changed = decoded
            .decode(&1, &Bytes::from_static(br#"["b"]"#))
            .unwrap();
        assert_eq!(*changed, vec!["b".to_owned()]);
        assert!(decoded
            .decode(&2, &Bytes::from_static(b"not json"))
            .is_none());
        // Another key with the same bytes has its own decoding.
        assert!(!Arc::ptr_eq(
            &decoded
                .decode(&3, &Bytes::from_static(br#"["b"]"#))
                .unwrap(),
            &changed
        ));
    }

    #[test]
    fn what_is_remembered_stays_within_its_budget() {
        let decoded: Decoded<u32, String> = Decoded::new(veilgram_core::memo::SHARDS * 100);
        for key in 0..1000 {
            decoded
                .decode(&key, &Bytes::from_static(br#""twenty bytes long!""#))
                .unwrap();
        }
        assert!(decoded.memo.largest_shard_bytes() <= 100);
    }
}
