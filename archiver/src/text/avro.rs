//! Avro object container files (hop-client's `avro` format): the strings
//! of every record, decoded with the schema the file embeds. Only the
//! `null` codec is read (hop-client writes no other); a compressed file's
//! text is partial.
//!
//! Bounded: schemas nest at most [`DEPTH_MAX`] levels (named types may
//! recurse), and decoding does at most [`WORK_MAX`] steps per file, so an
//! array of a billion nulls in a few bytes ends as an error, not a hang.

use super::{Chunks, Unreadable};
use serde_json::Value as Json;
use std::collections::HashMap;

const MAGIC: &[u8] = b"Obj\x01";
const SYNC_BYTES: usize = 16;
const DEPTH_MAX: usize = 64;
const WORK_MAX: u64 = 4_000_000;

fn unreadable(reason: impl Into<String>) -> Unreadable {
    Unreadable(format!("Avro: {}", reason.into()))
}

pub(super) fn extract(payload: &[u8], chunks: &mut Chunks) -> Result<(), Unreadable> {
    let mut input =
        Input { bytes: payload.strip_prefix(MAGIC).ok_or_else(|| unreadable("no container magic"))?, work: 0 };
    let meta = input.metadata()?;
    match meta.get("avro.codec").map(Vec::as_slice) {
        None | Some(b"null") => {}
        Some(other) => return Err(unreadable(format!("codec {:?} is not read", String::from_utf8_lossy(other)))),
    }
    let schema_text = meta.get("avro.schema").ok_or_else(|| unreadable("no embedded schema"))?;
    let schema_json: Json = serde_json::from_slice(schema_text).map_err(|e| unreadable(format!("schema: {e}")))?;
    let mut names = Names::default();
    let schema = names.parse(&schema_json, "", 0)?;
    let sync = input.take(SYNC_BYTES)?;
    while !input.bytes.is_empty() && !chunks.is_full() {
        let count = input.count()?;
        let size = input.count()?;
        let mut block = Input { bytes: input.take(size)?, work: input.work };
        for _ in 0..count {
            block.value(&schema, &names, chunks, 0)?;
        }
        input.work = block.work;
        if input.take(SYNC_BYTES)? != sync {
            return Err(unreadable("sync marker mismatch"));
        }
    }
    Ok(())
}

/// The schema, as far as decoding needs it.
#[derive(Debug, Clone)]
enum Schema {
    Null,
    Boolean,
    /// int and long: a zigzag varint.
    Long,
    Float,
    Double,
    Bytes,
    String,
    Record(Vec<Schema>),
    Enum,
    Array(Box<Schema>),
    Map(Box<Schema>),
    Union(Vec<Schema>),
    Fixed(usize),
    /// A named type defined elsewhere (possibly recursively).
    Named(String),
}

/// Named types by full name.
#[derive(Debug, Default)]
struct Names(HashMap<String, Schema>);

impl Names {
    fn parse(&mut self, json: &Json, namespace: &str, depth: usize) -> Result<Schema, Unreadable> {
        if depth > DEPTH_MAX {
            return Err(unreadable("schema nested too deeply"));
        }
        match json {
            Json::String(name) => self.primitive_or_reference(name, namespace),
            Json::Array(branches) => branches
                .iter()
                .map(|b| self.parse(b, namespace, depth + 1))
                .collect::<Result<_, _>>()
                .map(Schema::Union),
            Json::Object(object) => {
                let kind = object.get("type").ok_or_else(|| unreadable("schema object without a type"))?;
                let Json::String(kind) = kind else { return self.parse(kind, namespace, depth + 1) };
                let text = |key: &str| object.get(key).and_then(Json::as_str);
                let full_name = |name: &str| match (name.contains('.'), text("namespace").unwrap_or(namespace)) {
                    (false, ns) if !ns.is_empty() => format!("{ns}.{name}"),
                    _ => name.to_owned(),
                };
                let schema = match kind.as_str() {
                    "record" | "error" => {
                        let full = full_name(text("name").ok_or_else(|| unreadable("record without a name"))?);
                        let inner_ns = full.rsplit_once('.').map_or("", |(ns, _)| ns).to_owned();
                        // Registered first, so fields may refer to the record itself.
                        self.0.insert(full.clone(), Schema::Record(Vec::new()));
                        let fields = object
                            .get("fields")
                            .and_then(Json::as_array)
                            .ok_or_else(|| unreadable("record without fields"))?;
                        let mut parsed = Vec::with_capacity(fields.len());
                        for field in fields {
                            let field_type = field.get("type").ok_or_else(|| unreadable("field without a type"))?;
                            parsed.push(self.parse(field_type, &inner_ns, depth + 1)?);
                        }
                        self.0.insert(full.clone(), Schema::Record(parsed));
                        return Ok(Schema::Named(full));
                    }
                    "enum" => self.define(full_name(text("name").unwrap_or("")), Schema::Enum),
                    "fixed" => {
                        let size = object
                            .get("size")
                            .and_then(Json::as_u64)
                            .ok_or_else(|| unreadable("fixed without a size"))?;
                        let size = usize::try_from(size).map_err(|_| unreadable("fixed size too large"))?;
                        self.define(full_name(text("name").unwrap_or("")), Schema::Fixed(size))
                    }
                    "array" => {
                        let items = object.get("items").ok_or_else(|| unreadable("array without items"))?;
                        Schema::Array(Box::new(self.parse(items, namespace, depth + 1)?))
                    }
                    "map" => {
                        let values = object.get("values").ok_or_else(|| unreadable("map without values"))?;
                        Schema::Map(Box::new(self.parse(values, namespace, depth + 1)?))
                    }
                    // A primitive with attributes (a logical type): its underlying type.
                    other => self.primitive_or_reference(other, namespace)?,
                };
                Ok(schema)
            }
            _ => Err(unreadable("a schema is a string, an array or an object")),
        }
    }

