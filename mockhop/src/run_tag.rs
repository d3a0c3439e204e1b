//! The run tag: how one mock run's traffic is told apart from real traffic
//! in a shared, live development area, and the one thing `cleanup` may
//! remove.
//!
//! A tag names one run. Its topics are the stream's topics under the prefix
//! `mockhop-<tag>.`, so `gcn.notice` becomes `mockhop-<tag>.gcn.notice`:
//! a topic name is what the archiver selects by, what `verify` filters the
//! archive by, what Kafka's prefixed ACLs grant, and the unit Kafka deletes.
//! The tag's alphabet (`a-z`, `0-9`, `-`) has no `.`, so the prefix of one
//! tag never starts the prefix of another (`run1` does not select
//! `mockhop-run10.…`), and no real Hopskotch topic (`<group>.<name>`, with
//! groups that are not `mockhop-…`) carries it.
//!
//! The tag also salts the stream's seed ([`RunTag::stream_seed`]): runs
//! with the same `--seed` under two tags share no client `_id`, so one run
//! archived next to another can never own the other's disputed `_id`s.

use crate::StreamOptions;
use sha2::{Digest as _, Sha256};
use std::fmt;
use std::str::FromStr;

/// What every tagged topic starts with, before the tag itself.
pub const TOPIC_PREFIX_HEAD: &str = "mockhop-";
/// The longest tag: its topics stay far below Kafka's 249 characters.
pub const TAG_LENGTH_MAX: usize = 32;
/// Domain separation for the salted seed; fixed, or old runs stop verifying.
const SEED_DOMAIN: &[u8] = b"mockhop run-tag seed v1\n";

/// A validated run tag: 1 to [`TAG_LENGTH_MAX`] characters of `a-z`, `0-9`
/// and `-`, starting with a letter or digit.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RunTag(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunTagError {
    #[error("the run tag is empty; use 1 to {TAG_LENGTH_MAX} characters of a-z, 0-9 and -")]
    Empty,
    #[error("the run tag {tag:?} has {length} characters; at most {TAG_LENGTH_MAX} are allowed")]
    TooLong { tag: String, length: usize },
    #[error(
        "the run tag {tag:?} has {found:?} at character {position}; only a-z, 0-9 and - are allowed \
         (no `.`: it ends the tag in topic names)"
    )]
    Character { tag: String, found: char, position: usize },
    #[error("the run tag {tag:?} starts with `-`; start it with a letter or digit")]
    LeadingHyphen { tag: String },
}

impl FromStr for RunTag {
    type Err = RunTagError;

    fn from_str(tag: &str) -> Result<RunTag, RunTagError> {
        let length = tag.chars().count();
        if length == 0 {
            return Err(RunTagError::Empty);
        }
        if let Some((position, found)) =
            tag.chars().enumerate().find(|(_, c)| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
        {
            return Err(RunTagError::Character { tag: tag.to_owned(), found, position: position + 1 });
        }
        if length > TAG_LENGTH_MAX {
            return Err(RunTagError::TooLong { tag: tag.to_owned(), length });
        }
        if tag.starts_with('-') {
            return Err(RunTagError::LeadingHyphen { tag: tag.to_owned() });
        }
        Ok(RunTag(tag.to_owned()))
    }
}

impl fmt::Display for RunTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl RunTag {
    /// `mockhop-<tag>.`: what every topic of the run starts with.
    pub fn topic_prefix(&self) -> String {
        format!("{TOPIC_PREFIX_HEAD}{}.", self.0)
    }

    /// Whether `topic` belongs to this run.
    pub fn tags(&self, topic: &str) -> bool {
        topic
            .strip_prefix(TOPIC_PREFIX_HEAD)
            .and_then(|rest| rest.strip_prefix(self.0.as_str()))
            .is_some_and(|rest| rest.starts_with('.'))
    }

    /// The run's topics among `topics`, sorted and deduplicated: the only
    /// names `cleanup` may delete.
    pub fn select<'a>(&self, topics: impl IntoIterator<Item = &'a str>) -> TaggedTopics {
        let mut names: Vec<String> = topics.into_iter().filter(|t| self.tags(t)).map(str::to_owned).collect();
        names.sort();
        names.dedup();
        TaggedTopics { tag: self.clone(), names }
    }

    /// The seed a tagged run generates from: `seed` salted with the tag
    /// (the first 8 bytes of SHA-256 over a domain string, the tag and the
    /// seed big-endian; the tag's alphabet and the fixed-width seed make the
    /// encoding unambiguous).
    pub fn stream_seed(&self, seed: u64) -> u64 {
        let digest = Sha256::new()
            .chain_update(SEED_DOMAIN)
            .chain_update(self.0.as_bytes())
            .chain_update(seed.to_be_bytes())
            .finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_be_bytes(first)
    }

    /// The stream of this run: `seed` salted, topics under the tag's prefix.
    pub fn stream(&self, seed: u64, count: usize, profile: &str) -> StreamOptions {
        StreamOptions {
            seed: self.stream_seed(seed),
            count,
            profile: profile.to_owned(),
            topic_prefix: self.topic_prefix(),
        }
    }
}

/// Topic names that carry one run tag; only [`RunTag::select`] makes one,
/// so whatever deletes a `TaggedTopics` deletes only that run's topics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaggedTopics {
    tag: RunTag,
    names: Vec<String>,
}

impl TaggedTopics {
    pub fn tag(&self) -> &RunTag {
        &self.tag
    }

    /// Sorted, each once.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_salted_seed_is_pinned() {
        // Pinned: a change would make every recorded run's stream another.
        let tag: RunTag = "dev-1".parse().expect("valid");
        assert_eq!(tag.stream_seed(1), tag.stream_seed(1));
        assert_ne!(tag.stream_seed(1), tag.stream_seed(2));
        let other: RunTag = "dev-2".parse().expect("valid");
        assert_ne!(tag.stream_seed(1), other.stream_seed(1));
        let digest = Sha256::digest(b"mockhop run-tag seed v1\ndev-1\0\0\0\0\0\0\0\x01");
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        assert_eq!(tag.stream_seed(1), u64::from_be_bytes(first));
    }
}
