//! Who may do what: public topics, bearer tokens and their permissions.
//!
//! Tokens are stored only as SHA-256 hashes. A fast hash is enough here
//! because tokens are 256-bit random values (see [`new_token`]): there is no
//! dictionary to try, so a slow password KDF would only cost every request
//! time without making a stolen hash any easier or harder to invert. The
//! presented token's hash is compared with every stored hash in constant
//! time, so response timing does not reveal how much of a hash matched.

use std::path::Path;

use axum::http::{HeaderMap, header};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::error::ApiError;
use crate::topics::matches_any;
pub use crate::topics::{OVERSIZED_SUFFIX, base_topic};

/// Longest bearer token looked at; anything longer cannot be one of ours.
const TOKEN_LEN_MAX: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    Read,
    Write,
    /// Owner of a topic: may retract its messages. Implies read and write.
    Owner,
}

/// One credential of the credentials file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenEntry {
    name: String,
    /// Hex SHA-256 of the token.
    sha256: String,
    #[serde(default)]
    read: Vec<String>,
    #[serde(default)]
    write: Vec<String>,
    #[serde(default)]
    owner: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialsFile {
    #[serde(default)]
    token: Vec<TokenEntry>,
}

/// An authenticated credential: its name and its grants (topic names or globs).
#[derive(Clone, PartialEq, Eq)]
pub struct Grant {
    pub name: String,
    hash: [u8; 32],
    read: Vec<String>,
    write: Vec<String>,
    owner: Vec<String>,
}

impl std::fmt::Debug for Grant {
    // The hash is not a secret, but it has no business in logs either.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grant").field("name", &self.name).finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("cannot read credentials file {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("credentials file: {0}")]
    Invalid(String),
}

/// The credentials file, parsed.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    grants: Vec<Grant>,
}

impl Credentials {
    pub fn load(path: &Path) -> Result<Credentials, CredentialsError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| CredentialsError::Read { path: path.display().to_string(), source })?;
        Credentials::parse(&text)
    }

    /// Parses the TOML text: `[[token]]` tables with `name`, `sha256` and
    /// optional `read`, `write`, `owner` lists of topic names or globs.
    pub fn parse(text: &str) -> Result<Credentials, CredentialsError> {
        let file: CredentialsFile = toml::from_str(text).map_err(|e| CredentialsError::Invalid(e.message().into()))?;
        let mut grants: Vec<Grant> = Vec::with_capacity(file.token.len());
        for entry in file.token {
            let grant = grant(entry)?;
            if grants.iter().any(|g| g.hash == grant.hash || g.name == grant.name) {
                return Err(CredentialsError::Invalid(format!("token {:?} is listed twice", grant.name)));
            }
            grants.push(grant);
        }
        Ok(Credentials { grants })
    }

    /// The grant whose hash matches `token`, comparing with every entry.
    fn authenticate(&self, token: &str) -> Option<&Grant> {
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        for grant in &self.grants {
            if constant_time_eq(&grant.hash, &hash) && found.is_none() {
                found = Some(grant);
            }
        }
        found
    }
}

fn grant(entry: TokenEntry) -> Result<Grant, CredentialsError> {
    let name = entry.name.trim().to_owned();
    if name.is_empty() || name.len() > 256 || name.chars().any(char::is_control) {
        return Err(CredentialsError::Invalid(format!("token name {name:?} must be 1..=256 printable characters")));
    }
    let hash = parse_hex32(&entry.sha256)
        .ok_or_else(|| CredentialsError::Invalid(format!("token {name:?}: sha256 must be 64 hex digits")))?;
    for pattern in entry.read.iter().chain(&entry.write).chain(&entry.owner) {
        if pattern.trim().is_empty() {
            return Err(CredentialsError::Invalid(format!("token {name:?}: empty topic pattern")));
        }
    }
    Ok(Grant { name, hash, read: entry.read, write: entry.write, owner: entry.owner })
}

