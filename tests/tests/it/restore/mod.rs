//! `archiver restore`: its sinks against a real Kafka broker (`sink`), and,
//! with no outside service, the JSON Lines export run as a binary
//! (`export`, `select`, `from_store`) and the engine as a library
//! (`engine`), over archives the real ingest loop wrote (`fixture`).

mod engine;
mod export;
mod fixture;
mod from_store;
mod select;
mod sink;
