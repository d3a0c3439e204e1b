//! The generator's loop: each step is either a duplicate event (one or more
//! copies of earlier deliveries) or one fresh message.

use archiver::record::{Key, Message};

use super::dice::Dice;
use super::draft::Draft;
use super::duplicates::{History, is_client_id};
use super::headers::{Era, Parts, user_headers};
use super::labels;
use super::payloads::{self, PayloadKind};
use super::profiles::Profile;
use super::timestamps::Clock;
use super::topics;
use crate::{Delivery, StreamOptions};

/// A fresh message's value and where it goes.
struct Content {
    payload: Option<Vec<u8>>,
    format: &'static str,
    topics: &'static [&'static str],
    /// Near-limit values get no odd headers: those could push them over.
    near_limit: bool,
}

pub(crate) struct Stream<'a> {
    profile: &'a Profile,
    topic_prefix: &'a str,
    dice: Dice,
    clock: Clock,
    beats: u64,
    deliveries: Vec<Delivery>,
    /// Fresh archivable deliveries with a client `_id`, and without one:
    /// what conflicts and id-less resends copy.
    with_id: Vec<usize>,
    without_id: Vec<usize>,
}

impl<'a> Stream<'a> {
    /// The deliveries `options` ask for, from `profile` (its named one).
    pub(crate) fn run(options: &'a StreamOptions, profile: &'a Profile) -> Vec<Delivery> {
        let mut stream = Stream {
            profile,
            topic_prefix: &options.topic_prefix,
            dice: Dice::new(options.seed),
            clock: Clock::new(),
            beats: 0,
            deliveries: Vec::with_capacity(options.count),
            with_id: Vec::new(),
            without_id: Vec::new(),
        };
        while stream.deliveries.len() < options.count {
            stream.step(options.count - stream.deliveries.len());
        }
        stream.deliveries
    }

    fn step(&mut self, room: usize) {
        let now = self.clock.tick(&mut self.dice, &self.profile.step_ms);
        if self.dice.chance(self.profile.duplicates) {
            let kind = self.dice.choose(&self.profile.duplicate_kinds);
            let target = self.dice.size(&self.profile.payload_bytes);
            let history =
                History { deliveries: &self.deliveries, with_id: &self.with_id, without_id: &self.without_id };
            let drafts = kind.plan(&mut self.dice, &history, room, now, target);
            if !drafts.is_empty() {
                drafts.into_iter().for_each(|draft| self.push(draft, false));
                return;
            }
        }
        let draft = self.fresh(now);
        self.push(draft, true);
    }

    fn push(&mut self, draft: Draft, fresh: bool) {
        let seq = self.deliveries.len();
        let skipped = draft.labels.iter().any(|l| [labels::HOP_TEST, labels::HEARTBEAT].contains(l));
        if fresh && !skipped {
            let list = if draft.labels.contains(&labels::ID_CLIENT) { &mut self.with_id } else { &mut self.without_id };
            list.push(seq);
        }
        let Draft { message, partition_hint, labels } = draft;
        self.deliveries.push(Delivery { seq: seq as u64, partition_hint, message, labels });
    }

    fn fresh(&mut self, now: i64) -> Draft {
        let mut labels = Vec::new();
        let edge = self
            .dice
            .chance(self.profile.timestamp_edges)
            .then(|| self.dice.choose(&self.profile.timestamp_edge_kinds));
        let timestamp = edge.map_or(now, |edge| edge.timestamp(&mut self.dice, now));
        let mut message = if self.dice.chance(self.profile.heartbeats) {
            self.heartbeat(now, &mut labels)
        } else {
            self.alert(now, &mut labels)
        };
        message.timestamp = timestamp;
        labels.extend(edge.map(|edge| edge.label()));
        labels.push(if message.headers.iter().any(is_client_id) { labels::ID_CLIENT } else { labels::ID_NONE });
        Draft { message, partition_hint: self.dice.u32(), labels }
    }

    /// A hopBeat beat: hop-client 0.8+ JSON on `sys.heartbeat`.
    fn heartbeat(&mut self, now: i64, labels: &mut Vec<&'static str>) -> Message {
        self.beats += 1;
        labels.extend([labels::ERA_08, labels::PAYLOAD_HEARTBEAT, labels::HEARTBEAT]);
        let parts = Parts {
            id: Some(self.dice.uuid().as_bytes().to_vec()),
            sender: Some("hopbeat"),
            format: Some("json"),
            ..Parts::default()
        };
        Message {
            topic: self.topic(topics::HEARTBEAT),
            timestamp: now,
            key: Key::Null,
            headers: parts.pack(),
            payload: Some(payloads::heartbeat(now, self.beats)),
        }
    }

    /// Anything but a heartbeat, from a producer of the profile's eras.
    fn alert(&mut self, now: i64, labels: &mut Vec<&'static str>) -> Message {
        let era = self.dice.choose(&self.profile.eras);
        labels.push(era.label());
        let content = self.content(era, now, labels);
        let test = self.dice.chance(self.profile.test_flag);
        let mut parts = Parts::hop(era, content.format, test, &mut self.dice);
        if parts.test {
            labels.push(labels::HOP_TEST);
        }
        self.decorate(era, &mut parts, content.near_limit, labels);
        let name = self.dice.pick(content.topics);
        let topic = self.topic(name);
        let key = if era == Era::NonHop { self.key(labels) } else { Key::Null };
        Message { topic, timestamp: now, key, headers: parts.pack(), payload: content.payload }
    }

    fn content(&mut self, era: Era, now: i64, labels: &mut Vec<&'static str>) -> Content {
        if era == Era::External {
            labels.push(labels::PAYLOAD_EXTERNAL);
            let payload = Some(payloads::external(&mut self.dice));
            return Content { payload, format: "external", topics: topics::EXTERNAL, near_limit: false };
        }
        let kind =
            self.dice.choose_where(&self.profile.payloads, |kind| kind.sent_by(era)).unwrap_or(PayloadKind::Json);
        labels.push(kind.label());
        if era == Era::Pre06 {
            labels.push(labels::PAYLOAD_ENVELOPE);
        }
        let target = self.dice.size(&self.profile.payload_bytes);
        let payload = payloads::build(kind, era, &mut self.dice, now, target);
        Content {
            payload,
            format: kind.format(),
            topics: topics::home(kind),
            near_limit: kind == PayloadKind::NearLimit,
        }
    }

    /// User headers and odd headers, as the profile and the era allow.
    fn decorate(&mut self, era: Era, parts: &mut Parts, near_limit: bool, labels: &mut Vec<&'static str>) {
        if era.sends_user_headers() && self.dice.chance(self.profile.user_headers) {
            parts.user = user_headers(&mut self.dice);
            labels.push(labels::USER_HEADERS);
        }
        if era.sends_odd_headers() && !near_limit && self.dice.chance(self.profile.odd_headers) {
            let odd = self.dice.choose(&self.profile.odd_header_kinds);
            odd.apply(&mut self.dice, parts);
            labels.push(odd.label());
        }
    }

    /// A non-hop producer's key: mostly text ids, some binary, some none.
    fn key(&mut self, labels: &mut Vec<&'static str>) -> Key {
        let key = match self.dice.below(10) {
            0..=5 => Key::Bytes(format!("evt-{:08x}", self.dice.u32()).into_bytes()),
            6 | 7 => Key::Bytes(self.dice.bytes(8)),
            _ => return Key::Null,
        };
        labels.push(labels::KEY_BYTES);
        key
    }

    fn topic(&self, name: &str) -> String {
        format!("{}{name}", self.topic_prefix)
    }
}
