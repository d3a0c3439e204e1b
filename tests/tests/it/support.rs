//! Helpers shared by every test module.

/// The value of a service variable written by `scripts/services.sh start`.
///
/// A test that needs a real server fails (never skips) when the variable is
/// missing, so a run without services cannot pass by testing nothing.
pub fn service(var: &str) -> String {
    match std::env::var(var) {
        Ok(value) if !value.is_empty() => value,
        _ => panic!(
            "{var} is not set: this test needs the real services. Run `make test`, \
             or `scripts/services.sh start && . .services/env` before `cargo nextest run`."
        ),
    }
}
