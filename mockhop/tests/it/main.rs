//! mockhop's integration test binary, a module per topic.

// Integration tests: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cli;
mod generate;
mod produce;
mod run_tag;
mod verify;
