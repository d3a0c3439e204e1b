//! `s3-faults` over HTTP: the real `S3Store` (aws-sdk-s3) talks to a
//! wiremock server standing in for S3, which answers 500 InternalError,
//! 503 ServiceUnavailable and 503 SlowDown (S3's XML error bodies) and
//! hangs past the client's attempt timeout for stretches, and otherwise
//! behaves like S3 for conditional PUT (`If-None-Match: *` → 412), GET and
//! HEAD. A short mockhop stream goes through the real pipeline (fault
//! layers with an empty schedule, real time) and every invariant must hold.
//!
//! The production timeouts (5 s connect, 30 s per attempt, 90 s per call)
//! would make each hang cost 30 s, so the store is built with
//! [`S3Timeouts`] of one second per attempt, and a hang lasts 1.5 s: just
//! long enough for the SDK to give up on the attempt and retry.

use super::drive::{Backends, fill_log, run_on, stream};
use super::spec::{Backend, Invariant, PipelineSpec, Scenario, StreamSpec};
use super::{dump, failure_with, invariants};
use archiver::index::MemoryIndex;
use archiver::store::{MemoryStore, ObjectStore, S3Config, S3Store, S3Timeouts};
use hop_archiver_tests::schedule::FaultSchedule;
use mockhop::expect::ArchiveRules;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const BUCKET: &str = "flaky";
/// The client's limit per HTTP attempt.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a hanging answer takes: past the attempt timeout.
const HANG: Duration = Duration::from_millis(1_500);
/// A run that takes longer than this hangs (each hang must cost seconds).
const RUN_MAX: Duration = Duration::from_secs(60);

/// How the fake answers a PUT or GET, by its number (from 1, retries
/// included); HEADs (the commit audit's) are never faulted.
fn planned(n: u64) -> Option<Failure> {
    match n {
        2..=3 => Some(Failure::InternalError),
        6..=7 => Some(Failure::ServiceUnavailable),
        10..=12 => Some(Failure::SlowDown),
        16..=17 => Some(Failure::Hang),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Failure {
    InternalError,
    ServiceUnavailable,
    SlowDown,
    /// Answers as S3 would (a PUT writes), but only after [`HANG`].
    Hang,
}

/// A tiny S3: objects by path (`/bucket/key`), and the faults it served.
#[derive(Default)]
struct FakeS3 {
    objects: Mutex<BTreeMap<String, Vec<u8>>>,
    /// PUTs and GETs so far.
    requests: Mutex<u64>,
    served: Mutex<BTreeMap<Failure, u32>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn error(status: u16, code: &str, message: &str) -> ResponseTemplate {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <Error><Code>{code}</Code><Message>{message}</Message><RequestId>fake</RequestId></Error>"
    );
    ResponseTemplate::new(status).insert_header("content-type", "application/xml").set_body_string(body)
}

impl FakeS3 {
    /// S3's answer to `request`, faults aside.
    fn answer(&self, request: &Request) -> ResponseTemplate {
        let path = request.url.path().to_owned();
        let mut objects = lock(&self.objects);
        match request.method.as_str() {
            "PUT" => {
                let conditional = request.headers.get("if-none-match").is_some_and(|v| v.as_bytes() == b"*");
                if conditional && objects.contains_key(&path) {
                    return error(
                        412,
                        "PreconditionFailed",
                        "At least one of the pre-conditions you specified did not hold",
                    );
                }
                objects.insert(path, request.body.clone());
                ResponseTemplate::new(200).insert_header("etag", "\"fake\"")
            }
            "GET" | "HEAD" => match objects.get(&path) {
                Some(bytes) => ResponseTemplate::new(200).set_body_bytes(bytes.clone()),
                None if request.method.as_str() == "HEAD" => ResponseTemplate::new(404),
                None => error(404, "NoSuchKey", "The specified key does not exist."),
            },
            other => error(501, "NotImplemented", &format!("{other} is not implemented by the fake")),
        }
    }
}

/// Shared with the server, which needs `'static` responders.
struct Responder(Arc<FakeS3>);

impl Respond for Responder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let fake = &self.0;
        let faultable = matches!(request.method.as_str(), "PUT" | "GET");
        let failure = faultable.then(|| {
            let mut n = lock(&fake.requests);
            *n += 1;
            planned(*n)
        });
        let Some(failure) = failure.flatten() else { return fake.answer(request) };
        *lock(&fake.served).entry(failure).or_default() += 1;
        match failure {
            Failure::InternalError => {
                error(500, "InternalError", "We encountered an internal error. Please try again.")
            }
            Failure::ServiceUnavailable => error(503, "ServiceUnavailable", "Please reduce your request rate."),
            Failure::SlowDown => error(503, "SlowDown", "Please reduce your request rate."),
            Failure::Hang => fake.answer(request).set_delay(HANG),
        }
    }
}

