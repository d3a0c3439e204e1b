//! Producers and the headers they send: hop-client's eras (upstream.md §6.1)
//! and everyone else.

use archiver::record::Header;

use super::dice::Dice;
use super::labels;

/// Who produced a fresh message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Era {
    /// hop-client before 0.6: JSON envelope, no headers.
    Pre06,
    /// hop-client 0.6–0.7: `_format`, no `_id`.
    V06,
    /// hop-client 0.8+: `_id`, `_sender`, `_format`.
    V08,
    /// hop-client 0.11+ offloading a large message: an `external` placeholder.
    External,
    /// Not hop-client: raw values, keys, no headers.
    NonHop,
}

impl Era {
    pub fn label(self) -> &'static str {
        match self {
            Era::Pre06 => labels::ERA_PRE_06,
            Era::V06 => labels::ERA_06,
            Era::V08 => labels::ERA_08,
            Era::External => labels::ERA_EXTERNAL,
            Era::NonHop => labels::ERA_NON_HOP,
        }
    }

    /// Whether users of this era pass headers of their own to hop-client.
    pub(crate) fn sends_user_headers(self) -> bool {
        matches!(self, Era::V06 | Era::V08)
    }

    /// Whether this producer may send odd headers: any that sends headers
    /// at all, except placeholders, which hop-client builds itself.
    pub(crate) fn sends_odd_headers(self) -> bool {
        matches!(self, Era::V06 | Era::V08 | Era::NonHop)
    }

    /// Whether hop-client of this era can set `_test`.
    pub(crate) fn can_test(self) -> bool {
        matches!(self, Era::V06 | Era::V08 | Era::External)
    }
}

const SENDERS: &[&str] = &["gcn-classic-bridge", "igwn-alert", "icecube-realtime", "snews-coinc", "hermes", "alice"];
const TITLES: &[&str] = &["GRB 260101A: Swift-BAT detection", "S260101ab: preliminary alert", "IceCube-260101A"];
const FILE_NAMES: &[&str] = &["skymap.multiorder.fits", "report.json", "lightcurve.csv"];
const ORIGINATORS: &[&str] = &["HERMES", "SCiMMA", "GCN"];

/// A message's headers before hop-client packs them.
#[derive(Debug, Default)]
pub(crate) struct Parts {
    /// What the user passed to `write(headers=…)`, in order.
    pub user: Vec<Header>,
    /// The value hop appends as `_id` (0.8+).
    pub id: Option<Vec<u8>>,
    pub sender: Option<&'static str>,
    pub test: bool,
    pub format: Option<&'static str>,
}

impl Parts {
    /// What hop-client of `era` would add to a message of `format`.
    pub(crate) fn hop(era: Era, format: &'static str, test: bool, dice: &mut Dice) -> Parts {
        let test = test && era.can_test();
        match era {
            Era::Pre06 | Era::NonHop => Parts::default(),
            Era::V06 => Parts { format: Some(format), test, ..Parts::default() },
            Era::V08 | Era::External => Parts {
                id: Some(dice.uuid().as_bytes().to_vec()),
                sender: Some(dice.pick(SENDERS)),
                test,
                format: Some(format),
                ..Parts::default()
            },
        }
    }

    /// The headers in the order `Producer.pack` sends them: the user's, then
    /// `_id`, `_sender`, `_test`, `_format`.
    pub(crate) fn pack(self) -> Vec<Header> {
        let mut headers = self.user;
        let hop = [
            ("_id", self.id),
            ("_sender", self.sender.map(|s| s.as_bytes().to_vec())),
            ("_test", self.test.then(|| b"true".to_vec())),
            ("_format", self.format.map(|f| f.as_bytes().to_vec())),
        ];
        headers.extend(hop.into_iter().filter_map(|(key, value)| Some(Header::new(key, Some(&value?)))));
        headers
    }
}

/// One to three of the free-form headers the archive annotates.
pub(crate) fn user_headers(dice: &mut Dice) -> Vec<Header> {
    let choices: [(&str, &[&str]); 3] = [("title", TITLES), ("file_name", FILE_NAMES), ("originator", ORIGINATORS)];
    let first = dice.index(choices.len());
    let count = 1 + dice.index(choices.len());
    (0..count)
        .map(|i| {
            let (key, values) = choices[(first + i) % choices.len()];
            Header::new(key, Some(dice.pick(values).as_bytes()))
        })
        .collect()
}
