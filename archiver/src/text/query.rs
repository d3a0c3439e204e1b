//! `search_query`: PostgreSQL's `websearch_to_tsquery` syntax, checked
//! and bounded before any index sees it.
//!
//! The syntax: words (all must match); `"quoted phrases"` (the words in
//! that order); `or` between two operands (either side; it binds more
//! loosely than the implicit AND, so `a b or c d` is `(a b) or (c d)`);
//! `-word` or `-"phrase"` (must not match). Other punctuation only
//! separates words. PostgreSQL gets the text as written (a bound
//! parameter); for FTS5 and the memory index this module reads it the way
//! PostgreSQL's `gettoken_query_websearch` does and builds the match
//! expression from lexemes alone, so no user text reaches FTS5's own
//! query syntax.
//!
//! Refused (a 400 at the API): a query longer than [`QUERY_BYTES_MAX`],
//! with more than [`TERMS_MAX`] operands, holding a NUL, or one whose
//! every word of some `or` branch is excluded — `-cat`, `-cat or dog` —
//! which no index can answer: it would read every row. A query of stop
//! words only (`the`) is allowed and matches nothing, as in PostgreSQL.

use super::lexemes::{STOP, tokens};

/// Longest `search_query` accepted, in bytes.
pub const QUERY_BYTES_MAX: usize = 1024;
/// Most operands (words and phrases) in one query.
pub const TERMS_MAX: usize = 32;

/// A checked search query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    raw: String,
    /// `or`-branches, each a conjunction of terms; none left means no match.
    branches: Vec<Vec<Term>>,
}

/// One operand: a word (one lexeme) or a phrase, maybe excluded. A stop
/// word inside a phrase stays as [`STOP`], so `"optical the afterglow"`
/// needs a stop word between (PostgreSQL: any word); at either end it is
/// dropped, as PostgreSQL drops it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Term {
    excluded: bool,
    lexemes: Vec<String>,
}

/// The tokens of an operand's text without stop words at either end.
fn operand(text: &str) -> Vec<String> {
    let mut tokens = tokens(text);
    while tokens.last().is_some_and(|t| t == STOP) {
        tokens.pop();
    }
    let start = tokens.iter().position(|t| t != STOP).unwrap_or(tokens.len());
    tokens.split_off(start)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("search_query is longer than {QUERY_BYTES_MAX} bytes")]
    TooLong,
    #[error("search_query has more than {TERMS_MAX} words and phrases")]
    TooManyTerms,
    #[error("search_query must not contain NUL characters")]
    Nul,
    #[error("search_query needs a word that is not excluded (with `-`) in every `or` branch")]
    OnlyExclusions,
}

/// The characters PostgreSQL's query tokenizer skips between operands.
fn is_operator_char(c: char) -> bool {
    matches!(c, '!' | '&' | '|' | '(' | ')' | '<')
}

impl SearchQuery {
    pub fn parse(raw: &str) -> Result<SearchQuery, QueryError> {
        if raw.len() > QUERY_BYTES_MAX {
            return Err(QueryError::TooLong);
        }
        if raw.contains('\0') {
            return Err(QueryError::Nul);
        }
        let mut branches: Vec<Vec<Term>> = vec![Vec::new()];
        let mut operands = 0;
        let mut excluded = false;
        let mut rest = raw;
        let mut waiting_operand = true;
        while let Some(c) = rest.chars().next() {
            if !waiting_operand {
                if c.is_whitespace() {
                    rest = &rest[c.len_utf8()..];
                } else {
                    if let Some(after) = or_operator(rest) {
                        branches.push(Vec::new());
                        rest = after;
                    }
                    waiting_operand = true;
                }
                continue;
            }
            let text = match c {
                '-' => {
                    excluded = true;
                    rest = &rest[1..];
                    continue;
                }
                '"' => {
                    let inner = &rest[1..];
                    let end = inner.find('"').unwrap_or(inner.len());
                    rest = inner.get(end + 1..).unwrap_or_default();
                    &inner[..end]
                }
                c if c.is_whitespace() || is_operator_char(c) => {
                    rest = &rest[c.len_utf8()..];
                    continue;
                }
                _ => {
                    let end = rest.find(|c: char| c.is_whitespace() || c == '"' || is_operator_char(c));
                    let end = end.unwrap_or(rest.len());
                    let word = &rest[..end];
                    rest = &rest[end..];
                    word
                }
            };
            operands += 1;
            if operands > TERMS_MAX {
                return Err(QueryError::TooManyTerms);
            }
            let lexemes = operand(text);
            if !lexemes.is_empty()
                && let Some(branch) = branches.last_mut()
            {
                branch.push(Term { excluded, lexemes });
            }
            excluded = false;
            waiting_operand = false;
        }
        branches.retain(|b| !b.is_empty());
        if branches.iter().any(|b| b.iter().all(|t| t.excluded)) {
            return Err(QueryError::OnlyExclusions);
        }
        Ok(SearchQuery { raw: raw.to_owned(), branches })
    }

