//! `archiver restore`: its sinks against a real Kafka broker.

mod sink;
