//! `archiver restore`: replays archived messages into Kafka byte for byte, or exports them as JSON Lines.

pub mod sink;
