//! `archiver restore`: its sinks against a real Kafka broker (`sink`), the
//! command end to end against the real services (`real`), and, with no
//! outside service, the JSON Lines export run as a binary (`export`,
//! `select`, `from_store`) and the engine as a library (`engine`), over
//! archives the real ingest loop wrote (`fixture`).

mod engine;
mod export;
mod fixture;
mod from_store;
mod real;
mod select;
mod sink;
