//! Message sources: where archived messages come from. (The Kafka consumer
//! arrives with `archiver run`; its connection settings are shared with
//! mockhop's producer already.)

mod kafka_connection;

pub use kafka_connection::{KafkaConnection, SecurityProtocol};
