//! Shared test helpers: a temporary praxis home, the `praxis` binary, the mail stack.
//!
//! Long because every integration test shares these helpers; one place
//! keeps a fixture changed once.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

pub use crate::engines::PgDatabase;

/// A temporary folder holding a config (the shipped one) and its database.
pub struct Home {
    /// Keeps the folder alive.
    pub dir: tempfile::TempDir,
    /// The PostgreSQL database of its own that this home's config names
    /// when the suite runs on PostgreSQL (`on_postgres`); dropped with it.
    pub pg: Option<PgDatabase>,
}

/// Whether this run of the suite puts every home's database on PostgreSQL
/// (`PRAXIS_TEST_ENGINE=postgres`, scripts/test's second pass) rather than
/// in a SQLite file.
pub fn on_postgres() -> bool {
    std::env::var("PRAXIS_TEST_ENGINE").is_ok_and(|e| e == "postgres")
}

impl Home {
    /// A home with config/praxis.toml copied in.
    pub fn new() -> Home {
        Home::with_config(&example_config())
    }

    /// A home with this config text (its `[database]` moved to a
    /// PostgreSQL database of its own on the PostgreSQL pass).
    pub fn with_config(text: &str) -> Home {
        let dir = tempfile::tempdir().unwrap();
        let pg = if on_postgres() {
            Some(
                PgDatabase::create()
                    .expect("PRAXIS_TEST_ENGINE=postgres needs PRAXIS_TEST_POSTGRES"),
            )
        } else {
            None
        };
        let home = Home { dir, pg };
        home.write_config(text);
        home
    }

    /// A home on a PostgreSQL database of its own whatever the pass
    /// (scenarios of several nodes, or of the server restarting); None,
    /// said on stderr, when no test server is named (PRAXIS_TEST_POSTGRES).
    pub fn on_postgres_with_config(text: &str) -> Option<Home> {
        let pg = PgDatabase::create()?;
        let home = Home {
            dir: tempfile::tempdir().unwrap(),
            pg: Some(pg),
        };
        home.write_config(text);
        Some(home)
    }

    /// A home made by `praxis demo` (its config, database and Maildir), on
    /// the pass's engine (see [`Home::adopt`]).
    pub fn demo() -> Home {
        let dir = tempfile::tempdir().unwrap();
        make_demo(dir.path());
        Home::adopt(dir)
    }

    /// A home around a folder that already holds a config and its SQLite
    /// database (`praxis demo`'s). On the PostgreSQL pass the install is
    /// moved as an operator moves one: `praxis db copy` into a database of
    /// the home's own, then the config pointed at it.
    pub fn adopt(dir: tempfile::TempDir) -> Home {
        let sqlite = Home { dir, pg: None };
        if !on_postgres() {
            return sqlite;
        }
        let db =
            PgDatabase::create().expect("PRAXIS_TEST_ENGINE=postgres needs PRAXIS_TEST_POSTGRES");
        sqlite
            .praxis()
            .args(["-q", "db", "copy", "--to", &db.url])
            .assert()
            .success();
        let text = std::fs::read_to_string(sqlite.config()).unwrap();
        let home = Home {
            dir: sqlite.dir,
            pg: Some(db),
        };
        home.write_config(&text);
        home
    }

    /// Writes this config text as the home's config: on the PostgreSQL
    /// pass with `[database] url` naming the home's database (and the
    /// shared link secret such a config needs) instead of its `path`.
    pub fn write_config(&self, text: &str) {
        let text = match &self.pg {
            Some(db) => on_engine(&without_our_secret(text), self.path(), db),
            None => text.to_string(),
        };
        std::fs::write(self.config(), text).unwrap();
    }

    /// The home's store, opened as its config says (either engine).
    pub fn store(&self) -> praxis::store::Store {
        let config = praxis::config::Config::load(&self.config()).unwrap();
        praxis::store::Store::open_database(&config.database().unwrap()).unwrap()
    }

