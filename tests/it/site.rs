//! Support for the web tests: the demo community (`praxis demo` fills it:
//! a query, its responses, a published Consolidated Reply) served by a real
//! `praxis serve` with `[http]` on a free loopback port, and a small HTTP/1.1
//! client that keeps cookies the way a browser would.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

use crate::support::{Daemon, Home};

/// One HTTP answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The status code.
    pub code: u16,
    /// The headers, names in lower case, in order.
    pub headers: Vec<(String, String)>,
    /// The body as text (lossy).
    pub body: String,
    /// The body's bytes.
    pub bytes: Vec<u8>,
}

impl Answer {
    /// The first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A served praxis: the demo community with the web on.
pub struct Site {
    /// The home (config, database, delivered Maildir under `delivered/`).
    pub home: Home,
    /// The running `praxis serve`.
    pub daemon: Daemon,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// `http://127.0.0.1:PORT`: the `[http] public_url`.
    pub base: String,
    /// Cookies kept from answers (name → value), sent with every request.
    pub cookies: std::cell::RefCell<BTreeMap<String, String>>,
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Site {
    /// `praxis demo` into a new home, then `praxis serve` with `[http]` on
    /// a free port and the community's archive set to `archive`
    /// ("public", "members" or "moderators"); `extra` is appended to the
    /// config (more sections or keys).
    pub fn demo(archive: &str, extra: &str) -> Site {
        Site::demo_web(&format!("archive = \"{archive}\"\n"), extra)
    }

    /// As [`Site::demo`], with `web` as the body of the community's
    /// `[community.web]` section (`archive = "public"\nhealth = "public"\n`).
    pub fn demo_web(web: &str, extra: &str) -> Site {
        Site::demo_edited(web, extra, &|c| c)
    }

    /// As [`Site::demo_web`], the config passed through `edit` before the
    /// daemon starts (to set a key in a section the demo already has).
    pub fn demo_edited(web: &str, extra: &str, edit: &dyn Fn(String) -> String) -> Site {
        let home = Home::demo();
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let base = format!("http://{addr}");
        let key = home.path().join("link.key");
        std::fs::write(&key, "a long random secret for the web tests\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let config = std::fs::read_to_string(home.config())
            .unwrap()
            .replace(
                "maildir = \"delivered\"",
                "maildir = \"delivered\"\nlink_secret_file = \"link.key\"\npoll = \"200ms\"",
            )
            .replace(
                "[community.delivery]\n",
                &format!("[community.web]\n{web}\n[community.delivery]\n"),
            )
            + &format!("\n[http]\nlisten = \"{addr}\"\npublic_url = \"{base}\"\n")
            + extra;
        home.write_config(&edit(config));
        home.stdout(&["check"]);
        let daemon = Daemon::start(&home);
        let site = Site {
            home,
            daemon,
            addr,
            base,
            cookies: Default::default(),
        };
        site.wait_listening();
        site
    }

    /// Waits until the web answers on its port.
    fn wait_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(&self.addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "the web never listened:\n{}",
                self.daemon.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Passes the config through `edit` and restarts the daemon on it, as
    /// an operator would; cookies (and so sign-ins) are kept.
    pub fn restart(&mut self, edit: &dyn Fn(String) -> String) {
        let config = std::fs::read_to_string(self.home.config()).unwrap();
        self.home.write_config(&edit(config));
        self.home.stdout(&["check"]);
        self.daemon.restart(&self.home);
        self.wait_listening();
    }

    /// GET `path` (with the kept cookies).
    pub fn get(&self, path: &str) -> Answer {
        self.request("GET", path, &[], "")
    }

    /// POST a form (`a=1&b=2`) to `path`, with our own Origin.
    pub fn post(&self, path: &str, form: &str) -> Answer {
        let origin = self.base.clone();
        self.request(
            "POST",
            path,
            &[
                ("Origin", origin.as_str()),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            form,
        )
    }

    /// Any request; `Set-Cookie` in the answer is kept (Max-Age=0 drops it).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Answer {
        let mut s = std::net::TcpStream::connect(&self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        let cookies = self.cookies.borrow();
        if !cookies.is_empty() {
            let c: Vec<String> = cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
            head.push_str(&format!("Cookie: {}\r\n", c.join("; ")));
        }
        drop(cookies);
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(body.as_bytes()).unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
        let answer = parse_answer(&raw);
        for (k, v) in &answer.headers {
            if k == "set-cookie"
                && let Some((name, rest)) = v.split_once('=')
            {
                let value = rest.split(';').next().unwrap_or("").to_string();
                if v.contains("Max-Age=0") || value.is_empty() {
                    self.cookies.borrow_mut().remove(name);
                } else {
                    self.cookies.borrow_mut().insert(name.to_string(), value);
                }
            }
        }
        answer
    }

    /// The value of `name="…"` in the first `<input>` that has it in `html`
    /// (a form's hidden CSRF token, say).
    pub fn input_value(html: &str, name: &str) -> Option<String> {
        let at = html.find(&format!("name=\"{name}\""))?;
        let tag_start = html[..at].rfind('<')?;
        let tag_end = at + html[at..].find('>')?;
        let tag = &html[tag_start..tag_end];
        let v = tag.split("value=\"").nth(1)?;
        Some(v.split('"').next()?.replace("&amp;", "&"))
    }
}

/// Parses an HTTP/1.1 answer (plain or chunked body).
fn parse_answer(raw: &[u8]) -> Answer {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP answer has a head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let code = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
    {
        let mut out = Vec::new();
        let mut rest = &body[..];
        while let Some(nl) = rest.windows(2).position(|w| w == b"\r\n") {
            let size = usize::from_str_radix(
                String::from_utf8_lossy(&rest[..nl])
                    .split(';')
                    .next()
                    .unwrap()
                    .trim(),
                16,
            )
            .unwrap_or(0);
            if size == 0 {
                break;
            }
            out.extend_from_slice(&rest[nl + 2..nl + 2 + size]);
            rest = &rest[nl + 2 + size + 2..];
        }
        body = out;
    }
    Answer {
        code,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        bytes: body,
    }
}

#[test]
fn the_demo_site_answers_its_home_health_and_stylesheet() {
    let site = Site::demo("public", "");
    let h = site.get("/healthz");
    assert_eq!((h.code, h.body.as_str()), (200, "ok\n"));
    let index = site.get("/");
    assert_eq!(index.code, 200, "{}", index.body);
    assert!(
        index.body.contains("Maternal and Child Health Community"),
        "{}",
        index.body
    );
    assert!(
        index
            .header("content-security-policy")
            .unwrap()
            .contains("default-src 'none'")
    );
    assert_eq!(index.header("x-content-type-options"), Some("nosniff"));
    let css = site.get("/static/praxis.css");
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
    assert!(css.bytes.starts_with(b"/* praxis"));
    assert_eq!(site.get("/nowhere").code, 404);
    assert_eq!(site.post("/healthz", "").code, 405);
    assert!(site.base.starts_with("http://127.0.0.1:"));
    assert!(
        site.home.path().join("praxis.db").exists(),
        "{}",
        site.daemon.log_text()
    );
    assert_eq!(
        Site::input_value(
            "<p><input type=\"hidden\" name=\"csrf\" value=\"a&amp;b\"></p>",
            "csrf"
        )
        .as_deref(),
        Some("a&b")
    );
    // `praxis status` asks the running web for /healthz.
    site.daemon
        .wait_health("daemon", "running", Duration::from_secs(20));
    let status = site.home.json(&["--json", "status"]);
    assert_eq!(status["web"], "ok", "{status}");
    // A members' archive is not listed to an anonymous visitor.
    let closed = Site::demo("members", "");
    let index = closed.get("/");
    assert!(
        !index
            .body
            .contains("Maternal and Child Health Community</a>"),
        "{}",
        index.body
    );
}
