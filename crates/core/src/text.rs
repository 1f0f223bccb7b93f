//! Text rules shared by several services: the nickname key that makes nicknames unique and
//! resolves `@mentions`, the folding of look-alike letters, hashtag and mention parsing, and the
//! counting of links (which new accounts have a smaller budget of).
//!
//! A hashtag is `#` followed by Unicode letters, digits or `_` (Hangul included), stored NFKC and
//! lower-cased. A mention is `@` followed by a nickname. Neither starts inside a word, so
//! `a#b` and `mail@example` are plain text.

use unicode_normalization::UnicodeNormalization;

/// NFKC, then full case folding, then NFKC again (Unicode's NFKC_Casefold, closely), then
/// look-alike letters from other scripts folded to Latin, so "Аdmin" (Cyrillic А) and "admin"
/// collide, and NFKC once more, so a folded letter composes with the accent after it as the
/// Latin letter would ("е\u{301}", Cyrillic, and "é"). A key is its own key.
pub fn nickname_key(display: &str) -> String {
    let normalised: String = display.nfkc().collect();
    let folded = caseless::default_case_fold_str(&normalised);
    let renormalised: String = folded.nfkc().collect();
    let latin: String = renormalised.chars().map(fold_confusables).collect();
    latin.nfkc().collect()
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

pub const MAX_HASHTAG_CHARS: usize = 100;

/// Whether `character` may appear in a hashtag (after its `#`).
pub fn is_tag_char(character: char) -> bool {
    character.is_alphanumeric() || character == '_'
}

/// Runs of `is_part` characters that follow `sigil` where the sigil does not sit inside a word.
fn sigil_runs(text: &str, sigil: char, is_part: fn(char) -> bool) -> Vec<String> {
    let characters: Vec<char> = text.chars().collect();
    let mut runs = Vec::new();
    let mut index = 0;
    while index < characters.len() {
        let starts_here = characters[index] == sigil
            && (index == 0
                || !(characters[index - 1].is_alphanumeric() || characters[index - 1] == '_'));
        if starts_here {
            let start = index + 1;
            let mut end = start;
            while end < characters.len() && is_part(characters[end]) {
                end += 1;
            }
            if end > start {
                runs.push(characters[start..end].iter().collect());
            }
            index = end.max(index + 1);
        } else {
            index += 1;
        }
    }
    runs
}

/// Distinct hashtags in order of first appearance, normalised (NFKC, lower case).
pub fn hashtags(text: &str) -> Vec<String> {
    let mut tags: Vec<String> = Vec::new();
    for run in sigil_runs(text, '#', is_tag_char) {
        let normalised: String = run.nfkc().flat_map(char::to_lowercase).collect();
        let normalised: String = normalised.chars().take(MAX_HASHTAG_CHARS).collect();
        if !normalised.is_empty() && !tags.contains(&normalised) {
            tags.push(normalised);
        }
    }
    tags
}

/// Distinct nickname keys of `@mentions`, in order of first appearance.
pub fn mention_keys(text: &str) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for run in sigil_runs(text, '@', |c| c.is_alphanumeric() || c == '_' || c == '.') {
        // A sentence may end right after a mention: "thanks @mina."
        let trimmed = run.trim_end_matches('.');
        let length = trimmed.chars().count();
        if !(2..=30).contains(&length) {
            continue;
        }
        let key = nickname_key(trimmed);
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys
}

/// Top-level domains a bare `name.tld` is taken as a link for (with a scheme, `www.` or a
/// path after it, any top-level domain of two or more letters is).
const LINK_TLDS: &[&str] = &[
    "app", "biz", "cc", "cn", "co", "com", "dev", "gg", "info", "io", "jp", "kr", "link", "ly",
    "me", "net", "online", "org", "ru", "shop", "site", "to", "top", "tv", "xyz",
];

/// Distinct links in `text`: words that start with `http://`, `https://` or `www.`, and bare
/// host names (`example.com`, `한국.kr/path`) with a known top-level domain or a path.
/// Addresses (`a@b.com`) are not links. The text is NFKC-normalised first, so full-width
/// `ｅｘａｍｐｌｅ．ｃｏｍ` counts as well.
pub fn links(text: &str) -> usize {
    let normalised: String = text.nfkc().collect::<String>().to_lowercase();
    let mut found: Vec<&str> = Vec::new();
    let edges: &[char] = &[
        '(', ')', '[', ']', '<', '>', '{', '}', '"', '\'', '.', ',', '!', '?', ';', ':', '…',
    ];
    for word in normalised.split(|c: char| c.is_whitespace() || c == '<' || c == '>') {
        let word = word.trim_matches(edges);
        if word.is_empty() || found.contains(&word) {
            continue;
        }
        let (rest, marked) = match word
            .strip_prefix("https://")
            .or_else(|| word.strip_prefix("http://"))
        {
            Some(rest) => (rest, true),
            None => (word, word.starts_with("www.")),
        };
        let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (host, path) = rest.split_at(host_end);
        let host = host.split(':').next().unwrap_or(host);
        if host.contains('@') || (!marked && word.contains('@')) {
            continue;
        }
        let labels: Vec<&str> = host.split('.').collect();
        let well_formed = labels.len() >= 2
            && labels.iter().all(|label| {
                !label.is_empty() && label.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if !well_formed {
            continue;
        }
        let tld = labels[labels.len() - 1];
        let letters = tld.chars().count() >= 2 && tld.chars().all(char::is_alphabetic);
        if letters && (marked || !path.is_empty() || LINK_TLDS.contains(&tld)) {
            found.push(word);
        }
    }
    found.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashtags_are_unicode_normalised_and_deduplicated() {
        assert_eq!(
            hashtags("Sunset at #Busan with #바다 and #ＢＵＳＡＮ #busan_2026! #"),
            vec!["busan", "바다", "busan_2026"]
        );
        assert_eq!(
            hashtags("#한글태그 #日本 #Ünïcode"),
            vec!["한글태그", "日本", "ünïcode"]
        );
    }

    #[test]
    fn sigils_inside_words_are_not_tags_or_mentions() {
        assert!(hashtags("a#b c#d").is_empty());
        assert!(mention_keys("write to mail@example.com").is_empty());
    }

    #[test]
    fn look_alikes_with_accents_key_as_the_latin_letter() {
        assert_eq!(nickname_key("Min\u{435}\u{301}"), nickname_key("miné"));
        assert_eq!(nickname_key("Аdmin"), "admin");
        let key = nickname_key("Ｍｉｎａ\u{435}\u{301}");
        assert_eq!(nickname_key(&key), key, "a key is its own key");
    }

    #[test]
    fn mentions_resolve_to_nickname_keys() {
        assert_eq!(
            mention_keys("hi @Mina and @mina, thanks @JOE_92."),
            vec!["mina", "joe_92"]
        );
        assert_eq!(mention_keys("@x is too short"), Vec::<String>::new());
    }

    #[test]
    fn links_are_counted_once_each_in_every_common_spelling() {
        assert_eq!(links("no links here, e.g. none. Mr.Smith said so"), 0);
        assert_eq!(links("see https://example.org/a?b=c and http://x.io"), 2);
        assert_eq!(links("(www.example.com) and example.com, 한국.kr/길"), 3);
        assert_eq!(links("ｅｘａｍｐｌｅ．ｃｏｍ"), 1, "full-width folds");
        assert_eq!(links("a.com a.com A.COM"), 1, "distinct, case aside");
        assert_eq!(
            links("write to mina@example.com"),
            0,
            "addresses are not links"
        );
        assert_eq!(links("version 1.2.3 or file.txt"), 0);
        assert_eq!(links("notes.txt/x"), 1, "a path makes a host name a link");
        assert_eq!(links("https://"), 0);
    }
}
