//! A profanity filter for Korean and English that sees through the usual evasions: spacing and
//! punctuation inside words, digits or stray jamo inserted between syllables, leetspeak,
//! repeated letters, full-width forms and Cyrillic/Greek look-alikes.
//!
//! The text is normalised into several *views*, and each word list is matched against the views
//! that suit it:
//! - Korean patterns: substrings of the compacted text (letters and digits only), of the same
//!   without digits, and without digits or lone jamo (`시ㅋ발` → `시발`).
//! - English strong stems: substrings of the compacted, leet-decoded text, also with repeated
//!   letters collapsed (`f.u.c.k`, `fuuuck`, `sh1t`).
//! - English words: whole words only, so innocent words that merely contain one (`classic`,
//!   `Scunthorpe`, `cocktail`) pass.
//!
//! Innocent words that contain a pattern (`시발점`, "starting point"; `scunthorpe`) are masked
//! before matching. The lists live in `data/` with their sources and licences.

use std::collections::HashSet;
use unicode_normalization::UnicodeNormalization;
use veilgram_core::text::fold_confusables;

const KOREAN: &str = include_str!("../data/profanity-ko.txt");
const KOREAN_EXCEPTIONS: &str = include_str!("../data/profanity-ko-exceptions.txt");
const ENGLISH_STRONG: &str = include_str!("../data/profanity-en-strong.txt");
const ENGLISH_WORDS: &str = include_str!("../data/profanity-en-words.txt");
const ENGLISH_EXCEPTIONS: &str = include_str!("../data/profanity-en-exceptions.txt");

pub struct ProfanityFilter {
    korean: Vec<String>,
    korean_exceptions: Vec<String>,
    english_strong: Vec<String>,
    english_words: HashSet<String>,
    english_exceptions: Vec<String>,
}

fn entries(list: &str) -> impl Iterator<Item = String> + '_ {
    list.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
}

/// Hangul jamo outside a syllable (ㄱ…ㅣ), often inserted to break up a word. NFKC turns the
/// compatibility jamo people type into conjoining jamo, so both blocks count.
fn is_lone_jamo(character: char) -> bool {
    ('\u{3131}'..='\u{318e}').contains(&character)
        || ('\u{1100}'..='\u{11ff}').contains(&character)
        || ('\u{a960}'..='\u{a97f}').contains(&character)
        || ('\u{d7b0}'..='\u{d7ff}').contains(&character)
}

fn decode_leet(character: char, one_as: char) -> char {
    match character {
        '0' => 'o',
        '1' | '!' | '|' => one_as,
        '3' => 'e',
        '4' | '@' => 'a',
        '5' | '$' => 's',
        '7' | '+' => 't',
        '8' => 'b',
        '9' => 'g',
        other => other,
    }
}

fn collapse_repeats(text: &str) -> String {
    let mut collapsed = String::with_capacity(text.len());
    let mut previous = None;
    for character in text.chars() {
        if previous != Some(character) {
            collapsed.push(character);
        }
        previous = Some(character);
    }
    collapsed
}

/// Replaces every occurrence of an exception with a separator, so patterns cannot match inside it.
fn mask(text: &str, exceptions: &[String]) -> String {
    let mut masked = text.to_owned();
    for exception in exceptions {
        if masked.contains(exception.as_str()) {
            masked = masked.replace(exception.as_str(), " ");
        }
    }
    masked
}

impl ProfanityFilter {
    /// The filter over the lists shipped in `data/`.
    pub fn bundled() -> Self {
        Self {
            korean: entries(KOREAN).collect(),
            korean_exceptions: entries(KOREAN_EXCEPTIONS).collect(),
            english_strong: entries(ENGLISH_STRONG).collect(),
            english_words: entries(ENGLISH_WORDS).collect(),
            english_exceptions: entries(ENGLISH_EXCEPTIONS).collect(),
        }
    }

    pub fn is_profane(&self, text: &str) -> bool {
        let base: String = text
            .nfkc()
            .flat_map(char::to_lowercase)
            .map(fold_confusables)
            .collect();
        let compact: String = base.chars().filter(|c| c.is_alphanumeric()).collect();
        self.is_korean_profane(&compact)
            || self.has_english_strong_stem(&base)
            || self.has_english_word(&base)
    }

