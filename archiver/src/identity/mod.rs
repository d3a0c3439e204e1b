//! Message identity (PRODUCT.md §3.3): lose nothing, store nothing twice.
//!
//! * The **fingerprint** is SHA-256 over a canonical, length-prefixed
//!   encoding of (topic, timestamp, key, headers in order, payload); see
//!   [`fingerprint`] for the exact bytes. Two deliveries are the same message
//!   exactly when their fingerprints are equal.
//! * The **client UUID** is the first `_id` header whose value is exactly 16
//!   bytes (hop-client ≥ 0.8.0).
//! * The **derived UUID** is computed from the fingerprint alone (see
//!   [`derived_uuid`]), so a redelivered message always maps to the same key.
//! * [`decide`] turns what the archive already holds under those UUIDs into
//!   new / duplicate / conflict, as a pure function.
//!
//! Both derivations are part of the archive's on-disk contract: changing
//! either would re-key every `_id`-less message. Tests pin them with vectors.

mod annotate;
mod object_key;

pub use annotate::{annotate, media_type};
pub use object_key::{ParsedKey, civil_date, days_from_civil, effective_timestamp, object_key, parse_object_key};

use crate::record::{HeaderValue, Key, Message};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// SHA-256 of a message's canonical encoding.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint(pub [u8; 32]);

impl std::fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

const FINGERPRINT_DOMAIN: &[u8] = b"hop-archiver fingerprint v1\n";
const DERIVED_UUID_DOMAIN: &[u8] = b"hop-archiver derived uuid v1\n";

/// The fingerprint of `message`.
///
/// Canonical encoding (v1), fed to SHA-256 in this order, integers big-endian:
/// 1. the domain tag `"hop-archiver fingerprint v1\n"`;
/// 2. topic: u64 byte length, UTF-8 bytes;
/// 3. timestamp: i64 (ms, as Kafka gave it, negative included);
/// 4. key: tag u8 (0 null, 1 bytes, 2 text) then, unless null, u64 length and bytes;
/// 5. headers: u64 count, then per header: u64 key length, key bytes, and
///    the value as for the key (0 null, 1 bytes, 2 text);
/// 6. payload: tag u8 (0 null, 1 bytes) then, unless null, u64 length and bytes.
///
/// Every variable-length field is length-prefixed and every optional field
/// tagged, so no two different messages share an encoding.
pub fn fingerprint(message: &Message) -> Fingerprint {
    let mut h = Sha256::new();
    h.update(FINGERPRINT_DOMAIN);
    put_bytes(&mut h, message.topic.as_bytes());
    h.update(message.timestamp.to_be_bytes());
    match &message.key {
        Key::Null => h.update([0]),
        Key::Bytes(b) => put_tagged(&mut h, 1, b),
        Key::Text(t) => put_tagged(&mut h, 2, t.as_bytes()),
    }
    h.update((message.headers.len() as u64).to_be_bytes());
    for header in &message.headers {
        put_bytes(&mut h, header.key.as_bytes());
        match &header.value {
            HeaderValue::Null => h.update([0]),
            HeaderValue::Bytes(b) => put_tagged(&mut h, 1, b),
            HeaderValue::Text(t) => put_tagged(&mut h, 2, t.as_bytes()),
        }
    }
    match &message.payload {
        None => h.update([0]),
        Some(p) => put_tagged(&mut h, 1, p),
    }
    Fingerprint(h.finalize().into())
}

fn put_bytes(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_be_bytes());
    h.update(bytes);
}

fn put_tagged(h: &mut Sha256, tag: u8, bytes: &[u8]) {
    h.update([tag]);
    put_bytes(h, bytes);
}

/// The UUID of a message without a usable `_id`, or whose `_id` is taken.
///
/// The first 16 bytes of SHA-256(`"hop-archiver derived uuid v1\n"` ‖
/// fingerprint), stamped as an RFC 9562 version-8 (custom) UUID so it can
/// never be mistaken for a client's random v4.
pub fn derived_uuid(fingerprint: &Fingerprint) -> Uuid {
    let digest = Sha256::new().chain_update(DERIVED_UUID_DOMAIN).chain_update(fingerprint.0).finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

/// The first `_id` header whose value is exactly 16 bytes (hop-client ≥ 0.8.0).
/// Like upstream, any 16 bytes are accepted, whatever their version bits.
pub fn client_uuid(message: &Message) -> Option<Uuid> {
    message.headers.iter().filter(|h| h.key == "_id").find_map(|h| match &h.value {
        HeaderValue::Bytes(b) => Uuid::from_slice(b).ok(),
        _ => None,
    })
}

/// Everything identity needs to know about one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    pub fingerprint: Fingerprint,
    pub client_uuid: Option<Uuid>,
    pub derived_uuid: Uuid,
}

