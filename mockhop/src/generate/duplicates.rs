//! Deliveries that repeat earlier ones: what at-least-once delivery, cursor
//! resets and careless or colliding clients put on a topic (PRODUCT.md §3.3
//! says what the archive must make of each).

use archiver::record::{Header, HeaderValue, Message};

use super::dice::Dice;
use super::draft::Draft;
use super::labels;
use super::payloads;
use crate::Delivery;

/// The longest cursor-reset replay, in deliveries.
const MAX_REPLAY: usize = 8;

/// A way of repeating earlier traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Duplicate {
    /// An exact copy of an earlier delivery.
    Redelivery,
    /// 2 to 8 consecutive earlier deliveries, again, in order.
    Replay,
    /// An earlier message's 16-byte `_id` on new content, sent later.
    Conflict,
    /// An earlier message's content under a new `_id`, sent later.
    SameContentNewId,
    /// An exact copy of an earlier message without a 16-byte `_id`.
    IdLessTwice,
}

impl Duplicate {
    pub fn label(self) -> &'static str {
        match self {
            Duplicate::Redelivery => labels::DUP_REDELIVERY,
            Duplicate::Replay => labels::DUP_REPLAY,
            Duplicate::Conflict => labels::DUP_CONFLICT,
            Duplicate::SameContentNewId => labels::DUP_SAME_CONTENT_NEW_ID,
            Duplicate::IdLessTwice => labels::DUP_ID_LESS_TWICE,
        }
    }
}

/// What a duplicate can copy: the stream so far, and which of its fresh,
/// archivable (not `_test`, not heartbeat) deliveries have a client `_id`.
pub(crate) struct History<'a> {
    pub deliveries: &'a [Delivery],
    pub with_id: &'a [usize],
    pub without_id: &'a [usize],
}

impl Duplicate {
    /// The deliveries for one duplicate event at time `now`, at most `room`
    /// of them; none when the history holds nothing this kind can copy.
    /// New content for a conflict aims at `target` bytes.
    pub(crate) fn plan(self, dice: &mut Dice, history: &History, room: usize, now: i64, target: usize) -> Vec<Draft> {
        let earlier = history.deliveries;
        match self {
            Duplicate::Redelivery if !earlier.is_empty() => vec![copy(self, &earlier[dice.index(earlier.len())], &[])],
            Duplicate::Replay => {
                let len = (2 + dice.index(MAX_REPLAY - 1)).min(room).min(earlier.len());
                let start = dice.index(earlier.len() - len + 1);
                earlier[start..start + len].iter().map(|d| copy(self, d, &[])).collect()
            }
            Duplicate::IdLessTwice if !history.without_id.is_empty() => {
                vec![copy(self, &earlier[dice.pick(history.without_id)], &[])]
            }
            Duplicate::Conflict if !history.with_id.is_empty() => {
                let mut draft = copy(self, &earlier[dice.pick(history.with_id)], &["ts:", "payload:"]);
                draft.message.timestamp = now;
                let payload = payloads::json_alert(dice, now, target);
                draft.message.payload = Some(differing(payload, &draft.message));
                draft.labels.push(labels::PAYLOAD_JSON);
                vec![draft]
            }
            Duplicate::SameContentNewId if !history.with_id.is_empty() => {
                let mut draft = copy(self, &earlier[dice.pick(history.with_id)], &["ts:"]);
                draft.message.timestamp = now;
                if let Some(id) = draft.message.headers.iter_mut().find(|h| is_client_id(h)) {
                    id.value = HeaderValue::Bytes(dice.uuid().as_bytes().to_vec());
                }
                vec![draft]
            }
            _ => Vec::new(),
        }
    }
}

/// A copy of `original` labelled as `kind`, keeping the original's labels
/// except duplicate ones and those starting with a `stale` prefix.
fn copy(kind: Duplicate, original: &Delivery, stale: &[&str]) -> Draft {
    let keep = |label: &&str| !label.starts_with("dup:") && !stale.iter().any(|prefix| label.starts_with(prefix));
    let labels = std::iter::once(kind.label()).chain(original.labels.iter().copied().filter(keep)).collect();
    Draft { message: original.message.clone(), partition_hint: original.partition_hint, labels }
}

/// `payload`, changed if it happens to equal the original's: a conflict must
/// differ in content.
fn differing(mut payload: Vec<u8>, original: &Message) -> Vec<u8> {
    if original.payload.as_ref() == Some(&payload) {
        payload.push(b'\n');
    }
    payload
}

/// Whether `header` is an `_id` the archive takes as the message's UUID.
pub(crate) fn is_client_id(header: &Header) -> bool {
    header.key == "_id" && header.value.as_bytes().is_some_and(|v| v.len() == 16)
}