    fn is_korean_profane(&self, compact: &str) -> bool {
        let without_digits: String = compact.chars().filter(|c| !c.is_ascii_digit()).collect();
        let without_jamo: String = without_digits
            .chars()
            .filter(|&c| !is_lone_jamo(c))
            .collect();
        let views = [compact, without_digits.as_str(), without_jamo.as_str()];
        views.iter().any(|view| {
            let masked = mask(view, &self.korean_exceptions);
            self.korean
                .iter()
                .any(|pattern| masked.contains(pattern.as_str()))
        })
    }

    fn has_english_strong_stem(&self, base: &str) -> bool {
        ['i', 'l'].into_iter().any(|one_as| {
            let decoded: String = base
                .chars()
                .map(|c| decode_leet(c, one_as))
                .filter(|c| c.is_alphabetic())
                .collect();
            let collapsed = collapse_repeats(&decoded);
            [decoded, collapsed]
                .iter()
                .map(|view| mask(view, &self.english_exceptions))
                .any(|view| {
                    self.english_strong
                        .iter()
                        .any(|stem| view.contains(stem.as_str()))
                })
        })
    }

    fn has_english_word(&self, base: &str) -> bool {
        // Words are runs of letters and digits; runs of one-letter words are joined, so that
        // "a s s" is read as one word.
        let mut words: Vec<String> = Vec::new();
        let mut letters_run = String::new();
        for token in base
            .split(|c: char| !c.is_alphanumeric())
            .filter(|t| !t.is_empty())
        {
            if token.chars().count() == 1 {
                letters_run.push_str(token);
                continue;
            }
            if !letters_run.is_empty() {
                words.push(std::mem::take(&mut letters_run));
            }
            words.push(token.to_owned());
        }
        if !letters_run.is_empty() {
            words.push(letters_run);
        }
        words.iter().any(|word| {
            ['i', 'l'].into_iter().any(|one_as| {
                let decoded: String = word.chars().map(|c| decode_leet(c, one_as)).collect();
                self.is_listed_word(&decoded)
            })
        })
    }

    fn is_listed_word(&self, word: &str) -> bool {
        if self.english_words.contains(word) {
            return true;
        }
        ["s", "es", "ed", "er", "ers", "ing", "y"]
            .iter()
            .any(|suffix| {
                word.strip_suffix(suffix)
                    .is_some_and(|stem| stem.len() >= 3 && self.english_words.contains(stem))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catches_english_profanity_and_its_evasions() {
        let filter = ProfanityFilter::bundled();
        for text in [
            "fuck",
            "FUCK",
            "f.u.c.k",
            "f u c k",
            "fuuuuck",
            "sh1t",
            "5hit",
            "fuckyou",
            "xX_b1tch_Xx",
            "ａｓｓｈｏｌｅ",
            "fսck",
            "a s s",
            "ass",
            "asses",
            "dick",
            "c0ck",
            "mother.fucker",
            "twat_99",
        ] {
            assert!(filter.is_profane(text), "{text:?} should be caught");
        }
    }

    #[test]
    fn catches_korean_profanity_and_its_evasions() {
        let filter = ProfanityFilter::bundled();
        for text in [
            "시발",
            "씨발",
            "씨 발",
            "씨1발",
            "시ㅋ발",
            "시.발",
            "ㅅㅂ",
            "ㅆㅂ",
            "병신",
            "병 신",
            "개새끼",
            "개.새.끼",
            "tlqkf",
            "ㅂㅅ",
            "미친놈",
        ] {
            assert!(filter.is_profane(text), "{text:?} should be caught");
        }
    }

    #[test]
    fn leaves_innocent_words_alone() {
        let filter = ProfanityFilter::bundled();
        for text in [
            "Scunthorpe",
            "classic",
            "assassin",
            "grasshopper",
            "cocktail",
            "peacock",
            "analysis",
            "Dickens",
            "therapist",
            "hello",
            "shiitake",
            "retardant",
            "passion",
            "class_of_2026",
            "시발점",
            "시발역",
            "시바견",
            "안녕하세요",
            "고양이",
            "사랑해",
            "bass.player",
            "Essex",
            "title",
            "glasses",
            "organ",
            "god",
            "virgin_islands",
        ] {
            assert!(!filter.is_profane(text), "{text:?} should pass");
        }
    }
}
