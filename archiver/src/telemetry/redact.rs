//! Secrets out of everything reported: URLs in errors, logs and rendered
//! configuration carry `***` where a password was.

/// `url` with any password replaced by `***`, fit for errors and logs.
///
/// Covers the userinfo password (`scheme://user:secret@host`) and a
/// `password=` query parameter (libpq style). Works on text that is not a
/// valid URL too, since a malformed URL is exactly what ends up in an error.
pub fn mask_password(url: &str) -> String {
    let mut masked = url.to_owned();
    // Replace from the end so earlier spans keep their offsets.
    for span in password_spans(url).into_iter().rev() {
        masked.replace_range(span, "***");
    }
    masked
}

/// Byte ranges of the passwords in `url`, in ascending order.
fn password_spans(url: &str) -> Vec<std::ops::Range<usize>> {
    let mut spans = Vec::new();
    if let Some(span) = userinfo_password(url) {
        spans.push(span);
    }
    let Some(query_start) = url.find('?').map(|i| i + 1) else {
        return spans;
    };
    let mut pos = query_start;
    for pair in url[query_start..].split('&') {
        if let Some((name, value)) = pair.split_once('=')
            && name.eq_ignore_ascii_case("password")
            && !value.is_empty()
        {
            let start = pos + name.len() + 1;
            spans.push(start..start + value.len());
        }
        pos += pair.len() + 1;
    }
    merge_overlapping(spans)
}

/// Sorted, non-overlapping spans covering the same bytes as `spans`.
fn merge_overlapping(mut spans: Vec<std::ops::Range<usize>>) -> Vec<std::ops::Range<usize>> {
    spans.sort_by_key(|s| s.start);
    let mut merged: Vec<std::ops::Range<usize>> = Vec::with_capacity(spans.len());
    for span in spans {
        match merged.last_mut() {
            Some(last) if span.start <= last.end => last.end = last.end.max(span.end),
            _ => merged.push(span),
        }
    }
    merged
}

/// The password in `scheme://user:password@host…`, if any.
fn userinfo_password(url: &str) -> Option<std::ops::Range<usize>> {
    let rest_start = url.find("://")? + 3;
    let rest = &url[rest_start..];
    // Prefer an '@' before the query; fall back to any (an unencoded '?' in
    // the password).
    let before_query = &rest[..rest.find('?').unwrap_or(rest.len())];
    let at = before_query.rfind('@').or_else(|| rest.rfind('@'))?;
    let userinfo = &rest[..at];
    let colon = userinfo.find(':')?;
    // A '/' before the ':' means the '@' sits in the path, not in userinfo.
    if userinfo[..colon].contains('/') || colon + 1 == at {
        return None;
    }
    Some(rest_start + colon + 1..rest_start + at)
}

/// `text` (typically a driver's message about `url`) with the URL's
/// passwords removed, in case the driver quoted them.
pub fn mask_in(text: &str, url: &str) -> String {
    password_spans(url).into_iter().fold(text.to_owned(), |acc, span| acc.replace(&url[span], "***"))
}
