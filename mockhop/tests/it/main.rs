//! mockhop's integration test binary, a module per topic.

mod cli;
mod generate;
mod produce;
mod verify;
