//! Hostile clients (issue 11, points 8, 10, 11, 12): idle and slow-header
//! connections, slow readers, trickling uploads and CPU-heavy renderings
//! must not lock out a normal request nor hold memory beyond the bounds.
//!
//! The clients are raw TCP sockets, so each behaves exactly as the hostile
//! one in the issue: connect and say nothing, send half a head and trickle,
//! ask for a large body and never read, send a body a byte at a time.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use archiver::api::ApiLimits;
use archiver::config::ServeLimits;
use archiver::record::{Header, Key, Message};
use futures::future::join_all;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};

use super::{Call, PUBLIC, Server, WRITER};

fn addr(server: &Server) -> SocketAddr {
    server.base.trim_start_matches("http://").parse().expect("server address")
}

/// The soft limit on open files of this process (`/proc/self/limits`).
fn open_files_limit() -> usize {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let line = limits.lines().find(|l| l.starts_with("Max open files")).unwrap_or("");
    line.split_whitespace().nth(3).and_then(|v| v.parse().ok()).unwrap_or(1024)
}

/// As many idle clients as the thousand, or fewer when this
/// process may not open that many descriptors (each costs two here: the
/// client's socket and the server's).
fn thousand_or_what_fits() -> usize {
    1000.min(open_files_limit().saturating_sub(300) / 2)
}

async fn connect_many(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut streams = Vec::with_capacity(n);
    for _ in 0..n {
        streams.push(TcpStream::connect(addr).await.expect("connect"));
    }
    streams
}

/// Whether the server has closed `stream` (EOF or reset), waiting at most `wait`.
async fn closed_by_server(stream: &mut TcpStream, wait: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            // A response (a 408, say) before the close: keep reading.
            Ok(Ok(_)) => {}
        }
    }
}

async fn count_closed(streams: &mut [TcpStream], wait: Duration) -> usize {
    join_all(streams.iter_mut().map(|s| closed_by_server(s, wait))).await.into_iter().filter(|c| *c).count()
}

/// `/health_check` on a fresh connection: its status and how long it took
/// (`None` when not answered within `wait`).
async fn health(server: &Server, wait: Duration) -> Option<(u16, Duration)> {
    let client = reqwest::Client::builder().timeout(wait).build().expect("client");
    let started = Instant::now();
    let reply = client.get(format!("{}/health_check", server.base)).send().await.ok()?;
    Some((reply.status().as_u16(), started.elapsed()))
}