    fn define(&mut self, full: String, schema: Schema) -> Schema {
        self.0.insert(full, schema.clone());
        schema
    }

    fn primitive_or_reference(&self, name: &str, namespace: &str) -> Result<Schema, Unreadable> {
        Ok(match name {
            "null" => Schema::Null,
            "boolean" => Schema::Boolean,
            "int" | "long" => Schema::Long,
            "float" => Schema::Float,
            "double" => Schema::Double,
            "bytes" => Schema::Bytes,
            "string" => Schema::String,
            _ => {
                let qualified = format!("{namespace}.{name}");
                let full =
                    if !name.contains('.') && self.0.contains_key(&qualified) { qualified } else { name.to_owned() };
                if !self.0.contains_key(&full) {
                    return Err(unreadable(format!("unknown type {name:?}")));
                }
                Schema::Named(full)
            }
        })
    }
}

/// Bytes still to read, and the decoding steps taken so far.
struct Input<'a> {
    bytes: &'a [u8],
    work: u64,
}

impl<'a> Input<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Unreadable> {
        if n > self.bytes.len() {
            return Err(unreadable("truncated"));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn long(&mut self) -> Result<i64, Unreadable> {
        let mut value: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = self.take(1)?[0];
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok((value >> 1) as i64 ^ -((value & 1) as i64));
            }
        }
        Err(unreadable("varint longer than 10 bytes"))
    }

    /// A count or size: a long that must not be negative.
    fn count(&mut self) -> Result<usize, Unreadable> {
        usize::try_from(self.long()?).map_err(|_| unreadable("negative count"))
    }

    /// The length-prefixed bytes of `bytes` and `string`.
    fn bytes(&mut self) -> Result<&'a [u8], Unreadable> {
        let n = self.count()?;
        self.take(n)
    }

    /// The container header's metadata map.
    fn metadata(&mut self) -> Result<HashMap<String, Vec<u8>>, Unreadable> {
        let mut meta = HashMap::new();
        self.blocks(|input| {
            let key = String::from_utf8_lossy(input.bytes()?).into_owned();
            meta.insert(key, input.bytes()?.to_vec());
            Ok(())
        })?;
        Ok(meta)
    }

    /// The blocks of an array or map: a count (negative: followed by a
    /// byte size), items, until a zero count.
    fn blocks(&mut self, mut item: impl FnMut(&mut Self) -> Result<(), Unreadable>) -> Result<(), Unreadable> {
        loop {
            let count = self.long()?;
            if count == 0 {
                return Ok(());
            }
            if count < 0 {
                self.long()?;
            }
            for _ in 0..count.unsigned_abs() {
                self.step()?;
                item(self)?;
            }
        }
    }

    fn step(&mut self) -> Result<(), Unreadable> {
        self.work += 1;
        match self.work > WORK_MAX {
            true => Err(unreadable("too much to decode")),
            false => Ok(()),
        }
    }

    /// Decodes one value of `schema`, pushing its strings.
    fn value(&mut self, schema: &Schema, names: &Names, chunks: &mut Chunks, depth: usize) -> Result<(), Unreadable> {
        self.step()?;
        if depth > DEPTH_MAX {
            return Err(unreadable("value nested too deeply"));
        }
        match schema {
            Schema::Null => {}
            Schema::Boolean => drop(self.take(1)?),
            Schema::Long => drop(self.long()?),
            Schema::Float => drop(self.take(4)?),
            Schema::Double => drop(self.take(8)?),
            Schema::Bytes => drop(self.bytes()?),
            Schema::String => {
                if let Ok(text) = std::str::from_utf8(self.bytes()?) {
                    chunks.push_text(text);
                }
            }
            Schema::Record(fields) => {
                for field in fields {
                    self.value(field, names, chunks, depth + 1)?;
                }
            }
            Schema::Enum => drop(self.long()?),
            Schema::Array(items) => self.blocks(|input| input.value(items, names, chunks, depth + 1))?,
            Schema::Map(values) => self.blocks(|input| {
                input.bytes()?;
                input.value(values, names, chunks, depth + 1)
            })?,
            Schema::Union(branches) => {
                let index = usize::try_from(self.long()?).ok();
                let branch =
                    index.and_then(|i| branches.get(i)).ok_or_else(|| unreadable("union index out of range"))?;
                self.value(branch, names, chunks, depth + 1)?;
            }
            Schema::Fixed(size) => drop(self.take(*size)?),
            Schema::Named(name) => {
                let named = names.0.get(name).ok_or_else(|| unreadable(format!("unknown type {name:?}")))?;
                self.value(named, names, chunks, depth + 1)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::Chunks;

    fn long(out: &mut Vec<u8>, v: i64) {
        let mut z = ((v << 1) ^ (v >> 63)) as u64;
        while z >= 0x80 {
            out.push(z as u8 | 0x80);
            z >>= 7;
        }
        out.push(z as u8);
    }

    fn bytes(out: &mut Vec<u8>, b: &[u8]) {
        long(out, b.len() as i64);
        out.extend_from_slice(b);
    }

    fn container(schema: &str, count: i64, block: &[u8]) -> Vec<u8> {
        let mut out = b"Obj\x01".to_vec();
        long(&mut out, 1);
        bytes(&mut out, b"avro.schema");
        bytes(&mut out, schema.as_bytes());
        long(&mut out, 0);
        out.extend_from_slice(&[7; 16]);
        long(&mut out, count);
        long(&mut out, block.len() as i64);
        out.extend_from_slice(block);
        out.extend_from_slice(&[7; 16]);
        out
    }

    fn strings(file: &[u8]) -> Result<String, String> {
        let mut chunks = Chunks::new(1000);
        super::extract(file, &mut chunks).map_err(|e| e.0)?;
        Ok(chunks.text)
    }

    #[test]
    fn strings_of_nested_and_recursive_records() {
        let schema = r#"{"type": "record", "name": "Node", "namespace": "t", "fields": [
            {"name": "label", "type": "string"}, {"name": "n", "type": {"type": "long", "logicalType": "timestamp-millis"}},
            {"name": "tags", "type": {"type": "map", "values": "string"}},
            {"name": "next", "type": ["null", "Node"]}]}"#;
        let mut block = Vec::new();
        bytes(&mut block, b"first");
        long(&mut block, 5);
        long(&mut block, 1);
        bytes(&mut block, b"key");
        bytes(&mut block, b"tag value");
        long(&mut block, 0);
        long(&mut block, 1); // next: Node
        bytes(&mut block, b"second");
        long(&mut block, 6);
        long(&mut block, 0);
        long(&mut block, 0); // next: null
        assert_eq!(strings(&container(schema, 1, &block)).as_deref(), Ok("first tag value second"));
    }

    #[test]
    fn hostile_files_are_errors() {
        let mut block = Vec::new();
        long(&mut block, i64::MAX / 2);
        let nulls = container(r#"{"type": "array", "items": "null"}"#, 1, &block);
        assert!(strings(&nulls).is_err(), "a huge count of zero-size items is bounded work");
        assert!(strings(b"Obj\x01").is_err());
        assert!(strings(b"not avro").is_err());
        assert!(
            strings(&container(r#"{"type": "record", "name": "R", "fields": [{"name": "x", "type": "Q"}]}"#, 0, &[]))
                .is_err()
        );
        let deep = format!("{}\"string\"{}", "[".repeat(200), "]".repeat(200));
        assert!(strings(&container(&deep, 0, &[])).is_err());
    }
}
