//! Test-only crate: see `tests/it`.
