//! The client side of SCRAM (RFC 5802), as hopauth speaks it over HTTP
//! (RFC 7804; hop-client's `hop.http_scram`).
//!
//! Pure message handling, no I/O: [`ScramClient`] makes the client-first
//! message, turns the server-first message into the client-final message,
//! and [`ClientFinal::verify_server_final`] checks the server's signature, so
//! a server that does not know the credential cannot pass as hopauth.
//!
//! Not implemented: SASLprep (RFC 4013) normalisation of the username and
//! password. Hopskotch credentials are ASCII, for which it is the identity;
//! other text is used as its UTF-8 bytes. Channel binding (`-PLUS`) is not
//! offered (gs2 header `n,,`), as in hop-client.

use aws_lc_rs::{digest, hmac, pbkdf2};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use std::num::NonZeroU32;

/// `c=` of the client-final message: base64 of the gs2 header `n,,`.
const CHANNEL_BINDING: &str = "c=biws";

/// More PBKDF2 rounds than this are refused: a hostile server could
/// otherwise make every topic refresh burn seconds of CPU. Hopskotch uses 4096.
pub const ITERATIONS_MAX: u32 = 1_000_000;

/// The hash a SCRAM mechanism is built on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScramHash {
    /// SCRAM-SHA-256 (RFC 7677); here for its published test vector.
    Sha256,
    /// SCRAM-SHA-512: every credential hopauth issues.
    Sha512,
}

impl ScramHash {
    /// The mechanism name, also the HTTP authentication scheme.
    pub fn mechanism(self) -> &'static str {
        match self {
            ScramHash::Sha256 => "SCRAM-SHA-256",
            ScramHash::Sha512 => "SCRAM-SHA-512",
        }
    }

    fn hmac(self) -> hmac::Algorithm {
        match self {
            ScramHash::Sha256 => hmac::HMAC_SHA256,
            ScramHash::Sha512 => hmac::HMAC_SHA512,
        }
    }

    fn pbkdf2(self) -> pbkdf2::Algorithm {
        match self {
            ScramHash::Sha256 => pbkdf2::PBKDF2_HMAC_SHA256,
            ScramHash::Sha512 => pbkdf2::PBKDF2_HMAC_SHA512,
        }
    }

    fn digest(self) -> &'static digest::Algorithm {
        match self {
            ScramHash::Sha256 => &digest::SHA256,
            ScramHash::Sha512 => &digest::SHA512,
        }
    }
}

/// A SCRAM exchange that went wrong. Never carries the password or a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScramError {
    #[error("malformed server-first message: {0}")]
    MalformedServerFirst(&'static str),
    #[error("the server's nonce does not extend ours")]
    NonceMismatch,
    #[error("the server asks for {0} PBKDF2 iterations (at most {ITERATIONS_MAX} accepted)")]
    TooManyIterations(u64),
    #[error("the server requires an unsupported SCRAM extension")]
    MandatoryExtension,
    #[error("the server rejected the credential: {0}")]
    Rejected(String),
    #[error("malformed server-final message")]
    MalformedServerFinal,
    #[error("the server's signature is wrong: it does not know this credential")]
    BadServerSignature,
    #[error("no random numbers available for the nonce")]
    NoRandomness,
}

/// One client-side SCRAM exchange.
pub struct ScramClient {
    hash: ScramHash,
    password: String,
    nonce: String,
    client_first_bare: String,
}

impl std::fmt::Debug for ScramClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramClient").field("hash", &self.hash).field("password", &"***").finish_non_exhaustive()
    }
}

impl ScramClient {
    /// Starts an exchange with a fresh random nonce (24 random bytes).
    pub fn new(hash: ScramHash, username: &str, password: &str) -> Result<ScramClient, ScramError> {
        let mut bytes = [0u8; 24];
        aws_lc_rs::rand::fill(&mut bytes).map_err(|_| ScramError::NoRandomness)?;
        let nonce = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        Ok(ScramClient::with_nonce(hash, username, password, &nonce))
    }

    /// Starts an exchange with a given nonce: for known-answer tests only, a
    /// real exchange needs [`ScramClient::new`]'s fresh one. The nonce must be
    /// printable ASCII without `,`.
    pub fn with_nonce(hash: ScramHash, username: &str, password: &str, nonce: &str) -> ScramClient {
        let client_first_bare = format!("n={},r={nonce}", escape_username(username));
        ScramClient { hash, password: password.to_owned(), nonce: nonce.to_owned(), client_first_bare }
    }

