//! A small, lossless BSON codec.
//!
//! Why not a general BSON library: the archive must re-encode any stored
//! object to the very bytes it was read from (upstream's objects included),
//! keep element order and integer widths exactly, keep element types it does
//! not understand untouched, and treat every input as hostile. This codec
//! models just enough of BSON for that: strings, documents, arrays, binary,
//! booleans, null and 32/64-bit integers are decoded; every other element
//! type is kept as its raw value bytes ([`Value::Other`]) and written back
//! verbatim.

use std::fmt;

/// Deepest nesting accepted when decoding; archive objects use 4 levels.
pub const DEPTH_MAX: usize = 32;

/// An ordered BSON document. Duplicate keys are kept, as BSON allows them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Document(pub Vec<(String, Value)>);

impl Document {
    /// The first value stored under `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn push(&mut self, key: impl Into<String>, value: Value) {
        self.0.push((key.into(), value));
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_str())
    }
}

/// One BSON value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    String(String),
    Document(Document),
    /// Encoded with the canonical keys "0", "1", ...
    Array(Vec<Value>),
    Binary {
        subtype: u8,
        bytes: Vec<u8>,
    },
    Bool(bool),
    Null,
    Int32(i32),
    Int64(i64),
    /// Any other element type (double, ObjectId, datetime, ...), kept as the
    /// raw bytes of its value so that it re-encodes identically.
    Other {
        kind: u8,
        raw: Vec<u8>,
    },
}

impl Value {
    /// An integer the way upstream's encoder writes it: int32 when it fits,
    /// int64 otherwise.
    pub fn int(value: i64) -> Value {
        match i32::try_from(value) {
            Ok(small) => Value::Int32(small),
            Err(_) => Value::Int64(value),
        }
    }

    /// Binary subtype 0 ("generic"), the only subtype the archive writes.
    pub fn bytes(bytes: impl Into<Vec<u8>>) -> Value {
        Value::Binary { subtype: 0, bytes: bytes.into() }
    }

    /// Either integer width, widened.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int32(v) => Some(i64::from(*v)),
            Value::Int64(v) => Some(*v),
            _ => None,
        }
    }

    /// A short name of the value's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::String(_) => "string",
            Value::Document(_) => "document",
            Value::Array(_) => "array",
            Value::Binary { .. } => "binary",
            Value::Bool(_) => "bool",
            Value::Null => "null",
            Value::Int32(_) => "int32",
            Value::Int64(_) => "int64",
            Value::Other { .. } => "other BSON type",
        }
    }
}

mod kind {
    pub const DOUBLE: u8 = 0x01;
    pub const STRING: u8 = 0x02;
    pub const DOCUMENT: u8 = 0x03;
    pub const ARRAY: u8 = 0x04;
    pub const BINARY: u8 = 0x05;
    pub const UNDEFINED: u8 = 0x06;
    pub const OBJECT_ID: u8 = 0x07;
    pub const BOOL: u8 = 0x08;
    pub const DATETIME: u8 = 0x09;
    pub const NULL: u8 = 0x0A;
    pub const REGEX: u8 = 0x0B;
    pub const DB_POINTER: u8 = 0x0C;
    pub const JS_CODE: u8 = 0x0D;
    pub const SYMBOL: u8 = 0x0E;
    pub const CODE_WITH_SCOPE: u8 = 0x0F;
    pub const INT32: u8 = 0x10;
    pub const TIMESTAMP: u8 = 0x11;
    pub const INT64: u8 = 0x12;
    pub const DECIMAL128: u8 = 0x13;
    pub const MIN_KEY: u8 = 0xFF;
    pub const MAX_KEY: u8 = 0x7F;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("document key {0:?} contains a NUL byte")]
    KeyHasNul(String),
    #[error("value {what} is {size_bytes} bytes, larger than BSON allows")]
    TooLarge { what: &'static str, size_bytes: usize },
}

/// Encodes `doc` as one BSON document.
pub fn encode(doc: &Document) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::new();
    write_document(doc, &mut out)?;
    Ok(out)
}

