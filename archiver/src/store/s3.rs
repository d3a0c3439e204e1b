//! Object store on S3 (AWS or any S3-compatible server: MinIO, s3s-fs, ...).
//!
//! Uniqueness comes from the server: `put_if_absent` sends `If-None-Match: *`
//! and treats `412 Precondition Failed` as "already exists". Errors are sorted
//! by what the caller should do: [`StoreError::Unavailable`] (retry later),
//! [`StoreError::Denied`] (fix the credentials), [`StoreError::Rejected`]
//! (fix the configuration or the request). Messages carry the HTTP status and
//! S3 error code, never credentials.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
use bytes::Bytes;
use futures::StreamExt as _;

use super::{
    ListPage, ObjectMeta, ObjectStore, ObjectStream, PutOutcome, StoreError, clamp_limit, validate_key, validate_prefix,
};

/// Time allowed to open a TCP/TLS connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Time allowed for one HTTP attempt, including the body (objects are small:
/// a Hopskotch message is at most a few MiB).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
/// Time allowed for a whole call, all retries included. Bounded so that a
/// dead store surfaces as `Unavailable` to the caller's own backoff loop.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(90);
/// Attempts per call (first try included) before the SDK gives up.
const MAX_ATTEMPTS: u32 = 3;

/// The S3 client's time limits. [`Default`] is what `archiver` uses; tests
/// that simulate a hanging server shorten them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct S3Timeouts {
    /// To open a TCP/TLS connection.
    pub connect: Duration,
    /// For one HTTP attempt, body included; also the longest wait for the
    /// next chunk of a streamed body.
    pub attempt: Duration,
    /// For a whole call, all attempts included.
    pub operation: Duration,
}

impl Default for S3Timeouts {
    fn default() -> Self {
        Self { connect: CONNECT_TIMEOUT, attempt: ATTEMPT_TIMEOUT, operation: OPERATION_TIMEOUT }
    }
}

/// Where and how to reach the bucket.
#[derive(Clone)]
pub struct S3Config {
    pub bucket: String,
    /// `http(s)://host:port` of an S3-compatible server; `None` for AWS.
    pub endpoint: Option<String>,
    pub region: String,
    /// Path-style addressing (`host/bucket/key`), needed by most local servers.
    pub path_style: bool,
    /// `(access_key, secret_key)`; `None` uses the default AWS chain
    /// (environment, shared config, SSO, instance metadata).
    pub credentials: Option<(String, String)>,
    /// Time limits of every call ([`S3Timeouts::default`] unless testing).
    pub timeouts: S3Timeouts,
}

impl S3Config {
    /// AWS defaults for `bucket`: region `us-east-1`, virtual-hosted
    /// addressing, default credential chain.
    pub fn new(bucket: impl Into<String>) -> Self {
        Self {
            bucket: bucket.into(),
            endpoint: None,
            region: "us-east-1".to_owned(),
            path_style: false,
            credentials: None,
            timeouts: S3Timeouts::default(),
        }
    }
}

/// Hand-written so the secret key can never reach a log line.
impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("path_style", &self.path_style)
            .field("credentials", &self.credentials.as_ref().map(|_| "<static, redacted>"))
            .field("timeouts", &self.timeouts)
            .finish()
    }
}

/// An [`ObjectStore`] on one S3 bucket.
pub struct S3Store {
    client: Client,
    bucket: String,
    region: String,
    endpoint: Option<String>,
    /// Longest wait for the next chunk of a streamed body (the attempt
    /// timeout). The SDK's timeouts end when the response headers arrive,
    /// so without this a server that stalls mid-body would hold the stream
    /// (and the HTTP client reading it) open forever.
    stream_idle_timeout: Duration,
}