    /// The client-first message, gs2 header included.
    pub fn client_first(&self) -> String {
        format!("n,,{}", self.client_first_bare)
    }

    /// Answers the server-first message: the client-final message, and what
    /// the server must prove in its final message.
    pub fn client_final(&self, server_first: &str) -> Result<ClientFinal, ScramError> {
        let challenge = parse_server_first(server_first)?;
        if challenge.nonce.len() <= self.nonce.len() || !challenge.nonce.starts_with(&self.nonce) {
            return Err(ScramError::NonceMismatch);
        }
        let salted = self.salted_password(&challenge.salt, challenge.iterations);
        let without_proof = format!("{CHANNEL_BINDING},r={}", challenge.nonce);
        let auth_message = format!("{},{server_first},{without_proof}", self.client_first_bare);
        let proof = self.client_proof(&salted, auth_message.as_bytes());
        let server_key = hmac::Key::new(self.hash.hmac(), hmac::sign(&self.key(&salted), b"Server Key").as_ref());
        Ok(ClientFinal { message: format!("{without_proof},p={}", BASE64.encode(proof)), server_key, auth_message })
    }

    fn key(&self, secret: &[u8]) -> hmac::Key {
        hmac::Key::new(self.hash.hmac(), secret)
    }

    fn salted_password(&self, salt: &[u8], iterations: NonZeroU32) -> Vec<u8> {
        let mut out = vec![0u8; self.hash.digest().output_len()];
        pbkdf2::derive(self.hash.pbkdf2(), iterations, salt, self.password.as_bytes(), &mut out);
        out
    }

    /// ClientKey XOR HMAC(H(ClientKey), AuthMessage).
    fn client_proof(&self, salted: &[u8], auth_message: &[u8]) -> Vec<u8> {
        let client_key = hmac::sign(&self.key(salted), b"Client Key");
        let stored_key = digest::digest(self.hash.digest(), client_key.as_ref());
        let signature = hmac::sign(&self.key(stored_key.as_ref()), auth_message);
        client_key.as_ref().iter().zip(signature.as_ref()).map(|(k, s)| k ^ s).collect()
    }
}

/// The client-final message and the means to check the server's answer.
pub struct ClientFinal {
    /// `c=biws,r=<nonce>,p=<proof>`.
    pub message: String,
    server_key: hmac::Key,
    auth_message: String,
}

impl std::fmt::Debug for ClientFinal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientFinal").field("message", &self.message).finish_non_exhaustive()
    }
}

impl ClientFinal {
    /// Checks the server-final message (`v=<signature>`, or `e=<error>`),
    /// in constant time.
    pub fn verify_server_final(&self, server_final: &str) -> Result<(), ScramError> {
        if let Some(error) = server_final.strip_prefix("e=") {
            return Err(ScramError::Rejected(error.to_owned()));
        }
        let encoded = server_final.split(',').next().and_then(|v| v.strip_prefix("v="));
        let signature = encoded.and_then(|v| BASE64.decode(v).ok()).ok_or(ScramError::MalformedServerFinal)?;
        hmac::verify(&self.server_key, self.auth_message.as_bytes(), &signature)
            .map_err(|_| ScramError::BadServerSignature)
    }
}

/// What the server-first message asks for.
struct Challenge {
    nonce: String,
    salt: Vec<u8>,
    iterations: NonZeroU32,
}

/// Parses `r=<nonce>,s=<salt>,i=<iterations>[,<extensions>]`.
fn parse_server_first(message: &str) -> Result<Challenge, ScramError> {
    use ScramError::MalformedServerFirst as Bad;
    if message.starts_with("m=") {
        return Err(ScramError::MandatoryExtension);
    }
    let mut parts = message.split(',');
    let nonce = parts.next().and_then(|p| p.strip_prefix("r=")).ok_or(Bad("no nonce"))?;
    let salt = parts.next().and_then(|p| p.strip_prefix("s=")).ok_or(Bad("no salt"))?;
    let iterations = parts.next().and_then(|p| p.strip_prefix("i=")).ok_or(Bad("no iteration count"))?;
    if nonce.is_empty() || !nonce.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(Bad("the nonce is not printable ASCII"));
    }
    let salt = BASE64.decode(salt).map_err(|_| Bad("the salt is not base64"))?;
    let iterations: u64 = iterations.parse().map_err(|_| Bad("the iteration count is not a number"))?;
    let iterations = u32::try_from(iterations)
        .ok()
        .filter(|&i| i <= ITERATIONS_MAX)
        .and_then(NonZeroU32::new)
        .ok_or(ScramError::TooManyIterations(iterations))?;
    Ok(Challenge { nonce: nonce.to_owned(), salt, iterations })
}