fn write_document(doc: &Document, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    write_elements(doc.0.iter().map(|(k, v)| (k.as_str(), v)), out)
}

fn write_array(items: &[Value], out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let keys: Vec<String> = (0..items.len()).map(|i| i.to_string()).collect();
    write_elements(keys.iter().map(String::as_str).zip(items), out)
}

fn write_elements<'a>(
    elements: impl Iterator<Item = (&'a str, &'a Value)>,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    for (key, value) in elements {
        out.push(kind_of(value));
        write_cstring(key, out)?;
        write_value(value, out)?;
    }
    out.push(0);
    patch_length(out, start, "document")
}

fn patch_length(out: &mut [u8], start: usize, what: &'static str) -> Result<(), EncodeError> {
    let size_bytes = out.len() - start;
    let len = i32::try_from(size_bytes).map_err(|_| EncodeError::TooLarge { what, size_bytes })?;
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    Ok(())
}

fn kind_of(value: &Value) -> u8 {
    match value {
        Value::String(_) => kind::STRING,
        Value::Document(_) => kind::DOCUMENT,
        Value::Array(_) => kind::ARRAY,
        Value::Binary { .. } => kind::BINARY,
        Value::Bool(_) => kind::BOOL,
        Value::Null => kind::NULL,
        Value::Int32(_) => kind::INT32,
        Value::Int64(_) => kind::INT64,
        Value::Other { kind, .. } => *kind,
    }
}

fn write_value(value: &Value, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    match value {
        Value::String(s) => write_string(s, out)?,
        Value::Document(d) => write_document(d, out)?,
        Value::Array(items) => write_array(items, out)?,
        Value::Binary { subtype, bytes } => {
            let len = i32::try_from(bytes.len())
                .map_err(|_| EncodeError::TooLarge { what: "binary", size_bytes: bytes.len() })?;
            out.extend_from_slice(&len.to_le_bytes());
            out.push(*subtype);
            out.extend_from_slice(bytes);
        }
        Value::Bool(b) => out.push(u8::from(*b)),
        Value::Null => {}
        Value::Int32(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::Int64(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::Other { raw, .. } => out.extend_from_slice(raw),
    }
    Ok(())
}

fn write_cstring(key: &str, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    if key.as_bytes().contains(&0) {
        return Err(EncodeError::KeyHasNul(key.to_owned()));
    }
    out.extend_from_slice(key.as_bytes());
    out.push(0);
    Ok(())
}

fn write_string(s: &str, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let len = i32::try_from(s.len() + 1).map_err(|_| EncodeError::TooLarge { what: "string", size_bytes: s.len() })?;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(s.as_bytes());
    out.push(0);
    Ok(())
}

/// Why bytes are not a valid BSON document, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed BSON at byte {offset}: {problem}")]
pub struct DecodeError {
    pub offset: usize,
    pub problem: Problem,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    Truncated { needed: usize, available: usize },
    BadLength(i64),
    MissingTerminator,
    InvalidUtf8,
    TooDeep,
    UnknownType(u8),
    BadBool(u8),
    NonCanonicalArrayKey { expected: String, found: String },
    TrailingBytes(usize),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Truncated { needed, available } => {
                write!(f, "truncated: needs {needed} bytes, {available} left")
            }
            Problem::BadLength(len) => write!(f, "impossible length {len}"),
            Problem::MissingTerminator => f.write_str("missing NUL terminator"),
            Problem::InvalidUtf8 => f.write_str("text is not valid UTF-8"),
            Problem::TooDeep => write!(f, "nested deeper than {DEPTH_MAX} levels"),
            Problem::UnknownType(t) => write!(f, "unknown element type 0x{t:02x}"),
            Problem::BadBool(b) => write!(f, "boolean byte 0x{b:02x} is neither 0 nor 1"),
            Problem::NonCanonicalArrayKey { expected, found } => {
                write!(f, "array key {found:?} where {expected:?} belongs")
            }
            Problem::TrailingBytes(n) => write!(f, "{n} bytes after the end of the document"),
        }
    }
}

