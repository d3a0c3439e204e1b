//! The filters of the browse pages' message lists: a time window and a
//! full-text query (and, across topics, the topics), read from the page's
//! query string, handed to the API's own listing as its parameters (which
//! check the query), and repeated in every link and in the form.

use std::fmt::Write as _;

use super::super::ApiError;
use super::super::params::{self, single};
use super::page::{escape_html, utc_input};
use crate::identity::{civil_date, days_from_civil};
use crate::text::query::QUERY_BYTES_MAX;

const MS_PER_DAY: i64 = 86_400_000;

/// The earliest and latest instants a window may name: years 1 to 9999,
/// what a date input can show (and far from any overflow in the charts'
/// arithmetic).
const TIME_MS_MIN: i64 = -62_135_596_800_000;
const TIME_MS_MAX: i64 = 253_402_300_799_999;

/// What a message list is filtered by.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// `[from, until)`, ms, as the API's `start_time` and `end_time`.
    pub from_ms: Option<i64>,
    pub until_ms: Option<i64>,
    pub search_query: Option<String>,
    /// Across topics: the topics named (none: every readable topic).
    pub topics: Vec<String>,
}

impl Filter {
    /// Reads `from`, `until`, `search_query` and (repeatable) `topic`.
    /// Times are UTC dates as a date-time input sends them, or ms since
    /// 1970 as the API takes them.
    pub fn parse(pairs: &[(String, String)]) -> Result<Filter, ApiError> {
        let from_ms = single(pairs, "from")?.map(|v| time("from", v)).transpose()?.flatten();
        let until_ms = single(pairs, "until")?.map(|v| time("until", v)).transpose()?.flatten();
        if let (Some(from), Some(until)) = (from_ms, until_ms)
            && from > until
        {
            return Err(ApiError::bad_request("`from` is after `until`"));
        }
        // Checked (syntax, bounds) where the listing reads it, as for the API.
        let search_query = single(pairs, "search_query")?.map(str::trim).filter(|q| !q.is_empty());
        let topics = pairs
            .iter()
            .filter(|(k, _)| k == "topic")
            .map(|(_, v)| params::topic(v).map(str::to_owned))
            .collect::<Result<_, _>>()?;
        Ok(Filter { from_ms, until_ms, search_query: search_query.map(str::to_owned), topics })
    }

    /// The API's listing parameters for this filter, newest first, from
    /// `page` (a `next`/`prev` token) on: the browse pages list through
    /// the same parsing and paging code as `/messages`.
    pub fn listing_pairs(&self, page: Option<&str>) -> Vec<(String, String)> {
        let mut pairs = vec![("asc".to_owned(), "false".to_owned())];
        let mut add = |name: &str, value: String| pairs.push((name.to_owned(), value));
        if let Some(from) = self.from_ms {
            add("start_time", from.to_string());
        }
        if let Some(until) = self.until_ms {
            add("end_time", until.to_string());
        }
        if let Some(query) = &self.search_query {
            add("search_query", query.clone());
        }
        for topic in &self.topics {
            add("topic", topic.clone());
        }
        if let Some(page) = page {
            add("page", page.to_owned());
        }
        pairs
    }

