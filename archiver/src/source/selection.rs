//! Which of the visible topics get archived: a pure function of the
//! configured [`TopicSelection`], the broker's topic list and (in hopauth
//! mode) hopauth's topic list, so the refresh timer and the tests share it.

use super::Credential;
use super::hopauth::HopauthTopic;
use crate::topics::matches_any;
use std::collections::BTreeSet;

/// Which topics to archive; see [`select_topics`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicSelection {
    /// Every topic the credential can see, minus `__*` internals and topics
    /// matching a veto pattern (exact names or globs with `*`).
    All { veto: Vec<String> },
    /// These topics, as far as they exist, minus those matching a veto
    /// pattern: the veto always applies.
    Explicit { names: Vec<String>, veto: Vec<String> },
    /// The topics hopauth marks `archivable` (`GET {url}/v1/topics`), minus
    /// the veto patterns; `credential` signs the request (SCRAM-SHA-512).
    Hopauth { url: String, veto: Vec<String>, credential: Option<Credential> },
}

/// Kafka's internal topics (`__consumer_offsets`, `__transaction_state`, …)
/// start with this and are never archived.
pub const INTERNAL_TOPIC_PREFIX: &str = "__";

/// The topics to consume now: sorted, deduplicated, never an internal topic.
///
/// - `All`: every visible topic not matching a veto pattern.
/// - `Explicit`: those of the listed names that are visible, minus the veto
///   list (a veto always applies). A listed topic that is not (yet, or any
///   more) visible is simply absent: topics come and go, and the next
///   refresh picks it up.
/// - `Hopauth`: the visible topics hopauth marks `archivable`, minus the veto
///   list. `archivable` is hopauth's answer; with `None` (not fetched) the
///   result is empty, never "everything".
pub fn select_topics(
    selection: &TopicSelection,
    visible: &[String],
    archivable: Option<&[HopauthTopic]>,
) -> Vec<String> {
    let candidates = visible.iter().map(String::as_str).filter(|t| !t.starts_with(INTERNAL_TOPIC_PREFIX));
    let chosen: BTreeSet<&str> = match selection {
        TopicSelection::All { veto } => candidates.filter(|t| !matches_any(veto, t)).collect(),
        TopicSelection::Explicit { names, veto } => {
            candidates.filter(|t| names.iter().any(|n| n == t) && !matches_any(veto, t)).collect()
        }
        TopicSelection::Hopauth { veto, .. } => {
            let wanted = archivable_names(archivable.unwrap_or_default());
            candidates.filter(|t| wanted.contains(t) && !matches_any(veto, t)).collect()
        }
    };
    chosen.into_iter().map(str::to_owned).collect()
}

/// Topics the selection asks for by name that the broker does not show
/// (upstream logs these as errors): the explicit names or hopauth's
/// archivable topics, either not vetoed. Sorted; internal topics left out.
pub fn wanted_but_invisible(
    selection: &TopicSelection,
    visible: &[String],
    archivable: Option<&[HopauthTopic]>,
) -> Vec<String> {
    let wanted: BTreeSet<&str> = match selection {
        TopicSelection::All { .. } => BTreeSet::new(),
        TopicSelection::Explicit { names, veto } => {
            names.iter().map(String::as_str).filter(|t| !matches_any(veto, t)).collect()
        }
        TopicSelection::Hopauth { veto, .. } => {
            let names = archivable_names(archivable.unwrap_or_default());
            names.into_iter().filter(|t| !matches_any(veto, t)).collect()
        }
    };
    let visible: BTreeSet<&str> = visible.iter().map(String::as_str).collect();
    wanted
        .into_iter()
        .filter(|t| !t.starts_with(INTERNAL_TOPIC_PREFIX) && !visible.contains(t))
        .map(str::to_owned)
        .collect()
}

fn archivable_names(topics: &[HopauthTopic]) -> BTreeSet<&str> {
    topics.iter().filter(|t| t.archivable).map(|t| t.name.as_str()).collect()
}