    /// Runs SQL in the home's database with the engine's own shell
    /// (sqlite3 or psql), as an operator would; its output.
    pub fn sql(&self, sql: &str) -> String {
        if let Some(db) = &self.pg {
            return db.sql(sql);
        }
        let out = std::process::Command::new("sqlite3")
            .arg(self.path().join("praxis.db"))
            .arg(sql)
            .output()
            .expect("the sqlite3 shell is installed (scripts/mailstack install)");
        assert!(
            out.status.success(),
            "sqlite3: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Holds the database's write lock from another process, as a long
    /// writer would, until the returned child's stdin is closed: SQLite's
    /// exclusive lock, or on PostgreSQL the advisory lock praxis's writers
    /// take at BEGIN.
    pub fn lock_writers(&self) -> std::process::Child {
        use std::io::Write;
        let (mut cmd, lock): (std::process::Command, &[u8]) = match &self.pg {
            Some(db) => {
                let mut c = std::process::Command::new("psql");
                c.arg(&db.url);
                // The key: "praxis" in ASCII (store/engine/postgres.rs).
                (
                    c,
                    b"BEGIN;\nSELECT pg_advisory_xact_lock(123636563863923);\n",
                )
            }
            None => {
                let mut c = std::process::Command::new("sqlite3");
                c.arg(self.path().join("praxis.db"));
                (c, b"BEGIN EXCLUSIVE;\nSELECT 1;\n")
            }
        };
        let mut locker = cmd
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let stdin = locker.stdin.as_mut().unwrap();
        stdin.write_all(lock).unwrap();
        stdin.flush().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(500));
        locker
    }

    /// The home's database as its config names it.
    pub fn database(&self) -> praxis::config::Database {
        praxis::config::Config::load(&self.config())
            .unwrap()
            .database()
            .unwrap()
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The config file.
    pub fn config(&self) -> PathBuf {
        self.path().join("praxis.toml")
    }

    /// Runs `praxis ARGS`, which must succeed; returns its standard output.
    pub fn stdout(&self, args: &[&str]) -> String {
        let out = self
            .praxis()
            .args(args)
            .assert()
            .success()
            .get_output()
            .clone();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `praxis ARGS`, which must fail (exit 1); returns its standard error.
    pub fn stderr_of_failure(&self, args: &[&str]) -> String {
        let out = self
            .praxis()
            .args(args)
            .assert()
            .failure()
            .get_output()
            .clone();
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// Runs `praxis ARGS` (with `--json` among them) and parses the output.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        serde_json::from_str(&self.stdout(args)).unwrap()
    }

    /// The id (as a command-line argument) of the query whose subject
    /// contains `needle`, from `praxis threads --queries --json`.
    pub fn query_id(&self, needle: &str) -> String {
        let threads = self.json(&["--json", "threads", "--queries"]);
        threads
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["subject"].as_str().is_some_and(|x| x.contains(needle)))
            .unwrap_or_else(|| panic!("no query about {needle:?}: {threads}"))["id"]
            .to_string()
    }

    /// `praxis --config <this home's config>` ready for arguments.
    pub fn praxis(&self) -> Command {
        let mut c = Command::cargo_bin("praxis").unwrap();
        c.arg("--config").arg(self.config());
        c.env_remove("PRAXIS_CONFIG");
        for (k, _) in std::env::vars() {
            if k.starts_with("PRAXIS_") && !k.starts_with("PRAXIS_TEST") && k != "PRAXIS_MAILSTACK"
            {
                c.env_remove(k);
            }
        }
        // The environment praxis runs in holds the secrets its config names
        // (the shipped config's IMAP password); `check` reports one that
        // is missing (`check_names_an_unset_password_env`).
        c.env("PRAXIS_IMAP_PASSWORD", "secret");
        c
    }
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A config for community `health` (list@example.test, Asia/Kolkata, no
/// DMARC rewriting) sending through `smtp` (host:port) with `smtp_extra`
/// lines added to `[smtp]`, retrying every `retry`; `imap` is appended to
/// the community as its `[community.imap]` section.
pub fn health_config(smtp: &str, smtp_extra: &str, retry: &str, imap: &str) -> String {
    let (host, port) = Stack::split(smtp);
    format!(
        r#"[database]
path = "praxis.db"

[smtp]
host = "{host}"
port = {port}
{smtp_extra}
[delivery]
retry_first = "{retry}"
retry_max = "{retry}"
poll = "200ms"

[[community]]
slug = "health"
name = "Maternal Health"
address = "list@example.test"
timezone = "Asia/Kolkata"
{imap}
[community.delivery]
dmarc = "never"
"#
    )
}

/// Runs `praxis demo --dir DIR`, which must succeed: the demo install
/// (config, SQLite database, Maildir) in `dir`.
pub fn make_demo(dir: &Path) {
    let out = Command::cargo_bin("praxis")
        .unwrap()
        .args(["demo", "--dir"])
        .arg(dir)
        .env_remove("PRAXIS_CONFIG")
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "praxis demo failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The shipped example config's text, for tests that change a line of it.
pub fn example_config() -> String {
    std::fs::read_to_string(repo().join("config/praxis.toml")).unwrap()
}

/// A home with the example config whose health community takes its
/// templates from `health-templates/SUB` (created, empty); returns the home
/// and that folder.
pub fn home_with_templates(sub: &str) -> (Home, PathBuf) {
    let text = example_config().replacen(
        "timezone = \"Asia/Kolkata\"",
        "timezone = \"Asia/Kolkata\"\ntemplates = \"health-templates\"",
        1,
    );
    let home = Home::with_config(&text);
    let dir = home.path().join("health-templates").join(sub);
    std::fs::create_dir_all(&dir).unwrap();
    (home, dir)
}

/// The running mail stack's addresses, from the env file `scripts/mailstack` writes.
pub struct Stack {
    /// IMAP host:port.
    pub imap: String,
    /// SMTP host:port.
    pub smtp: String,
    /// Every user's password.
    pub password: String,
}

/// The mail stack started by `scripts/test`; a clear failure when it is not running.
pub fn stack() -> Stack {
    let var = |k: &str| {
        std::env::var(k).unwrap_or_else(|_| {
            panic!(
                "{k} is not set: this test needs the real mail stack. Run the tests with `scripts/test`, \
                 or start it with `scripts/mailstack start DIR` and `source DIR/env`"
            )
        })
    };
    Stack {
        imap: var("PRAXIS_TEST_IMAP"),
        smtp: var("PRAXIS_TEST_SMTP"),
        password: var("PRAXIS_TEST_PASSWORD"),
    }
}

impl Stack {
    /// (host, port) of an address.
    pub fn split(addr: &str) -> (String, u16) {
        let (h, p) = addr.rsplit_once(':').unwrap();
        (h.to_string(), p.parse().unwrap())
    }
}

/// A config for one community `health` fed over IMAP from `stack`, with an
/// optional LMTP listener.
pub fn stack_config(imap: &str, smtp: &str, lmtp_listen: Option<&str>) -> String {
    let (ih, ip) = Stack::split(imap);
    let (sh, sp) = Stack::split(smtp);
    let lmtp = lmtp_listen
        .map(|l| format!("[lmtp]\nlisten = \"{l}\"\n\n"))
        .unwrap_or_default();
    format!(
        r#"[database]
path = "praxis.db"

[smtp]
host = "{sh}"
port = {sp}

{lmtp}[[community]]
slug = "health"
name = "Maternal and Child Health"
address = "list@example.test"
timezone = "Asia/Kolkata"

[community.imap]
host = "{ih}"
port = {ip}
tls = "none"
username = "list@example.test"
password_env = "PRAXIS_IMAP_PASSWORD"
folder = "INBOX"

[[community]]
slug = "lists"
name = "Lists over LMTP"
address = "health@lists.example.test"
"#
    )
}

/// A running `praxis serve`, stopped (SIGTERM) when dropped.
pub struct Daemon {
    /// The child process.
    pub child: std::process::Child,
    /// Its database, for reading what it stored.
    pub db: praxis::config::Database,
    /// Its stderr log file.
    pub log: PathBuf,
}

impl Daemon {
    /// Starts `praxis serve` in `home` with the stack's password.
    pub fn start(home: &Home) -> Daemon {
        let log = home.path().join(format!(
            "serve-{}.log",
            chrono::Utc::now().timestamp_nanos_opt().unwrap()
        ));
        let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("praxis"))
            .arg("--config")
            .arg(home.config())
            .arg("serve")
            .arg("-vv")
            .env("PRAXIS_IMAP_PASSWORD", "secret")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Daemon {
            child,
            db: home.database(),
            log,
        }
    }

    /// Stops this `praxis serve` (SIGTERM, waited on) and starts another in
    /// `home`, as after an operator's config change.
    pub fn restart(&mut self, home: &Home) {
        self.stop();
        let new = Daemon::start(home);
        let old = std::mem::replace(self, new);
        // Already stopped: nothing left for its Drop to do.
        std::mem::forget(old);
    }

    /// SIGTERM, then SIGKILL after 10 s; waits for the exit.
    fn stop(&mut self) {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        self.child.kill().ok();
        self.child.wait().ok();
    }

    /// Waits until the health row `key` is `state`.
    pub fn wait_health(&self, key: &str, state: &str, timeout: std::time::Duration) {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Ok(store) = praxis::store::Store::open_database(&self.db)
                && let Ok(Some(h)) = store.health(key)
                && h.state == state
            {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{key} never became {state}; log:\n{}",
                self.log_text()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// The daemon's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL, no cleanup: a crash.
    pub fn kill9(mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
        std::mem::forget(self);
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A mail stack of a test's own, on free ports, for tests that stop servers.
pub struct PrivateStack {
    /// Its folder.
    pub dir: tempfile::TempDir,
    /// IMAP host:port.
    pub imap: String,
    /// SMTP host:port.
    pub smtp: String,
    /// Where Postfix expects praxis's LMTP listener.
    pub praxis_lmtp: String,
    /// IMAP with implicit TLS (Dovecot's imaps listener), host:port.
    pub imaps: String,
    /// SMTP with implicit TLS (Postfix's wrapper-mode smtpd), host:port.
    pub smtps: String,
    /// The stack's own CA certificate (PEM): what praxis needs as `ca_file`
    /// to trust the servers' certificate.
    pub ca: PathBuf,
}

/// `N` distinct free loopback ports: all are bound at once, so the
/// system cannot hand out the same one twice, then released for the stack.
fn free_ports<const N: usize>() -> [u16; N] {
    let held: Vec<std::net::TcpListener> = (0..N)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    std::array::from_fn(|i| held[i].local_addr().unwrap().port())
}

impl PrivateStack {
    /// Starts Dovecot and Postfix with `scripts/mailstack` in a fresh short folder.
    pub fn start() -> PrivateStack {
        Self::start_with(&[])
    }

    /// Starts one with extra environment for `scripts/mailstack` (e.g. NO_IDLE=1).
    pub fn start_with(env: &[(&str, &str)]) -> PrivateStack {
        let dir = tempfile::Builder::new()
            .prefix("pxs")
            .tempdir_in("/tmp")
            .unwrap();
        let [imap, lmtp, smtp, plmtp, imaps, smtps] = free_ports::<6>();
        let out = std::process::Command::new("bash")
            .arg(repo().join("scripts/mailstack"))
            .arg("start")
            .arg(dir.path())
            .env("IMAP_PORT", imap.to_string())
            .env("LMTP_PORT", lmtp.to_string())
            .env("SMTP_PORT", smtp.to_string())
            .env("PRAXIS_LMTP_PORT", plmtp.to_string())
            .env("IMAPS_PORT", imaps.to_string())
            .env("SMTPS_PORT", smtps.to_string())
            .envs(env.iter().copied())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mailstack start failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let ca = dir.path().join("tls/ca.pem");
        PrivateStack {
            dir,
            imap: format!("127.0.0.1:{imap}"),
            smtp: format!("127.0.0.1:{smtp}"),
            praxis_lmtp: format!("127.0.0.1:{plmtp}"),
            imaps: format!("127.0.0.1:{imaps}"),
            smtps: format!("127.0.0.1:{smtps}"),
            ca,
        }
    }

    /// Runs `scripts/mailstack CMD DIR` (stop-dovecot, start-dovecot, ...).
    pub fn run(&self, cmd: &str) {
        let out = std::process::Command::new("bash")
            .arg(repo().join("scripts/mailstack"))
            .arg(cmd)
            .arg(self.dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mailstack {cmd}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl PrivateStack {
    /// Every message in `user`'s INBOX, raw, read over IMAP.
    pub async fn raw_messages(&self, user: &str) -> Vec<Vec<u8>> {
        let (host, port) = Stack::split(&self.imap);
        let cfg = praxis::config::ImapConfig {
            host,
            port,
            tls: praxis::config::Tls::None,
            username: format!("{user}@example.test"),
            ..Default::default()
        };
        let mut c = praxis::ingest::imap::ImapClient::connect(&cfg, "secret")
            .await
            .unwrap();
        c.select("INBOX").await.unwrap();
        let all = c.fetch_after(0, 100_000).await.unwrap();
        c.logout().await.ok();
        all.into_iter().map(|f| f.raw).collect()
    }

    /// Every message in `user`'s INBOX whose text contains `needle`: the
    /// raw headers unfolded, then the Subject and the text part decoded as a
    /// mail client shows them.
    pub async fn inbox(&self, user: &str, needle: &str) -> Vec<String> {
        self.raw_messages(user)
            .await
            .into_iter()
            .map(|raw_bytes| {
                let raw = String::from_utf8_lossy(&raw_bytes).replace("\r\n", "\n");
                let head = raw.split_once("\n\n").map(|(h, _)| h).unwrap_or(&raw);
                let head = head.replace("\n ", " ").replace("\n\t", " ");
                let parsed = mail_parser::MessageParser::default()
                    .parse(&raw_bytes)
                    .unwrap();
                format!(
                    "{head}\nSubject: {}\n\n{}",
                    parsed.subject().unwrap_or(""),
                    parsed.body_text(0).unwrap_or_default()
                )
            })
            .filter(|t| t.contains(needle))
            .collect()
    }

    /// A config for one community `health` (list@example.test, Asia/Kolkata)
    /// sending through this stack's Postfix with test-fast retries and no
    /// DMARC lookups; with `imap`, fed over IMAP from the list mailbox.
    pub fn live_config(&self, imap: bool) -> String {
        let (ih, ip) = Stack::split(&self.imap);
        let imap = if imap {
            format!(
                "\n[community.imap]\nhost = \"{ih}\"\nport = {ip}\ntls = \"none\"\n\
                 username = \"list@example.test\"\npassword_env = \"PRAXIS_IMAP_PASSWORD\"\n"
            )
        } else {
            String::new()
        };
        health_config(&self.smtp, "", "1s", &imap)
    }

    /// Waits (up to a minute) for a message containing `needle` in `user`'s INBOX.
    pub async fn wait_inbox(&self, user: &str, needle: &str) -> String {
        // Generous: on a shared 2-core machine under a parallel build, mail
        // through Postfix and Dovecot once took over a minute to arrive.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        loop {
            if let Some(m) = self.inbox(user, needle).await.into_iter().next() {
                return m;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{needle} never reached {user}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    }
}

impl Drop for PrivateStack {
    fn drop(&mut self) {
        let _ = std::process::Command::new("bash")
            .arg(repo().join("scripts/mailstack"))
            .arg("stop")
            .arg(self.dir.path())
            .output();
    }
}

/// Sends `n` messages to `to` over one SMTP connection; returns their Message-IDs.
pub async fn send_many(smtp: &str, to: &str, tag: &str, n: usize) -> Vec<String> {
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
    let (host, port) = Stack::split(smtp);
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(port)
        .pool_config(lettre::transport::smtp::PoolConfig::new().max_size(1))
        .build();
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let id = format!("{tag}-{i}-{}@test.example.test", std::process::id());
        let msg = Message::builder()
            .from("Alice Rao <alice@example.test>".parse().unwrap())
            .to(to.parse().unwrap())
            .subject(format!("{tag} message {i}"))
            .message_id(Some(format!("<{id}>")))
            .body(format!("Message {i} of the {tag} run.\n"))
            .unwrap();
        transport.send(msg).await.unwrap();
        ids.push(id);
    }
    ids
}

/// How many of `ids` are stored in community `slug` of `db`, and how many rows they have.
pub fn stored(db: &praxis::config::Database, slug: &str, ids: &[String]) -> (usize, usize) {
    let Ok(store) = praxis::store::Store::open_database(db) else {
        return (0, 0);
    };
    let Ok(c) = store.community(slug) else {
        return (0, 0);
    };
    let all = store.message_ids(c.id).unwrap_or_default();
    let wanted: std::collections::HashSet<&String> = ids.iter().collect();
    let rows = all.iter().filter(|m| wanted.contains(m)).count();
    let distinct: std::collections::HashSet<&String> =
        all.iter().filter(|m| wanted.contains(m)).collect();
    (distinct.len(), rows)
}

/// Postfix's smtp-sink on a free loopback port, dumping what it accepts.
pub struct SmtpSink {
    /// The smtp-sink process.
    child: std::process::Child,
    /// Its loopback port.
    pub port: u16,
    /// Where it writes each accepted transaction.
    dump: PathBuf,
}

impl SmtpSink {
    /// Starts smtp-sink with `args` (e.g. `-r RCPT`); every accepted
    /// transaction is written to a file in a fresh dump folder.
    pub fn start(port: Option<u16>, dump: Option<PathBuf>, args: &[&str]) -> SmtpSink {
        let port = port.unwrap_or_else(|| {
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        });
        let dump = dump.unwrap_or_else(|| {
            // On tmpfs when there is one: smtp-sink syncs each dump file,
            // which on a disk caps it near 100 messages a second.
            let base = if Path::new("/dev/shm").is_dir() {
                "/dev/shm"
            } else {
                "/tmp"
            };
            let d = tempfile::Builder::new()
                .prefix("pxsink")
                .tempdir_in(base)
                .unwrap()
                .keep();
            std::fs::set_permissions(&d, std::os::unix::fs::PermissionsExt::from_mode(0o777))
                .unwrap();
            d
        });
        let mut cmd = std::process::Command::new("/usr/sbin/smtp-sink");
        if unsafe { libc::geteuid() } == 0 {
            cmd.args(["-u", "nobody"]);
        }
        let child = cmd
            .args(args)
            .arg("-d")
            .arg(dump.join("m."))
            .arg(format!("127.0.0.1:{port}"))
            .arg("256")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("smtp-sink is installed with postfix");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "smtp-sink did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        SmtpSink { child, port, dump }
    }

    /// host:port, for `[smtp]`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Stops this sink and starts another on the same port and dump folder.
    pub fn restart(mut self, args: &[&str]) -> SmtpSink {
        self.kill();
        let (port, dump) = (self.port, self.dump.clone());
        std::mem::forget(self);
        // The port is free as soon as the process is gone.
        SmtpSink::start(Some(port), Some(dump), args)
    }

    /// Stops it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Accepted transactions per recipient.
    pub fn received(&self) -> std::collections::HashMap<String, usize> {
        let mut out = std::collections::HashMap::new();
        for e in std::fs::read_dir(&self.dump).unwrap() {
            let text = std::fs::read_to_string(e.unwrap().path()).unwrap_or_default();
            for line in text.lines().take_while(|l| !l.is_empty()) {
                if let Some(rcpt) = line.strip_prefix("X-Rcpt-Args: ") {
                    let addr = rcpt.trim().trim_start_matches('<');
                    let addr = addr.split('>').next().unwrap().to_ascii_lowercase();
                    *out.entry(addr).or_insert(0) += 1;
                }
            }
        }
        out
    }

    /// The accepted messages' texts.
    pub fn messages(&self) -> Vec<String> {
        std::fs::read_dir(&self.dump)
            .unwrap()
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap_or_default())
            .collect()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dump);
    }
}

/// A configured community resolved against the config's database, as
/// `praxis serve` and the commands resolve it once when they start.
pub fn resolved(
    config: &praxis::config::Config,
    slug: &str,
) -> std::sync::Arc<praxis::community::Community> {
    let mut store = praxis::store::Store::open_database(&config.database().unwrap()).unwrap();
    store.sync_communities(config).unwrap();
    praxis::community::Communities::load(config, &store)
        .unwrap()
        .by_slug(slug)
        .unwrap()
        .clone()
}

/// The config `text` without the link secret line `on_engine` added when
/// the test has since given one of its own (it read the config back and
/// added a line), so the key is not there twice.
fn without_our_secret(text: &str) -> String {
    let secrets = text
        .lines()
        .filter(|l| l.starts_with("link_secret_file") || l.starts_with("link_secret_env"))
        .count();
    if secrets < 2 {
        return text.to_string();
    }
    text.lines()
        .filter(|l| !(l.starts_with("link_secret_file") && l.ends_with("/link.secret\"")))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// The config `text` with its `[database]` on PostgreSQL database `db`
/// (its `path` line replaced by `url`) and, unless it has one, a link
/// secret in a file of `home` (`praxis check` requires one shared by every
/// node with a url). Edited as text, so the sections stay where the test
/// put them (a test appends keys to the last one). Text that is not TOML
/// (a test of config errors) is left as it is.
fn on_engine(text: &str, home: &Path, db: &PgDatabase) -> String {
    let Ok(parsed) = text.parse::<toml::Table>() else {
        return text.to_string();
    };
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let is_header = |l: &str| l.trim_start().starts_with('[');
    let section = |lines: &[String], name: &str| lines.iter().position(|l| l.trim() == name);
    let first_header = |lines: &[String]| {
        lines
            .iter()
            .position(|l| is_header(l))
            .unwrap_or(lines.len())
    };
    let url = format!("url = {:?}", db.url);
    match section(&lines, "[database]") {
        Some(i) => {
            let end = lines[i + 1..]
                .iter()
                .position(|l| is_header(l))
                .map_or(lines.len(), |j| i + 1 + j);
            let kept: Vec<String> = lines[i + 1..end]
                .iter()
                .filter(|l| {
                    !l.trim_start().starts_with("path") && !l.trim_start().starts_with("url")
                })
                .cloned()
                .collect();
            lines.splice(i + 1..end, std::iter::once(url).chain(kept));
        }
        None => {
            let at = first_header(&lines);
            lines.splice(at..at, ["[database]".to_string(), url, String::new()]);
        }
    }
    let delivery = parsed.get("delivery").and_then(|d| d.as_table());
    let has_secret = delivery
        .is_some_and(|d| d.contains_key("link_secret_env") || d.contains_key("link_secret_file"));
    if !has_secret {
        let key = home.join("link.secret");
        std::fs::write(&key, "the PostgreSQL pass's link key, for tests only\n").unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let line = format!("link_secret_file = {:?}", key.display().to_string());
        match section(&lines, "[delivery]") {
            Some(i) => lines.insert(i + 1, line),
            None => {
                let at = first_header(&lines);
                lines.splice(at..at, ["[delivery]".to_string(), line, String::new()]);
            }
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// Whether the calling test is skipped on this pass: it is about the
/// SQLite file itself (its mode, its WAL, its locks, a copy of it), which
/// the PostgreSQL pass does not have. Says so on stderr.
pub fn skip_on_postgres(what: &str) -> bool {
    if on_postgres() {
        eprintln!("skipped on the PostgreSQL pass: {what} is SQLite's alone");
    }
    on_postgres()
}
