//! A minimal Avro object container file writer (the `avro` format of
//! hop-client 0.6+): header with `avro.schema` and a `null` codec, one block
//! of records. Written by hand because the simulator needs exact control of
//! the bytes, including the sync marker, which comes from the stream's seed.

/// The schema of the simulated alerts; `notes` lets a payload reach a size.
const SCHEMA: &str = concat!(
    r#"{"type": "record", "name": "Alert", "namespace": "org.scimma.mockhop", "fields": ["#,
    r#"{"name": "alert_id", "type": "string"}, {"name": "time_ms", "type": "long"}, "#,
    r#"{"name": "ra", "type": "double"}, {"name": "dec", "type": "double"}, "#,
    r#"{"name": "notes", "type": "string"}]}"#
);

/// One record of [`SCHEMA`], without its `notes`.
#[derive(Debug, Clone)]
pub(crate) struct Alert {
    pub alert_id: String,
    pub time_ms: i64,
    pub ra: f64,
    pub dec: f64,
}

/// The container file holding `alerts`, the last of which gets `notes`
/// (the others have empty notes).
pub(crate) fn container(alerts: &[Alert], notes: &str, sync: &[u8; 16]) -> Vec<u8> {
    let mut out = b"Obj\x01".to_vec();
    write_long(&mut out, 2);
    write_bytes(&mut out, b"avro.schema");
    write_bytes(&mut out, SCHEMA.as_bytes());
    write_bytes(&mut out, b"avro.codec");
    write_bytes(&mut out, b"null");
    write_long(&mut out, 0);
    out.extend_from_slice(sync);
    let mut block = Vec::new();
    for (i, alert) in alerts.iter().enumerate() {
        let notes = if i + 1 == alerts.len() { notes } else { "" };
        write_alert(&mut block, alert, notes);
    }
    write_long(&mut out, alerts.len() as i64);
    write_long(&mut out, block.len() as i64);
    out.extend_from_slice(&block);
    out.extend_from_slice(sync);
    out
}

fn write_alert(out: &mut Vec<u8>, alert: &Alert, notes: &str) {
    write_bytes(out, alert.alert_id.as_bytes());
    write_long(out, alert.time_ms);
    out.extend_from_slice(&alert.ra.to_le_bytes());
    out.extend_from_slice(&alert.dec.to_le_bytes());
    write_bytes(out, notes.as_bytes());
}

/// Zigzag, then base-128 varint, low group first.
fn write_long(out: &mut Vec<u8>, value: i64) {
    let mut zigzag = ((value << 1) ^ (value >> 63)) as u64;
    while zigzag >= 0x80 {
        out.push((zigzag as u8) | 0x80);
        zigzag >>= 7;
    }
    out.push(zigzag as u8);
}

/// Avro `bytes` and `string` alike: a long length, then the bytes.
fn write_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    write_long(out, bytes.len() as i64);
    out.extend_from_slice(bytes);
}
