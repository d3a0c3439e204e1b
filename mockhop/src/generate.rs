//! The traffic generator: a seeded stream of deliveries that looks like
//! Hopskotch traffic across hop-client's eras, with the oddities,
//! duplicates and timestamp edges an archive of record must survive
//! (PRODUCT.md §7).
//!
//! A [`Profile`] weighs the features; [`labels`] names them, and every
//! [`Delivery`] lists the ones it exercises. The same [`StreamOptions`] give
//! the same deliveries: everything is drawn from one seeded generator in a
//! fixed order, and timestamps come from a simulated clock. The topic prefix
//! draws nothing, so prefixed and unprefixed runs differ only in topic names.

mod avro;
mod dice;
mod draft;
mod duplicates;
mod headers;
pub mod labels;
mod odd_headers;
mod payloads;
mod profiles;
mod pyjson;
mod stream;
mod timestamps;
mod topics;

pub use self::dice::{PerMille, Table};
pub use self::duplicates::Duplicate;
pub use self::headers::Era;
pub use self::odd_headers::OddHeader;
pub use self::payloads::PayloadKind;
pub use self::profiles::{PROFILES, Profile, profile};
use self::stream::Stream;
pub use self::timestamps::TimestampEdge;
use crate::{Delivery, StreamOptions};

/// The most deliveries one call generates: they are all held in memory, and
/// near-limit payloads alone can take a megabyte each.
pub const MAX_COUNT: usize = 10_000_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenerateError {
    #[error("unknown profile {name:?}; the profiles are: {valid}")]
    UnknownProfile { name: String, valid: String },
    #[error("cannot generate {count} deliveries; the limit is {max}")]
    TooMany { count: usize, max: usize },
}

/// The stream `options` describe: `count` deliveries, `seq` 0 to `count - 1`.
pub fn generate(options: &StreamOptions) -> Result<Vec<Delivery>, GenerateError> {
    let profile = profile(&options.profile).ok_or_else(|| GenerateError::UnknownProfile {
        name: options.profile.clone(),
        valid: PROFILES.iter().map(|p| p.name).collect::<Vec<_>>().join(", "),
    })?;
    if options.count > MAX_COUNT {
        return Err(GenerateError::TooMany { count: options.count, max: MAX_COUNT });
    }
    Ok(Stream::run(options, profile))
}