impl std::fmt::Debug for S3Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Store")
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl S3Store {
    /// Builds the client. No request is made: a wrong endpoint or credential
    /// shows up on the first call (use `create_bucket_if_missing` to check early).
    pub async fn new(config: S3Config) -> Self {
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).region(Region::new(config.region.clone()));
        if let Some((access_key, secret_key)) = &config.credentials {
            loader = loader.credentials_provider(Credentials::new(
                access_key,
                secret_key,
                None,
                None,
                "hop-archiver-static",
            ));
        }
        let shared = loader.load().await;
        let mut builder = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(config.path_style)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .timeout_config(timeouts(&config.timeouts))
            .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS));
        if let Some(endpoint) = &config.endpoint {
            builder = builder.endpoint_url(endpoint);
        }
        Self {
            client: Client::from_conf(builder.build()),
            bucket: config.bucket,
            region: config.region,
            endpoint: config.endpoint,
            stream_idle_timeout: config.timeouts.attempt,
        }
    }

    /// Creates the bucket unless it exists (HeadBucket, then CreateBucket on
    /// 404), as upstream's `initialize_bucket` does for custom endpoints. For
    /// tests and first-time setup; production buckets are made by operators.
    pub async fn create_bucket_if_missing(&self) -> Result<(), StoreError> {
        const OP: &str = "create_bucket";
        match self.client.head_bucket().bucket(&self.bucket).send().await {
            Ok(_) => return Ok(()),
            Err(err) => match classify(&err) {
                Failure::NotFound => {}
                other => return Err(other.into_error(OP, &self.bucket)),
            },
        }
        let mut request = self.client.create_bucket().bucket(&self.bucket);
        if self.region != "us-east-1" {
            let constraint = BucketLocationConstraint::from(self.region.as_str());
            request = request.create_bucket_configuration(
                CreateBucketConfiguration::builder().location_constraint(constraint).build(),
            );
        }
        match request.send().await {
            Ok(_) => Ok(()),
            // Lost a creation race; fine as long as the bucket is ours to use.
            Err(err) if matches!(err.code(), Some("BucketAlreadyOwnedByYou" | "BucketAlreadyExists")) => self
                .client
                .head_bucket()
                .bucket(&self.bucket)
                .send()
                .await
                .map(|_| ())
                .map_err(|err| classify(&err).into_error(OP, &self.bucket)),
            Err(err) => Err(classify(&err).into_error(OP, &self.bucket)),
        }
    }
}

fn timeouts(limits: &S3Timeouts) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(limits.connect)
        .operation_attempt_timeout(limits.attempt)
        .operation_timeout(limits.operation)
        .build()
}

#[async_trait]
impl ObjectStore for S3Store {
    /// A retried attempt whose first try did land reports `AlreadyExists`
    /// for an object this call wrote; callers compare contents anyway.
    async fn put_if_absent(&self, key: &str, bytes: Bytes) -> Result<PutOutcome, StoreError> {
        validate_key(key)?;
        let sent = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(bytes))
            .if_none_match("*")
            .send()
            .await;
        match sent {
            Ok(_) => Ok(PutOutcome::Created),
            Err(err) => match classify(&err) {
                Failure::PreconditionFailed => Ok(PutOutcome::AlreadyExists),
                other => Err(other.into_error("put_if_absent", key)),
            },
        }
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        validate_key(key)?;
        let sent = self.client.get_object().bucket(&self.bucket).key(key).send().await;
        let output = match sent {
            Ok(output) => output,
            Err(err) => return missing_or_error(&err, "get", key),
        };
        match output.body.collect().await {
            Ok(body) => Ok(Some(body.into_bytes())),
            Err(err) => Err(unavailable("get", key, &DisplayErrorContext(err))),
        }
    }

    /// One GetObject; its body is passed on frame by frame (the HTTP
    /// client's frames, bounded by its read buffer), never collected.
    /// Errors before the body are classified as for `get`; a body that
    /// fails or stalls ends the stream with `Unavailable`.
    async fn get_stream(&self, key: &str) -> Result<Option<ObjectStream>, StoreError> {
        validate_key(key)?;
        let sent = self.client.get_object().bucket(&self.bucket).key(key).send().await;
        let output = match sent {
            Ok(output) => output,
            Err(err) => return missing_or_error(&err, "get", key),
        };
        let Some(size_bytes) = output.content_length().and_then(|n| u64::try_from(n).ok()) else {
            return Err(unavailable("get", key, &"response without a valid Content-Length"));
        };
        let idle = self.stream_idle_timeout;
        let chunks = futures::stream::try_unfold((output.body, key.to_owned()), move |(mut body, key)| async move {
            match tokio::time::timeout(idle, body.try_next()).await {
                Ok(Ok(Some(chunk))) => Ok(Some((chunk, (body, key)))),
                Ok(Ok(None)) => Ok(None),
                Ok(Err(err)) => Err(unavailable("get", &key, &DisplayErrorContext(err))),
                Err(_) => Err(unavailable("get", &key, &format!("no body data for {idle:?}"))),
            }
        });
        Ok(Some(ObjectStream::new(key, size_bytes, chunks.boxed())))
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StoreError> {
        validate_key(key)?;
        let sent = self.client.head_object().bucket(&self.bucket).key(key).send().await;
        let output = match sent {
            Ok(output) => output,
            Err(err) => return missing_or_error(&err, "head", key),
        };
        let modified_ms = output.last_modified().and_then(epoch_ms);
        match output.content_length().and_then(|n| u64::try_from(n).ok()) {
            Some(size_bytes) => Ok(Some(ObjectMeta { key: key.to_owned(), size_bytes, modified_ms })),
            None => Err(unavailable("head", key, &"response without a valid Content-Length")),
        }
    }

    async fn list(&self, prefix: &str, after: Option<&str>, limit: usize) -> Result<ListPage, StoreError> {
        validate_prefix(prefix)?;
        let max_keys = i32::try_from(clamp_limit(limit)).unwrap_or(1000);
        let output = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .set_start_after(after.map(str::to_owned))
            .max_keys(max_keys)
            .send()
            .await
            .map_err(|err| classify(&err).into_error("list", prefix))?;
        let objects: Vec<ObjectMeta> = output
            .contents()
            .iter()
            .filter_map(|object| {
                let key = object.key()?.to_owned();
                let size_bytes = u64::try_from(object.size().unwrap_or(0)).unwrap_or(0);
                Some(ObjectMeta { key, size_bytes, modified_ms: object.last_modified().and_then(epoch_ms) })
            })
            .collect();
        let more = output.is_truncated().unwrap_or(false);
        if more && objects.is_empty() {
            // Without a last key there is no way to ask for the next page.
            return Err(unavailable("list", prefix, &"truncated listing without any key"));
        }
        Ok(super::page(objects, more))
    }

    /// S3's DeleteObject does not say whether the key existed, so this asks
    /// first (check-then-act is acceptable for a repair tool).
    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        if self.head(key).await?.is_none() {
            return Ok(false);
        }
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|err| classify(&err).into_error("delete", key))?;
        Ok(true)
    }

    fn bucket(&self) -> &str {
        &self.bucket
    }
}