    /// `?…` repeating this filter, and `page` if given ("" when there is
    /// nothing to repeat), escaped for an attribute.
    pub fn query_string(&self, page: Option<&str>) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        if let Some(from) = self.from_ms {
            query.append_pair("from", &utc_input(from));
        }
        if let Some(until) = self.until_ms {
            query.append_pair("until", &utc_input(until));
        }
        if let Some(search) = &self.search_query {
            query.append_pair("search_query", search);
        }
        for topic in &self.topics {
            query.append_pair("topic", topic);
        }
        if let Some(page) = page {
            query.append_pair("page", page);
        }
        let query = query.finish();
        if query.is_empty() { query } else { escape_html(&format!("?{query}")) }
    }

    /// The filter form, submitting to `action` (a path); `topic_choice`
    /// is the topic picker of the cross-topic page (HTML), if any.
    pub fn form(&self, action: &str, topic_choice: Option<&str>, search: SearchBox) -> String {
        let action = escape_html(action);
        let mut form = format!(
            "<form class=\"filters\" method=\"get\" action=\"{action}\" role=\"search\" aria-label=\"Filter messages\">\n"
        );
        form.push_str(topic_choice.unwrap_or_default());
        for (name, label, value) in
            [("from", "From (UTC)", self.from_ms), ("until", "Until (UTC, not included)", self.until_ms)]
        {
            let value = value.map(utc_input).unwrap_or_default();
            // Seconds by default; milliseconds only when the value has them,
            // or the browser would call the value invalid and not submit.
            let step = if value.contains('.') { "0.001" } else { "1" };
            let _ = writeln!(
                form,
                "<div><label for=\"{name}\">{label}</label><input type=\"datetime-local\" id=\"{name}\" \
                 name=\"{name}\" step=\"{step}\" value=\"{value}\"></div>"
            );
        }
        form.push_str(&self.search_box(search));
        let _ =
            writeln!(form, "<div><button type=\"submit\">Show</button> <a href=\"{action}\">Clear</a></div>\n</form>");
        form
    }

    fn search_box(&self, search: SearchBox) -> String {
        let (state, note) = match search {
            SearchBox::Enabled => (
                "",
                "All words must match; \"a phrase\" in that order, <i>or</i> between alternatives, -word to \
                 exclude. Only topics whose text is indexed are searched.",
            ),
            SearchBox::Disabled(why) => (" disabled", why),
        };
        let value = escape_html(self.search_query.as_deref().unwrap_or_default());
        format!(
            "<div><label for=\"search_query\">Search text</label><input type=\"search\" id=\"search_query\" \
             name=\"search_query\" value=\"{value}\" maxlength=\"{QUERY_BYTES_MAX}\" aria-describedby=\"search-note\"\
             {state}><p class=\"note\" id=\"search-note\">{note}</p></div>\n"
        )
    }
}

/// Whether a page's search box can be used, and if not, why (HTML).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchBox {
    Enabled,
    Disabled(&'static str),
}

/// One window bound: empty (none), ms since 1970, or a UTC date
/// `YYYY-MM-DD` with an optional time `HH:MM[:SS[.mmm]]` after `T` or a
/// space, and an optional `Z`.
fn time(name: &str, text: &str) -> Result<Option<i64>, ApiError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let ms = match text.parse::<i64>() {
        Ok(ms) => Some(ms),
        Err(_) => date_time(text),
    };
    match ms {
        Some(ms) if (TIME_MS_MIN..=TIME_MS_MAX).contains(&ms) => Ok(Some(ms)),
        _ => Err(ApiError::bad_request(format!(
            "`{name}` must be a UTC date and time (YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS[.mmm]], years 1 to 9999) \
             or ms since 1970"
        ))),
    }
}

fn date_time(text: &str) -> Option<i64> {
    let text = text.strip_suffix('Z').unwrap_or(text);
    let (date, clock) = match text.split_once(['T', ' ']) {
        Some((date, clock)) => (date, Some(clock)),
        None => (text, None),
    };
    let mut ymd = date.split('-');
    let (year, month, day) = (digits(ymd.next()?, 4)?, digits(ymd.next()?, 2)?, digits(ymd.next()?, 2)?);
    let days = days_from_civil(year, month, day);
    // Rejects a month or day out of range (2023-02-30 would roll over).
    if ymd.next().is_some() || year < 1 || civil_date(days) != (year, month as u32, day as u32) {
        return None;
    }
    Some(days * MS_PER_DAY + clock.map_or(Some(0), time_of_day)?)
}

/// `HH:MM[:SS[.f…]]` (1 to 3 fraction digits) in ms.
fn time_of_day(clock: &str) -> Option<i64> {
    let (clock, fraction) = clock.split_once('.').map_or((clock, None), |(c, f)| (c, Some(f)));
    let mut parts = clock.split(':');
    let (hour, minute) = (digits(parts.next()?, 2)?, digits(parts.next()?, 2)?);
    let second = parts.next().map(|s| digits(s, 2));
    // A fraction belongs to the seconds.
    if parts.next().is_some() || (fraction.is_some() && second.is_none()) {
        return None;
    }
    let second = second.unwrap_or(Some(0))?;
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let milli = match fraction {
        None => 0,
        Some(f) if (1..=3).contains(&f.len()) => digits(f, f.len())? * 10_i64.pow(3 - f.len() as u32),
        Some(_) => return None,
    };
    Some(((hour * 60 + minute) * 60 + second) * 1000 + milli)
}

