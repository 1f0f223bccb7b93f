//! A small W3C WebDriver client for Debian's `chromedriver` (what the scenarios need and no
//! more): sessions, navigation, elements, keys, scripts, screenshots and the browser's log.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// How long finding an element or waiting for a condition may take.
const WAIT_MS: u64 = 15_000;

pub const PHONE: (u32, u32) = (390, 844);
pub const DESKTOP: (u32, u32) = (1280, 800);

/// A `chromedriver` process on a free loopback port, killed on drop.
pub struct Driver {
    child: Child,
    url: String,
    http: reqwest::Client,
}

impl Driver {
    pub fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // Its own process group: the browsers it starts are killed with it, even when a
        // failing scenario never quits its sessions.
        let mut child = Command::new("chromedriver")
            .process_group(0)
            .arg(format!("--port={port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian's chromium-driver) must be installed");
        // It says when it listens; the rest of its output is drained and dropped.
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let started = lines
            .by_ref()
            .map_while(Result::ok)
            .any(|line| line.contains("started successfully"));
        assert!(started, "chromedriver did not start");
        std::thread::spawn(move || lines.for_each(drop));
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        }
    }

    /// A new browser with an empty profile, the given language and window size.
    pub async fn browser(&self, profile: &Path, language: &str, size: (u32, u32)) -> Browser {
        let args = vec![
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            format!("--lang={language}"),
            format!("--window-size={},{}", size.0, size.1),
            format!("--user-data-dir={}", profile.display()),
        ];
        let capabilities = json!({
            "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": "/usr/bin/chromium",
                    "args": args,
                    "prefs": { "intl.accept_languages": language },
                },
                "goog:loggingPrefs": { "browser": "ALL" },
                "timeouts": { "implicit": WAIT_MS, "script": WAIT_MS, "pageLoad": 30_000 },
            }}
        });
        let answer = call(
            &self.http,
            "POST",
            &format!("{}/session", self.url),
            Some(capabilities),
        )
        .await;
        let id = answer["value"]["sessionId"]
            .as_str()
            .expect("a session id")
            .to_owned();
        Browser {
            http: self.http.clone(),
            base: format!("{}/session/{id}", self.url),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}

async fn call(http: &reqwest::Client, method: &str, url: &str, body: Option<Value>) -> Value {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = http.request(method, url);
    let sent = body.as_ref().map(Value::to_string).unwrap_or_default();
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.expect("chromedriver answers");
    let status = response.status();
    let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert!(
        status.is_success(),
        "WebDriver {url}: {status} {body} (sent {sent})"
    );
    body
}

/// One browser session (one person on one device).
pub struct Browser {
    http: reqwest::Client,
    base: String,
}

pub struct Element<'a> {
    browser: &'a Browser,
    id: String,
}

