//! hopauth's topic list, `GET {url}/v1/topics`, for the `hopauth` topic
//! selection: which topics their owners marked `archivable`.
//!
//! Authentication is HTTP SCRAM-SHA-512 (RFC 7804) as hop-client's
//! `SCRAMAuth(shortcut=True)` does it: the first request already carries the
//! client-first message, the server answers 401 with a session id and its
//! challenge, the second request carries the proof, and the server's
//! `Authentication-Info` signature is checked before its answer is trusted.

use super::Credential;
use super::scram::{ClientFinal, ScramClient, ScramHash};
use crate::telemetry::redact::mask_password;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::time::Duration;

/// The whole exchange (both SCRAM round trips count separately) must not
/// hang the refresh timer: a slow hopauth is an error, retried next time.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Hopskotch has a few hundred topics; a much larger answer is not a topic list.
const BODY_MAX_BYTES: usize = 32 << 20;
/// Every credential hopauth issues is SCRAM-SHA-512.
const HASH: ScramHash = ScramHash::Sha512;
/// RFC 7615's header; the `http` crate has no constant for it.
const AUTHENTICATION_INFO: &str = "authentication-info";

/// One topic as hopauth describes it; other fields are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct HopauthTopic {
    pub name: String,
    /// Opt-in per topic; missing or null means no.
    #[serde(default, deserialize_with = "null_is_false")]
    pub archivable: bool,
    #[serde(default, deserialize_with = "null_is_false")]
    pub publicly_readable: bool,
}

fn null_is_false<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(deserializer)?.unwrap_or(false))
}

/// Why hopauth's topic list could not be had. Never carries the credential;
/// URLs are shown with any password masked.
#[derive(Debug, thiserror::Error)]
pub enum TopicsError {
    #[error("cannot set up the hopauth client: {0}")]
    Setup(String),
    #[error("hopauth request to {url} failed: {reason}")]
    Unavailable { url: String, reason: String },
    #[error("hopauth {url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("hopauth {url}: authentication failed: {reason}")]
    Auth { url: String, reason: String },
    #[error("hopauth {url}: malformed topic list: {reason}")]
    Malformed { url: String, reason: String },
}