/// `text` as a number of exactly `len` ASCII digits.
fn digits(text: &str, len: usize) -> Option<i64> {
    (text.len() == len && text.bytes().all(|b| b.is_ascii_digit())).then(|| text.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_bounds_parse_as_dates_or_ms() {
        let ok = |text: &str| time("from", text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(ok(""), None);
        assert_eq!(ok("1700000000123"), Some(1_700_000_000_123));
        assert_eq!(ok("-5"), Some(-5));
        assert_eq!(ok("2023-11-14"), Some(1_699_920_000_000));
        assert_eq!(ok("2023-11-14T22:13"), Some(1_700_000_000_000 - 20_000));
        assert_eq!(ok("2023-11-14T22:13:20"), Some(1_700_000_000_000));
        assert_eq!(ok("2023-11-14 22:13:20.5Z"), Some(1_700_000_000_500));
        assert_eq!(ok("2023-11-14T22:13:20.123"), Some(1_700_000_000_123));
        assert_eq!(ok("1969-12-31T23:59:59.999"), Some(-1));
        assert_eq!(ok("0001-01-01"), Some(TIME_MS_MIN));
        assert_eq!(ok("9999-12-31T23:59:59.999"), Some(TIME_MS_MAX));
        for bad in [
            "2023-02-30",
            "2023-13-01",
            "23-11-14",
            "2023-11-14T24:00",
            "2023-11-14T22:60",
            "2023-11-14T22:13:20.1234",
            "2023-11-14T22",
            "2023-11-14T22:13.5",
            "2023/11/14",
            "0000-12-31",
            "yesterday",
            "1e3",
            "99999999999999999",
            "2023-11-14T22:13:20:00",
        ] {
            let error = time("until", bad).expect_err(bad).to_string();
            assert!(error.contains("`until`"), "{bad}: {error}");
        }
    }

    #[test]
    fn filters_round_trip_through_links() {
        let pairs = |items: &[(&str, &str)]| -> Vec<(String, String)> {
            items.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
        };
        let filter = Filter::parse(&pairs(&[
            ("from", "2023-11-14T22:13:20.123"),
            ("until", "1700000100000"),
            ("topic", "a.b+oversized"),
        ]))
        .expect("filter");
        assert_eq!((filter.from_ms, filter.until_ms), (Some(1_700_000_000_123), Some(1_700_000_100_000)));
        let query = filter.query_string(Some("tok"));
        assert_eq!(
            query,
            "?from=2023-11-14T22%3A13%3A20.123&amp;until=2023-11-14T22%3A15%3A00&amp;topic=a.b%2Boversized&amp;page=tok"
        );
        let again: Vec<(String, String)> =
            url::form_urlencoded::parse(query.replace("&amp;", "&").trim_start_matches('?').as_bytes())
                .into_owned()
                .collect();
        assert_eq!(Filter::parse(&again).expect("again"), filter);
        assert_eq!(Filter::default().query_string(None), "");
        let searching = Filter::parse(&pairs(&[("search_query", " \"GRB 231114A\" or S&P ")])).expect("search");
        assert_eq!(searching.search_query.as_deref(), Some("\"GRB 231114A\" or S&P"), "trimmed");
        assert_eq!(searching.query_string(None), "?search_query=%22GRB+231114A%22+or+S%26P");
        assert_eq!(searching.listing_pairs(None)[1], ("search_query".to_owned(), "\"GRB 231114A\" or S&P".to_owned()));
        for bad in [
            &[("from", "5"), ("until", "4")][..],
            &[("topic", "a b")],
            &[("search_query", "a"), ("search_query", "b")],
            &[("from", "1"), ("from", "2")],
        ] {
            assert!(Filter::parse(&pairs(bad)).is_err(), "{bad:?}");
        }
        assert_eq!(
            Filter::parse(&pairs(&[("search_query", "  ")])).expect("blank"),
            Filter::default(),
            "a blank query is none"
        );
    }
}
