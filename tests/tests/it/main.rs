//! The integration test binary, grouped by topic (one module each).
//!
//! Tests that claim PostgreSQL or S3 behaviour read the addresses of the real
//! servers from the environment written by `scripts/services.sh start`
//! (`make test` does this); see [`support::service`].

mod api;
mod architecture;
mod config;
mod identity;
mod index;
mod live;
mod login;
mod observability;
mod ops_tools;
mod pipeline;
mod record;
mod restore;
mod run;
mod scenario;
mod search;
mod shipping;
mod status;
mod store;
mod strategies;
mod support;
mod twisted;