/// `Ok(None)` for a missing key, the mapped error otherwise.
fn missing_or_error<T, E>(err: &SdkError<E>, op: &'static str, key: &str) -> Result<Option<T>, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match classify(err) {
        Failure::NotFound => Ok(None),
        other => Err(other.into_error(op, key)),
    }
}

fn unavailable(op: &'static str, key: &str, message: &dyn std::fmt::Display) -> StoreError {
    StoreError::Unavailable { op, key: key.to_owned(), message: message.to_string() }
}

/// What a failed S3 call means for the caller, before it is tied to an operation.
#[derive(Debug)]
enum Failure {
    /// 404 for the key (not for the bucket).
    NotFound,
    /// 412: the `If-None-Match: *` condition found an object.
    PreconditionFailed,
    Denied(String),
    Unavailable(String),
    Rejected(String),
}

impl Failure {
    fn into_error(self, op: &'static str, key: &str) -> StoreError {
        let key = key.to_owned();
        match self {
            Failure::NotFound => StoreError::Rejected { op, key, message: "not found".to_owned() },
            Failure::PreconditionFailed => StoreError::Rejected { op, key, message: "precondition failed".to_owned() },
            Failure::Denied(message) => StoreError::Denied { op, key, message },
            Failure::Unavailable(message) => StoreError::Unavailable { op, key, message },
            Failure::Rejected(message) => StoreError::Rejected { op, key, message },
        }
    }
}

/// S3 error codes that mean the credentials (or the clock signing with them) are wrong.
const DENIED_CODES: &[&str] = &[
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "TokenRefreshRequired",
    "RequestTimeTooSkewed",
];

/// S3 error codes worth retrying even though some come with a 4xx status.
/// S3's `LastModified` in ms since the epoch (`None` if out of range).
fn epoch_ms(at: &aws_sdk_s3::primitives::DateTime) -> Option<i64> {
    at.to_millis().ok()
}

/// `ConditionalRequestConflict` (409) is here because AWS asks clients to
/// retry the conditional write: the retry then gets 412 or succeeds.
const TRANSIENT_CODES: &[&str] = &[
    "SlowDown",
    "RequestTimeout",
    "InternalError",
    "ServiceUnavailable",
    "ConditionalRequestConflict",
    "OperationAborted",
];

fn classify<E>(err: &SdkError<E>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let SdkError::ServiceError(context) = err else {
        // Timeouts, connection failures, unreadable responses, and credential
        // resolution failures (which surface as dispatch failures).
        return Failure::Unavailable(DisplayErrorContext(err).to_string());
    };
    let status = context.raw().status().as_u16();
    let code = err.code().unwrap_or("");
    let message = describe(status, code, err.message());
    match (status, code) {
        (_, "NoSuchBucket") => Failure::Rejected(message),
        (404, _) | (_, "NoSuchKey" | "NotFound") => Failure::NotFound,
        (412, _) | (_, "PreconditionFailed") => Failure::PreconditionFailed,
        (_, c) if TRANSIENT_CODES.contains(&c) => Failure::Unavailable(message),
        (401 | 403, _) => Failure::Denied(message),
        (_, c) if DENIED_CODES.contains(&c) => Failure::Denied(message),
        (408 | 429, _) | (500..=599, _) => Failure::Unavailable(message),
        _ => Failure::Rejected(message),
    }
}

/// `HTTP 403 SignatureDoesNotMatch: The request signature ...` — the server's
/// own words; S3 error messages do not echo secrets.
fn describe(status: u16, code: &str, message: Option<&str>) -> String {
    let code = if code.is_empty() { "(no error code)" } else { code };
    match message {
        Some(message) => format!("HTTP {status} {code}: {message}"),
        None => format!("HTTP {status} {code}"),
    }
}
