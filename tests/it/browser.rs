//! The browser-test harness: a real headless Chromium driven over WebDriver
//! (Debian's chromedriver, through fantoccini), the Nu HTML Checker (vnu.jar)
//! and axe-core, behind a few blocking calls so a page test reads as a person
//! would use the page:
//!
//! ```ignore
//! let site = DemoSite::start();    // `praxis demo`, served by `praxis serve`
//! let Some(mut b) = Browser::start() else { return };
//! b.goto(&format!("{}/c/mch/", site.base));
//! b.check();                       // vnu: no errors; axe: nothing serious or critical
//! b.click_link("Kangaroo mother care");
//! b.fill("input[name=q]", "binders");
//! b.submit("form[role=search] button");
//! assert!(b.text("main").contains("binders"));
//! b.assert_inert();                // no hostile markup came alive (XSS_PAYLOADS)
//! b.check_pages(&[url1, url2]);    // many pages, one validator run
//! ```
//!
//! Where the tools come from: `scripts/browser install` (run by `scripts/test`)
//! installs them and `scripts/browser env` exports PRAXIS_TEST_CHROMEDRIVER,
//! PRAXIS_TEST_CHROMIUM, PRAXIS_TEST_VNU, PRAXIS_TEST_AXE and
//! PRAXIS_TEST_REQUIRE_BROWSER=1. Without them (a test run by hand) a browser
//! test skips with a message saying how to get them; with
//! PRAXIS_TEST_REQUIRE_BROWSER=1 a missing tool fails the test instead.
//! `scripts/test` also runs the checker as a service (PRAXIS_TEST_VNU_URL);
//! without it each validation starts `java -jar vnu.jar` (about 2 s).
//!
//! Each `Browser` owns one chromedriver (on a free port, in its own process
//! group) and one Chromium with a fresh profile; dropping it ends the session
//! and kills the group. Every failure message names the page and what to fix.
//!
//! Long because the harness keeps its tools (WebDriver, vnu, axe, the XSS
//! scan), the plain HTTP client that feeds vnu the served bytes, and the
//! demo site together, so a page test needs nothing else.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator, elements::Element};
use serde_json::{Value, json};

use crate::support::{Daemon, Home};

/// Chromium's flags: headless, no sandbox (the tests run as root), and none of
/// its background traffic to Google's hosts, which this network refuses.
const CHROMIUM_ARGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
];

/// The paths of the tools, from the environment `scripts/browser env` writes.
#[derive(Debug, Clone)]
pub struct Tools {
    /// The chromedriver binary the harness starts per browser.
    pub chromedriver: PathBuf,
    /// The Chromium binary chromedriver starts (Debian's /usr/bin/chromium).
    pub chromium: PathBuf,
    /// vnu.jar, run with `java -jar` to validate served HTML.
    pub vnu: PathBuf,
    /// axe.min.js, injected into a page to audit its accessibility.
    pub axe: PathBuf,
}

/// The tools from `var` (the environment, or a made-up one in unit tests):
/// `Ok` when all are there; `Err(why)` to skip; a panic when they are missing
/// but PRAXIS_TEST_REQUIRE_BROWSER=1 says the run must not skip.
pub fn tools_from(var: impl Fn(&str) -> Option<String>) -> Result<Tools, String> {
    let mut missing = Vec::new();
    let mut path = |k: &str| match var(k).filter(|v| !v.is_empty()) {
        Some(v) if Path::new(&v).exists() => PathBuf::from(v),
        Some(v) => {
            missing.push(format!("{k}={v} (no such file)"));
            PathBuf::new()
        }
        None => {
            missing.push(format!("{k} (not set)"));
            PathBuf::new()
        }
    };
    let tools = Tools {
        chromedriver: path("PRAXIS_TEST_CHROMEDRIVER"),
        chromium: path("PRAXIS_TEST_CHROMIUM"),
        vnu: path("PRAXIS_TEST_VNU"),
        axe: path("PRAXIS_TEST_AXE"),
    };
    if missing.is_empty() {
        return Ok(tools);
    }
    let why = format!(
        "the browser tools are missing: {}. Run the tests with `scripts/test`, or run \
         `scripts/browser install` and `source <(scripts/browser env)` first",
        missing.join(", ")
    );
    if var("PRAXIS_TEST_REQUIRE_BROWSER").as_deref() == Some("1") {
        panic!("PRAXIS_TEST_REQUIRE_BROWSER=1 and {why}");
    }
    Err(why)
}

