//! Topic names and the patterns that select them (veto lists, public topics).

/// Whether `text` matches `pattern`, where `*` matches any run of characters
/// (including none) and every other character matches itself.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let Some((head, rest)) = pattern.split_once('*') else { return pattern == text };
    let Some(mut remaining) = text.strip_prefix(head) else { return false };
    let mut parts = rest.split('*').peekable();
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            return remaining.ends_with(part);
        }
        match remaining.find(part) {
            Some(at) => remaining = &remaining[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// Suffix of hop-client's large-message offload pseudo-topic: `X+oversized`
/// holds what was too large for `X`, and counts as `X` for access, public
/// marking and text indexing.
pub const OVERSIZED_SUFFIX: &str = "+oversized";

/// `topic` without hop-client's `+oversized` suffix.
pub fn base_topic(topic: &str) -> &str {
    topic.strip_suffix(OVERSIZED_SUFFIX).unwrap_or(topic)
}

/// Whether `topic` matches any of `patterns`.
pub fn matches_any(patterns: &[String], topic: &str) -> bool {
    patterns.iter().any(|p| glob_match(p, topic))
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn globs() {
        let cases = [
            ("sys.heartbeat", "sys.heartbeat", true),
            ("sys.heartbeat", "sys.heartbeat2", false),
            ("*heartbeat", "dev-sys.heartbeat", true),
            ("sys.*", "sys.heartbeat", true),
            ("sys.*", "gcn.notice", false),
            ("*.test*", "hermes.test.x", true),
            ("a*b*c", "abc", true),
            ("a*b*c", "acb", false),
            ("*", "", true),
            ("ab*ba", "aba", false),
            ("a*a", "a", false),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(glob_match(pattern, text), expected, "{pattern} vs {text}");
        }
    }
}