impl Browser {
    async fn command(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        call(&self.http, method, &format!("{}{path}", self.base), body).await["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.command("POST", "/url", Some(json!({ "url": url })))
            .await;
    }

    pub async fn reload(&self) {
        self.command("POST", "/refresh", Some(json!({}))).await;
    }

    /// The first element matching a CSS selector, waiting for it to appear.
    pub async fn find(&self, css: &str) -> Element<'_> {
        let found = self
            .command(
                "POST",
                "/element",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await;
        Element {
            browser: self,
            id: found[ELEMENT]
                .as_str()
                .unwrap_or_else(|| panic!("{css}: {found}"))
                .to_owned(),
        }
    }

    /// Runs a script (its body; `arguments` are `args`) and returns what it returned.
    pub async fn script(&self, body: &str, args: Value) -> Value {
        self.command(
            "POST",
            "/execute/sync",
            Some(json!({ "script": body, "args": args })),
        )
        .await
    }

    /// Waits, inside the page and without polling from here, until a JavaScript expression is
    /// true; panics with `what` after the deadline.
    pub async fn wait_until(&self, expression: &str, what: &str) {
        let script = format!(
            "const done = arguments[arguments.length - 1];\
             const deadline = Date.now() + {WAIT_MS} - 500;\
             const check = () => {{\
               let ok = false; try {{ ok = Boolean({expression}); }} catch (e) {{}}\
               if (ok) done(true); else if (Date.now() > deadline) done(false);\
               else setTimeout(check, 50);\
             }};\
             check();"
        );
        let ok = self
            .command(
                "POST",
                "/execute/async",
                Some(json!({ "script": script, "args": [] })),
            )
            .await;
        if ok != json!(true) {
            let shot = self.failure_evidence().await;
            panic!("timed out waiting for {what} ({expression}); screen at {shot}");
        }
    }

    /// Waits until the page's text (of `css`) contains `needle`.
    pub async fn wait_for_text(&self, css: &str, needle: &str) {
        let expression = format!(
            "[...document.querySelectorAll({css})].some((e) => e.innerText.includes({needle}))",
            css = json!(css),
            needle = json!(needle)
        );
        self.wait_until(&expression, &format!("{needle:?} in {css}"))
            .await;
    }

    /// A screenshot and the console, saved next to the scenarios' screenshots.
    async fn failure_evidence(&self) -> String {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser");
        std::fs::create_dir_all(&dir).unwrap();
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis();
        let path = dir.join(format!("failure-{stamp}.png"));
        let encoded = self.command("GET", "/screenshot", None).await;
        let bytes = base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            encoded.as_str().unwrap_or_default(),
        )
        .unwrap_or_default();
        std::fs::write(&path, bytes).unwrap();
        let console = self.console().await;
        format!("{} (console: {console:?})", path.display())
    }

    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await
    }

    /// A Chrome DevTools Protocol command, through chromedriver.
    pub async fn cdp(&self, command: &str, params: Value) -> Value {
        self.command(
            "POST",
            "/goog/cdp/execute",
            Some(json!({ "cmd": command, "params": params })),
        )
        .await
    }

    /// Emulates the system's light or dark preference (the app follows it).
    pub async fn color_scheme(&self, scheme: &str) {
        self.cdp(
            "Emulation.setEmulatedMedia",
            json!({ "features": [{ "name": "prefers-color-scheme", "value": scheme }] }),
        )
        .await;
        self.wait_until(
            &format!("matchMedia('(prefers-color-scheme: {scheme})').matches"),
            "the colour scheme",
        )
        .await;
    }

    /// Text on the screen whose contrast with what is behind it is under WCAG AA (4.5:1, or
    /// 3:1 for large text): "<text>: <ratio>" for each.
    pub async fn low_contrast(&self) -> Vec<String> {
        let found = self.script(CONTRAST_CHECK, json!([])).await;
        serde_json::from_value(found).unwrap()
    }

    pub async fn resize(&self, (width, height): (u32, u32)) {
        self.command(
            "POST",
            "/window/rect",
            Some(json!({ "width": width, "height": height })),
        )
        .await;
    }

    /// Saves the screen as `<dir>/<name>-phone.png` and `-desktop.png`, returning both paths.
    pub async fn snap(&self, dir: &Path, name: &str) -> Vec<PathBuf> {
        let mut paths = Vec::new();
        for (label, size) in [("phone", PHONE), ("desktop", DESKTOP)] {
            self.resize(size).await;
            // Layout settles on the next frames.
            self.wait_until(
                &format!(
                    "window.innerWidth <= {} && document.readyState === 'complete'",
                    size.0
                ),
                "the resize",
            )
            .await;
            let encoded = self.command("GET", "/screenshot", None).await;
            let bytes = base64::Engine::decode(
                &base64::engine::general_purpose::STANDARD,
                encoded.as_str().unwrap(),
            )
            .unwrap();
            let path = dir.join(format!("{name}-{label}.png"));
            std::fs::write(&path, bytes).unwrap();
            paths.push(path);
        }
        self.resize(PHONE).await;
        paths
    }

    /// The browser console's messages since the last call: (level, text).
    pub async fn console(&self) -> Vec<(String, String)> {
        let entries = self
            .command("POST", "/se/log", Some(json!({ "type": "browser" })))
            .await;
        entries
            .as_array()
            .unwrap()
            .iter()
            .map(|entry| {
                (
                    entry["level"].as_str().unwrap_or_default().to_owned(),
                    entry["message"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    /// Panics on any console error or warning (CSP violations are console errors).
    pub async fn assert_clean_console(&self) {
        let troubles: Vec<_> = self
            .console()
            .await
            .into_iter()
            .filter(|(level, _)| level == "SEVERE" || level == "WARNING")
            .collect();
        assert!(troubles.is_empty(), "console: {troubles:#?}");
    }

    pub async fn quit(self) {
        let _ = self.http.delete(&self.base).send().await;
    }
}

impl Element<'_> {
    /// Clicks it, scrolled to the middle of the screen first (as a person would: the fixed
    /// navigation bar may cover the bottom of the window).
    pub async fn click(&self) {
        self.browser
            .script(
                "arguments[0].scrollIntoView({ block: 'center' });",
                json!([{ ELEMENT: self.id }]),
            )
            .await;
        self.browser
            .command(
                "POST",
                &format!("/element/{}/click", self.id),
                Some(json!({})),
            )
            .await;
    }

    pub async fn type_text(&self, text: &str) {
        self.browser
            .command(
                "POST",
                &format!("/element/{}/value", self.id),
                Some(json!({ "text": text })),
            )
            .await;
    }

    pub async fn clear(&self) {
        self.browser
            .command(
                "POST",
                &format!("/element/{}/clear", self.id),
                Some(json!({})),
            )
            .await;
    }

    pub async fn text(&self) -> String {
        self.browser
            .command("GET", &format!("/element/{}/text", self.id), None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

/// WCAG 2 relative luminance and contrast over every visible element holding text; the
/// background is the nearest ancestor's opaque one, colours blended by their alpha.
const CONTRAST_CHECK: &str = r#"
const parse = (value) => {
  const numbers = value.match(/[\d.]+/g);
  if (!value.startsWith('rgb') || !numbers) return null;
  const [r, g, b, a = 1] = numbers.map(Number);
  return { r, g, b, a };
};
const blend = (top, bottom) => ({
  r: top.r * top.a + bottom.r * (1 - top.a),
  g: top.g * top.a + bottom.g * (1 - top.a),
  b: top.b * top.a + bottom.b * (1 - top.a),
  a: 1,
});
const background = (element) => {
  const layers = [];
  for (let node = element; node; node = node.parentElement) {
    const colour = parse(getComputedStyle(node).backgroundColor);
    if (colour && colour.a > 0) {
      layers.push(colour);
      if (colour.a >= 1) break;
    }
  }
  let result = { r: 255, g: 255, b: 255, a: 1 };
  if (matchMedia('(prefers-color-scheme: dark)').matches) result = { r: 0, g: 0, b: 0, a: 1 };
  for (const layer of layers.reverse()) result = blend(layer, result);
  return result;
};
const luminance = ({ r, g, b }) => {
  const channel = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
  return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
};
const failures = [];
for (const element of document.querySelectorAll('body *')) {
  const own = [...element.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
  if (!own || element.closest('.highlights, [hidden], dialog:not([open])')) continue;
  if (element.disabled || element.closest('button:disabled')) continue;
  const rect = element.getBoundingClientRect();
  const style = getComputedStyle(element);
  if (!rect.width || !rect.height || style.visibility === 'hidden' || Number(style.opacity) === 0) continue;
  const colour = parse(style.color);
  if (!colour || colour.a === 0) continue;
  const back = background(element);
  const front = blend(colour, back);
  const [light, dark] = [luminance(front), luminance(back)].sort((x, y) => y - x);
  const ratio = (light + 0.05) / (dark + 0.05);
  const size = parseFloat(style.fontSize);
  const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
  if (ratio < (large ? 3 : 4.5)) failures.push(`${element.textContent.trim().slice(0, 40)}: ${ratio.toFixed(2)}`);
}
return failures;
"#;
