//! Request parameters: topic names, file names, UUIDs, query strings and page
//! tokens, each checked before anything touches storage. Every rejection is
//! a 400 that names the parameter.

use uuid::Uuid;

use super::auth::OVERSIZED_SUFFIX;
use super::error::ApiError;
use super::token::TokenKey;
use crate::index::Cursor;
use crate::text::query::SearchQuery;

/// Kafka's own limit on topic name length.
const TOPIC_LEN_MAX: usize = 249;
/// Longest query string read at all.
const QUERY_LEN_MAX: usize = 8 * 1024;
/// Most parameters in one query string (repeated `topic` included).
const QUERY_PARAMS_MAX: usize = 64;
/// Longest file name accepted in `raw_file` paths.
const FILE_NAME_LEN_MAX: usize = 255;
/// Upstream's default page size.
pub const LIMIT_DEFAULT: u32 = 64;

/// What a topic name may be, for the messages that refuse one.
const TOPIC_RULE: &str = "expected 1..=249 of [A-Za-z0-9._-], optionally followed by +oversized";

/// A topic as Kafka allows it (`[A-Za-z0-9._-]`, at most 249 bytes), or
/// such a topic plus `+oversized`. Everything else (path separators, `..`,
/// quotes, SQL, control characters) is refused.
pub fn topic(name: &str) -> Result<&str, ApiError> {
    match is_topic(name) {
        true => Ok(name),
        false => Err(ApiError::bad_request(format!("invalid topic: {TOPIC_RULE}"))),
    }
}

fn is_topic(name: &str) -> bool {
    let base = name.strip_suffix(OVERSIZED_SUFFIX).unwrap_or(name);
    let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    !base.is_empty() && base.len() <= TOPIC_LEN_MAX && base.chars().all(legal) && base != "." && base != ".."
}

/// `after` of the topic lists (`/topics`, the browse index): list the topics
/// named after this one, the `next` of the previous page. Any topic name is
/// accepted, archived or not, so it reveals nothing.
pub fn after(pairs: &[(String, String)]) -> Result<Option<String>, ApiError> {
    let Some(name) = single(pairs, "after")? else { return Ok(None) };
    match is_topic(name) {
        true => Ok(Some(name.to_owned())),
        false => Err(ApiError::bad_request(format!("invalid `after` (a topic name): {TOPIC_RULE}"))),
    }
}

/// The value of parameter `name`, if given; twice is an error (which one was meant?).
pub fn single<'a>(pairs: &'a [(String, String)], name: &str) -> Result<Option<&'a str>, ApiError> {
    let mut values = pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let first = values.next();
    match values.next() {
        Some(_) => Err(ApiError::bad_request(format!("`{name}` given more than once"))),
        None => Ok(first),
    }
}

pub fn uuid(text: &str) -> Result<Uuid, ApiError> {
    // `Uuid::parse_str` also takes braced and URN forms; only the plain ones are meant.
    if text.len() > 36 {
        return Err(ApiError::bad_request("invalid UUID"));
    }
    Uuid::parse_str(text).map_err(|_| ApiError::bad_request("invalid UUID"))
}

/// A download name: one path segment of printable characters without
/// quotes or separators, so it is safe inside `Content-Disposition`.
pub fn file_name(name: &str) -> Result<&str, ApiError> {
    let bad = |c: char| c.is_control() || matches!(c, '/' | '\\' | '"' | ';') || !c.is_ascii();
    if name.is_empty() || name.len() > FILE_NAME_LEN_MAX || name.chars().any(bad) || name == "." || name == ".." {
        return Err(ApiError::bad_request(
            "invalid file name: expected 1..=255 printable ASCII characters without / \\ \" ;",
        ));
    }
    Ok(name)
}

