//! Message values: what each payload kind looks like in each hop-client era.

mod alert;
mod filler;
mod gcn;
mod voevent;

use serde_json::{Value, json};

use self::alert::Alert;
use self::filler::{Filler, sized};
use self::gcn::{Circular, Notice};
use self::voevent::VoEvent;
use super::avro;
use super::dice::Dice;
use super::headers::Era;
use super::labels;
use super::pyjson::dumps;

/// What a fresh message carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadKind {
    Json,
    VoEvent,
    GcnNotice,
    Circular,
    Avro,
    Blob,
    /// A zero-length value.
    Empty,
    /// A null value (tombstone): only non-hop producers can send one.
    Null,
    /// A JSON alert with an inline sky map, just under the ~1 MB limit.
    NearLimit,
}

impl PayloadKind {
    /// Whether a producer of `era` can send this kind: pre-0.6 hop knew only
    /// JSON, VOEvent and circulars, GCN notices came with 0.10, only non-hop
    /// producers send null values, and placeholders carry only themselves.
    pub(crate) fn sent_by(self, era: Era) -> bool {
        match era {
            Era::Pre06 => matches!(self, PayloadKind::Json | PayloadKind::VoEvent | PayloadKind::Circular),
            Era::V06 => !matches!(self, PayloadKind::GcnNotice | PayloadKind::Null),
            Era::V08 => self != PayloadKind::Null,
            Era::External => false,
            Era::NonHop => true,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            PayloadKind::Json => labels::PAYLOAD_JSON,
            PayloadKind::VoEvent => labels::PAYLOAD_VOEVENT,
            PayloadKind::GcnNotice => labels::PAYLOAD_GCN_NOTICE,
            PayloadKind::Circular => labels::PAYLOAD_CIRCULAR,
            PayloadKind::Avro => labels::PAYLOAD_AVRO,
            PayloadKind::Blob => labels::PAYLOAD_BLOB,
            PayloadKind::Empty => labels::PAYLOAD_EMPTY,
            PayloadKind::Null => labels::PAYLOAD_NULL,
            PayloadKind::NearLimit => labels::PAYLOAD_NEAR_LIMIT,
        }
    }

    /// The `_format` hop-client 0.6+ sends this kind with.
    pub(crate) fn format(self) -> &'static str {
        match self {
            PayloadKind::Json | PayloadKind::NearLimit => "json",
            PayloadKind::VoEvent => "voevent",
            PayloadKind::GcnNotice => "gcntextnotice",
            PayloadKind::Circular => "circular",
            PayloadKind::Avro => "avro",
            PayloadKind::Blob | PayloadKind::Empty | PayloadKind::Null => "blob",
        }
    }
}

/// The value of a fresh message of `kind` from `era`. `now` dates the
/// content; text kinds, Avro and blobs aim at `target` bytes.
pub(crate) fn build(kind: PayloadKind, era: Era, dice: &mut Dice, now: i64, target: usize) -> Option<Vec<u8>> {
    if era == Era::Pre06 {
        return Some(envelope(kind, dice, now, target));
    }
    let json_voevent = era == Era::V06;
    Some(match kind {
        PayloadKind::Json => Alert::draw(dice, now).json(dice, target),
        PayloadKind::VoEvent if json_voevent => {
            let event = VoEvent::draw(dice, now);
            sized(dice, target, Filler::Words, |pad| dumps(&event.value(pad)))
        }
        PayloadKind::VoEvent => {
            let event = VoEvent::draw(dice, now);
            sized(dice, target, Filler::Words, |pad| event.xml(pad))
        }
        PayloadKind::GcnNotice => {
            let notice = Notice::draw(dice, now);
            sized(dice, target, Filler::Prose, |pad| notice.text(pad))
        }
        PayloadKind::Circular => {
            let circular = Circular::draw(dice, now);
            sized(dice, target, Filler::Prose, |pad| circular.text(pad))
        }
        PayloadKind::Avro => avro_alerts(dice, now, target),
        PayloadKind::Blob => dice.bytes(target),
        PayloadKind::Empty => Vec::new(),
        PayloadKind::Null => return None,
        PayloadKind::NearLimit => Alert::draw(dice, now).near_limit(dice),
    })
}

/// A JSON alert of about `target` bytes, on its own (for conflicts, which
/// put new content under an old `_id`).
pub(crate) fn json_alert(dice: &mut Dice, now: i64, target: usize) -> Vec<u8> {
    Alert::draw(dice, now).json(dice, target)
}

/// The pre-0.6 envelope `{"format", "content"}`, where `"blob"` meant JSON.
/// Only JSON, VOEvent and circulars existed then ([`PayloadKind::sent_by`]).
fn envelope(kind: PayloadKind, dice: &mut Dice, now: i64, target: usize) -> Vec<u8> {
    let wrap = |format: &str, content: Value| dumps(&json!({"format": format, "content": content}));
    match kind {
        PayloadKind::VoEvent => {
            let event = VoEvent::draw(dice, now);
            sized(dice, target, Filler::Words, |pad| wrap("voevent", event.value(pad)))
        }
        PayloadKind::Circular => {
            let circular = Circular::draw(dice, now);
            sized(dice, target, Filler::Words, |pad| wrap("circular", circular.value(pad)))
        }
        _ => {
            let alert = Alert::draw(dice, now);
            sized(dice, target, Filler::Words, |pad| wrap("blob", alert.value(pad)))
        }
    }
}

/// An Avro container of 1–4 alerts. Its length prefixes grow with the
/// filler, so it lands within 2 bytes under `target` rather than on it.
fn avro_alerts(dice: &mut Dice, now: i64, target: usize) -> Vec<u8> {
    let alerts: Vec<avro::Alert> = (0..1 + dice.below(4))
        .map(|i| avro::Alert {
            alert_id: dice.uuid().hyphenated().to_string(),
            time_ms: now - i as i64 * 1000,
            ra: dice.below(360_000) as f64 / 1000.0,
            dec: dice.below(180_000) as f64 / 1000.0 - 90.0,
        })
        .collect();
    let mut sync = [0; 16];
    sync.copy_from_slice(&dice.bytes(16));
    let bare = avro::container(&alerts, "", &sync);
    let Some(room) = target.checked_sub(bare.len()) else {
        return bare;
    };
    let mut notes = Filler::Words.text(dice, room);
    loop {
        let file = avro::container(&alerts, &notes, &sync);
        match file.len().checked_sub(target) {
            Some(over) if over > 0 => notes.truncate(notes.len().saturating_sub(over)),
            _ => return file,
        }
    }
}

/// hop-client 0.11+'s placeholder for a message offloaded to the archive.
pub(crate) fn external(dice: &mut Dice) -> Vec<u8> {
    let url = format!("https://archive.scimma.org/msg/{}", dice.uuid().hyphenated());
    dumps(&json!({ "url": url }))
}

/// A hopBeat beat (`scimma/hopbeat-container`).
pub(crate) fn heartbeat(timestamp: i64, count: u64) -> Vec<u8> {
    dumps(&json!({"timestamp": timestamp, "count": count, "beat": "listen"}))
}
