//! Headers that are legal in Kafka but unusual, each a way an archive could
//! lose, reorder, mangle or misidentify a message.

use archiver::record::Header;

use super::dice::Dice;
use super::headers::Parts;
use super::labels;

/// Size of a [`OddHeader::LargeValue`] value.
const LARGE_VALUE_BYTES: usize = 64 * 1024;
const UNICODE_KEYS: &[&str] = &["Überschrift", "观测者", "télescope", "🔭", "ключ"];

/// One unusual thing about a message's headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OddHeader {
    DuplicateKey,
    NullValue,
    EmptyValue,
    NonUtf8,
    UnicodeKey,
    /// An `_id` of 0 bytes.
    IdEmpty,
    /// An `_id` of 15 bytes.
    IdShort,
    /// An `_id` of 17 bytes.
    IdLong,
    /// An `_id` holding a text UUID (36 characters).
    IdText,
    MultipleIds,
    /// 100 to 300 headers.
    Many,
    LargeValue,
}

impl OddHeader {
    pub fn label(self) -> &'static str {
        match self {
            OddHeader::DuplicateKey => labels::HEADER_DUPLICATE_KEY,
            OddHeader::NullValue => labels::HEADER_NULL_VALUE,
            OddHeader::EmptyValue => labels::HEADER_EMPTY_VALUE,
            OddHeader::NonUtf8 => labels::HEADER_NON_UTF8,
            OddHeader::UnicodeKey => labels::HEADER_UNICODE_KEY,
            OddHeader::IdEmpty => labels::HEADER_ID_EMPTY,
            OddHeader::IdShort => labels::HEADER_ID_SHORT,
            OddHeader::IdLong => labels::HEADER_ID_LONG,
            OddHeader::IdText => labels::HEADER_ID_TEXT,
            OddHeader::MultipleIds => labels::HEADER_MULTIPLE_IDS,
            OddHeader::Many => labels::HEADER_MANY,
            OddHeader::LargeValue => labels::HEADER_LARGE_VALUE,
        }
    }

    /// Makes `parts` odd in this way. An invalid `_id` replaces the one hop
    /// would append, as a buggy client would send it; without one, the user
    /// headers get it.
    pub(crate) fn apply(self, dice: &mut Dice, parts: &mut Parts) {
        let user = &mut parts.user;
        match self {
            OddHeader::DuplicateKey => {
                let key = dice.pick(&["title", "originator", "x-tag"]);
                user.push(Header::new(key, Some(b"first")));
                user.push(Header::new(key, Some(b"second")));
            }
            OddHeader::NullValue => user.push(Header::new(dice.pick(&["originator", "x-null"]), None)),
            OddHeader::EmptyValue => user.push(Header::new(dice.pick(&["title", "x-empty"]), Some(b""))),
            OddHeader::NonUtf8 => {
                user.push(Header::new(dice.pick(&["title", "x-binary"]), Some(b"caf\xe9 \xff\xfe\x80")))
            }
            OddHeader::UnicodeKey => user.push(Header::new(dice.pick(UNICODE_KEYS), Some("ja".as_bytes()))),
            OddHeader::IdEmpty => set_id(parts, Vec::new()),
            OddHeader::IdShort => set_id(parts, dice.bytes(15)),
            OddHeader::IdLong => set_id(parts, dice.bytes(17)),
            OddHeader::IdText => set_id(parts, dice.uuid().hyphenated().to_string().into_bytes()),
            OddHeader::MultipleIds => multiple_ids(dice, parts),
            OddHeader::Many => {
                let count = 100 + dice.index(201);
                user.extend((0..count).map(|i| Header::new(format!("x-tag-{i}"), Some(&dice.bytes(8)))));
            }
            OddHeader::LargeValue => user.push(Header::new("x-large", Some(&dice.bytes(LARGE_VALUE_BYTES)))),
        }
    }
}

fn set_id(parts: &mut Parts, value: Vec<u8>) {
    match &mut parts.id {
        Some(id) => *id = value,
        None => parts.user.push(Header::new("_id", Some(&value))),
    }
}

/// A user-supplied `_id` ahead of hop's. Half the time it is 17 bytes, so
/// the identity is the second `_id`, not the first header named `_id`.
fn multiple_ids(dice: &mut Dice, parts: &mut Parts) {
    let first_len = dice.pick(&[16, 17]);
    parts.user.push(Header::new("_id", Some(&dice.bytes(first_len))));
    if parts.id.is_none() {
        parts.user.push(Header::new("_id", Some(dice.uuid().as_bytes())));
    }
}