/// The tools from the environment, or `None` after printing why the caller skips.
pub fn tools() -> Option<Tools> {
    match tools_from(|k| std::env::var(k).ok()) {
        Ok(t) => Some(t),
        Err(why) => {
            eprintln!("SKIPPED: {why}");
            None
        }
    }
}

/// A free TCP port on loopback (bound and released; a race is unlikely here).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One headless Chromium under its own chromedriver, driven over WebDriver.
pub struct Browser {
    /// Runs fantoccini's futures; every method blocks on it.
    rt: tokio::runtime::Runtime,
    /// The WebDriver session; `None` once closed in `drop`.
    client: Option<Client>,
    /// chromedriver, leader of a process group that Chromium joins, killed whole on drop.
    driver: Child,
    /// Chromium's fresh profile (--user-data-dir) and chromedriver's log.
    dir: tempfile::TempDir,
    /// Where the tools are, for the checkers.
    tools: Tools,
}

impl Browser {
    /// Starts chromedriver and Chromium, or returns `None` (having said why)
    /// when the tools are missing and the run allows skipping.
    pub fn start() -> Option<Browser> {
        let tools = tools()?;
        Some(Browser::with_tools(tools))
    }

    /// Starts chromedriver on a free port and opens a session with Chromium.
    pub fn with_tools(tools: Tools) -> Browser {
        // Two rustls back ends are compiled in (ring for praxis, aws-lc through
        // fantoccini's connector): name one or rustls refuses to pick.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("chromedriver.log");
        let port = free_port();
        let mut cmd = Command::new(&tools.chromedriver);
        cmd.arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        // A test process killed outright (a nextest timeout) never drops the
        // Browser: chromedriver then dies with it instead of lingering.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let driver = cmd.spawn().unwrap_or_else(|e| {
            panic!(
                "cannot start {}: {e}; install Debian's chromium-driver (scripts/browser install)",
                tools.chromedriver.display()
            )
        });
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut b = Browser {
            rt,
            client: None,
            driver,
            dir,
            tools,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on port {port} within 20 s; its log:\n{}",
                b.driver_log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let profile = b.dir.path().join("profile");
        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|a| a.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": b.tools.chromium,
                "args": args,
            },
        });
        let Value::Object(caps) = caps else {
            unreachable!()
        };
        let url = format!("http://127.0.0.1:{port}");
        let client = b.rt.block_on(async {
            ClientBuilder::rustls()
                .expect("rustls connector")
                .capabilities(caps)
                .connect(&url)
                .await
        });
        match client {
            Ok(c) => b.client = Some(c),
            Err(e) => panic!(
                "chromedriver could not start Chromium ({}): {e}; chromedriver's log:\n{}",
                b.tools.chromium.display(),
                b.driver_log()
            ),
        }
        b
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("the session is open")
    }

    /// The tail of chromedriver's log, for failure messages.
    fn driver_log(&self) -> String {
        let text =
            std::fs::read_to_string(self.dir.path().join("chromedriver.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Opens `url` and waits for it to load.
    pub fn goto(&mut self, url: &str) {
        let r = self.rt.block_on(self.client().goto(url));
        if let Err(e) = r {
            panic!("cannot open {url}: {e}");
        }
    }

    /// The address of the page shown now.
    pub fn url(&self) -> String {
        self.rt
            .block_on(self.client().current_url())
            .map(|u| u.to_string())
            .unwrap_or_else(|e| panic!("no current URL: {e}"))
    }

    /// The page's title.
    pub fn title(&self) -> String {
        self.rt
            .block_on(self.client().title())
            .unwrap_or_else(|e| panic!("no title on {}: {e}", self.url()))
    }

    /// The element matching `css`, or a panic naming the selector and the page.
    pub fn find(&self, css: &str) -> Element {
        self.rt
            .block_on(self.client().find(Locator::Css(css)))
            .unwrap_or_else(|e| panic!("no element matches `{css}` on {}: {e}", self.url()))
    }

    /// Every element matching `css` (maybe none).
    pub fn find_all(&self, css: &str) -> Vec<Element> {
        self.rt
            .block_on(self.client().find_all(Locator::Css(css)))
            .unwrap_or_else(|e| panic!("cannot search `{css}` on {}: {e}", self.url()))
    }

    /// Whether something matches `css`.
    pub fn exists(&self, css: &str) -> bool {
        !self.find_all(css).is_empty()
    }

    /// The visible text of the element matching `css`.
    pub fn text(&self, css: &str) -> String {
        let el = self.find(css);
        self.rt
            .block_on(el.text())
            .unwrap_or_else(|e| panic!("cannot read `{css}` on {}: {e}", self.url()))
    }

    /// The visible text of each element matching `css`.
    pub fn texts(&self, css: &str) -> Vec<String> {
        self.find_all(css)
            .into_iter()
            .map(|el| self.rt.block_on(el.text()).unwrap())
            .collect()
    }

    /// An attribute of the element matching `css`.
    pub fn attr(&self, css: &str, name: &str) -> Option<String> {
        let el = self.find(css);
        self.rt
            .block_on(el.attr(name))
            .unwrap_or_else(|e| panic!("cannot read {name} of `{css}` on {}: {e}", self.url()))
    }

    /// The absolute address each link matching `css` leads to.
    pub fn links(&self, css: &str) -> Vec<String> {
        self.find_all(css)
            .into_iter()
            .filter_map(|a| self.rt.block_on(a.prop("href")).ok().flatten())
            .collect()
    }

    /// Clicks the element matching `css` (a navigation it starts is waited for).
    pub fn click(&self, css: &str) {
        let el = self.find(css);
        if let Err(e) = self.rt.block_on(el.click()) {
            panic!("cannot click `{css}` on {}: {e}", self.url());
        }
    }

    /// Follows the link whose whole text is `text`.
    pub fn click_link(&self, text: &str) {
        let page = self.url();
        let el = self
            .rt
            .block_on(self.client().find(Locator::LinkText(text)))
            .unwrap_or_else(|e| panic!("no link reading {text:?} on {page}: {e}"));
        self.navigating(&format!("following {text:?}"), || {
            if let Err(e) = self.rt.block_on(el.click()) {
                panic!("cannot follow the link {text:?} on {page}: {e}");
            }
        });
    }

    /// Types `value` into the field matching `css`, replacing what it held.
    pub fn fill(&self, css: &str, value: &str) {
        let el = self.find(css);
        let r = self.rt.block_on(async {
            el.clear().await?;
            el.send_keys(value).await
        });
        if let Err(e) = r {
            panic!("cannot type into `{css}` on {}: {e}", self.url());
        }
    }

    /// Chooses the option whose value is `value` in the `<select>` matching `css`.
    pub fn select(&self, css: &str, value: &str) {
        let el = self.find(css);
        if let Err(e) = self.rt.block_on(el.select_by_value(value)) {
            panic!("no option {value:?} in `{css}` on {}: {e}", self.url());
        }
    }

    /// Submits a form by clicking its button matching `button_css`, as a
    /// person would, and waits until the next page has loaded.
    pub fn submit(&self, button_css: &str) {
        self.navigating(&format!("submitting `{button_css}`"), || {
            self.click(button_css)
        });
    }

    /// Runs `act`, which starts a navigation, and waits until the document
    /// it left is gone and the next one has loaded. chromedriver's click
    /// returns before a form's POST has been answered often enough that
    /// "readyState is complete" alone passed on the old page (seen in CI:
    /// the test read the store before the server had saved), so the old
    /// document is marked first and the wait is for a page without the mark.
    fn navigating(&self, what: &str, act: impl FnOnce()) {
        let before = self.url();
        self.execute("window.__praxisLeaving = true; return null;", vec![]);
        act();
        let deadline = Instant::now() + Duration::from_secs(20);
        let script =
            "return window.__praxisLeaving === undefined && document.readyState === 'complete';";
        // A script can fail while the old document is torn down: try again.
        while !matches!(
            self.rt.block_on(self.client().execute(script, vec![])),
            Ok(Value::Bool(true))
        ) {
            assert!(
                Instant::now() < deadline,
                "{what} on {before}: {} never finished loading",
                self.url()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the page.
    pub fn execute(&self, script: &str, args: Vec<Value>) -> Value {
        self.rt
            .block_on(self.client().execute(script, args))
            .unwrap_or_else(|e| panic!("a script failed on {}: {e}", self.url()))
    }

    /// The cookies the browser holds for the page shown, as a Cookie header value.
    pub fn cookie_header(&self) -> String {
        let cookies = self
            .rt
            .block_on(self.client().get_all_cookies())
            .unwrap_or_else(|e| panic!("cannot read cookies on {}: {e}", self.url()));
        cookies
            .iter()
            .map(|c| format!("{}={}", c.name(), c.value()))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Saves what the window shows as a PNG at `path` (folders created).
    pub fn screenshot(&self, path: &Path) {
        let png = self
            .rt
            .block_on(self.client().screenshot())
            .unwrap_or_else(|e| panic!("no screenshot of {}: {e}", self.url()));
        assert!(
            png_size(&png).is_some(),
            "the screenshot of {} is not a PNG",
            self.url()
        );
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, png)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }

    /// Saves the whole page, `width` CSS pixels wide and as tall as its
    /// content (200 to 4,000 pixels), as a PNG at `path`, then puts the window
    /// back to its size. The window's frame (outer minus inner size) is added,
    /// so the page itself gets exactly that width and height.
    pub fn screenshot_page(&self, path: &Path, width: u32) {
        let c = self.client();
        let (w0, h0) = self.rt.block_on(c.get_window_size()).unwrap();
        let frame = self.execute(
            "return [window.outerWidth - window.innerWidth, window.outerHeight - window.innerHeight];",
            vec![],
        );
        let fw = frame[0].as_u64().unwrap_or(0) as u32;
        let fh = frame[1].as_u64().unwrap_or(0) as u32;
        self.rt
            .block_on(c.set_window_size(width + fw, h0 as u32))
            .unwrap();
        // The content's height at the new width: the body's bottom edge and margin.
        let height = self
            .execute(
                "var b = document.body; return Math.ceil(b.getBoundingClientRect().bottom \
                 + window.scrollY + parseFloat(getComputedStyle(b).marginBottom || '0'));",
                vec![],
            )
            .as_f64()
            .unwrap_or(900.0)
            .clamp(200.0, 4000.0) as u32;
        self.rt
            .block_on(c.set_window_size(width + fw, height + fh))
            .unwrap();
        self.screenshot(path);
        self.rt
            .block_on(c.set_window_size(w0 as u32, h0 as u32))
            .unwrap();
    }

    /// The page shown, as the server sent it (fetched again with the
    /// browser's cookies; a GET never changes state), not the DOM after scripts.
    pub fn served_html(&self) -> String {
        let url = self.url();
        let (status, body) = http_get(&url, &self.cookie_header());
        // Error pages (400, 403, 404) are pages too and are checked; 405
        // means the page was the answer to a POST.
        assert!(
            status != 405 && status < 500,
            "{url} answered {status} when fetched again for validation (a page shown \
             in answer to a POST cannot be fetched again: redirect after the POST, or \
             validate the response's body with `validate_html`)"
        );
        body
    }

    /// The Nu HTML Checker's errors on the page shown (empty when it is valid).
    pub fn validate(&self) -> Vec<String> {
        validate_with(&self.tools.vnu, &[(&self.url(), &self.served_html())])
    }

    /// axe-core's serious and critical violations on the page shown.
    pub fn axe(&self) -> Vec<Violation> {
        let page = self.url();
        let source = std::fs::read_to_string(&self.tools.axe)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", self.tools.axe.display()));
        let loaded = self.execute(&format!("{source}\n;return typeof window.axe;"), vec![]);
        assert_eq!(
            loaded,
            "object",
            "axe-core did not load into {page} (is {} axe.min.js?)",
            self.tools.axe.display()
        );
        let out = self
            .rt
            .block_on(self.client().execute_async(AXE_RUN, vec![]))
            .unwrap_or_else(|e| panic!("axe.run failed on {page}: {e}"));
        let text = out.as_str().unwrap_or_default();
        let v: Value = serde_json::from_str(text)
            .unwrap_or_else(|e| panic!("axe.run on {page} returned {out}: {e}"));
        if let Some(err) = v.get("error") {
            panic!("axe.run failed on {page}: {err}");
        }
        serde_json::from_value::<Vec<Violation>>(v)
            .unwrap()
            .into_iter()
            .filter(|v| matches!(v.impact.as_deref(), Some("serious" | "critical")))
            .collect()
    }

    /// What on the page shown could run script that the page's own markup
    /// did not mean to: an open alert, a payload of [`XSS_PAYLOADS`] that ran,
    /// an `on…` attribute, a `javascript:` or `data:` link, a `srcdoc`, or a
    /// `<script>` (other than one loaded from the page's own origin),
    /// `<iframe>`, `<object>` or `<embed>` element. Checks the DOM itself, so
    /// it finds unescaped markup even where the Content-Security-Policy
    /// stopped it from running. Empty when the page is inert.
    pub fn xss_found(&self) -> Vec<String> {
        let mut found = Vec::new();
        if let Ok(text) = self.rt.block_on(self.client().get_alert_text()) {
            found.push(format!("an alert is open: {text:?}"));
            let _ = self.rt.block_on(self.client().dismiss_alert());
        }
        let v = self.execute(XSS_SCAN, vec![]);
        found.extend(
            v.as_array()
                .into_iter()
                .flatten()
                .filter_map(|x| x.as_str().map(String::from)),
        );
        found
    }

    /// Asserts [`Browser::xss_found`] finds nothing, naming the page and each
    /// live element.
    pub fn assert_inert(&self) {
        let found = self.xss_found();
        assert!(
            found.is_empty(),
            "{} live script vector(s) on {} (escape or sanitise them):\n{}",
            found.len(),
            self.url(),
            found.join("\n")
        );
    }

    /// Opens each of `urls` and checks it as [`Browser::check`] does, with one
    /// run of the Nu HTML Checker for them all (the JVM's start is most of a
    /// run's time); the panic lists every problem on every page.
    pub fn check_pages(&mut self, urls: &[String]) {
        let mut served = Vec::new();
        let mut problems = Vec::new();
        for url in urls {
            self.goto(url);
            let page = self.url();
            problems.extend(self.axe().iter().map(|v| format!("{page}: {v}")));
            served.push((page, self.served_html()));
        }
        let pages: Vec<(&str, &str)> = served
            .iter()
            .map(|(p, h)| (p.as_str(), h.as_str()))
            .collect();
        problems.extend(validate_with(&self.tools.vnu, &pages));
        assert!(
            problems.is_empty(),
            "{} problem(s) on {} page(s):\n{}",
            problems.len(),
            urls.len(),
            problems.join("\n")
        );
    }

    /// Asserts the page shown validates (no vnu error) and has no serious or
    /// critical axe violation; the panic lists every problem with the page and rule.
    pub fn check(&self) {
        let page = self.url();
        let mut problems = self.validate();
        problems.extend(self.axe().iter().map(|v| format!("{page}: {v}")));
        assert!(
            problems.is_empty(),
            "{} problem(s) on {page}:\n{}",
            problems.len(),
            problems.join("\n")
        );
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(c) = self.client.take() {
            let _ = self
                .rt
                .block_on(async { tokio::time::timeout(Duration::from_secs(5), c.close()).await });
        }
        // chromedriver leads its own process group, which Chromium's processes
        // joined: end them all, whatever state the session was left in.
        let pgid = self.driver.id() as libc::pid_t;
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
        let _ = self.driver.wait();
    }
}

/// Hostile strings for subjects, names, bodies, filenames and Message-IDs:
/// markup that runs script wherever a page fails to escape it. Each one that
/// runs sets `data-xss` on `<html>`, which [`Browser::xss_found`] reports.
pub const XSS_PAYLOADS: &[&str] = &[
    "<script>document.documentElement.dataset.xss='script'</script>",
    "<img src=x onerror=\"document.documentElement.dataset.xss='img'\">",
    "\"><svg onload=\"document.documentElement.dataset.xss='svg'\">",
    "'><a href=\"javascript:document.documentElement.dataset.xss='href'\">click</a>",
    "<iframe srcdoc=\"<script>parent.document.documentElement.dataset.xss='iframe'</script>\"></iframe>",
    "</textarea></title><body onload=\"document.documentElement.dataset.xss='body'\">",
];

/// The DOM scan behind [`Browser::xss_found`]: a list of findings.
const XSS_SCAN: &str = r#"
var found = [];
var ran = document.documentElement.dataset.xss;
if (ran) { found.push('a payload ran: ' + ran); }
var short = function (el) { return el.outerHTML.slice(0, 160); };
document.querySelectorAll('*').forEach(function (el) {
  var tag = el.tagName.toUpperCase();
  if (tag === 'SCRIPT') {
    if (!(el.src && new URL(el.src, location.href).origin === location.origin)) {
      found.push('a script element: ' + short(el));
    }
  } else if (tag === 'IFRAME' || tag === 'OBJECT' || tag === 'EMBED') {
    found.push('an embedding element: ' + short(el));
  }
  for (var i = 0; i < el.attributes.length; i++) {
    var a = el.attributes[i];
    var name = a.name.toLowerCase();
    if (name.indexOf('on') === 0) {
      found.push('an event handler ' + name + ': ' + short(el));
    } else if (name === 'srcdoc') {
      found.push('a srcdoc: ' + short(el));
    } else if (/^(href|src|action|formaction|xlink:href|data)$/.test(name)
               && /^\s*(javascript|data|vbscript):/i.test(a.value)) {
      found.push('a script URL in ' + name + ': ' + short(el));
    }
  }
});
return found;
"#;

/// Runs axe in the page (after axe.min.js was injected) and hands back its
/// violations as JSON text, or `{"error": …}`.
const AXE_RUN: &str = r#"
var done = arguments[arguments.length - 1];
axe.run(document, { resultTypes: ['violations'] }).then(function (r) {
  done(JSON.stringify(r.violations.map(function (v) {
    return { id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
             nodes: v.nodes.map(function (n) {
               return { target: n.target.join(' '), html: n.html };
             }) };
  })));
}, function (e) { done(JSON.stringify({ error: String(e) })); });
"#;

/// One axe-core rule that the page breaks.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Violation {
    /// The rule's id (`image-alt`, `html-has-lang`, …): what to look up.
    pub id: String,
    /// minor, moderate, serious or critical: the harness fails on the last two.
    pub impact: Option<String>,
    /// What the rule asks for, in axe's words.
    pub help: String,
    /// axe's page on the rule, saying how to fix it.
    #[serde(rename = "helpUrl")]
    pub help_url: String,
    /// The elements that break it.
    pub nodes: Vec<ViolationNode>,
}

/// An element breaking an axe rule.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ViolationNode {
    /// Its CSS selector in the page.
    pub target: String,
    /// Its opening HTML, to find it in the template.
    pub html: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "axe rule `{}` ({}): {} ({})",
            self.id,
            self.impact.as_deref().unwrap_or("?"),
            self.help,
            self.help_url
        )?;
        for n in &self.nodes {
            // The element's first line is enough to find it (an `<html>`
            // node's html is the whole page).
            let first = n.html.lines().next().unwrap_or_default();
            let short: String = first.chars().take(160).collect();
            let more = if short.len() < n.html.len() {
                "…"
            } else {
                ""
            };
            write!(f, "\n    at `{}`: {short}{more}", n.target)?;
        }
        Ok(())
    }
}

/// The demo community (what `praxis demo` leaves behind) served by `praxis
/// serve` on a free loopback port: the data that page tests and the README's
/// screenshots browse. Stopped when dropped.
pub struct DemoSite {
    /// The running `praxis serve` (dropped first: it is declared first).
    pub daemon: Daemon,
    /// The demo's folder: config, database, delivered mail.
    pub home: Home,
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub base: String,
}

impl DemoSite {
    /// Runs `praxis demo` into a temporary folder, adds `[http] listen` on a
    /// free port (and the link key the one-click endpoint needs), starts
    /// `praxis serve` and waits until it accepts connections.
    pub fn start() -> DemoSite {
        let home = Home::demo();
        let addr = format!("127.0.0.1:{}", free_port());
        let config = std::fs::read_to_string(home.config())
            .unwrap()
            .replace(
                "maildir = \"delivered\"",
                "maildir = \"delivered\"\nlink_secret_file = \"link.key\"",
            )
            .replace(
                "[community.delivery]\n",
                "[community.web]\narchive = \"public\"\n\n[community.delivery]\n",
            )
            + &format!("\n[http]\nlisten = \"{addr}\"\n");
        home.write_config(&config);
        let key = home.path().join("link.key");
        std::fs::write(&key, "the demo site's own link key, for tests only\n").unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let daemon = Daemon::start(&home);
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(&addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "praxis serve never listened on {addr}; its log:\n{}",
                daemon.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        DemoSite {
            daemon,
            home,
            base: format!("http://{addr}"),
        }
    }
}

/// The Nu HTML Checker's errors on one document named `page` (its URL, for
/// the messages); empty when it is valid. Warnings and notes are left out.
/// For HTML that no browser shows (a rendered digest, say); call it after
/// [`tools`] gave `Some`, as it panics when vnu.jar is missing.
pub fn validate_html(page: &str, html: &str) -> Vec<String> {
    validate_pages(&[(page, html)])
}

/// The Nu HTML Checker's errors on several documents in one run of Java
/// (about 2 s here, most of it the JVM starting): each error is
/// `PAGE:LINE:COLUMN: MESSAGE (at …EXTRACT…)`.
pub fn validate_pages(pages: &[(&str, &str)]) -> Vec<String> {
    let tools = tools_from(|k| std::env::var(k).ok()).unwrap_or_else(|why| panic!("{why}"));
    validate_with(&tools.vnu, pages)
}

/// [`validate_pages`] with this vnu.jar: through the checker's service at
/// PRAXIS_TEST_VNU_URL when `scripts/test` started one (a few milliseconds a
/// page once it is up), else one `java -jar` run for all the pages.
pub fn validate_with(vnu: &Path, pages: &[(&str, &str)]) -> Vec<String> {
    if pages.is_empty() {
        return Vec::new();
    }
    if let Ok(service) = std::env::var("PRAXIS_TEST_VNU_URL")
        && let Some(errors) = validate_by_service(&service, pages)
    {
        return errors;
    }
    validate_by_jar(vnu, pages)
}

/// [`validate_pages`] by one `java -jar vnu.jar` run over all the pages.
pub fn validate_by_jar(vnu: &Path, pages: &[(&str, &str)]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (i, (_, html)) in pages.iter().enumerate() {
        let f = dir.path().join(format!("page{i}.html"));
        std::fs::write(&f, html).unwrap();
        files.push(f);
    }
    // C1 only and a 4 MB stack: the checker starts in about 1.7 s instead of
    // 3 s here, and its schema code needs more than the default stack under C1.
    let out = Command::new("java")
        .args(["-XX:TieredStopAtLevel=1", "-Xss4m", "-jar"])
        .arg(vnu)
        .args(["--format", "json", "--stdout"])
        .args(&files)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run java -jar {}: {e}; install default-jre-headless",
                vnu.display()
            )
        });
    let text = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "java -jar {} printed no JSON report ({e}); stderr:\n{}",
            vnu.display(),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let errors = vnu_errors(&report, |file| {
        files
            .iter()
            .position(|f| file.ends_with(&*f.to_string_lossy()))
            .map_or("?", |i| pages[i].0)
    });
    assert!(
        out.status.success() || !errors.is_empty(),
        "java -jar {} failed without reporting an error; stderr:\n{}",
        vnu.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    errors
}

