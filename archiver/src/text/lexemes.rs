//! Words as PostgreSQL's `english` text search configuration turns them
//! into lexemes, for the indexes that have no PostgreSQL: SQLite's FTS5
//! (the embedded default) and the memory index.
//!
//! A word is a run of letters and digits (any script); it is lower-cased;
//! a word of letters only that is one of PostgreSQL's English stop words
//! keeps only its place ([`STOP`], so that a phrase never matches across
//! it: PostgreSQL counts its position too), any other is reduced to its
//! Snowball English stem (PostgreSQL's `english_stem`); a word holding a
//! digit is kept as is (PostgreSQL's `simple` dictionary for numbers). Where PostgreSQL's parser sees more
//! than words — e-mail addresses, host names, URLs, file paths, decimal
//! numbers and versions kept whole, hyphenated words indexed whole and in
//! parts — this splits at every other character: README.md lists what
//! that changes.

use rust_stemmers::{Algorithm, Stemmer};
use std::sync::LazyLock;

/// PostgreSQL's English stop words (`tsearch_data/english.stop`).
const STOP_WORDS: &[&str] = &[
    "i",
    "me",
    "my",
    "myself",
    "we",
    "our",
    "ours",
    "ourselves",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
    "he",
    "him",
    "his",
    "himself",
    "she",
    "her",
    "hers",
    "herself",
    "it",
    "its",
    "itself",
    "they",
    "them",
    "their",
    "theirs",
    "themselves",
    "what",
    "which",
    "who",
    "whom",
    "this",
    "that",
    "these",
    "those",
    "am",
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "being",
    "have",
    "has",
    "had",
    "having",
    "do",
    "does",
    "did",
    "doing",
    "a",
    "an",
    "the",
    "and",
    "but",
    "if",
    "or",
    "because",
    "as",
    "until",
    "while",
    "of",
    "at",
    "by",
    "for",
    "with",
    "about",
    "against",
    "between",
    "into",
    "through",
    "during",
    "before",
    "after",
    "above",
    "below",
    "to",
    "from",
    "up",
    "down",
    "in",
    "out",
    "on",
    "off",
    "over",
    "under",
    "again",
    "further",
    "then",
    "once",
    "here",
    "there",
    "when",
    "where",
    "why",
    "how",
    "all",
    "any",
    "both",
    "each",
    "few",
    "more",
    "most",
    "other",
    "some",
    "such",
    "no",
    "nor",
    "not",
    "only",
    "own",
    "same",
    "so",
    "than",
    "too",
    "very",
    "s",
    "t",
    "can",
    "will",
    "just",
    "don",
    "should",
    "now",
];

static STEMMER: LazyLock<Stemmer> = LazyLock::new(|| Stemmer::create(Algorithm::English));

/// A stop word's place among the tokens: a private-use character, which
/// FTS5's `unicode61` tokenizer keeps as a token and no word ever becomes
/// (words are letters and digits).
pub const STOP: &str = "\u{e000}";

/// The tokens of `text`, in order: each word's lexeme, or [`STOP`].
pub fn tokens(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(token).collect()
}

/// The lexemes of `text`: its tokens without the stop words.
pub fn lexemes(text: &str) -> Vec<String> {
    tokens(text).into_iter().filter(|t| t != STOP).collect()
}

fn token(word: &str) -> String {
    let lower = word.to_lowercase();
    if lower.chars().any(|c| c.is_numeric()) {
        return lower;
    }
    if STOP_WORDS.contains(&lower.as_str()) {
        return STOP.to_owned();
    }
    STEMMER.stem(&lower).into_owned()
}

/// `text` as the embedded index stores it: its tokens, space-separated.
pub fn indexed_form(text: &str) -> String {
    tokens(text).join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_become_english_lexemes() {
        assert_eq!(
            lexemes("The Running dogs of S240101ab, H1,L1 über"),
            ["run", "dog", "s240101ab", "h1", "l1", "über"]
        );
        assert_eq!(lexemes("a.b@c-d_e 12.5"), ["b", "c", "d", "e", "12", "5"]);
        assert!(lexemes("the and or").is_empty());
        assert_eq!(indexed_form("optical the afterglow"), format!("optic {STOP} afterglow"));
        assert_eq!(STOP_WORDS.len(), 127);
    }
}