/// The decoded `name=value` pairs of a query string, bounded in size.
pub fn query_pairs(raw: Option<&str>) -> Result<Vec<(String, String)>, ApiError> {
    let Some(raw) = raw else { return Ok(Vec::new()) };
    if raw.len() > QUERY_LEN_MAX {
        return Err(ApiError::bad_request(format!("query string longer than {QUERY_LEN_MAX} bytes")));
    }
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(raw.as_bytes()).into_owned().collect();
    if pairs.len() > QUERY_PARAMS_MAX {
        return Err(ApiError::bad_request(format!("more than {QUERY_PARAMS_MAX} query parameters")));
    }
    // The decoder replaces invalid UTF-8 with U+FFFD rather than failing.
    if pairs.iter().any(|(k, v)| k.contains('\u{FFFD}') || v.contains('\u{FFFD}')) {
        return Err(ApiError::bad_request("query string is not valid UTF-8"));
    }
    Ok(pairs)
}

/// The parameters of the listing endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListParams {
    pub topics: Vec<String>,
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    pub asc: bool,
    pub limit: u32,
    pub meta: bool,
    pub include_retracted: bool,
    pub page: Option<PageToken>,
    /// `search_query`: only messages whose text matches.
    pub search: Option<SearchQuery>,
}

impl ListParams {
    /// Reads the listing parameters; unknown names are ignored (as upstream),
    /// a known name given twice is an error (which one was meant?).
    pub fn parse(pairs: &[(String, String)], key: &TokenKey) -> Result<ListParams, ApiError> {
        let single = |name: &str| single(pairs, name);
        let topics = pairs
            .iter()
            .filter(|(k, _)| k == "topic")
            .map(|(_, v)| topic(v).map(str::to_owned))
            .collect::<Result<_, _>>()?;
        let start_ms = single("start_time")?.map(|v| int("start_time", v)).transpose()?;
        let end_ms = single("end_time")?.map(|v| int("end_time", v)).transpose()?;
        if let (Some(start), Some(end)) = (start_ms, end_ms)
            && start > end
        {
            return Err(ApiError::bad_request("start_time is after end_time"));
        }
        let limit = single("limit")?.map(limit).transpose()?.unwrap_or(LIMIT_DEFAULT);
        let asc = single("asc")?.map(|v| flag("asc", v)).transpose()?.unwrap_or(true);
        let page = single("page")?.map(|t| PageToken::decode(t, key)).transpose()?;
        if page.is_some_and(|p| p.asc != asc) {
            return Err(ApiError::bad_request("page token belongs to a listing in the other order (asc)"));
        }
        Ok(ListParams {
            topics,
            start_ms,
            end_ms,
            asc,
            limit,
            meta: single("meta")?.map(|v| flag("meta", v)).transpose()?.unwrap_or(false),
            include_retracted: single("include_retracted")?
                .map(|v| flag("include_retracted", v))
                .transpose()?
                .unwrap_or(true),
            page,
            search: single("search_query")?.map(search).transpose()?.flatten(),
        })
    }
}

/// `search_query`, checked; empty means no search (as upstream's `if search_query`).
fn search(text: &str) -> Result<Option<SearchQuery>, ApiError> {
    if text.is_empty() {
        return Ok(None);
    }
    SearchQuery::parse(text).map(Some).map_err(|e| ApiError::bad_request(e.to_string()))
}

fn int(name: &str, text: &str) -> Result<i64, ApiError> {
    text.trim().parse().map_err(|_| ApiError::bad_request(format!("`{name}` must be an integer (ms since 1970)")))
}

/// A page size: a positive integer; anything above the page cap is capped
/// later, but a number beyond `u32` is refused rather than guessed at.
fn limit(text: &str) -> Result<u32, ApiError> {
    match text.trim().parse::<u32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(ApiError::bad_request("`limit` must be an integer between 1 and 4294967295")),
    }
}

/// Booleans as FastAPI reads them.
pub fn flag(name: &str, text: &str) -> Result<bool, ApiError> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(ApiError::bad_request(format!("`{name}` must be true or false"))),
    }
}

