//! JSON alerts in the style of IGWN, IceCube and SNEWS notices, and the
//! near-limit alerts that carry a whole sky map inline.

use serde_json::{Value, json};

use super::filler::{Filler, sized};
use crate::generate::dice::Dice;
use crate::generate::pyjson::dumps;
use crate::generate::timestamps::Civil;

const ALERT_TYPES: &[&str] = &["PRELIMINARY", "INITIAL", "UPDATE", "RETRACTION"];
const INSTRUMENTS: &[&str] = &["H1,L1,V1", "IceCube", "Super-K", "Fermi-GBM", "Swift-BAT", "ZTF", "KamLAND"];
/// Observers, some outside ASCII, so `\u` escapes get exercised.
const OBSERVERS: &[&str] = &["A. Smith", "Zoë Müller", "Bjørn Ångström", "李 华", "José Núñez", "R. Patel"];

/// Hopskotch's limit is about 1 MiB per record; these sizes leave room for
/// hop's headers and Kafka's record overhead.
pub(crate) const NEAR_LIMIT_BYTES: std::ops::RangeInclusive<usize> = 1_000_000..=1_048_000;

/// The random parts of an alert, drawn once so it can be rendered with any
/// amount of filler.
pub(crate) struct Alert {
    alert_type: &'static str,
    event_id: String,
    time: String,
    instrument: &'static str,
    ra: f64,
    dec: f64,
    error_deg: f64,
    far_per_year: f64,
    observer: &'static str,
}

impl Alert {
    pub(crate) fn draw(dice: &mut Dice, now: i64) -> Alert {
        let civil = Civil::from_ms(now);
        let suffix: String = (0..2).map(|_| char::from(b'a' + dice.below(26) as u8)).collect();
        Alert {
            alert_type: dice.pick(ALERT_TYPES),
            event_id: format!("S{:02}{:02}{:02}{suffix}", civil.year % 100, civil.month, civil.day),
            time: civil.iso8601(),
            instrument: dice.pick(INSTRUMENTS),
            ra: thousandths(dice, 360_000),
            dec: thousandths(dice, 180_000) - 90.0,
            error_deg: thousandths(dice, 20_000) + 0.001,
            far_per_year: thousandths(dice, 100_000) + 0.001,
            observer: dice.pick(OBSERVERS),
        }
    }

    /// The alert as a JSON value with `notes` set to `pad`.
    pub(crate) fn value(&self, pad: &str) -> Value {
        json!({
            "alert_type": self.alert_type,
            "superevent_id": self.event_id,
            "time_created": self.time,
            "instruments": self.instrument,
            "ra": self.ra,
            "dec": self.dec,
            "error_deg": self.error_deg,
            "far_per_year": self.far_per_year,
            "observer": self.observer,
            "notes": pad,
        })
    }

    pub(crate) fn json(&self, dice: &mut Dice, target: usize) -> Vec<u8> {
        sized(dice, target, Filler::Words, |pad| dumps(&self.value(pad)))
    }

    /// The alert with an inline base64 sky map, just under the size limit.
    pub(crate) fn near_limit(&self, dice: &mut Dice) -> Vec<u8> {
        let target = dice.size(&NEAR_LIMIT_BYTES);
        // The sky map is the last field, so its filler goes just before the
        // closing `"}`: rendering a megabyte through `dumps` would only
        // re-check that base64 needs no escapes, and slowly in debug builds.
        let mut json = dumps(&json!({"event": self.value(""), "skymap_format": "multiorder.fits", "skymap": ""}));
        let closing = json.split_off(json.len().saturating_sub(2));
        let skymap = Filler::Base64.text(dice, target.saturating_sub(json.len() + closing.len()));
        json.extend_from_slice(skymap.as_bytes());
        json.extend_from_slice(&closing);
        json
    }
}

/// A float with three decimals in `0..limit/1000`: Python prints those the
/// way [`dumps`] does.
fn thousandths(dice: &mut Dice, limit: u64) -> f64 {
    dice.below(limit) as f64 / 1000.0
}
