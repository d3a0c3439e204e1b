//! Removing what a tagged run created on the broker: its topics, and
//! nothing else.
//!
//! A run creates topics (`produce --run-tag`); the archiver then archives
//! their messages, and an archive of record has no delete path, so those
//! stay, recognisable by the tag's prefix. What may be removed is the
//! broker's topics whose names carry the tag ([`RunTag::select`]): no name
//! or pattern is ever taken from the operator, so a real topic cannot be
//! named by mistake.
//!
//! A broker may still delete more than it is asked to: tansu 0.6's SQL
//! storage engines delete every topic of the cluster on any DeleteTopics.
//! So topics go one at a time, and after each the broker's list must still
//! hold every topic that is not the run's; if one vanished, cleanup stops
//! at once and says so.

use crate::run_tag::{RunTag, TaggedTopics};
use archiver::source::KafkaConnection;
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// How long the broker may take to answer a metadata request.
const METADATA_TIMEOUT_MS: u64 = 10_000;
/// How long a deletion may take, and how long the broker may go on
/// listing a deleted topic (deletion is asynchronous in Kafka).
const DELETE_TIMEOUT_MS: u64 = 30_000;
/// Pause between two looks at the topic list while waiting for a deletion.
const DELETE_POLL_MS: u64 = 200;
/// Vanished topics named in an error (all are counted).
const VANISHED_NAMED_MAX: usize = 10;

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
    #[error("the broker still lists {topic} {waited_ms} ms after deleting it")]
    StillListed { topic: String, waited_ms: u64 },
    #[error(
        "stopped: after {deleted} was deleted, {count} topics that are not the run's are gone too ({named}); \
         unless someone else deleted them, this broker deletes more than it is asked to (tansu 0.6's SQL \
         storage engines delete every topic of the cluster): do not run cleanup --apply against it"
    )]
    OthersVanished { deleted: String, count: usize, named: String },
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

/// Deletes `topics` one at a time, each until the broker no longer lists
/// it, and stops as soon as a topic that is not the run's has vanished with
/// it. A topic already gone counts as deleted.
pub async fn delete(connection: &KafkaConnection, topics: &TaggedTopics) -> Result<(), CleanupError> {
    if topics.is_empty() {
        return Ok(());
    }
    let admin = admin(connection)?;
    let others: BTreeSet<String> =
        broker_topics(connection).await?.into_iter().filter(|t| !topics.tag().tags(t)).collect();
    for topic in topics.names() {
        delete_one(&admin, topic).await?;
        let listed = wait_until_gone(connection, topic).await?;
        check_others(topic, &others, &listed)?;
    }
    Ok(())
}

async fn delete_one(admin: &AdminClient<DefaultClientContext>, topic: &str) -> Result<(), CleanupError> {
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_millis(DELETE_TIMEOUT_MS)));
    for result in admin.delete_topics(&[topic], &options).await.map_err(CleanupError::Delete)? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::UnknownTopicOrPartition)) => {}
            Err((topic, code)) => return Err(CleanupError::Refused { topic, code }),
        }
    }
    Ok(())
}

/// Polls the broker's topic list until `topic` is not on it; returns that list.
async fn wait_until_gone(connection: &KafkaConnection, topic: &str) -> Result<Vec<String>, CleanupError> {
    let started = Instant::now();
    loop {
        let listed = broker_topics(connection).await?;
        if !listed.iter().any(|t| t == topic) {
            return Ok(listed);
        }
        let waited_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        if waited_ms >= DELETE_TIMEOUT_MS {
            return Err(CleanupError::StillListed { topic: topic.to_owned(), waited_ms });
        }
        tokio::time::sleep(Duration::from_millis(DELETE_POLL_MS)).await;
    }
}

/// An error if a topic of `others` (listed before cleanup began, none of
/// them the run's) is missing from `listed`, taken after `deleted` went.
pub fn check_others(deleted: &str, others: &BTreeSet<String>, listed: &[String]) -> Result<(), CleanupError> {
    let listed: BTreeSet<&str> = listed.iter().map(String::as_str).collect();
    let vanished: Vec<&str> = others.iter().map(String::as_str).filter(|t| !listed.contains(t)).collect();
    if vanished.is_empty() {
        return Ok(());
    }
    let mut named = vanished.iter().take(VANISHED_NAMED_MAX).copied().collect::<Vec<_>>().join(", ");
    if vanished.len() > VANISHED_NAMED_MAX {
        named.push_str(", …");
    }
    Err(CleanupError::OthersVanished { deleted: deleted.to_owned(), count: vanished.len(), named })
}

fn admin(connection: &KafkaConnection) -> Result<AdminClient<DefaultClientContext>, CleanupError> {
    connection.client_config().create().map_err(CleanupError::Client)
}
