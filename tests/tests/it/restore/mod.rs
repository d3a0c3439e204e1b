//! `archiver restore`: its sinks against a real Kafka broker, and the
//! command end to end against the real services.

mod real;
mod sink;
