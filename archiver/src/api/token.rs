//! Page tokens sealed with AES-256-GCM under a key drawn at start-up.
//!
//! A token carries a keyset position in the index: a timestamp and the
//! global row id, which counts every message of every topic. In the clear
//! the difference of two ids would tell an anonymous caller how much private
//! traffic was archived between two public messages, so the position is
//! encrypted (and authenticated: a forged or altered token is a 400).
//!
//! The key lives only in the process: tokens stop working when the server
//! restarts (a stale token is a 400 saying to start the listing again), and
//! replicas behind one load balancer do not accept each other's tokens
//! (route a client to one replica, or page with `start_time`/`end_time`).

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// The sealing key of this process.
pub struct TokenKey {
    key: LessSafeKey,
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(..)")
    }
}

impl TokenKey {
    /// A fresh random key.
    pub fn random() -> TokenKey {
        let mut bytes = [0u8; 32];
        if aws_lc_rs::rand::fill(&mut bytes).is_err() {
            // Never seen in practice; a key nobody can predict from outside
            // is still better than refusing to serve.
            tracing::error!("no system randomness for the page-token key; deriving one from the clock");
            let seed = format!("{:?} {}", std::time::SystemTime::now(), std::process::id());
            bytes = Sha256::digest(seed.as_bytes()).into();
        }
        TokenKey::from_bytes(&bytes)
    }

    fn from_bytes(bytes: &[u8; 32]) -> TokenKey {
        // A 32-byte key is exactly what AES-256-GCM takes, so this cannot fail.
        let unbound = UnboundKey::new(&AES_256_GCM, bytes).unwrap_or_else(|_| unreachable!("32-byte AES-256 key"));
        TokenKey { key: LessSafeKey::new(unbound) }
    }

    /// `plain`, sealed under a random nonce, as URL-safe base64.
    pub fn seal(&self, plain: &[u8]) -> Option<String> {
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).ok()?;
        let mut sealed = plain.to_vec();
        self.key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut sealed).ok()?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(out))
    }

    /// The plain bytes of a token this key sealed; `None` for anything else.
    pub fn open(&self, text: &str) -> Option<Vec<u8>> {
        let mut bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text.trim()).ok()?;
        if bytes.len() < NONCE_LEN {
            return None;
        }
        let mut sealed = bytes.split_off(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(&bytes).ok()?;
        let plain = self.key.open_in_place(nonce, Aad::empty(), &mut sealed).ok()?;
        Some(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_only_its_own_tokens() {
        let key = TokenKey::random();
        let token = key.seal(b"position").expect("seal");
        assert_eq!(key.open(&token).as_deref(), Some(&b"position"[..]));
        assert_ne!(key.seal(b"position"), Some(token.clone()), "a fresh nonce per token");
        assert_eq!(TokenKey::random().open(&token), None, "another process's key");
        let mut altered = token.into_bytes();
        altered[20] = if altered[20] == b'A' { b'B' } else { b'A' };
        assert_eq!(key.open(&String::from_utf8(altered).expect("ascii")), None, "an altered token");
        assert_eq!(key.open("!!"), None);
    }
}
