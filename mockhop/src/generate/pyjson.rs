//! JSON as hop-client writes it: Python's `json.dumps` defaults (`", "` and
//! `": "` separators, non-ASCII escaped as `\uXXXX`), so simulated payloads
//! have the bytes real ones have.
//!
//! Floats print as Python's `repr` does for the magnitudes payloads use
//! (1e-4 to 1e16): the shortest round-trip digits, with `.0` on whole numbers.

use std::fmt::Write as _;

use serde_json::{Number, Value};

pub(crate) fn dumps(value: &Value) -> Vec<u8> {
    let mut out = String::new();
    write_value(&mut out, value);
    out.into_bytes()
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_string(out, key);
                out.push_str(": ");
                write_value(out, item);
            }
            out.push('}');
        }
    }
}

fn write_number(out: &mut String, n: &Number) {
    match n.as_f64() {
        Some(f) if n.is_f64() => {
            let text = f.to_string();
            out.push_str(&text);
            if !text.contains('.') {
                out.push_str(".0");
            }
        }
        _ => out.push_str(&n.to_string()),
    }
}

fn write_string(out: &mut String, s: &str) {
    out.push('"');
    if needs_no_escapes(s.as_bytes()) {
        out.push_str(s);
        out.push('"');
        return;
    }
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='\u{7f}' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

/// Whether `bytes` go into a JSON string as they are: true of most text,
/// including the filler that makes up most of a padded payload. A plain
/// indexed loop, because iterator adapters are slow in debug builds.
fn needs_no_escapes(bytes: &[u8]) -> bool {
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if !matches!(b, b' '..=b'~') || b == b'"' || b == b'\\' {
            return false;
        }
        i += 1;
    }
    true
}