/// Validates through the checker's service at `service`, waiting up to 90 s
/// for it to come up (scripts/test starts it while the tests compile) unless
/// its process (PRAXIS_TEST_VNU_PID) is gone; `None`, after saying so, if it
/// never answers, so the caller runs the jar.
pub fn validate_by_service(service: &str, pages: &[(&str, &str)]) -> Option<Vec<String>> {
    let url = format!("{}/?out=json", service.trim_end_matches('/'));
    let alive = || match std::env::var("PRAXIS_TEST_VNU_PID") {
        Ok(pid) => Path::new("/proc").join(pid.trim()).exists(),
        Err(_) => true,
    };
    let mut errors = Vec::new();
    for (page, html) in pages {
        let deadline = Instant::now() + Duration::from_secs(90);
        let report = loop {
            let r = http_request(
                "POST",
                &url,
                "Content-Type: text/html; charset=utf-8\r\n",
                html.as_bytes(),
            );
            match r {
                Ok((200, body)) => match serde_json::from_str::<Value>(&body) {
                    Ok(v) => break v,
                    Err(e) => panic!("the checker at {service} answered no JSON ({e}): {body}"),
                },
                // Not listening yet, or listening but not ready: wait.
                Err(_) | Ok((503, _)) if Instant::now() < deadline && alive() => {
                    std::thread::sleep(Duration::from_millis(250))
                }
                Ok((status, body)) if status != 503 => {
                    panic!("the checker at {service} answered {status}: {body}")
                }
                r => {
                    eprintln!(
                        "the checker at {service} is not answering ({r:?}): running vnu.jar instead"
                    );
                    return None;
                }
            }
        };
        errors.extend(vnu_errors(&report, |_| page));
    }
    Some(errors)
}

