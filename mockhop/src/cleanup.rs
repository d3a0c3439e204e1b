//! Removing what a tagged run created on the broker: its topics, and
//! nothing else.
//!
//! A run creates topics (`produce --run-tag`); the archiver then archives
//! their messages, and an archive of record has no delete path, so those
//! stay, recognisable by the tag's prefix. What may be removed is the
//! broker's topics whose names carry the tag ([`RunTag::select`]): no name
//! or pattern is ever taken from the operator, so a real topic cannot be
//! named by mistake.

use crate::run_tag::{RunTag, TaggedTopics};
use archiver::source::KafkaConnection;
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use std::time::{Duration, Instant};

/// How long the broker may take to answer a metadata request.
const METADATA_TIMEOUT_MS: u64 = 10_000;
/// How long a deletion may take, and how long the broker may go on
/// listing a deleted topic (deletion is asynchronous in Kafka).
const DELETE_TIMEOUT_MS: u64 = 30_000;
/// Pause between two looks at the topic list while waiting for a deletion.
const DELETE_POLL_MS: u64 = 200;

#[derive(Debug, thiserror::Error)]
pub enum CleanupError {
    #[error("cannot create Kafka client: {0}")]
    Client(#[source] KafkaError),
    #[error("cannot list the broker's topics: {0}")]
    Metadata(#[source] KafkaError),
    #[error("the metadata request's thread failed: {0}")]
    Thread(#[from] tokio::task::JoinError),
    #[error("cannot delete the run's topics: {0}")]
    Delete(#[source] KafkaError),
    #[error("the broker refused to delete {topic}: {code}")]
    Refused { topic: String, code: RDKafkaErrorCode },
    #[error("the broker still lists {topics:?} {waited_ms} ms after deleting them")]
    StillListed { topics: Vec<String>, waited_ms: u64 },
}

/// Every topic the broker shows this connection, Kafka's internal ones
/// included.
pub async fn broker_topics(connection: &KafkaConnection) -> Result<Vec<String>, CleanupError> {
    let admin = admin(connection)?;
    // librdkafka's metadata call blocks its thread.
    let metadata = tokio::task::spawn_blocking(move || {
        admin.inner().fetch_metadata(None, Duration::from_millis(METADATA_TIMEOUT_MS))
    })
    .await?
    .map_err(CleanupError::Metadata)?;
    Ok(metadata.topics().iter().map(|t| t.name().to_owned()).collect())
}

/// The topics of `tag`'s run on the broker.
pub async fn tagged_topics(connection: &KafkaConnection, tag: &RunTag) -> Result<TaggedTopics, CleanupError> {
    let topics = broker_topics(connection).await?;
    Ok(tag.select(topics.iter().map(String::as_str)))
}

/// Deletes `topics` and waits until the broker no longer lists any of them.
/// A topic already gone counts as deleted.
pub async fn delete(connection: &KafkaConnection, topics: &TaggedTopics) -> Result<(), CleanupError> {
    if topics.is_empty() {
        return Ok(());
    }
    let admin = admin(connection)?;
    let names: Vec<&str> = topics.names().iter().map(String::as_str).collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_millis(DELETE_TIMEOUT_MS)));
    for result in admin.delete_topics(&names, &options).await.map_err(CleanupError::Delete)? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::UnknownTopicOrPartition)) => {}
            Err((topic, code)) => return Err(CleanupError::Refused { topic, code }),
        }
    }
    let started = Instant::now();
    loop {
        let listed = broker_topics(connection).await?;
        let left: Vec<String> = topics.names().iter().filter(|t| listed.contains(t)).cloned().collect();
        if left.is_empty() {
            return Ok(());
        }
        let waited_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        if waited_ms >= DELETE_TIMEOUT_MS {
            return Err(CleanupError::StillListed { topics: left, waited_ms });
        }
        tokio::time::sleep(Duration::from_millis(DELETE_POLL_MS)).await;
    }
}

fn admin(connection: &KafkaConnection) -> Result<AdminClient<DefaultClientContext>, CleanupError> {
    connection.client_config().create().map_err(CleanupError::Client)
}
