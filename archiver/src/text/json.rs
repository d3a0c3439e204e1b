//! JSON: every string value, in document order; keys, numbers, booleans
//! and structure are left out. The document is walked by a serde visitor,
//! never built as a tree, so a large payload costs its parse only;
//! serde_json bounds the nesting (128 levels).

use super::{Chunks, Unreadable};
use serde::Deserializer as _;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;

pub(super) fn extract(payload: &[u8], chunks: &mut Chunks) -> Result<(), Unreadable> {
    let mut de = serde_json::Deserializer::from_slice(payload);
    de.deserialize_any(Strings(chunks)).map_err(|e| Unreadable(format!("JSON: {e}")))?;
    de.end().map_err(|e| Unreadable(format!("JSON: {e}")))
}

/// Visits one value, pushing the strings it holds.
struct Strings<'a>(&'a mut Chunks);

impl<'de> DeserializeSeed<'de> for Strings<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strings<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_str<E>(self, value: &str) -> Result<(), E> {
        self.0.push_text(value);
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Strings(&mut *self.0))?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_key::<IgnoredAny>()?.is_some() {
            map.next_value_seed(Strings(&mut *self.0))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::Chunks;

    fn strings(json: &str) -> Result<String, String> {
        let mut chunks = Chunks::new(1000);
        super::extract(json.as_bytes(), &mut chunks).map_err(|e| e.0)?;
        Ok(chunks.text)
    }

    #[test]
    fn string_values_only() {
        let json = r#"{"superevent_id": "S240101ab", "far": 1e-9, "n": 3, "ok": true, "x": null,
                       "nested": {"list": ["Zoë Müller", {"k": "v\u00e9"}]}}"#;
        assert_eq!(strings(json).as_deref(), Ok("S240101ab Zoë Müller vé"));
        assert_eq!(strings(r#""top""#).as_deref(), Ok("top"));
    }

    #[test]
    fn malformed_and_deep_documents_are_errors() {
        assert!(strings(r#"{"a": "b""#).is_err());
        assert!(strings(r#"{"a": "b"} trailing"#).is_err());
        assert!(strings(&"[".repeat(100_000)).is_err(), "nesting is bounded, not a stack overflow");
    }
}