impl Identity {
    pub fn of(message: &Message) -> Identity {
        let fingerprint = fingerprint(message);
        Identity { fingerprint, client_uuid: client_uuid(message), derived_uuid: derived_uuid(&fingerprint) }
    }

    /// The UUID to try first: the client's if it has one, else the derived one.
    pub fn preferred_uuid(&self) -> Uuid {
        self.client_uuid.unwrap_or(self.derived_uuid)
    }
}

/// Where a message lives in the archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    pub uuid: Uuid,
    /// Whether `uuid` is the client's own `_id`.
    pub is_client_uuid: bool,
    /// Set for a conflict: the client UUID another message already holds.
    pub claimed_uuid: Option<Uuid>,
}

/// The placement of a message found stored under `uuid` (reindex, which
/// takes the store as it is): its own `_id` → the client UUID; another
/// `_id` → a conflict, `uuid` being the server's and the `_id` claimed;
/// no `_id` → a server UUID (derived by this archiver, random by upstream).
pub fn stored_placement(id: &Identity, uuid: Uuid) -> Placement {
    match id.client_uuid {
        Some(client) if client == uuid => Placement { uuid, is_client_uuid: true, claimed_uuid: None },
        Some(claimed) => Placement { uuid, is_client_uuid: false, claimed_uuid: Some(claimed) },
        None => Placement { uuid, is_client_uuid: false, claimed_uuid: None },
    }
}

/// What to do with a message, given what the archive already holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Not archived yet: store it here.
    Store(Placement),
    /// Already archived here: store nothing, but make sure its index row
    /// exists (this heals a crash between object write and index write).
    Duplicate(Placement),
}

impl Decision {
    pub fn placement(&self) -> &Placement {
        match self {
            Decision::Store(p) | Decision::Duplicate(p) => p,
        }
    }
}

/// Two different messages reduced to the same derived UUID: a SHA-256
/// collision, or a corrupted archive. Never resolved by overwriting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("UUID {uuid} is held by a different message (fingerprint {held}, this one {ours})")]
pub struct Collision {
    pub uuid: Uuid,
    pub held: Fingerprint,
    pub ours: Fingerprint,
}

/// Decides new / duplicate / conflict.
///
/// `at_preferred` is the fingerprint of the message already archived under
/// [`Identity::preferred_uuid`], if any; `at_derived` the same for
/// [`Identity::derived_uuid`] (only consulted for a conflicting client UUID).
pub fn decide(
    id: &Identity,
    at_preferred: Option<Fingerprint>,
    at_derived: Option<Fingerprint>,
) -> Result<Decision, Collision> {
    let preferred =
        Placement { uuid: id.preferred_uuid(), is_client_uuid: id.client_uuid.is_some(), claimed_uuid: None };
    let Some(held) = at_preferred else { return Ok(Decision::Store(preferred)) };
    if held == id.fingerprint {
        return Ok(Decision::Duplicate(preferred));
    }
    let Some(claimed) = id.client_uuid else {
        return Err(Collision { uuid: preferred.uuid, held, ours: id.fingerprint });
    };
    let conflict = Placement { uuid: id.derived_uuid, is_client_uuid: false, claimed_uuid: Some(claimed) };
    match at_derived {
        None => Ok(Decision::Store(conflict)),
        Some(held) if held == id.fingerprint => Ok(Decision::Duplicate(conflict)),
        Some(held) => Err(Collision { uuid: conflict.uuid, held, ours: id.fingerprint }),
    }
}

/// The decision once the object at `placement` turned out to hold the
/// message with fingerprint `held` (a conditional create found it there):
/// ours → duplicate; the preferred UUID taken → decide as if the index had
/// said so; the derived UUID taken by other content → [`Collision`].
pub fn redecide(
    id: &Identity,
    placement: &Placement,
    held: Fingerprint,
    at_derived: Option<Fingerprint>,
) -> Result<Decision, Collision> {
    if held == id.fingerprint {
        return Ok(Decision::Duplicate(*placement));
    }
    if placement.uuid == id.preferred_uuid() {
        return decide(id, Some(held), at_derived);
    }
    Err(Collision { uuid: placement.uuid, held, ours: id.fingerprint })
}
