//! Text rules shared by several services: the nickname key that makes nicknames unique and
//! resolves `@mentions`, and the folding of look-alike letters.

use unicode_normalization::UnicodeNormalization;

/// NFKC, then full case folding, then NFKC again (Unicode's NFKC_Casefold, closely), then
/// look-alike letters from other scripts folded to Latin, so "Аdmin" (Cyrillic А) and "admin"
/// collide.
pub fn nickname_key(display: &str) -> String {
    let normalised: String = display.nfkc().collect();
    let folded = caseless::default_case_fold_str(&normalised);
    let renormalised: String = folded.nfkc().collect();
    renormalised.chars().map(fold_confusables).collect()
}

/// Folds Cyrillic and Greek letters that look like Latin ones onto the Latin letter.
pub fn fold_confusables(character: char) -> char {
    match character {
        'а' | 'α' => 'a',
        'в' | 'β' => 'b',
        'с' | 'ϲ' => 'c',
        'ԁ' => 'd',
        'е' | 'ё' | 'ε' => 'e',
        'һ' => 'h',
        'і' | 'ї' | 'ι' => 'i',
        'ј' => 'j',
        'к' | 'κ' => 'k',
        'м' | 'μ' => 'm',
        'н' | 'η' => 'n',
        'о' | 'ο' => 'o',
        'р' | 'ρ' => 'p',
        'ԛ' => 'q',
        'ѕ' => 's',
        'т' | 'τ' => 't',
        'υ' | 'ս' => 'u',
        'ν' | 'ѵ' => 'v',
        'ԝ' | 'ω' => 'w',
        'х' | 'χ' => 'x',
        'у' | 'γ' => 'y',
        other => other,
    }
}