fn parse_hex32(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// Compares without an early exit, so timing does not depend on where the
/// first difference is.
fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Hex SHA-256 of `token`: what the credentials file stores.
pub fn token_sha256_hex(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// A new random token (256 bits, URL-safe base64) and its hash.
pub fn new_token() -> Result<(String, String), CredentialsError> {
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| CredentialsError::Invalid("no system randomness".into()))?;
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = token_sha256_hex(&token);
    Ok((token, hash))
}

/// Who is asking.
#[derive(Debug, Clone, Copy)]
pub enum Principal<'a> {
    Anonymous,
    Token(&'a Grant),
}

impl Principal<'_> {
    /// The credential's name, for logs, `_sender` and retraction by sender.
    pub fn name(&self) -> Option<&str> {
        match self {
            Principal::Anonymous => None,
            Principal::Token(grant) => Some(&grant.name),
        }
    }
}

/// The access policy: public topics plus credentials.
#[derive(Debug, Clone, Default)]
pub struct Access {
    pub public_topics: Vec<String>,
    pub credentials: Credentials,
    pub realm: String,
}

impl Access {
    /// The principal the request's `Authorization` header names. No header,
    /// or a scheme other than Bearer, is anonymous: hop-client sends its
    /// Kafka SCRAM credential by default, which means nothing here, and
    /// public data must still be readable with it (private data then gets
    /// 401 with `WWW-Authenticate: Bearer`). A Bearer token that is not a
    /// known one is refused (401), never downgraded to anonymous.
    pub fn principal(&self, headers: &HeaderMap) -> Result<Principal<'_>, ApiError> {
        let Some(value) = headers.get(header::AUTHORIZATION) else { return Ok(Principal::Anonymous) };
        // Not even ASCII: not a Bearer token either.
        let Ok(value) = value.to_str().map(str::trim) else { return Ok(Principal::Anonymous) };
        let (scheme, credentials) = value.split_once(' ').unwrap_or((value, ""));
        // The scheme is case-insensitive (RFC 9110 §11.1).
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Ok(Principal::Anonymous);
        }
        let token = credentials.trim();
        if token.is_empty() || token.len() > TOKEN_LEN_MAX {
            return Err(self.unauthorized("expected `Authorization: Bearer <token>`"));
        }
        self.credentials.authenticate(token).map(Principal::Token).ok_or_else(|| self.unauthorized("unknown token"))
    }

    pub fn is_public(&self, topic: &str) -> bool {
        matches_any(&self.public_topics, base_topic(topic))
    }

    /// Whether `principal` holds `permission` on `topic` (`X+oversized` counts as `X`).
    pub fn may(&self, principal: Principal<'_>, permission: Permission, topic: &str) -> bool {
        let topic = base_topic(topic);
        if permission == Permission::Read && self.is_public(topic) {
            return true;
        }
        let Principal::Token(grant) = principal else { return false };
        let owner = matches_any(&grant.owner, topic);
        match permission {
            Permission::Read => owner || matches_any(&grant.read, topic),
            Permission::Write => owner || matches_any(&grant.write, topic),
            Permission::Owner => owner,
        }
    }

    /// [`Access::may`] as a result: 401 for anonymous, 403 for a credential
    /// without the permission.
    pub fn require(&self, principal: Principal<'_>, permission: Permission, topic: &str) -> Result<(), ApiError> {
        if self.may(principal, permission, topic) {
            return Ok(());
        }
        Err(match principal {
            Principal::Anonymous => self.unauthorized("this topic needs a credential"),
            Principal::Token(grant) => {
                ApiError::Forbidden(format!("{:?} lacks {permission:?} permission on this topic", grant.name))
            }
        })
    }

    pub fn unauthorized(&self, reason: &str) -> ApiError {
        ApiError::Unauthorized { reason: reason.into(), realm: self.realm.clone() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_hashes_exactly() {
        let a = [7u8; 32];
        let mut b = a;
        assert!(constant_time_eq(&a, &b));
        b[31] ^= 1;
        assert!(!constant_time_eq(&a, &b));
    }

    #[test]
    fn parses_hex() {
        assert_eq!(parse_hex32(&"ab".repeat(32)), Some([0xab; 32]));
        assert_eq!(parse_hex32(&"ab".repeat(31)), None);
        assert_eq!(parse_hex32(&"zz".repeat(32)), None);
        assert_eq!(parse_hex32(&"é".repeat(32)), None);
    }
}
