//! The production login path, proven against servers that share no code
//! with the archiver: hopauth's HTTP SCRAM-SHA-512 against the `scramp`
//! library's server side (`hopauth`), and Kafka over SASL_SSL with
//! SCRAM-SHA-512 against tansu behind stunnel (`broker`).

mod broker;
mod hopauth;