/// Decodes exactly one BSON document spanning all of `bytes`.
pub fn decode(bytes: &[u8]) -> Result<Document, DecodeError> {
    let mut reader = Reader { bytes, pos: 0 };
    let doc = reader.document(1)?;
    match bytes.len() - reader.pos {
        0 => Ok(doc),
        n => Err(reader.fail(Problem::TrailingBytes(n))),
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn fail(&self, problem: Problem) -> DecodeError {
        DecodeError { offset: self.pos, problem }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let available = self.bytes.len() - self.pos;
        if n > available {
            return Err(self.fail(Problem::Truncated { needed: n, available }));
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn byte(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn i32(&mut self) -> Result<i32, DecodeError> {
        let mut buf = [0; 4];
        buf.copy_from_slice(self.take(4)?);
        Ok(i32::from_le_bytes(buf))
    }

    fn i64(&mut self) -> Result<i64, DecodeError> {
        let mut buf = [0; 8];
        buf.copy_from_slice(self.take(8)?);
        Ok(i64::from_le_bytes(buf))
    }

    /// A length prefix that must be at least `min`.
    fn length(&mut self, min: i32) -> Result<usize, DecodeError> {
        let at = self.pos;
        let len = self.i32()?;
        if len < min {
            return Err(DecodeError { offset: at, problem: Problem::BadLength(len.into()) });
        }
        usize::try_from(len).map_err(|_| DecodeError { offset: at, problem: Problem::BadLength(len.into()) })
    }

    fn utf8(&self, raw: &[u8], at: usize) -> Result<String, DecodeError> {
        String::from_utf8(raw.to_vec()).map_err(|_| DecodeError { offset: at, problem: Problem::InvalidUtf8 })
    }

    fn cstring(&mut self) -> Result<String, DecodeError> {
        let at = self.pos;
        let rest = &self.bytes[self.pos..];
        let end = rest.iter().position(|&b| b == 0).ok_or_else(|| self.fail(Problem::MissingTerminator))?;
        let raw = self.take(end)?;
        self.pos += 1;
        self.utf8(raw, at)
    }

    fn string(&mut self) -> Result<String, DecodeError> {
        let len = self.length(1)?;
        let at = self.pos;
        let raw = self.take(len)?;
        let (text, terminator) = raw.split_at(len - 1);
        if terminator != [0] {
            return Err(DecodeError { offset: at + len - 1, problem: Problem::MissingTerminator });
        }
        self.utf8(text, at)
    }

    /// The elements of a document or array, as (key, value) pairs.
    fn elements(&mut self, depth: usize) -> Result<Vec<(String, Value)>, DecodeError> {
        if depth > DEPTH_MAX {
            return Err(self.fail(Problem::TooDeep));
        }
        let start = self.pos;
        let len = self.length(5)?;
        let body = self.take(len - 4)?;
        if body.last() != Some(&0) {
            return Err(DecodeError { offset: start + len - 1, problem: Problem::MissingTerminator });
        }
        // Parse the body on its own so that no element can read past the
        // document's declared end.
        let mut inner = Reader { bytes: &self.bytes[..start + len - 1], pos: start + 4 };
        let mut elements = Vec::new();
        while inner.pos < inner.bytes.len() {
            let kind_at = inner.pos;
            let kind = inner.byte()?;
            let key = inner.cstring()?;
            let value = inner.value(kind, kind_at, depth)?;
            elements.push((key, value));
        }
        Ok(elements)
    }

    fn document(&mut self, depth: usize) -> Result<Document, DecodeError> {
        Ok(Document(self.elements(depth)?))
    }

    fn array(&mut self, depth: usize) -> Result<Vec<Value>, DecodeError> {
        let at = self.pos;
        let elements = self.elements(depth)?;
        let mut items = Vec::with_capacity(elements.len());
        for (index, (key, value)) in elements.into_iter().enumerate() {
            let expected = index.to_string();
            if key != expected {
                let problem = Problem::NonCanonicalArrayKey { expected, found: key };
                return Err(DecodeError { offset: at, problem });
            }
            items.push(value);
        }
        Ok(items)
    }

    /// The value of an element whose type byte `kind` is at offset `kind_at`.
    fn value(&mut self, kind: u8, kind_at: usize, depth: usize) -> Result<Value, DecodeError> {
        Ok(match kind {
            kind::STRING => Value::String(self.string()?),
            kind::DOCUMENT => Value::Document(self.document(depth + 1)?),
            kind::ARRAY => Value::Array(self.array(depth + 1)?),
            kind::BINARY => {
                let len = self.length(0)?;
                let subtype = self.byte()?;
                Value::Binary { subtype, bytes: self.take(len)?.to_vec() }
            }
            kind::BOOL => match self.byte()? {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                other => {
                    self.pos -= 1;
                    return Err(self.fail(Problem::BadBool(other)));
                }
            },
            kind::NULL => Value::Null,
            kind::INT32 => Value::Int32(self.i32()?),
            kind::INT64 => Value::Int64(self.i64()?),
            other => self.other(other, kind_at)?,
        })
    }

    /// An element type the archive does not interpret, kept raw. An unknown
    /// type is reported at its type byte, `kind_at`.
    fn other(&mut self, kind: u8, kind_at: usize) -> Result<Value, DecodeError> {
        let start = self.pos;
        match kind {
            kind::UNDEFINED | kind::MIN_KEY | kind::MAX_KEY => {}
            kind::DOUBLE | kind::DATETIME | kind::TIMESTAMP => {
                self.take(8)?;
            }
            kind::OBJECT_ID => {
                self.take(12)?;
            }
            kind::DECIMAL128 => {
                self.take(16)?;
            }
            kind::REGEX => {
                self.cstring()?;
                self.cstring()?;
            }
            kind::JS_CODE | kind::SYMBOL => {
                self.string()?;
            }
            kind::DB_POINTER => {
                self.string()?;
                self.take(12)?;
            }
            kind::CODE_WITH_SCOPE => {
                let len = self.length(14)?;
                self.take(len - 4)?;
            }
            unknown => return Err(DecodeError { offset: kind_at, problem: Problem::UnknownType(unknown) }),
        }
        Ok(Value::Other { kind, raw: self.bytes[start..self.pos].to_vec() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_use_upstream_width_rule() {
        assert_eq!(Value::int(1), Value::Int32(1));
        assert_eq!(Value::int(i64::from(i32::MAX)), Value::Int32(i32::MAX));
        assert_eq!(Value::int(i64::from(i32::MAX) + 1), Value::Int64(1 << 31));
        assert_eq!(Value::int(i64::from(i32::MIN) - 1), Value::Int64(-(1 << 31) - 1));
    }

    #[test]
    fn empty_document_is_five_bytes() {
        let bytes = encode(&Document::default()).expect("encodes");
        assert_eq!(bytes, [5, 0, 0, 0, 0]);
        assert_eq!(decode(&bytes), Ok(Document::default()));
    }

    #[test]
    fn unknown_element_type_is_reported_at_its_type_byte() {
        // {"a": 1, "bad": <type 0x20>}: the type byte of "bad" is at offset
        // 4 + 7 (the int32 element) = 11; its key ends at 15.
        let mut bytes =
            encode(&Document(vec![("a".into(), Value::Int32(1)), ("bad".into(), Value::Null)])).expect("encodes");
        assert_eq!(bytes[11], kind::NULL);
        bytes[11] = 0x20;
        let err = decode(&bytes).expect_err("unknown type");
        assert_eq!(err, DecodeError { offset: 11, problem: Problem::UnknownType(0x20) });
        assert_eq!(err.to_string(), "malformed BSON at byte 11: unknown element type 0x20");
    }

    #[test]
    fn length_that_lies_is_an_error_not_a_panic() {
        let mut bytes = encode(&Document(vec![("a".into(), Value::String("xy".into()))])).expect("encodes");
        bytes[7] = 0x7f; // string length far beyond the document
        assert!(decode(&bytes).is_err());
    }
}
