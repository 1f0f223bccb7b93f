//! Text analysis for Korean and English partial matching.
//!
//! Text is NFKC-normalised (full-width and half-width forms fold) and lower-cased, then split
//! into words at anything that is not a letter, digit or `_` (so `#서울` is the word `서울`).
//! Each word is indexed three ways:
//! - whole (`words`), to rank exact words first;
//! - as overlapping character bigrams (`grams`) at consecutive positions, words apart by a gap,
//!   so a query fragment of two or more characters is a phrase of its bigrams: `스타` finds
//!   `인스타그램`, `서울` finds `서울에서` and `서울의`, `photo` finds `photography`, and a
//!   fragment never matches across two words (tantivy's own `NgramTokenizer` puts every gram at
//!   position 0, which would make any two grams of a text a "phrase");
//! - as single characters (`chars`), for one-character queries.

use unicode_normalization::UnicodeNormalization;

/// Positions between two words, so no phrase spans them.
const WORD_GAP: usize = 8;
/// Characters of a word that are indexed (a longer "word" is noise or an attack).
pub const MAX_WORD_CHARS: usize = 64;

/// What a post is found by: its text and its hashtags (without `#`), as one text.
pub fn post_text(post: &veilgram_core::ports::PostDocument) -> String {
    let mut text = post.text.clone();
    for tag in &post.hashtags {
        text.push(' ');
        text.push_str(tag);
    }
    text
}

/// What an account is found by: its nickname and status message, as one text.
pub fn user_text(user: &veilgram_core::ports::UserDocument) -> String {
    format!("{} {}", user.nickname, user.status_message)
}

/// NFKC, then lower case.
pub fn normalise(text: &str) -> String {
    text.nfkc().flat_map(char::to_lowercase).collect()
}

/// The words of `text`, normalised, each cut to [`MAX_WORD_CHARS`].
pub fn words(text: &str) -> Vec<String> {
    normalise(text)
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|word| !word.is_empty())
        .map(|word| word.chars().take(MAX_WORD_CHARS).collect())
        .collect()
}

/// A token at a position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Positioned {
    pub text: String,
    pub position: usize,
}

/// What one text is indexed as.
#[derive(Debug, Default)]
pub struct Analysed {
    pub words: Vec<Positioned>,
    pub grams: Vec<Positioned>,
    pub chars: Vec<Positioned>,
}

/// The bigrams of a word, in order (a one-character word has none).
pub fn bigrams(word: &str) -> Vec<String> {
    let characters: Vec<char> = word.chars().collect();
    characters
        .windows(2)
        .map(|pair| pair.iter().collect())
        .collect()
}

pub fn analyse(text: &str) -> Analysed {
    let mut analysed = Analysed::default();
    let mut position = 0;
    for (index, word) in words(text).into_iter().enumerate() {
        let characters: Vec<char> = word.chars().collect();
        for (offset, character) in characters.iter().enumerate() {
            analysed.chars.push(Positioned {
                text: character.to_string(),
                position: position + offset,
            });
        }
        for (offset, gram) in bigrams(&word).into_iter().enumerate() {
            analysed.grams.push(Positioned {
                text: gram,
                position: position + offset,
            });
        }
        analysed.words.push(Positioned {
            text: word,
            position: index,
        });
        position += characters.len() + WORD_GAP;
    }
    analysed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_fold_width_and_case_and_drop_sigils() {
        assert_eq!(
            words("#서울 에서 ＢＵＳＡＮ, Photo-graphy!"),
            vec!["서울", "에서", "busan", "photo", "graphy"]
        );
    }

    #[test]
    fn grams_are_consecutive_within_a_word_and_apart_between_words() {
        let analysed = analyse("인스타 ab");
        let grams: Vec<(&str, usize)> = analysed
            .grams
            .iter()
            .map(|gram| (gram.text.as_str(), gram.position))
            .collect();
        assert_eq!(grams, vec![("인스", 0), ("스타", 1), ("ab", 11)]);
        assert_eq!(analysed.chars.len(), 5);
        assert_eq!(bigrams("가"), Vec::<String>::new());
    }
}
