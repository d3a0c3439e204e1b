//! The browse pages in a real browser: headless Chromium driven through
//! chromedriver's WebDriver HTTP API (plain `reqwest`, no browser crate),
//! with axe-core checking every page's accessibility at desktop and phone
//! width. Needs Debian's `chromium` and `chromium-driver`, and axe-core
//! from npm in the cache (`scripts/deps.sh test` installs all three).

use super::{PRIVATE, PUBLIC, Server, message};
use archiver::record::Header;
use serde_json::{Value, json};
use std::path::Path;
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

    /// Runs `script` (a function body) in the page; a returned promise is
    /// awaited. WebDriver's scripts are not the page's: its
    /// Content-Security-Policy does not stop them.
    async fn execute(&self, script: &str) -> Value {
        self.execute_with(script, json!([])).await
    }

    /// [`Browser::execute`] with `arguments` (a JSON array).
    async fn execute_with(&self, script: &str, arguments: Value) -> Value {
        self.session(reqwest::Method::POST, "/execute/sync", Some(json!({"script": script, "args": arguments}))).await
    }

    /// Submits the filter form and waits (at most 10 s) until the page it
    /// leads to, whose address contains `fragment`, has loaded: a click
    /// may return while the navigation is still under way.
    async fn submit_filters(&self, fragment: &str) {
        self.click("form.filters button").await;
        for _ in 0..100 {
            let url = self.session(reqwest::Method::GET, "/url", None).await;
            let ready = self.execute("return document.readyState;").await;
            if url.as_str().is_some_and(|u| u.contains(fragment)) && ready == "complete" {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the filter form did not lead to a page with {fragment} in its address");
    }

    /// Sets a form field's value, as a person picking it would.
    async fn set_value(&self, css: &str, value: &str) {
        self.execute_with("document.querySelector(arguments[0]).value = arguments[1];", json!([css, value])).await;
    }

    /// Emulates a screen `width` CSS pixels wide (`mobile`: a phone, which
    /// honours the page's viewport tag), through Chromium's DevTools.
    async fn viewport(&self, width: u32, height: u32, mobile: bool) {
        let params = json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile});
        let command = json!({"cmd": "Emulation.setDeviceMetricsOverride", "params": params});
        self.session(reqwest::Method::POST, "/goog/cdp/execute", Some(command)).await;
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
    server.seed(&message(PUBLIC, 1_699_999_995_000, b"\x00\x01binary\xff")).await;
    let browser = Browser::start().await;

    browser.open(&format!("{}/", server.base)).await;
    // The chart cell (an image) has no text; cells end up separated by spaces or line breaks.
    let topics = browser.text("#topics").await.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        topics.contains(&format!("{PUBLIC} 2 2023-11-14 22:13:15.000 UTC 2023-11-14 22:13:20.123 UTC")),
        "{topics}"
    );
    browser.click(&format!("a[href='/browse/topic/{PUBLIC}']")).await;
    let listing = browser.text("#messages").await;
    assert!(listing.contains("GRB 231114A") && listing.contains("alice"), "{listing}");
    // The filter form sends the window; the page lists only what is in it.
    browser.set_value("#until", "2023-11-14T22:13:20").await;
    browser.submit_filters("until=2023-11-14T22%3A13%3A20").await;
    let window = browser.text("#window").await;
    assert_eq!(window, "Newest first, 50 a page; before 2023-11-14 22:13:20.000 UTC.");
    let listing = browser.text("#messages").await;
    assert!(!listing.contains("GRB 231114A"), "the later message is outside the window: {listing}");
    assert_eq!(listing.lines().count(), 2, "the header and the earlier message: {listing}");
    // And the search box: the words of the JSON payload are found.
    browser.open(&format!("{}/browse/topic/{PUBLIC}", server.base)).await;
    browser.set_value("#search_query", "bold").await;
    browser.submit_filters("search_query=bold").await;
    assert_eq!(browser.text("#window").await, "Newest first, 50 a page; all time; matching the search “bold”.");
    let listing = browser.text("#messages").await;
    assert!(listing.contains("GRB 231114A") && listing.lines().count() == 2, "{listing}");
    browser.click(&format!("a[href='/browse/msg/{uuid}']")).await;

    let title = browser.text("h1").await;
    assert_eq!(title, format!("Message {uuid}"));
    let headers = browser.text("#headers").await;
    assert!(headers.contains(&format!("_id {uuid} uuid")), "{headers}");
    assert!(headers.contains("_sender alice utf-8") && headers.contains("title GRB 231114A utf-8"), "{headers}");
    let annotations = browser.text("#annotations").await;
    assert!(annotations.contains("media_type application/json"), "{annotations}");
    // Markup in a payload is shown as text, never interpreted.
    assert_eq!(browser.text("#payload").await, "{\n  \"alert\": \"<b>not bold</b>\"\n}");
    assert_eq!(browser.text("#download").await, "download payload");
}

/// axe-core's script, as `scripts/deps.sh test` installs it.
fn axe_script() -> String {
    let path = mockhop::testing::cache_dir().join("axe-core/node_modules/axe-core/axe.min.js");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}: run scripts/deps.sh test (npm axe-core)", path.display()))
}