impl TopicsError {
    /// Worth trying again at the next refresh (network trouble, 5xx, 429);
    /// the others need an operator.
    pub fn is_transient(&self) -> bool {
        match self {
            TopicsError::Unavailable { .. } => true,
            TopicsError::Status { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

/// A reusable client for one hopauth: keeps its connection pool between
/// refreshes.
pub struct HopauthClient {
    http: reqwest::Client,
    topics_url: String,
    credential: Option<Credential>,
}

impl std::fmt::Debug for HopauthClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HopauthClient")
            .field("topics_url", &mask_password(&self.topics_url))
            .field("credential", &self.credential)
            .finish()
    }
}

/// Fetches hopauth's topic list once; see [`HopauthClient`] for repeated use.
pub async fn fetch_archivable(
    base_url: &str,
    credential: Option<&Credential>,
) -> Result<Vec<HopauthTopic>, TopicsError> {
    HopauthClient::new(base_url, credential.cloned())?.fetch_archivable().await
}

impl HopauthClient {
    /// A client for the hopauth API at `base_url` (e.g.
    /// `https://admin.scimma.org/hopauth/api`); without a credential the
    /// request goes unauthenticated.
    pub fn new(base_url: &str, credential: Option<Credential>) -> Result<HopauthClient, TopicsError> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("hop-archiver/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| TopicsError::Setup(describe(e)))?;
        let topics_url = format!("{}/v1/topics", base_url.trim_end_matches('/'));
        Ok(HopauthClient { http, topics_url, credential })
    }

    /// Every topic hopauth lists, archivable or not.
    pub async fn fetch_archivable(&self) -> Result<Vec<HopauthTopic>, TopicsError> {
        let response = self.authenticated_get().await?;
        let status = response.status();
        if !status.is_success() {
            return Err(TopicsError::Status { url: self.shown_url(), status: status.as_u16() });
        }
        let body = self.read_body(response).await?;
        serde_json::from_slice(&body).map_err(|e| self.malformed(e.to_string()))
    }

    async fn authenticated_get(&self) -> Result<reqwest::Response, TopicsError> {
        let Some(credential) = &self.credential else { return self.get(None).await };
        let scram = ScramClient::new(HASH, &credential.username, &credential.password).map_err(|e| self.auth(e))?;
        let first = format!("{} data={}", HASH.mechanism(), BASE64.encode(scram.client_first()));
        let response = self.get(Some(first)).await?;
        match response.status() {
            StatusCode::UNAUTHORIZED => {}
            // hopauth's answer to a client-first for a user it does not know.
            StatusCode::FORBIDDEN => return Err(self.auth("the user is unknown or not allowed (HTTP 403)")),
            // Only a server that knows the credential can sign the exchange;
            // one that skips it could be anyone.
            status if status.is_success() => {
                return Err(self.auth("the server answered without authenticating itself (no SCRAM exchange)"));
            }
            _ => return Ok(response),
        }
        let (sid, server_first) = self.challenge(&response)?;
        let client_final = scram.client_final(&server_first).map_err(|e| self.auth(e))?;
        let answer = format!("{} sid={sid},data={}", HASH.mechanism(), BASE64.encode(&client_final.message));
        let response = self.get(Some(answer)).await?;
        match response.status() {
            StatusCode::UNAUTHORIZED => Err(self.auth("the credential was rejected (HTTP 401)")),
            status if status.is_success() => self.verify_server(&response, &sid, &client_final).map(|()| response),
            _ => Ok(response),
        }
    }

    async fn get(&self, authorization: Option<String>) -> Result<reqwest::Response, TopicsError> {
        let mut request = self.http.get(&self.topics_url);
        if let Some(value) = authorization {
            request = request.header(AUTHORIZATION, value);
        }
        request.send().await.map_err(|e| TopicsError::Unavailable { url: self.shown_url(), reason: describe(e) })
    }

    /// The session id and server-first message of a 401's SCRAM challenge.
    fn challenge(&self, response: &reqwest::Response) -> Result<(String, String), TopicsError> {
        let params = response
            .headers()
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| strip_scheme(v, HASH.mechanism()))
            .map(auth_params)
            .ok_or_else(|| self.auth("the server did not offer SCRAM-SHA-512 (HTTP 401)"))?;
        let (Some(sid), Some(data)) = (params.get("sid"), params.get("data")) else {
            return Err(self.auth("the SCRAM challenge lacks sid or data"));
        };
        Ok((sid.clone(), decode_text(data).ok_or_else(|| self.auth("the SCRAM challenge is not base64 text"))?))
    }

    /// Mutual authentication: only a server that knows the credential can
    /// sign the exchange, so an impostor's topic list is never used.
    fn verify_server(
        &self,
        response: &reqwest::Response,
        sid: &str,
        client_final: &ClientFinal,
    ) -> Result<(), TopicsError> {
        let info = response.headers().get(AUTHENTICATION_INFO).and_then(|v| v.to_str().ok());
        let params = info.map(auth_params).ok_or_else(|| self.auth("no Authentication-Info to verify the server"))?;
        if params.get("sid").map(String::as_str) != Some(sid) {
            return Err(self.auth("Authentication-Info is for another session"));
        }
        let server_final = params.get("data").and_then(|d| decode_text(d));
        let server_final = server_final.ok_or_else(|| self.auth("Authentication-Info lacks data"))?;
        client_final.verify_server_final(&server_final).map_err(|e| self.auth(e))
    }

    async fn read_body(&self, mut response: reqwest::Response) -> Result<Vec<u8>, TopicsError> {
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| TopicsError::Unavailable { url: self.shown_url(), reason: describe(e) })?
        {
            if body.len() + chunk.len() > BODY_MAX_BYTES {
                return Err(self.malformed(format!("larger than {BODY_MAX_BYTES} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    fn shown_url(&self) -> String {
        mask_password(&self.topics_url)
    }

    fn auth(&self, reason: impl ToString) -> TopicsError {
        TopicsError::Auth { url: self.shown_url(), reason: reason.to_string() }
    }

    fn malformed(&self, reason: String) -> TopicsError {
        TopicsError::Malformed { url: self.shown_url(), reason }
    }
}

/// The parameters after `scheme ` in an authentication header, if it is
/// that scheme (case-insensitive).
fn strip_scheme<'a>(header: &'a str, scheme: &str) -> Option<&'a str> {
    let (name, rest) = header.trim_start().split_once(' ')?;
    name.eq_ignore_ascii_case(scheme).then_some(rest)
}

/// `k=v, k2="v2"` → map; keys lower-cased. Values are tokens or base64, so
/// a comma never occurs inside one.
fn auth_params(text: &str) -> BTreeMap<String, String> {
    text.split(',')
        .filter_map(|item| item.trim().split_once('='))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().trim_matches('"').to_owned()))
        .collect()
}

fn decode_text(data: &str) -> Option<String> {
    String::from_utf8(BASE64.decode(data).ok()?).ok()
}

/// A reqwest error with its causes, without the URL (shown masked elsewhere).
pub fn describe(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(&error);
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_auth_params() {
        let params = auth_params("sid=abc, data=cj1mb28=,x=\"q\"");
        assert_eq!(params.get("sid").map(String::as_str), Some("abc"));
        assert_eq!(params.get("data").map(String::as_str), Some("cj1mb28="));
        assert_eq!(params.get("x").map(String::as_str), Some("q"));
        assert_eq!(strip_scheme("scram-sha-512 sid=1", "SCRAM-SHA-512"), Some("sid=1"));
        assert_eq!(strip_scheme("Basic realm=x", "SCRAM-SHA-512"), None);
    }
}