fn scenario() -> Scenario {
    Scenario {
        name: "s3-wiremock".into(),
        purpose: "S3Store against a flaky HTTP S3".into(),
        seed: 41,
        stream: StreamSpec { profile: "duplicates".into(), count: 40, partitions: 2, topics: vec![] },
        backends: vec![Backend::Memory],
        pipeline: PipelineSpec { in_flight_max: 4, batch_rows_max: 8 },
        faults: vec![],
        random_crashes: 0,
        invariants: Invariant::all(),
    }
}

#[tokio::test]
async fn the_pipeline_archives_through_an_s3_that_fails_and_hangs() {
    let fake = Arc::new(FakeS3::default());
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any()).respond_with(Responder(Arc::clone(&fake))).mount(&server).await;
    let store = S3Store::new(S3Config {
        endpoint: Some(server.uri()),
        path_style: true,
        credentials: Some(("fake-access-key".into(), "fake-secret-key".into())),
        timeouts: S3Timeouts { connect: ATTEMPT_TIMEOUT, attempt: ATTEMPT_TIMEOUT, operation: 4 * ATTEMPT_TIMEOUT },
        ..S3Config::new(BUCKET)
    })
    .await;

    let scenario = scenario();
    let deliveries = stream(&scenario, scenario.seed);
    let (log, _) =
        fill_log(&deliveries, &ArchiveRules::defaults(""), scenario.stream.partitions, mockhop::Delivery::partition);
    let backends = Backends {
        partitions: log.partitions(),
        broker: Arc::new(log),
        store: Arc::new(store),
        index: Arc::new(MemoryIndex::new()),
        topic_prefix: String::new(),
        watchdog: RUN_MAX,
        partition_of: mockhop::Delivery::partition,
    };
    let started = Instant::now();
    let mut outcome = run_on(&scenario, &deliveries, FaultSchedule::default(), backends).await;
    let took = started.elapsed();

    // The archive as the fake holds it (the fake answers no listings).
    let held = MemoryStore::new();
    let objects = lock(&fake.objects).clone();
    for (path, bytes) in objects {
        let key = path.strip_prefix(&format!("/{BUCKET}/")).unwrap_or(&path);
        held.put_if_absent(key, bytes.into()).await.expect("copy the fake's objects");
    }
    outcome.store = Arc::new(held);
    let archive = dump::read(outcome.index.as_ref(), outcome.store.as_ref()).await;
    let violations = invariants::check(&scenario.invariants, &outcome, &archive).await;
    let checked = super::Checked { outcome, archive, violations };
    let again = "cargo nextest run -p hop-archiver-tests -E 'test(/scenario::s3_wiremock/)'";
    assert!(
        checked.violations.is_empty(),
        "{}",
        failure_with(&scenario, scenario.seed, &checked, &checked.violations, again)
    );
    let served = lock(&fake.served).clone();
    for failure in [Failure::InternalError, Failure::ServiceUnavailable, Failure::SlowDown, Failure::Hang] {
        assert!(served.contains_key(&failure), "the fake never served {failure:?}: {served:?}");
    }
    assert!(checked.outcome.totals.archived > 0, "nothing was archived: {:?}", checked.outcome.totals);
    assert!(took < RUN_MAX, "the run took {took:?}");
    eprintln!("archived through the flaky S3 in {took:?}; faults served: {served:?}");
}
