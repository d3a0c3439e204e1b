//! Hopskotch-like topic names, and which topics carry which content, so that
//! a topic's traffic looks like its real counterpart's.

use super::payloads::PayloadKind;

/// hopBeat's topic, which the archiver must veto.
pub(crate) const HEARTBEAT: &str = "sys.heartbeat";
/// Where offloaded large messages are announced.
pub(crate) const EXTERNAL: &[&str] = &["igwn.gwalert", "lvk.alerts"];

/// The topics a kind of content is published on.
pub(crate) fn home(kind: PayloadKind) -> &'static [&'static str] {
    match kind {
        PayloadKind::Json => &["igwn.gwalert", "lvk.alerts", "snews.alert", "icecube.neutrino", "hermes.test"],
        PayloadKind::VoEvent => &["gcn.notice", "icecube.neutrino", "lvk.alerts"],
        PayloadKind::GcnNotice => &["gcn.notice"],
        PayloadKind::Circular => &["gcn.circular"],
        PayloadKind::Avro => &["lvk.alerts", "igwn.gwalert"],
        PayloadKind::Blob => &["hermes.test", "snews.alert"],
        PayloadKind::Empty => &["hermes.test", "snews.alert", "gcn.notice"],
        PayloadKind::Null => &["hermes.test", "lvk.alerts"],
        PayloadKind::NearLimit => &["igwn.gwalert"],
    }
}
