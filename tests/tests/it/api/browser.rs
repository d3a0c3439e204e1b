//! The browse page in a real browser: headless Chromium driven through
//! chromedriver's WebDriver HTTP API (plain `reqwest`, no browser crate).
//! Needs Debian's `chromium` and `chromium-driver` (`scripts/deps.sh`).

use super::{PUBLIC, Server, message};
use archiver::record::Header;
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The W3C WebDriver key under which an element reference is returned.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver process and one browser session; both end on drop.
struct Browser {
    driver: Child,
    base: String,
    session: String,
    client: reqwest::Client,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn start() -> Browser {
        for tool in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                std::path::Path::new(tool).exists(),
                "{tool} is missing: run scripts/deps.sh (apt chromium chromium-driver)"
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("client");
        let profile = tempfile::tempdir().expect("profile dir");
        let mut browser = Browser { driver, base, session: String::new(), client, _profile: profile };
        browser.wait_ready().await;
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1200,900",
        ];
        let mut args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        args.push(format!("--user-data-dir={}", browser._profile.path().display()));
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args}
        }}});
        let session = browser.send(reqwest::Method::POST, "/session", Some(capabilities)).await;
        browser.session = session["sessionId"].as_str().expect("session id").to_owned();
        browser
    }

    async fn wait_ready(&self) {
        for _ in 0..100 {
            if let Ok(reply) = self.client.get(format!("{}/status", self.base)).send().await
                && reply.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not become ready");
    }

    /// One WebDriver command; returns its `value`.
    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.client.request(method.clone(), format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body.to_string());
        }
        let reply = request.send().await.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = reply.status();
        let bytes = reply.bytes().await.expect("webdriver body");
        let json: Value = serde_json::from_slice(&bytes).expect("webdriver JSON");
        assert!(status.is_success(), "{method} {path}: {status} {json}");
        json["value"].clone()
    }

    async fn session(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        self.send(method, &format!("/session/{}{path}", self.session), body).await
    }

    async fn open(&self, url: &str) {
        self.session(reqwest::Method::POST, "/url", Some(json!({"url": url}))).await;
    }

    async fn find(&self, css: &str) -> String {
        let found =
            self.session(reqwest::Method::POST, "/element", Some(json!({"using": "css selector", "value": css}))).await;
        match found[ELEMENT_KEY].as_str() {
            Some(element) => element.to_owned(),
            None => {
                let source = self.session(reqwest::Method::GET, "/source", None).await;
                panic!("no element {css} ({found}) in page:\n{source}")
            }
        }
    }

    async fn click(&self, css: &str) {
        let element = self.find(css).await;
        self.session(reqwest::Method::POST, &format!("/element/{element}/click"), Some(json!({}))).await;
    }

    async fn text(&self, css: &str) -> String {
        let element = self.find(css).await;
        self.session(reqwest::Method::GET, &format!("/element/{element}/text"), None)
            .await
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    async fn screenshot(&self, path: &std::path::Path) {
        use base64::Engine as _;
        let png = self.session(reqwest::Method::GET, "/screenshot", None).await;
        let png =
            base64::engine::general_purpose::STANDARD.decode(png.as_str().expect("base64 PNG")).expect("PNG bytes");
        std::fs::write(path, png).expect("write screenshot");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ends Chromium with the driver; the session is not worth a blocking DELETE here.
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

#[tokio::test]
async fn api_browse_page_in_headless_chromium() {
    let server = Server::start().await;
    let mut msg = message(PUBLIC, 1_700_000_000_123, br#"{"alert": "<b>not bold</b>"}"#);
    msg.headers.push(Header::new("title", Some(b"GRB 231114A")));
    let uuid = server.seed(&msg).await;
    server.seed(&message(PUBLIC, 1_700_000_000_000, b"\x00\x01binary\xff")).await;
    let browser = Browser::start().await;

    browser.open(&format!("{}/", server.base)).await;
    let topics = browser.text("#topics").await;
    assert!(
        topics.contains(&format!("{PUBLIC} 2 2023-11-14 22:13:20.000 UTC 2023-11-14 22:13:20.123 UTC")),
        "{topics}"
    );
    browser.click(&format!("a[href='/browse/topic/{PUBLIC}']")).await;
    let listing = browser.text("#messages").await;
    assert!(listing.contains("GRB 231114A") && listing.contains("alice"), "{listing}");
    browser.click(&format!("a[href='/browse/msg/{uuid}']")).await;

    let title = browser.text("h1").await;
    assert_eq!(title, format!("Message {uuid}"));
    let headers = browser.text("#headers").await;
    assert!(headers.contains(&format!("_id {uuid} uuid")), "{headers}");
    assert!(headers.contains("_sender alice utf-8") && headers.contains("title GRB 231114A utf-8"), "{headers}");
    let annotations = browser.text("#annotations").await;
    assert!(annotations.contains("media_type application/json"), "{annotations}");
    // Markup in a payload is shown as text, never interpreted.
    assert_eq!(browser.text("#payload").await, r#"{"alert": "<b>not bold</b>"}"#);
    assert_eq!(browser.text("#download").await, "download payload");

    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("api-browse-message.png");
    browser.screenshot(&shot).await;
    println!("screenshot: {}", shot.display());
    assert!(std::fs::metadata(&shot).expect("screenshot written").len() > 1000);
}

/// The same pages over plain HTTP: binary payloads as hex, paging links,
/// and no markup from the archive reaching the page unescaped.
#[tokio::test]
async fn api_browse_pages_show_hex_page_and_escape() {
    let server = Server::start().await;
    let binary = server.seed(&message(PUBLIC, 5, b"\x00\x01bin\xff")).await;
    let mut hostile = message(PUBLIC, 6, b"x");
    hostile.headers.push(Header::new("title", Some(b"<script>alert(1)</script>")));
    server.seed(&hostile).await;
    for i in 0..55 {
        server.seed(&message(PUBLIC, 100 + i, b"filler")).await;
    }
    let page = server.get(&format!("/browse/msg/{binary}")).await;
    assert_eq!(page.status, 200);
    assert!(page.content_type().starts_with("text/html"));
    assert!(page.headers["content-security-policy"].to_str().unwrap_or("").contains("default-src 'none'"));
    let html = page.text();
    assert!(html.contains("data-encoding=\"hex\">00000000  00 01 62 69 6e ff"), "{html}");
    assert!(html.contains(&format!("href=\"/msg/{binary}/raw_file/{binary}.bin\"")), "download link");

    let first = server.get(&format!("/browse/topic/{PUBLIC}")).await.text();
    assert_eq!(first.matches("<a href=\"/browse/msg/").count(), 50, "50 per page, newest first");
    let older = first.split("?page=").nth(1).and_then(|rest| rest.split('"').next()).expect("an older link");
    let second = server.get(&format!("/browse/topic/{PUBLIC}?page={older}")).await.text();
    assert_eq!(second.matches("<a href=\"/browse/msg/").count(), 7);
    assert!(second.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !second.contains("<script>"), "{second}");
    assert!(second.contains("← newer"));
}
