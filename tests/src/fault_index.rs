//! An [`Index`] wrapper that injects the schedule's index outages, lost
//! acknowledgements and crashes, one call at a time in sequencer order.

use crate::world::Process;
use archiver::index::{
    Index, IndexEntry, IndexError, IndexRow, Lane, LaneCursor, ListQuery, Page, RowFilter, RowText, TopicStats,
};
use async_trait::async_trait;
use std::sync::Arc;
use uuid::Uuid;

#[derive(Debug)]
pub struct FaultIndex {
    inner: Arc<dyn Index>,
    process: Process,
}

/// What a dropped connection looks like to the pipeline: transient.
fn unavailable() -> IndexError {
    IndexError::Unavailable(sqlx::Error::PoolTimedOut)
}

impl FaultIndex {
    pub fn new(inner: Arc<dyn Index>, process: Process) -> FaultIndex {
        FaultIndex { inner, process }
    }

    /// Numbers this call; `Err` when the schedule has the index down.
    async fn enter(&self, op: &str) -> Result<u64, IndexError> {
        self.process.alive().await;
        let world = &self.process.world;
        let n = world.count(|c| {
            c.index_calls += 1;
            c.index_calls
        });
        if world.schedule.index_unavailable(n) {
            world.fired(format!("index {op} (call #{n}): unavailable"));
            return Err(unavailable());
        }
        Ok(n)
    }
}

#[async_trait]
impl Index for FaultIndex {
    async fn insert_batch(&self, rows: &[IndexRow]) -> Result<Vec<bool>, IndexError> {
        let turn = self.process.world.sequencer.turn().await;
        self.enter("insert_batch").await?;
        let world = &self.process.world;
        let insert = world.count(|c| {
            c.index_inserts += 1;
            c.index_inserts
        });
        let new = self.inner.insert_batch(rows).await?;
        let committed = world.count(|c| {
            c.index_batches_committed += 1;
            c.index_batches_committed
        });
        if world.schedule.crash_after_index_batch(committed) {
            self.process.crash(format!("crash after index batch #{committed} ({} rows)", rows.len())).await;
        }
        drop(turn);
        if world.schedule.index_ack_lost(insert) {
            world.fired(format!("index insert #{insert}: committed {} rows, answer lost", rows.len()));
            return Err(unavailable());
        }
        Ok(new)
    }

    async fn get(&self, uuid: Uuid) -> Result<Option<IndexEntry>, IndexError> {
        let _turn = self.process.world.sequencer.turn().await;
        self.enter("get").await?;
        self.inner.get(uuid).await
    }

    async fn get_many(&self, uuids: &[Uuid]) -> Result<Vec<IndexEntry>, IndexError> {
        let _turn = self.process.world.sequencer.turn().await;
        self.enter("get_many").await?;
        self.inner.get_many(uuids).await
    }

    async fn list(&self, query: &ListQuery) -> Result<Page, IndexError> {
        let _turn = self.process.world.sequencer.turn().await;
        self.enter("list").await?;
        self.inner.list(query).await
    }

    async fn topic_stats(&self) -> Result<Vec<TopicStats>, IndexError> {
        let _turn = self.process.world.sequencer.turn().await;
        self.enter("topic_stats").await?;
        self.inner.topic_stats().await
    }

    async fn topic_stats_since(&self, since_ms: i64) -> Result<Vec<TopicStats>, IndexError> {
        let _turn = self.process.world.sequencer.turn().await;
        self.enter("topic_stats_since").await?;
        self.inner.topic_stats_since(since_ms).await
    }

    async fn set_retracted(&self, uuid: Uuid, retracted: bool) -> Result<bool, IndexError> {
        let _turn = self.process.world.sequencer.turn().await;
        self.enter("set_retracted").await?;
        self.inner.set_retracted(uuid, retracted).await
    }

    async fn lanes(&self, filter: &RowFilter) -> Result<Vec<Lane>, IndexError> {
        let _turn = self.process.world.sequencer.turn().await;
        self.enter("lanes").await?;
        self.inner.lanes(filter).await
    }

    async fn lane_page(
        &self,
        filter: &RowFilter,
        topic: &str,
        partition: Option<i32>,
        after: Option<LaneCursor>,
        limit: u32,
    ) -> Result<Vec<IndexEntry>, IndexError> {
        let _turn = self.process.world.sequencer.turn().await;
        self.enter("lane_page").await?;
        self.inner.lane_page(filter, topic, partition, after, limit).await
    }

    async fn id_max(&self) -> Result<Option<i64>, IndexError> {
        let _turn = self.process.world.sequencer.turn().await;
        self.enter("id_max").await?;
        self.inner.id_max().await
    }

    async fn set_texts(&self, texts: &[RowText]) -> Result<u64, IndexError> {
        let _turn = self.process.world.sequencer.turn().await;
        self.enter("set_texts").await?;
        self.inner.set_texts(texts).await
    }

    async fn rows_without_text(
        &self,
        topics: &[String],
        after_id: i64,
        partial: bool,
        limit: u32,
    ) -> Result<Vec<IndexEntry>, IndexError> {
        let _turn = self.process.world.sequencer.turn().await;
        self.enter("rows_without_text").await?;
        self.inner.rows_without_text(topics, after_id, partial, limit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::{Fault, FaultSchedule};
    use crate::world::World;
    use archiver::index::MemoryIndex;

    fn row(n: u8) -> IndexRow {
        let uuid = Uuid::from_bytes([n; 16]);
        IndexRow {
            kafka_offset: Some(i64::from(n)),
            fingerprint: [n; 32],
            ..crate::rows::row(uuid, "t", &format!("t/{n}.bson"), 1)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_outage_refuses_calls_and_a_lost_ack_commits_anyway() {
        let schedule =
            FaultSchedule(vec![Fault::IndexOutage { from: 1, to: 2 }, Fault::IndexLostAck { from: 1, to: 1 }]);
        let inner = Arc::new(MemoryIndex::new());
        let index = FaultIndex::new(inner.clone(), Process::start(&World::new(schedule)));
        assert!(index.insert_batch(&[row(1)]).await.is_err(), "call #1: down");
        assert!(index.get(row(1).uuid).await.is_err(), "call #2: down");
        assert!(index.insert_batch(&[row(1)]).await.is_err(), "insert #1: answer lost");
        assert!(inner.get(row(1).uuid).await.expect("get").is_some(), "but the row was committed");
        assert_eq!(index.insert_batch(&[row(1), row(2)]).await.expect("insert #2"), vec![false, true]);
    }
}