    /// The query as written, for `websearch_to_tsquery`.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// Whether nothing can match (only stop words, or nothing searchable).
    pub fn matches_nothing(&self) -> bool {
        self.branches.is_empty()
    }

    /// The FTS5 `MATCH` expression, built from lexemes only (letters and
    /// digits), each quoted, so FTS5 sees no operator the user wrote.
    /// Empty when [`SearchQuery::matches_nothing`].
    pub fn fts5(&self) -> String {
        let phrase = |t: &Term| format!("\"{}\"", t.lexemes.join(" ").replace('"', "\"\""));
        let branch = |terms: &Vec<Term>| {
            let wanted: Vec<String> = terms.iter().filter(|t| !t.excluded).map(phrase).collect();
            let mut expression = format!("({})", wanted.join(" AND "));
            for t in terms.iter().filter(|t| t.excluded) {
                expression = format!("({expression} NOT {})", phrase(t));
            }
            expression
        };
        self.branches.iter().map(branch).collect::<Vec<_>>().join(" OR ")
    }

    /// Whether a text of these tokens (see [`super::lexemes::tokens`])
    /// matches, as FTS5 decides it over the same tokens.
    pub fn matches(&self, text: &[String]) -> bool {
        let holds = |t: &Term| text.windows(t.lexemes.len()).any(|w| w == t.lexemes.as_slice());
        self.branches.iter().any(|b| b.iter().all(|t| holds(t) != t.excluded))
    }
}

/// The rest after `or` when `text` starts with the `or` operator:
/// case-insensitive, not followed by a letter, digit, `-` or `_`, and
/// followed later by something other than whitespace (an operand).
fn or_operator(text: &str) -> Option<&str> {
    let head = text.get(..2)?;
    if !head.eq_ignore_ascii_case("or") {
        return None;
    }
    let after = &text[2..];
    let next = after.chars().next()?;
    if next.is_alphanumeric() || next == '-' || next == '_' {
        return None;
    }
    after[next.len_utf8()..].chars().any(|c| !c.is_whitespace()).then_some(after)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fts(q: &str) -> String {
        SearchQuery::parse(q).map(|q| q.fts5()).unwrap_or_else(|e| format!("error: {e}"))
    }

    #[test]
    fn syntax_as_websearch_to_tsquery_reads_it() {
        assert_eq!(fts("cat dog or fish bird"), r#"("cat" AND "dog") OR ("fish" AND "bird")"#);
        assert_eq!(fts(r#"cat -"dog fish""#), r#"(("cat") NOT "dog fish")"#);
        assert_eq!(fts(r#""cat or dog""#), format!(r#"("cat {STOP} dog")"#));
        assert_eq!(fts(r#""the cat""#), r#"("cat")"#);
        assert_eq!(fts("cat - dog"), r#"(("cat") NOT "dog")"#);
        assert_eq!(fts("cat or"), r#"("cat")"#);
        assert_eq!(fts("or cat"), r#"("cat")"#);
        assert_eq!(fts(r#"cat"dog fish""#), r#"("cat" AND "dog fish")"#);
        assert_eq!(fts("cats (dogs) & !fish"), r#"("cat" AND "dog" AND "fish")"#);
        assert_eq!(fts("x' OR 1=1; --"), r#"("x") OR ("1 1")"#);
        assert_eq!(fts("the"), "");
        assert_eq!(fts("NEAR AND NOT"), r#"("near")"#, "FTS5 keywords are only words here");
        assert!(SearchQuery::parse("the").is_ok_and(|q| q.matches_nothing()));
    }

    #[test]
    fn unbounded_or_unindexable_queries_are_refused() {
        assert_eq!(SearchQuery::parse("-cat"), Err(QueryError::OnlyExclusions));
        assert_eq!(SearchQuery::parse("-cat or dog"), Err(QueryError::OnlyExclusions));
        assert_eq!(SearchQuery::parse(&"a".repeat(QUERY_BYTES_MAX + 1)), Err(QueryError::TooLong));
        assert_eq!(SearchQuery::parse(&"w ".repeat(TERMS_MAX + 1)), Err(QueryError::TooManyTerms));
        assert_eq!(SearchQuery::parse("cat\0"), Err(QueryError::Nul));
        assert!(SearchQuery::parse("cat -dog").is_ok());
    }

    #[test]
    fn matching_over_lexemes() {
        let text = tokens("The quick brown foxes jumped over lazy dogs");
        let m = |q: &str| SearchQuery::parse(q).is_ok_and(|q| q.matches(&text));
        assert!(m("fox"));
        assert!(m("\"quick brown fox\""));
        assert!(!m("\"brown quick\""));
        assert!(m("cat or dog"));
        assert!(!m("fox -lazy"));
        assert!(m("fox -cat"));
        assert!(!m("the"));
        assert!(m("\"jumped over lazy\""), "the stop word's place is kept");
        assert!(!m("\"jumped lazy\""));
    }
}
