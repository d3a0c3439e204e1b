//! The `ARCHIVER_*` environment variables. Each setting names its variable
//! where it is declared (`file.rs`); this is how they are read.
//!
//! The environment is passed in as a map rather than read here, so tests can
//! give each case its own environment without touching the process's.

use super::ConfigError;
use super::value::{Setting, invalid_value};
use std::collections::BTreeMap;

/// The Kafka password: only ever from the environment or hop's auth.toml.
pub const KAFKA_PASSWORD: &str = "ARCHIVER_KAFKA_PASSWORD";
/// The hopauth password, when hopauth takes another credential than Kafka.
pub const HOPAUTH_PASSWORD: &str = "ARCHIVER_HOPAUTH_PASSWORD";
/// The config file, like `--config`.
pub const CONFIG: &str = "ARCHIVER_CONFIG";

/// A view of environment variables.
#[derive(Clone, Copy)]
pub struct Env<'a> {
    vars: &'a BTreeMap<String, String>,
}

impl<'a> Env<'a> {
    pub fn new(vars: &'a BTreeMap<String, String>) -> Env<'a> {
        Env { vars }
    }

    /// The value of `name`; an empty value counts as unset, as a
    /// `FOO=` line in a compose file usually means "not configured".
    pub fn raw(&self, name: &str) -> Option<&'a str> {
        self.vars.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// The typed value of `name`, or an error naming the variable. An empty
    /// value means what [`Setting::empty`] says.
    pub fn get<T: Setting>(&self, name: &str) -> Result<Option<T>, ConfigError> {
        let Some(text) = self.vars.get(name) else { return Ok(None) };
        if text.is_empty() {
            return Ok(T::empty());
        }
        match T::parse(text) {
            Some(value) => Ok(Some(value)),
            None => Err(ConfigError::Invalid { origin: name.into(), message: invalid_value::<T>(text) }),
        }
    }
}