/// The errors of a vnu JSON report, each `PAGE:LINE:COLUMN: MESSAGE (at …)`,
/// `page_of` naming the page from a message's `url` (empty from the service).
fn vnu_errors<'a>(report: &Value, page_of: impl Fn(&str) -> &'a str) -> Vec<String> {
    let mut errors = Vec::new();
    for m in report["messages"].as_array().into_iter().flatten() {
        let kind = m["type"].as_str().unwrap_or_default();
        if kind != "error" && kind != "non-document-error" {
            continue;
        }
        errors.push(format!(
            "{}:{}:{}: {} (at …{}…)",
            page_of(m["url"].as_str().unwrap_or_default()),
            m["lastLine"].as_u64().unwrap_or(0),
            m["firstColumn"].as_u64().unwrap_or(0),
            m["message"].as_str().unwrap_or_default(),
            m["extract"].as_str().unwrap_or_default().replace('\n', "⏎")
        ));
    }
    errors
}

/// GETs an `http://host:port/path` URL with a Cookie header; returns the
/// status and the body (chunked bodies decoded). Plain HTTP on loopback only.
pub fn http_get(url: &str, cookie: &str) -> (u16, String) {
    let cookie = if cookie.is_empty() {
        String::new()
    } else {
        format!("Cookie: {cookie}\r\n")
    };
    http_request("GET", url, &format!("{cookie}Accept: text/html\r\n"), b"")
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

/// One HTTP/1.1 request (`headers` are whole `Name: value\r\n` lines);
/// returns the status and the body, chunked bodies decoded.
pub fn http_request(
    method: &str,
    url: &str,
    headers: &str,
    body: &[u8],
) -> std::io::Result<(u16, String)> {
    let bad = |why: String| std::io::Error::new(std::io::ErrorKind::InvalidData, why);
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| bad(format!("{url} is not a plain http:// URL")))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let path = path.split('#').next().unwrap_or("/");
    let mut s = TcpStream::connect(authority)?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    let length = if method == "GET" {
        String::new()
    } else {
        format!("Content-Length: {}\r\n", body.len())
    };
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: praxis-tests\r\n\
         {headers}{length}Connection: close\r\n\r\n"
    )?;
    s.write_all(body)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad(format!("{url} answered no HTTP headers")))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut body = raw[split + 4..].to_vec();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| bad(format!("{url} answered a bad status line: {head}")))?;
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    if chunked {
        body = dechunk(&body);
    }
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// A chunked HTTP/1.1 body, decoded.
fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size_text = String::from_utf8_lossy(&b[..eol]);
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let Ok(size) = usize::from_str_radix(size_text, 16) else {
            return out;
        };
        if size == 0 || b.len() < eol + 2 + size {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[(eol + 4 + size).min(b.len())..];
    }
}

/// (width, height) of a PNG, from its IHDR; `None` if it is not a PNG.
pub fn png_size(png: &[u8]) -> Option<(u32, u32)> {
    if png.len() < 24 || &png[..8] != b"\x89PNG\r\n\x1a\n" || &png[12..16] != b"IHDR" {
        return None;
    }
    let be = |i: usize| u32::from_be_bytes(png[i..i + 4].try_into().unwrap());
    Some((be(16), be(20)))
}