/// Point 8: a thousand idle connections and 200 that trickle an unfinished
/// head; `/health_check` is answered at once, and the server closes every
/// one of them once the header-read timeout (1 s here) has passed.
#[tokio::test]
async fn api_idle_and_slow_header_connections_are_bounded_in_time() {
    let limits = ApiLimits {
        clients: ServeLimits { header_read_timeout_ms: 1000, ..ServeLimits::default() },
        ..ApiLimits::default()
    };
    let server = Server::start_with(limits).await;
    let idle_n = thousand_or_what_fits();
    let mut idle = connect_many(addr(&server), idle_n).await;
    let mut slow = connect_many(addr(&server), 200).await;
    for s in &mut slow {
        s.write_all(b"GET /health_check HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.expect("half a head");
    }
    // Keep-alive connections that finished one request and then went quiet.
    let mut kept = connect_many(addr(&server), 20).await;
    for s in &mut kept {
        s.write_all(b"GET /health_check HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("request");
        let mut buf = [0u8; 1024];
        assert!(s.read(&mut buf).await.expect("response") > 0);
    }
    let answered = health(&server, Duration::from_secs(5)).await;
    assert!(
        matches!(answered, Some((200, t)) if t < Duration::from_secs(2)),
        "with {idle_n} idle and 200 slow-header connections open, /health_check got {answered:?} (want 200 within 2 s)"
    );
    // Trickle one byte per 250 ms, past the 1 s header timeout.
    let trickle = async {
        for _ in 0..10 {
            for s in &mut slow {
                let _ = s.write_all(b"a").await;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    };
    trickle.await;
    let slow_closed = count_closed(&mut slow, Duration::from_secs(3)).await;
    let idle_closed = count_closed(&mut idle, Duration::from_secs(3)).await;
    let kept_closed = count_closed(&mut kept, Duration::from_secs(3)).await;
    assert_eq!(slow_closed, 200, "slow-header connections closed by the server after the 1 s header timeout");
    assert_eq!(idle_closed, idle_n, "idle connections (no byte sent) closed after the 1 s header timeout");
    assert_eq!(kept_closed, 20, "idle keep-alive connections closed after the 1 s header timeout");
}

/// Point 8: at `connections_max` (64 here) the longest-idle connections
/// are closed to make room, so 300 idle clients cannot lock out a request
/// even with a header timeout far away (the default 10 s).
#[tokio::test]
async fn api_connection_limit_closes_the_longest_idle_to_answer_a_request() {
    let limits =
        ApiLimits { clients: ServeLimits { connections_max: 64, ..ServeLimits::default() }, ..ApiLimits::default() };
    let server = Server::start_with(limits).await;
    let mut idle = connect_many(addr(&server), 300).await;
    let answered = health(&server, Duration::from_secs(5)).await;
    assert!(
        matches!(answered, Some((200, t)) if t < Duration::from_secs(2)),
        "with 300 idle connections against a limit of 64, /health_check got {answered:?} (want 200 within 2 s)"
    );
    let closed = count_closed(&mut idle, Duration::from_millis(1500)).await;
    assert!(closed >= 300 - 64, "the server keeps at most 64 connections: only {closed} of 300 idle ones were closed");
}

/// A message of `len` payload bytes (`fill` repeated) on the public topic.
fn big_message(len: usize, fill: u8) -> Message {
    Message {
        topic: PUBLIC.into(),
        timestamp: 1_700_000_000_000,
        key: Key::Null,
        headers: vec![Header::new("_id", Some(uuid::Uuid::new_v4().as_bytes()))],
        payload: Some(vec![fill; len]),
    }
}

/// A client with a small receive buffer, so the server cannot park a
/// large body in the kernel on the client's behalf.
async fn small_window_client(addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(16 * 1024).expect("SO_RCVBUF");
    socket.connect(addr).await.expect("connect")
}

/// The status of a raw response and the total bytes read until the server
/// ended the connection (or `wait` passed).
async fn drain(stream: &mut TcpStream, wait: Duration) -> (u16, usize) {
    let mut head = Vec::new();
    let mut total = 0;
    let mut buf = vec![0u8; 256 * 1024];
    let deadline = tokio::time::Instant::now() + wait;
    while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
        if n == 0 {
            break;
        }
        if head.len() < 12 {
            head.extend_from_slice(&buf[..n.min(12)]);
        }
        total += n;
    }
    let status = std::str::from_utf8(head.get(9..12).unwrap_or_default()).ok().and_then(|s| s.parse().ok());
    (status.unwrap_or(0), total)
}

/// Point 10: eight clients ask for a 12 MiB payload and never read. The
/// memory held for their bodies stays within the budget (48 MiB: at most
/// four bodies; the others get 503 at once), and each reader is dropped
/// once it has accepted less than 256 KiB/s over 300 ms of waiting, so it
/// gets a cut transfer, never the whole body.
#[tokio::test]
async fn api_slow_readers_are_dropped_and_their_bodies_stay_within_the_budget() {
    const PAYLOAD: usize = 12 << 20;
    let limits = ApiLimits {
        clients: ServeLimits {
            client_rate_bytes_per_s_min: 256 * 1024,
            client_rate_window_ms: 300,
            response_memory_bytes_max: 48 << 20,
            ..ServeLimits::default()
        },
        ..ApiLimits::default()
    };
    let server = Server::start_with(limits).await;
    let uuid = server.seed(&big_message(PAYLOAD, b'x')).await;
    let mut readers = Vec::new();
    for _ in 0..8 {
        let mut s = small_window_client(addr(&server)).await;
        let request = format!("GET /msg/{uuid}/raw_file/big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        s.write_all(request.as_bytes()).await.expect("request");
        readers.push(s);
    }
    // Not reading for 3 s: ten windows of 300 ms.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let results = join_all(readers.iter_mut().map(|s| drain(s, Duration::from_secs(10)))).await;
    let served: Vec<usize> = results.iter().filter(|(status, _)| *status == 200).map(|(_, n)| *n).collect();
    let busy = results.iter().filter(|(status, _)| *status == 503).count();
    assert_eq!(served.len() + busy, 8, "every reader got 200 or 503: {results:?}");
    assert!(
        (1..=4).contains(&served.len()),
        "48 MiB of budget holds at most four 12 MiB bodies; {} were served: {results:?}",
        served.len()
    );
    for n in &served {
        assert!(*n < PAYLOAD, "a reader that did not read for 3 s got all {n} bytes: it was never dropped");
    }
    let answered = health(&server, Duration::from_secs(5)).await;
    assert!(matches!(answered, Some((200, _))), "the server still answers: {answered:?}");
    // Once the slow readers are gone, their share is back: a normal reader gets the whole payload.
    let reply = server.get(&format!("/msg/{uuid}/raw_file/big.bin")).await;
    assert_eq!((reply.status, reply.body.len()), (200, PAYLOAD), "the budget was released");
}

/// Point 11: 70 uploads that send their body one byte at a time. They take
/// only the upload slots (4 here; the rest get 503 at once), are cut with
/// 408 once they send less than 1 KiB/s over a 500 ms window, and reads and
/// `/health_check` keep being answered all along.
#[tokio::test]
async fn api_trickling_uploads_cannot_starve_reads() {
    let limits = ApiLimits {
        clients: ServeLimits {
            uploads_in_flight_max: 4,
            client_rate_bytes_per_s_min: 1024,
            client_rate_window_ms: 500,
            ..ServeLimits::default()
        },
        ..ApiLimits::default()
    };
    let server = Server::start_with(limits).await;
    let uuid = server.seed(&super::message(PUBLIC, 1, b"x")).await;
    let started = Instant::now();
    let mut uploads = connect_many(addr(&server), 70).await;
    for s in &mut uploads {
        let head = format!(
            "POST /topic/{PUBLIC} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {WRITER}\r\n\
             Content-Type: application/bson\r\nContent-Length: 10000\r\n\r\n"
        );
        s.write_all(head.as_bytes()).await.expect("upload head");
    }
    for second in 0..3 {
        for s in &mut uploads {
            let _ = s.write_all(b"\x10").await;
        }
        let answered = health(&server, Duration::from_secs(5)).await;
        assert!(
            matches!(answered, Some((200, t)) if t < Duration::from_secs(2)),
            "{second} s into 70 trickling uploads, /health_check got {answered:?} (want 200 within 2 s)"
        );
        let read = server.call(Call::get(format!("/msg/{uuid}"))).await;
        assert_eq!(read.status, 200, "{second} s into 70 trickling uploads, a read got {}", read.status);
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    let results = join_all(uploads.iter_mut().map(|s| drain(s, Duration::from_secs(5)))).await;
    let cut = results.iter().filter(|(status, _)| *status == 408).count();
    let refused = results.iter().filter(|(status, _)| *status == 503).count();
    assert_eq!((cut, refused), (4, 66), "4 upload slots (cut with 408), 66 refused with 503: {results:?}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "trickling uploads must be cut by the rate rule, not the 30 s request deadline ({:?})",
        started.elapsed()
    );
}

/// Point 12: JSON renderings of large messages run on the blocking pool. On
/// this test's single-threaded runtime a rendering on the async worker
/// would hold up every other request until it is done; here
/// `/health_check` is answered while four run.
#[tokio::test]
async fn api_json_rendering_does_not_stall_other_requests() {
    let server = Server::start().await;
    // Control characters become `\u0001` in JSON: six output bytes per input byte.
    let uuid = server.seed(&big_message(4 << 20, 0x01)).await;
    let path = format!("/msg/{uuid}");
    let alone = Instant::now();
    let reply = server.call(Call::get(path.clone()).json()).await;
    let render_time = alone.elapsed();
    assert_eq!(reply.status, 200, "{}", reply.text());
    let renders = join_all((0..4).map(|_| server.call(Call::get(path.clone()).json())));
    let probe = async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        health(&server, Duration::from_secs(30)).await
    };
    let (replies, answered) = tokio::join!(renders, probe);
    assert!(replies.iter().all(|r| r.status == 200), "{:?}", replies.iter().map(|r| r.status).collect::<Vec<_>>());
    let Some((200, latency)) = answered else { panic!("/health_check during renderings: {answered:?}") };
    assert!(
        latency < render_time / 2,
        "/health_check took {latency:?} while JSON renderings ran (one alone takes {render_time:?})"
    );
}
