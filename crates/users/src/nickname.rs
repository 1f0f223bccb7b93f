//! Nicknames: 2–30 characters of letters (Hangul included), digits, `_` and `.`, unique ignoring
//! case and Unicode compatibility forms.

use crate::profanity::ProfanityFilter;
use rand::Rng;
use unicode_normalization::UnicodeNormalization;

pub const MIN_LENGTH: usize = 2;
pub const MAX_LENGTH: usize = 30;

/// Names that would let someone pass for the service or for a thread alias.
const RESERVED: &[&str] = &[
    "admin",
    "administrator",
    "moderator",
    "mod",
    "veilgram",
    "support",
    "system",
    "root",
    "official",
    "staff",
    "op",
    "deleted",
    "anonymous",
    "null",
    "undefined",
];

/// A nickname that passed every rule, with its uniqueness key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nickname {
    display: String,
    key: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NicknameError {
    #[error("nickname must be 2 to 30 characters")]
    Length,
    #[error("nickname may hold only letters, digits, '_' and '.'")]
    Characters,
    #[error("nickname is not allowed")]
    Profane,
    #[error("nickname is reserved")]
    Reserved,
}

impl Nickname {
    pub fn parse(raw: &str, filter: &ProfanityFilter) -> Result<Self, NicknameError> {
        let display: String = raw.trim().nfkc().collect();
        let length = display.chars().count();
        if !(MIN_LENGTH..=MAX_LENGTH).contains(&length) {
            return Err(NicknameError::Length);
        }
        if !display
            .chars()
            .all(|c| c.is_alphabetic() || c.is_ascii_digit() || c == '_' || c == '.')
        {
            return Err(NicknameError::Characters);
        }
        let key = uniqueness_key(&display);
        if RESERVED.contains(&key.as_str()) {
            return Err(NicknameError::Reserved);
        }
        if filter.is_profane(&display) {
            return Err(NicknameError::Profane);
        }
        Ok(Self { display, key })
    }

    /// A random placeholder for accounts created without one, e.g. `user_k3x9q2mw`: drawn
    /// again until it passes every rule (random letters can spell a word the filter refuses).
    pub fn random(filter: &ProfanityFilter) -> Self {
        const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
        let mut rng = rand::thread_rng();
        loop {
            let suffix: String = (0..8)
                .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
                .collect();
            if let Ok(nickname) = Self::parse(&format!("user_{suffix}"), filter) {
                return nickname;
            }
        }
    }

    pub fn as_str(&self) -> &str {
        &self.display
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn into_parts(self) -> (String, String) {
        (self.display, self.key)
    }
}

pub use veilgram_core::text::nickname_key as uniqueness_key;

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> Result<Nickname, NicknameError> {
        Nickname::parse(raw, &ProfanityFilter::bundled())
    }

    #[test]
    fn accepts_letters_digits_underscore_and_dot_in_any_script() {
        for name in [
            "ab",
            "veil_gram.01",
            "익명의고양이",
            "Zoë_92",
            "ねこ.neko",
            &"a".repeat(30),
        ] {
            assert!(parse(name).is_ok(), "{name} should be accepted");
        }
    }

    #[test]
    fn enforces_length_and_characters() {
        assert_eq!(parse("a"), Err(NicknameError::Length));
        assert_eq!(parse(&"a".repeat(31)), Err(NicknameError::Length));
        assert_eq!(parse("가"), Err(NicknameError::Length));
        for name in [
            "no spaces",
            "semi;colon",
            "emoji😀",
            "dash-ed",
            "zero\u{200b}width",
        ] {
            assert_eq!(parse(name), Err(NicknameError::Characters), "{name}");
        }
    }

    #[test]
    fn keys_collide_across_case_width_and_lookalikes() {
        let key = |name: &str| parse(name).unwrap().key().to_owned();
        assert_eq!(key("VeilGram_Fan"), key("veilgram_fan"));
        assert_eq!(key("ｖｅｉｌ"), key("VEIL"));
        assert_eq!(key("Straße"), key("STRASSE"));
        assert_eq!(key("раssword"), key("password"));
        assert_ne!(key("alice"), key("alicia"));
    }

    #[test]
    fn display_form_is_nfkc() {
        assert_eq!(parse("ｖｅｉｌ").unwrap().as_str(), "veil");
    }

    #[test]
    fn reserved_names_are_refused_in_any_case() {
        assert_eq!(parse("Admin"), Err(NicknameError::Reserved));
        assert_eq!(parse("OP"), Err(NicknameError::Reserved));
    }

    #[test]
    fn random_nicknames_are_valid() {
        for _ in 0..50 {
            let nickname = Nickname::random(&ProfanityFilter::bundled());
            assert_eq!(parse(nickname.as_str()).unwrap(), nickname);
        }
    }
}
