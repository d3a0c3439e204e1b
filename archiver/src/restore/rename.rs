//! Target topic names: a map (`--rename old=new`), then a prefix
//! (`--topic-prefix replay.`) for the topics the map does not name.

use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RenameError {
    #[error("--rename {0:?}: expected SOURCE=TARGET")]
    Malformed(String),
    #[error("--rename names {0:?} twice")]
    Repeated(String),
    #[error("{0:?} is not a valid Kafka topic name (1-249 of a-z A-Z 0-9 . _ -)")]
    BadTopic(String),
    #[error(
        "target topic {0:?} is also a source topic: restoring into it would mix copies into the original \
         stream; rename (--rename, --topic-prefix) or pass --allow-same-topic"
    )]
    SameTopic(String),
}

/// How source topics map to target topics.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rename {
    map: BTreeMap<String, String>,
    prefix: String,
}

impl Rename {
    /// From `SOURCE=TARGET` pairs and a prefix (empty for none).
    pub fn new(pairs: &[String], prefix: &str) -> Result<Rename, RenameError> {
        let mut map = BTreeMap::new();
        for pair in pairs {
            let (from, to) = pair.split_once('=').ok_or_else(|| RenameError::Malformed(pair.clone()))?;
            let (from, to) = (from.trim(), to.trim());
            if from.is_empty() || to.is_empty() {
                return Err(RenameError::Malformed(pair.clone()));
            }
            check_topic(to)?;
            if map.insert(from.to_owned(), to.to_owned()).is_some() {
                return Err(RenameError::Repeated(from.to_owned()));
            }
        }
        Ok(Rename { map, prefix: prefix.to_owned() })
    }

    /// The target of `topic`.
    pub fn target(&self, topic: &str) -> String {
        match self.map.get(topic) {
            Some(to) => to.clone(),
            None => format!("{}{topic}", self.prefix),
        }
    }

    /// Checks the targets of `sources`: valid Kafka names, and none of them
    /// a source topic unless `allow_same_topic`.
    pub fn check<'a>(
        &self,
        sources: impl IntoIterator<Item = &'a String> + Clone,
        allow_same_topic: bool,
    ) -> Result<(), RenameError> {
        for source in sources.clone() {
            let target = self.target(source);
            check_topic(&target)?;
            if !allow_same_topic && sources.clone().into_iter().any(|s| *s == target) {
                return Err(RenameError::SameTopic(target));
            }
        }
        Ok(())
    }
}

/// Kafka's rule for topic names.
fn check_topic(name: &str) -> Result<(), RenameError> {
    let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if name.is_empty() || name.len() > 249 || name == "." || name == ".." || !name.chars().all(legal) {
        return Err(RenameError::BadTopic(name.to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_map_wins_over_the_prefix() {
        let rename = Rename::new(&["gcn.notice=replay.gcn".into()], "copy.").unwrap();
        assert_eq!(rename.target("gcn.notice"), "replay.gcn");
        assert_eq!(rename.target("lvk.alert"), "copy.lvk.alert");
        assert_eq!(Rename::default().target("lvk.alert"), "lvk.alert");
    }

    #[test]
    fn bad_pairs_and_names_are_refused() {
        assert_eq!(Rename::new(&["a".into()], ""), Err(RenameError::Malformed("a".into())));
        assert_eq!(Rename::new(&["a=b c".into()], ""), Err(RenameError::BadTopic("b c".into())));
        assert_eq!(Rename::new(&["a=b".into(), "a=c".into()], ""), Err(RenameError::Repeated("a".into())));
    }

    #[test]
    fn writing_into_a_source_topic_needs_allow_same_topic() {
        let sources = vec!["a".to_string(), "b".to_string()];
        let swap = Rename::new(&["a=b".into()], "").unwrap();
        assert_eq!(swap.check(&sources, false), Err(RenameError::SameTopic("b".into())));
        assert_eq!(Rename::default().check(&sources, false), Err(RenameError::SameTopic("a".into())));
        assert_eq!(Rename::default().check(&sources, true), Ok(()));
        assert_eq!(Rename::new(&[], "replay.").unwrap().check(&sources, false), Ok(()));
    }
}
