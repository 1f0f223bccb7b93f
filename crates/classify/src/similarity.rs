//! Near-duplicate detection without personal data: a MinHash signature (Broder 1997) of the set
//! of character 3-grams of a text's compact view (so spacing, punctuation, case, width and
//! look-alikes do not make a copy new). The share of equal entries of two signatures estimates
//! the Jaccard similarity of the two texts' 3-grams; from [`NEAR`] on they are near copies.
//! The signature's four bands (four entries each, hashed) are what a store finds candidates by:
//! texts at similarity 0.9 share a band with probability 0.98 (0.88 at 0.8).
//!
//! (SimHash, the usual choice for web pages, is not: one letter more in a 30-letter post
//! flips a dozen of its 64 bits.)

use crate::normalise::Normalised;

/// Entries of a signature.
pub const HASHES: usize = 16;
/// Entries per band.
const ROWS: usize = 4;
/// The estimated similarity from which two texts are near copies.
pub const NEAR: f64 = 0.75;
/// Texts with fewer compact characters are not fingerprinted ("ㅋㅋ", "nice" are not spam
/// when many people write them).
pub const MIN_CHARS: usize = 16;

/// FNV-1a with a final avalanche (from SplitMix64): the same value in every process and
/// release, as stored signatures need.
fn hash(bytes: &[u8]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for byte in bytes {
        hash = (hash ^ u64::from(*byte)).wrapping_mul(0x100_0000_01b3);
    }
    avalanche(hash)
}

fn avalanche(mut hash: u64) -> u64 {
    hash ^= hash >> 30;
    hash = hash.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash ^= hash >> 27;
    hash = hash.wrapping_mul(0x94d0_49bb_1331_11eb);
    hash ^ (hash >> 31)
}

/// A text's MinHash signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signature(pub [u32; HASHES]);

impl Signature {
    /// The signature of `text`, or `None` for one too short to tell copies by.
    pub fn of(text: &Normalised) -> Option<Self> {
        let characters: Vec<char> = text.compact.chars().collect();
        if characters.len() < MIN_CHARS {
            return None;
        }
        let mut minimums = [u32::MAX; HASHES];
        let mut buffer = [0u8; 12];
        for gram in characters.windows(3) {
            let mut length = 0;
            for character in gram {
                length += character.encode_utf8(&mut buffer[length..]).len();
            }
            let base = hash(&buffer[..length]);
            let (first, second) = (base as u32, (base >> 32) as u32 | 1);
            // Double hashing: the i-th function is first + i·second.
            for (index, minimum) in minimums.iter_mut().enumerate() {
                let value = first.wrapping_add((index as u32).wrapping_mul(second));
                *minimum = (*minimum).min(value);
            }
        }
        Some(Self(minimums))
    }

    /// The estimated Jaccard similarity of the two texts' 3-grams.
    pub fn similarity(&self, other: &Self) -> f64 {
        let equal = self
            .0
            .iter()
            .zip(other.0)
            .filter(|(a, b)| **a == *b)
            .count();
        equal as f64 / HASHES as f64
    }

    pub fn is_near(&self, other: &Self) -> bool {
        self.similarity(other) >= NEAR
    }

    /// The four band values a store indexes.
    pub fn bands(&self) -> [i64; HASHES / ROWS] {
        let mut bands = [0i64; HASHES / ROWS];
        for (band, rows) in bands.iter_mut().zip(self.0.chunks(ROWS)) {
            let bytes: Vec<u8> = rows.iter().flat_map(|row| row.to_le_bytes()).collect();
            *band = hash(&bytes) as i64;
        }
        bands
    }

    /// As stored: hexadecimal.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|entry| format!("{entry:08x}")).collect()
    }

    pub fn from_hex(text: &str) -> Option<Self> {
        if text.len() != HASHES * 8 || !text.is_ascii() {
            return None;
        }
        let mut entries = [0u32; HASHES];
        for (index, entry) in entries.iter_mut().enumerate() {
            *entry = u32::from_str_radix(&text[index * 8..index * 8 + 8], 16).ok()?;
        }
        Some(Self(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signature(text: &str) -> Signature {
        Signature::of(&Normalised::new(text)).unwrap()
    }

    #[test]
    fn copies_with_other_spacing_case_width_or_a_letter_more_are_near_and_others_are_not() {
        let original = signature("지금 가입하면 포인트 만원 지급! 프로필 링크 확인 FAST");
        assert_eq!(
            original,
            signature("지금  가입하면 포인트 만원 지급!!  프로필 링크 확인 ｆａｓｔ")
        );
        let edited = signature("지금 가입하면 포인트 만원 지급! 프로필 링크 확인 fastt");
        assert!(
            original.is_near(&edited),
            "{}",
            original.similarity(&edited)
        );
        assert!(original
            .bands()
            .iter()
            .zip(edited.bands())
            .any(|(a, b)| *a == b));
        let other = signature("오늘 한강 공원에서 친구들과 산책을 했어요 날씨 최고");
        assert!(!original.is_near(&other), "{}", original.similarity(&other));
        assert_eq!(Signature::of(&Normalised::new("ㅋㅋㅋ nice")), None);
        assert_eq!(Signature::from_hex(&original.to_hex()), Some(original));
        assert_eq!(Signature::from_hex("zz"), None);
    }
}
