//! Operator tools behind the `archiver` subcommands.

pub mod inspect;
