//! The one normaliser every text check reads through (keyword rules, the nickname filter and
//! both models), so that an evasion seen through once is seen through everywhere.
//!
//! [`Normalised::new`] makes the *base* view (NFKC, which folds full-width and half-width forms
//! and turns typed jamo into conjoining jamo; lower case; Cyrillic and Greek look-alikes folded
//! onto Latin; zero-width, format and control characters removed, white space as one space)
//! and the *compact* view (its letters and digits only: spacing, punctuation and emoji inserted
//! into a word are gone). The other views are derived on demand: digits or lone jamo dropped
//! (`시1발`, `시ㅋ발`), leetspeak decoded (`sh1t`), repeated letters collapsed (`fuuuck`).

use unicode_normalization::UnicodeNormalization;
use veilgram_core::text::fold_confusables;

/// A text's base and compact views.
#[derive(Clone, Debug)]
pub struct Normalised {
    pub base: String,
    pub compact: String,
}

impl Normalised {
    pub fn new(text: &str) -> Self {
        let mut base = String::with_capacity(text.len());
        let mut space = true;
        for character in text
            .nfkc()
            .flat_map(char::to_lowercase)
            .map(fold_confusables)
        {
            if character.is_whitespace() {
                if !space {
                    base.push(' ');
                }
                space = true;
            } else if !is_invisible(character) {
                base.push(character);
                space = false;
            }
        }
        if base.ends_with(' ') {
            base.pop();
        }
        let compact = base.chars().filter(|c| c.is_alphanumeric()).collect();
        Self { base, compact }
    }

    /// The compact view without digits, and that without lone jamo too.
    pub fn korean_views(&self) -> [String; 2] {
        let without_digits: String = self
            .compact
            .chars()
            .filter(|c| !c.is_ascii_digit())
            .collect();
        let without_jamo = without_digits
            .chars()
            .filter(|&c| !is_lone_jamo(c))
            .collect();
        [without_digits, without_jamo]
    }
}

/// Zero-width, format and control characters: invisible, so only ever there to break a word
/// up (U+200B…U+200F, U+2060…U+2064, U+FEFF, soft hyphen, the C0 and C1 controls, and
/// the Hangul fillers that render as nothing).
fn is_invisible(character: char) -> bool {
    character.is_control()
        || matches!(
            character,
            '\u{ad}'
                | '\u{200b}'..='\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2060}'..='\u{2064}'
                | '\u{feff}'
                | '\u{115f}'
                | '\u{1160}'
                | '\u{3164}'
                | '\u{ffa0}'
        )
}

/// Hangul jamo outside a syllable (ㄱ…ㅣ), often inserted to break up a word. NFKC turns the
/// compatibility jamo people type into conjoining jamo, so both blocks count.
pub fn is_lone_jamo(character: char) -> bool {
    ('\u{3131}'..='\u{318e}').contains(&character)
        || ('\u{1100}'..='\u{11ff}').contains(&character)
        || ('\u{a960}'..='\u{a97f}').contains(&character)
        || ('\u{d7b0}'..='\u{d7ff}').contains(&character)
}

/// A leetspeak character's letter (`1` and `!` read as `one_as`: `i` or `l`).
pub fn decode_leet(character: char, one_as: char) -> char {
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

/// `text` with every run of one character cut to at most `keep` of it.
pub fn collapse_repeats(text: &str, keep: usize) -> String {
    let mut collapsed = String::with_capacity(text.len());
    let mut previous = None;
    let mut run = 0;
    for character in text.chars() {
        if previous == Some(character) {
            run += 1;
        } else {
            run = 1;
        }
        if run <= keep {
            collapsed.push(character);
        }
        previous = Some(character);
    }
    collapsed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_width_case_lookalikes_and_drops_what_is_invisible() {
        let text = Normalised::new("  ＦＵ\u{200b}ｃк\u{feff}  서울\t\n에서 ");
        assert_eq!(text.base, "fuck 서울 에서");
        assert_eq!(text.compact, "fuck서울에서");
    }

    #[test]
    fn korean_views_drop_digits_then_lone_jamo() {
        let text = Normalised::new("시1ㅋ발");
        assert_eq!(
            text.korean_views(),
            ["시ᄏ발".to_owned(), "시발".to_owned()]
        );
    }

    #[test]
    fn repeats_collapse_to_what_is_kept() {
        assert_eq!(collapse_repeats("fuuuuck", 1), "fuck");
        assert_eq!(collapse_repeats("ㅋㅋㅋㅋ좋아", 2), "ㅋㅋ좋아");
    }
}