/// `saslname` of RFC 5802: `=` and `,` escaped as `=3D` and `=2C`.
fn escape_username(username: &str) -> String {
    username.replace('=', "=3D").replace(',', "=2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONCE: &str = "rOprNGfwEbeRWgbNEkqO";
    const SERVER_FIRST: &str = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";

    #[test]
    fn rfc7677_sha256_vector() {
        let client = ScramClient::with_nonce(ScramHash::Sha256, "user", "pencil", NONCE);
        assert_eq!(client.client_first(), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let fin = client.client_final(SERVER_FIRST).unwrap();
        assert_eq!(
            fin.message,
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        fin.verify_server_final("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=").unwrap();
        assert_eq!(fin.verify_server_final("v=AAAA"), Err(ScramError::BadServerSignature));
    }

    /// Computed independently with Python's hashlib/hmac from the RFC 7677
    /// inputs (the same script reproduces the SHA-256 vector above).
    #[test]
    fn sha512_vector() {
        let client = ScramClient::with_nonce(ScramHash::Sha512, "user", "pencil", NONCE);
        let fin = client.client_final(SERVER_FIRST).unwrap();
        assert!(
            fin.message.ends_with(
                ",p=gMGXRcevScNtxZ6/8lQYpGtnsNAc3mGcmNomv+xnoOMw+3R2xNJdMNnzMlTN8PPC6wdp6dybEmDYXYTxwnYPJQ=="
            )
        );
        fin.verify_server_final(
            "v=ZQnYEgWQMFmmsM8aQMF0nDDCy/AgCzkwk8CmMZYcMg0vSVlKDanekLtifDSeVGT4+5ZxXnJq199RVG2rR7N7Zw==",
        )
        .unwrap();
    }

    #[test]
    fn hostile_server_first_is_refused() {
        let client = ScramClient::with_nonce(ScramHash::Sha512, "user", "pencil", NONCE);
        let other_nonce = "r=someoneelse,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        assert_eq!(client.client_final(other_nonce).unwrap_err(), ScramError::NonceMismatch);
        let same_nonce = format!("r={NONCE},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
        assert_eq!(client.client_final(&same_nonce).unwrap_err(), ScramError::NonceMismatch);
        let slow = format!("r={NONCE}x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4000000000");
        assert_eq!(client.client_final(&slow).unwrap_err(), ScramError::TooManyIterations(4_000_000_000));
        let zero = format!("r={NONCE}x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0");
        assert_eq!(client.client_final(&zero).unwrap_err(), ScramError::TooManyIterations(0));
        assert_eq!(client.client_final("m=x,r=a").unwrap_err(), ScramError::MandatoryExtension);
        assert!(matches!(client.client_final("garbage"), Err(ScramError::MalformedServerFirst(_))));
    }

    #[test]
    fn usernames_are_escaped_and_errors_reported() {
        let client = ScramClient::with_nonce(ScramHash::Sha512, "a=b,c", "p", "n");
        assert_eq!(client.client_first(), "n,,n=a=3Db=2Cc,r=n");
        let fin = client.client_final("r=nx,s=AAAA,i=1").unwrap();
        assert_eq!(fin.verify_server_final("e=invalid-proof"), Err(ScramError::Rejected("invalid-proof".into())));
        assert_eq!(fin.verify_server_final("x"), Err(ScramError::MalformedServerFinal));
    }

    #[test]
    fn fresh_nonces_differ() {
        let a = ScramClient::new(ScramHash::Sha512, "u", "hunter2").unwrap();
        let b = ScramClient::new(ScramHash::Sha512, "u", "hunter2").unwrap();
        assert_ne!(a.client_first(), b.client_first());
        assert!(!format!("{a:?}").contains("hunter2"));
    }
}
