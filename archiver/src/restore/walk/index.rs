//! The selection from the index: lane by lane (topic, then partition, the
//! partitionless rows last), each read in keyset pages.

use super::{Item, Position, UNPARTITIONED, Walk, items_of};
use crate::index::{Index, Lane, LaneCursor, RowFilter};
use crate::restore::RestoreError;
use async_trait::async_trait;
use std::collections::VecDeque;
use std::sync::Arc;

pub struct IndexWalk {
    index: Arc<dyn Index>,
    filter: RowFilter,
    lanes: VecDeque<Lane>,
    after: Option<LaneCursor>,
    page_rows: u32,
}

/// A lane's place in the walk's order.
fn lane_key(lane: &Lane) -> (&str, i64) {
    (&lane.topic, lane.partition.map_or(UNPARTITIONED, i64::from))
}

impl IndexWalk {
    /// Walks `lanes` (as [`Index::lanes`] gave them for `filter`), strictly
    /// after `resume` when given.
    pub fn new(
        index: Arc<dyn Index>,
        filter: RowFilter,
        lanes: Vec<Lane>,
        resume: Option<&Position>,
        page_rows: u32,
    ) -> IndexWalk {
        let mut lanes: VecDeque<Lane> = lanes.into();
        let mut after = None;
        if let Some(resume) = resume {
            let resumed = (resume.topic.as_str(), resume.lane);
            while lanes.front().is_some_and(|lane| lane_key(lane) < resumed) {
                lanes.pop_front();
            }
            if lanes.front().is_some_and(|lane| lane_key(lane) == resumed) {
                after = Some(LaneCursor { seq: resume.seq, uuid: resume.uuid });
            }
        }
        IndexWalk { index, filter, lanes, after, page_rows }
    }
}

#[async_trait]
impl Walk for IndexWalk {
    async fn next_page(&mut self) -> Result<Option<Vec<Item>>, RestoreError> {
        while let Some(lane) = self.lanes.front() {
            let page =
                self.index.lane_page(&self.filter, &lane.topic, lane.partition, self.after, self.page_rows).await?;
            match page.last() {
                Some(last) if page.len() == self.page_rows as usize => self.after = Some(last.lane_cursor()),
                _ => {
                    self.lanes.pop_front();
                    self.after = None;
                }
            }
            if !page.is_empty() {
                return Ok(Some(items_of(&page)));
            }
        }
        Ok(None)
    }
}