/// Runs axe-core on the page open in `browser` (its default rules: WCAG
/// 2.0–2.2 A and AA and best practices); returns the serious and critical
/// violations, one line each, and axe's version.
async fn axe(browser: &Browser, axe_source: &str) -> (Vec<String>, String) {
    let loaded = browser.execute(&format!("{axe_source}\n;return typeof window.axe;")).await;
    assert_eq!(loaded, "object", "axe-core did not load into the page");
    let report = browser
        .execute(
            "return axe.run(document, {resultTypes: ['violations']}).then(r => ({\
               version: axe.version, passes: r.passes.length,\
               violations: r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')\
                 .map(v => v.impact + ' ' + v.id + ': ' + v.help + ' at ' +\
                   v.nodes.map(n => n.target.join(' ')).join(', '))}));",
        )
        .await;
    assert!(report["passes"].as_u64().unwrap_or(0) > 10, "axe checked next to nothing: {report}");
    let violations = report["violations"].as_array().expect("violations").iter();
    let violations = violations.map(|v| v.as_str().unwrap_or_default().to_owned()).collect();
    (violations, report["version"].as_str().unwrap_or_default().to_owned())
}

/// Whether a script the page itself adds runs: the browse pages'
/// Content-Security-Policy must stop it (while WebDriver's own run).
async fn page_script_runs(browser: &Browser) -> bool {
    let ran = browser
        .execute(
            "const s = document.createElement('script'); s.textContent = 'window.pageScriptRan = true;';\
             document.body.appendChild(s); return window.pageScriptRan === true;",
        )
        .await;
    ran.as_bool().expect("a boolean")
}

/// Every browse page — front, topic with a window, cross-topic (with and
/// without a search), a message of each payload type (with the retracted and conflict notices), status
/// — at desktop and phone width: no serious or critical axe-core
/// violation, nothing wider than a phone's screen, page scripts blocked;
/// a screenshot of each into `target/tmp/browse-screenshots/`.
#[tokio::test]
async fn api_browse_pages_are_accessible_at_desktop_and_phone_width() {
    let server = Server::start().await;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64;
    for i in 0..40 {
        server.seed(&message(PUBLIC, now - (i * i) * 3_000_000, b"{\"n\": 1}")).await;
        server.seed(&message(PRIVATE, now - i * 7_000_000, b"{\"n\": 2}")).await;
    }
    let formatted = |timestamp: i64, format: &str, payload: &[u8]| {
        let mut msg = message(PUBLIC, timestamp, payload);
        msg.headers.retain(|h| h.key != "_format");
        msg.headers.push(Header::new("_format", Some(format.as_bytes())));
        msg.headers.push(Header::new("title", Some(format!("A {format} alert").as_bytes())));
        msg
    };
    let json = formatted(now, "json", br#"{"superevent_id": "S231114a", "far": 1.5e-10, "instruments": ["H1", "L1"]}"#);
    let json = server.seed(&json).await;
    server.index.set_retracted(json, true).await.expect("retract");
    let xml = b"<?xml version=\"1.0\"?><voe:VOEvent role=\"observation\"><Who><Date>2023-11-14T22:13:20</Date></Who>\
                <What><Param name=\"RA\" value=\"123.456\"/></What></voe:VOEvent>";
    let xml = server.seed(&formatted(now - 1, "voevent", xml)).await;
    let text = b"TITLE:   GCN CIRCULAR\nNUMBER:  35000\nSUBJECT: GRB 231114A: optical afterglow\n\nA long line of text that wraps \
                 on a phone rather than making the page wider than the screen, as circulars often have.\n";
    let text = server.seed(&formatted(now - 2, "circular", text)).await;
    // Two messages claiming one `_id`: the second is a conflict.
    let blob: Vec<u8> = (0..600u32).map(|i| (i * 13 % 256) as u8).collect();
    let first = formatted(now - 3, "blob", b"\x00first");
    server.seed(&first).await;
    let mut conflict = formatted(now - 4, "blob", &blob);
    conflict.headers = first.headers.clone();
    let binary = server.seed(&conflict).await;

    let pages = [
        ("front", "/".to_owned()),
        ("topic", format!("/browse/topic/{PUBLIC}?from={}&until={}", now - 2 * 86_400_000, now + 1)),
        ("messages", "/browse/messages".to_owned()),
        ("search", "/browse/messages?search_query=GRB".to_owned()),
        ("message-json", format!("/browse/msg/{json}")),
        ("message-xml", format!("/browse/msg/{xml}")),
        ("message-text", format!("/browse/msg/{text}")),
        ("message-binary", format!("/browse/msg/{binary}")),
        ("status", "/browse/status".to_owned()),
    ];
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browse-screenshots");
    std::fs::create_dir_all(&shots).expect("screenshot dir");
    let axe_source = axe_script();
    let browser = Browser::start().await;
    let mut failures = Vec::new();
    let mut version = String::new();
    for (width, height, mobile, size) in [(1280, 900, false, "desktop"), (375, 812, true, "phone")] {
        browser.viewport(width, height, mobile).await;
        for (name, path) in &pages {
            browser.open(&format!("{}{path}", server.base)).await;
            let inner = browser.execute("return window.innerWidth;").await;
            assert_eq!(inner.as_u64(), Some(u64::from(width)), "{size} {name}: the emulated width");
            let (violations, axe_version) = axe(&browser, &axe_source).await;
            version = axe_version;
            failures.extend(violations.into_iter().map(|v| format!("{size} {name}: {v}")));
            let scroll = browser.execute("return document.documentElement.scrollWidth;").await;
            if scroll.as_u64().unwrap_or(u64::MAX) > u64::from(width) {
                failures.push(format!("{size} {name}: the page is {scroll} px wide on a {width} px screen"));
            }
            assert!(!page_script_runs(&browser).await, "{size} {name}: a page script ran despite the CSP");
            browser.screenshot(&shots.join(format!("{name}-{size}.png"))).await;
        }
    }
    println!("axe-core {version}; screenshots in {}", shots.display());
    assert!(failures.is_empty(), "accessibility or layout failures:\n{}", failures.join("\n"));
}