/// A keyset position: which way to go from which row, and the order of the
/// listing it belongs to. Callers see it only sealed ([`TokenKey`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageToken {
    /// `true`: rows after `cursor` in listing order (`next`); `false`: rows before it (`prev`).
    pub forward: bool,
    pub asc: bool,
    pub cursor: Cursor,
}

/// Longest token text accepted; real ones are 62 characters.
const TOKEN_LEN_MAX: usize = 128;
/// The first byte of the sealed position; a new layout gets a new one.
const TOKEN_VERSION: u8 = 2;
/// Version, direction and order, timestamp, row id.
const TOKEN_PLAIN_LEN: usize = 1 + 1 + 8 + 8;

impl PageToken {
    pub fn encode(&self, key: &TokenKey) -> Result<String, ApiError> {
        let mut plain = Vec::with_capacity(TOKEN_PLAIN_LEN);
        plain.push(TOKEN_VERSION);
        plain.push(u8::from(self.forward) | (u8::from(self.asc) << 1));
        plain.extend_from_slice(&self.cursor.timestamp.to_be_bytes());
        plain.extend_from_slice(&self.cursor.id.to_be_bytes());
        key.seal(&plain).ok_or_else(|| ApiError::Inconsistent("cannot seal a page token (no randomness)".into()))
    }

    pub fn decode(text: &str, key: &TokenKey) -> Result<PageToken, ApiError> {
        let bad = || {
            ApiError::bad_request(
                "malformed or expired page token (tokens last while the server runs); start the listing again",
            )
        };
        if text.len() > TOKEN_LEN_MAX {
            return Err(bad());
        }
        let plain = key.open(text).ok_or_else(bad)?;
        let plain: [u8; TOKEN_PLAIN_LEN] = plain.try_into().map_err(|_| bad())?;
        if plain[0] != TOKEN_VERSION || plain[1] > 3 {
            return Err(bad());
        }
        let int = |at: usize| plain[at..at + 8].try_into().map(i64::from_be_bytes).map_err(|_| bad());
        Ok(PageToken {
            forward: plain[1] & 1 == 1,
            asc: plain[1] & 2 == 2,
            cursor: Cursor { timestamp: int(2)?, id: int(10)? },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_and_reject_garbage() {
        let key = TokenKey::random();
        for (forward, asc) in [(false, true), (true, false), (true, true), (false, false)] {
            let token = PageToken { forward, asc, cursor: Cursor { timestamp: -5, id: 42 } };
            let text = token.encode(&key).expect("seal");
            assert_eq!(PageToken::decode(&text, &key).ok(), Some(token));
            let raw = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &text).expect("base64");
            assert!(!raw.windows(8).any(|w| w == 42i64.to_be_bytes()), "the row id must not show: {text}");
        }
        // The clear-text tokens of earlier versions, and garbage.
        for bad in ["", "x", "djIubi5hLjEuMg", "djEubi5hLnguMg", "djEubi5hLjEuNDI", "!!!!", &"A".repeat(200)] {
            assert!(PageToken::decode(bad, &key).is_err(), "{bad}");
        }
    }

    #[test]
    fn topics() {
        assert!(topic("gcn.notice").is_ok());
        assert!(topic("gcn.notice+oversized").is_ok());
        for bad in ["", "..", "a/b", "../etc", "a b", "x';DROP TABLE messages;--", "+oversized", "a+b"] {
            assert!(topic(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn after_is_one_topic_name() {
        let pairs = |items: &[(&str, &str)]| -> Vec<(String, String)> {
            items.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
        };
        assert_eq!(after(&pairs(&[])).ok(), Some(None));
        assert_eq!(after(&pairs(&[("after", "a.b+oversized")])).ok(), Some(Some("a.b+oversized".into())));
        for bad in [&[("after", "")][..], &[("after", "a b")], &[("after", "a"), ("after", "b")]] {
            let error = after(&pairs(bad)).expect_err("refused").to_string();
            assert!(error.contains("`after`"), "{bad:?}: the message names the parameter: {error}");
        }
    }
}
