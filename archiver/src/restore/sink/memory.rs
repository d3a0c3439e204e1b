//! A sink in memory, for tests and fault injection: it records every send
//! in call order, knows the topics it was given, can refuse the Nth send
//! and can hold acknowledgements back for a while.

use super::{Outgoing, Sink, SinkError, TargetTopic};
use async_trait::async_trait;
use futures::FutureExt as _;
use futures::future::BoxFuture;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// One call of `send`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub message: Outgoing,
    /// Whether its future resolved `Ok` (false while the acknowledgement is
    /// delayed, and for ever for a refused send).
    pub acknowledged: bool,
}

#[derive(Debug, Clone, Default)]
pub struct MemorySink {
    /// Topic → partition count.
    topics: HashMap<String, i32>,
    sent: Arc<Mutex<Vec<Sent>>>,
    /// 0-based index of the send to refuse.
    fail_at: Option<usize>,
    ack_delay: Option<Duration>,
}

impl MemorySink {
    /// A sink whose target has these topics and partition counts.
    pub fn new<S: Into<String>>(topics: impl IntoIterator<Item = (S, i32)>) -> MemorySink {
        MemorySink { topics: topics.into_iter().map(|(t, p)| (t.into(), p)).collect(), ..MemorySink::default() }
    }

    /// Refuses the send with this 0-based call index
    /// ([`SinkError::Refused`]); it is still recorded.
    pub fn fail_send(mut self, index: usize) -> MemorySink {
        self.fail_at = Some(index);
        self
    }

    /// Acknowledges every send only after `delay` (tokio time, so a paused
    /// test clock controls it).
    pub fn ack_after(mut self, delay: Duration) -> MemorySink {
        self.ack_delay = Some(delay);
        self
    }

    /// Every send so far, in call order (a clone shares the record).
    pub fn sent(&self) -> Vec<Sent> {
        lock(&self.sent).clone()
    }

    /// The partition count the target reports for `topic`.
    pub fn partitions(&self, topic: &str) -> Option<i32> {
        self.topics.get(topic).copied()
    }
}

/// The record survives a panicking test thread: it is plain data.
fn lock(sent: &Mutex<Vec<Sent>>) -> MutexGuard<'_, Vec<Sent>> {
    sent.lock().unwrap_or_else(PoisonError::into_inner)
}

#[async_trait]
impl Sink for MemorySink {
    async fn prepare(&mut self, topics: &[TargetTopic]) -> Result<(), SinkError> {
        match topics.iter().find(|t| !self.topics.contains_key(&t.name)) {
            Some(missing) => Err(SinkError::MissingTopic(missing.name.clone())),
            None => Ok(()),
        }
    }

    fn send(&self, message: Outgoing) -> BoxFuture<'static, Result<(), SinkError>> {
        let (uuid, topic) = (message.uuid, message.topic.clone());
        let index = {
            let mut sent = lock(&self.sent);
            sent.push(Sent { message, acknowledged: false });
            sent.len() - 1
        };
        if self.fail_at == Some(index) {
            let reason = format!("injected failure of send #{index}");
            return futures::future::ready(Err(SinkError::Refused { uuid, topic, reason })).boxed();
        }
        let (sent, delay) = (Arc::clone(&self.sent), self.ack_delay);
        async move {
            if let Some(delay) = delay {
                tokio::time::sleep(delay).await;
            }
            if let Some(entry) = lock(&sent).get_mut(index) {
                entry.acknowledged = true;
            }
            Ok(())
        }
        .boxed()
    }

    async fn flush(&self) -> Result<(), SinkError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Key;
    use uuid::Uuid;

    fn message(n: u128, topic: &str) -> Outgoing {
        Outgoing {
            uuid: Uuid::from_u128(n),
            topic: topic.into(),
            partition: Some(0),
            offset: Some(0),
            timestamp_ms: None,
            key: Key::Null,
            headers: Vec::new(),
            payload: None,
        }
    }

    #[tokio::test]
    async fn prepare_knows_only_the_given_topics() {
        let mut sink = MemorySink::new([("a", 3)]);
        let topic = |name: &str| TargetTopic { name: name.into(), partitions_needed: Some(1) };
        sink.prepare(&[topic("a")]).await.expect("known topic");
        assert!(matches!(sink.prepare(&[topic("a"), topic("b")]).await, Err(SinkError::MissingTopic(t)) if t == "b"));
        assert_eq!(sink.partitions("a"), Some(3));
    }

    #[tokio::test(start_paused = true)]
    async fn records_in_call_order_fails_the_nth_and_delays_acks() {
        let sink = MemorySink::new([("a", 1)]).fail_send(1).ack_after(Duration::from_secs(5));
        let first = sink.send(message(1, "a"));
        let second = sink.send(message(2, "a"));
        let third = sink.send(message(3, "a"));
        assert_eq!(sink.sent().iter().map(|s| s.message.uuid.as_u128()).collect::<Vec<_>>(), [1, 2, 3]);
        assert!(matches!(second.await, Err(SinkError::Refused { reason, .. }) if reason.contains("#1")));
        let started = tokio::time::Instant::now();
        let (a, c) = futures::join!(first, third);
        assert!(a.is_ok() && c.is_ok());
        assert_eq!(started.elapsed(), Duration::from_secs(5));
        assert_eq!(sink.sent().iter().map(|s| s.acknowledged).collect::<Vec<_>>(), [true, false, true]);
    }
}
