//! Keyword rules for Korean and English, by category, that see through the usual evasions:
//! spacing and punctuation inside words, digits or stray jamo inserted between syllables,
//! leetspeak, repeated letters, full-width forms and Cyrillic/Greek look-alikes (all through
//! [`Normalised`]). The nickname filter and the moderation text check both use them.
//!
//! Each word list is matched against the views that suit it:
//! - Korean patterns: substrings of the compacted text (letters and digits only), of the same
//!   without digits, and without digits or lone jamo (`시ㅋ발` → `시발`).
//! - English strong stems: substrings of the compacted, leet-decoded text, also with repeated
//!   letters collapsed (`f.u.c.k`, `fuuuck`, `sh1t`).
//! - English words: whole words only, so innocent words that merely contain one (`classic`,
//!   `Scunthorpe`, `cocktail`) pass.
//!
//! Innocent words that contain a pattern (`시발점`, "starting point"; `scunthorpe`) are masked
//! before matching. English slurs are lists of their own (category [`Category::Slur`]); the
//! rest is [`Category::Profanity`]. The lists live in `data/` with their sources and licences;
//! every substring list is one Aho-Corasick automaton, so a check costs a pass per view, not per
//! word; the whole-word lists are sets.

use crate::normalise::{collapse_repeats, decode_leet, Normalised};
use crate::Category;
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use std::collections::HashSet;

const KOREAN: &str = include_str!("../data/profanity-ko.txt");
const KOREAN_EXCEPTIONS: &str = include_str!("../data/profanity-ko-exceptions.txt");
const ENGLISH_STRONG: &str = include_str!("../data/profanity-en-strong.txt");
const ENGLISH_WORDS: &str = include_str!("../data/profanity-en-words.txt");
const ENGLISH_EXCEPTIONS: &str = include_str!("../data/profanity-en-exceptions.txt");
const SLURS_STRONG: &str = include_str!("../data/slurs-en-strong.txt");
const SLURS_WORDS: &str = include_str!("../data/slurs-en-words.txt");

/// Which rule found a text, and its category.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeywordMatch {
    pub category: Category,
    /// The list that matched (`ko-profanity`, `en-slur-strong`, …), never the word itself.
    pub rule: &'static str,
}

pub struct KeywordRules {
    korean: AhoCorasick,
    korean_exceptions: Masker,
    english_strong: [(AhoCorasick, KeywordMatch); 2],
    english_exceptions: Masker,
    english_words: [(HashSet<String>, KeywordMatch); 2],
}

/// The nickname filter's name for the same rules.
pub type ProfanityFilter = KeywordRules;

fn entries(list: &str) -> Vec<String> {
    list.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

fn automaton(list: &str) -> AhoCorasick {
    // The lists are data shipped in the binary and checked by the tests below.
    #[allow(clippy::expect_used)]
    AhoCorasick::new(entries(list)).expect("a word list builds an automaton")
}

/// Replaces every innocent word that holds a pattern by a space, so no pattern matches inside it.
struct Masker {
    automaton: AhoCorasick,
    spaces: Vec<&'static str>,
}

impl Masker {
    fn new(list: &str) -> Self {
        let entries = entries(list);
        let spaces = vec![" "; entries.len()];
        // The longest innocent word wins where two overlap (`시발점` over `시발`).
        #[allow(clippy::expect_used)]
        let automaton = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostLongest)
            .build(entries)
            .expect("a word list builds an automaton");
        Self { automaton, spaces }
    }

    fn mask(&self, text: &str) -> String {
        self.automaton.replace_all(text, &self.spaces)
    }
}

const KO_PROFANITY: KeywordMatch = KeywordMatch {
    category: Category::Profanity,
    rule: "ko-profanity",
};

impl KeywordRules {
    /// The rules over the lists shipped in `data/`.
    pub fn bundled() -> Self {
        let slur = |rule| KeywordMatch {
            category: Category::Slur,
            rule,
        };
        let profanity = |rule| KeywordMatch {
            category: Category::Profanity,
            rule,
        };
        let words = |list| entries(list).into_iter().collect::<HashSet<_>>();
        Self {
            korean: automaton(KOREAN),
            korean_exceptions: Masker::new(KOREAN_EXCEPTIONS),
            english_strong: [
                (automaton(SLURS_STRONG), slur("en-slur-strong")),
                (automaton(ENGLISH_STRONG), profanity("en-profanity-strong")),
            ],
            english_exceptions: Masker::new(ENGLISH_EXCEPTIONS),
            english_words: [
                (words(SLURS_WORDS), slur("en-slur-word")),
                (words(ENGLISH_WORDS), profanity("en-profanity-word")),
            ],
        }
    }

    pub fn is_profane(&self, text: &str) -> bool {
        self.find(&Normalised::new(text)).is_some()
    }

    /// The first rule that finds `text`: slurs before other profanity.
    pub fn find(&self, text: &Normalised) -> Option<KeywordMatch> {
        let strong = self.english_strong_stem(&text.base);
        let word = self.english_word(&text.base);
        let slur = [strong, word]
            .into_iter()
            .flatten()
            .find(|found| found.category == Category::Slur);
        slur.or(strong)
            .or(word)
            .or_else(|| self.korean_profane(text).then_some(KO_PROFANITY))
    }

    /// `text` with the innocent Korean words that hold a pattern masked (for the models too).
    pub fn mask_korean(&self, text: &str) -> String {
        self.korean_exceptions.mask(text)
    }

    fn korean_profane(&self, text: &Normalised) -> bool {
        let [without_digits, without_jamo] = text.korean_views();
        [text.compact.as_str(), &without_digits, &without_jamo]
            .iter()
            .any(|view| self.korean.is_match(&self.korean_exceptions.mask(view)))
    }

    fn english_strong_stem(&self, base: &str) -> Option<KeywordMatch> {
        let mut views = Vec::with_capacity(4);
        for one_as in ['i', 'l'] {
            let decoded: String = base
                .chars()
                .map(|c| decode_leet(c, one_as))
                .filter(|c| c.is_alphabetic())
                .collect();
            let collapsed = collapse_repeats(&decoded, 1);
            views.push(self.english_exceptions.mask(&decoded));
            views.push(self.english_exceptions.mask(&collapsed));
        }
        self.english_strong.iter().find_map(|(automaton, found)| {
            views
                .iter()
                .any(|view| automaton.is_match(view))
                .then_some(*found)
        })
    }

    fn english_word(&self, base: &str) -> Option<KeywordMatch> {
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
        let decoded: Vec<String> = words
            .iter()
            .flat_map(|word| {
                ['i', 'l'].map(|one_as| word.chars().map(|c| decode_leet(c, one_as)).collect())
            })
            .collect();
        self.english_words.iter().find_map(|(list, found)| {
            decoded
                .iter()
                .any(|word| is_listed(list, word))
                .then_some(*found)
        })
    }
}

fn is_listed(list: &HashSet<String>, word: &str) -> bool {
    if list.contains(word) {
        return true;
    }
    ["s", "es", "ed", "er", "ers", "ing", "y"]
        .iter()
        .any(|suffix| {
            word.strip_suffix(suffix)
                .is_some_and(|stem| stem.len() >= 3 && list.contains(stem))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catches_english_profanity_and_its_evasions() {
        let filter = KeywordRules::bundled();
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
        let filter = KeywordRules::bundled();
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
        let filter = KeywordRules::bundled();
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
