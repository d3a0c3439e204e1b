//! The configured topic selection, as the Kafka source's [`TopicSelector`].

use super::kafka::TopicSelector;
use super::{TopicSelection, fetch_archivable, select_topics, wanted_but_invisible};
use async_trait::async_trait;

/// Applies a [`TopicSelection`] to the broker's visible topics, asking
/// hopauth which are archivable when so configured.
#[derive(Debug, Clone)]
pub struct ConfiguredSelector {
    pub selection: TopicSelection,
}

#[async_trait]
impl TopicSelector for ConfiguredSelector {
    async fn select(&self, visible: Vec<String>) -> Result<Vec<String>, String> {
        let archivable = match &self.selection {
            TopicSelection::Hopauth { url, credential, .. } => {
                Some(fetch_archivable(url, credential.as_ref()).await.map_err(|e| e.to_string())?)
            }
            _ => None,
        };
        let missing = wanted_but_invisible(&self.selection, &visible, archivable.as_deref());
        if !missing.is_empty() {
            tracing::warn!(topics = ?missing, "topics wanted for archiving are not visible on the broker");
        }
        Ok(select_topics(&self.selection, &visible, archivable.as_deref()))
    }
}
