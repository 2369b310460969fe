//! Fan-out benchmark (not a test): one post to N recipients (default 20,000)
//! through praxis's outbox and `praxis serve`'s sender into Postfix's
//! `smtp-sink`, beside Postfix's `smtp-source` pushing the same number of
//! messages of the same size (praxis's own copy, sent as a file) into the
//! same sink with the same concurrency and connection reuse. Prints
//! recipients per second, CPU per copy and peak memory for both, and the
//! ratio.
//!
//! Run with `bench/fanout [--quick] [--json] [--recipients N]
//! [--connections C] [--database postgres://… [--nodes N]]`. `--quick`: a
//! tenth of the recipients (2,000). `--json`: one JSON row on stdout (the
//! `bench/run` row contract, with the engine, nodes, seconds and CPU split
//! added), the rest on stderr. `--database URL`: the store on that
//! PostgreSQL server instead of a SQLite file — the run makes a database of
//! its own there (the role needs CREATEDB) and drops it at the end.
//! `--nodes N` (PostgreSQL only): N `praxis serve` processes on the same
//! config and database, each with C connections, into the same sink; the
//! rate is recipients / time until every delivery is sent. On PostgreSQL
//! part of the work moves into the server, so the CPU per copy counts the
//! server's processes too (backends, background workers, and those reaped
//! during the run, from the postmaster's children's times), less the
//! backends this harness itself was using before the nodes started.
//! `PRAXIS_FANOUT_WRAP="valgrind --tool=callgrind …"` runs each `praxis
//! serve` under a profiler (its figures are then the profiler's, not
//! praxis's).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use praxis::config::Config;
use praxis::deliver::compose::{Personal, Prepared};
use praxis::deliver::queue_post;
use praxis::model::{OutboxKind, PostId};
use praxis::store::{MemberFields, NewMember, Store};

/// The command line.
struct Args {
    /// Members the post goes to.
    recipients: usize,
    /// SMTP sessions per node (and smtp-source's).
    connections: u32,
    /// One JSON row on stdout.
    json: bool,
    /// A PostgreSQL server to make the run's database on.
    database: Option<String>,
    /// `praxis serve` processes sharing the database.
    nodes: usize,
}

fn args() -> Option<Args> {
    // `cargo bench` passes --bench; `cargo test` and nextest run or list
    // bench targets as tests: there are none here, and nothing is measured.
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.iter().any(|a| a == "--list") {
        return None;
    }
    if !argv.iter().any(|a| a == "--bench") {
        eprintln!("fanout: a benchmark, not a test; run bench/fanout");
        return None;
    }
    let mut a = Args {
        recipients: 20_000,
        connections: 4,
        json: false,
        database: None,
        nodes: 1,
    };
    let mut it = argv.into_iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--recipients" => {
                a.recipients = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--recipients N")
            }
            "--connections" => {
                a.connections = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--connections C")
            }
            "--database" => {
                a.database = Some(it.next().expect("--database postgres://user@host:port/db"))
            }
            "--nodes" => {
                a.nodes = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&n| n >= 1)
                    .expect("--nodes N (1 or more)")
            }
            "--quick" => a.recipients = 2_000,
            "--json" => a.json = true,
            "--bench" => {}
            other => panic!(
                "unknown argument {other}; use --quick, --json, --recipients N, --connections C, \
                 --database postgres://…, --nodes N"
            ),
        }
    }
    if a.nodes > 1 && a.database.is_none() {
        eprintln!(
            "fanout: --nodes {} needs --database postgres://…: on SQLite one sender holds the file",
            a.nodes
        );
        std::process::exit(2);
    }
    if let Some(url) = &a.database
        && !url.starts_with("postgres://")
        && !url.starts_with("postgresql://")
    {
        eprintln!("fanout: --database {url}: give a postgres://user@host:port/database URL");
        std::process::exit(2);
    }
    Some(a)
}

fn main() {
    let Some(args) = args() else { return };
    let (recipients, connections) = (args.recipients, args.connections);
    let dir = tempfile::Builder::new()
        .prefix("pxbench")
        .tempdir_in("/tmp")
        .unwrap();
    let pg = args.database.as_deref().map(PgDatabase::create);
    let port = free_port();
    let mut sink = sink(port);

    // A home whose relay is the sink. No DMARC lookups (`dmarc =
    // "never"`): smtp-source makes none, and a benchmark's traffic stays on
    // loopback (with "auto", the first copy waited for the system
    // resolver to be made and for a DNS answer from off the machine).
    // PostgreSQL configs need the link secret every node shares (unused
    // here: the community has no base URL, so copies carry no signed link).
    let database = match &pg {
        Some(pg) => {
            let key = dir.path().join("link.key");
            std::fs::write(&key, "a long random secret for the fan-out benchmark\n").unwrap();
            std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                .unwrap();
            format!(
                "[database]\nurl = \"{}\"\n[delivery]\nlink_secret_file = \"link.key\"\n",
                pg.url
            )
        }
        None => "[database]\npath = \"praxis.db\"\n[delivery]\n".to_string(),
    };
    let config_path = dir.path().join("praxis.toml");
    std::fs::write(
        &config_path,
        format!(
            "{database}batch = 500\npoll = \"100ms\"\n[smtp]\nhost = \"127.0.0.1\"\nport = {port}\n\
             connections = {connections}\n\
             [[community]]\nslug = \"health\"\nname = \"Maternal Health\"\n\
             address = \"list@example.test\"\n\
             [community.delivery]\ndmarc = \"never\"\n"
        ),
    )
    .unwrap();
    let config = Config::load(&config_path).unwrap();
    let mut store = Store::open_database(&config.database().unwrap()).unwrap();
    store.sync_communities(&config).unwrap();
    let health = praxis::community::Communities::load(&config, &store)
        .unwrap()
        .by_slug("health")
        .unwrap()
        .clone();
    let c = health.id;
    let members: Vec<NewMember> = (0..recipients)
        .map(|i| NewMember {
            email: format!("m{i:06}@example.org"),
            fields: MemberFields::default(),
        })
        .collect();
    store.add_members(c, &members, "bench").unwrap();
    drop(members);

    let raw = post(recipients);
    let post = match &pg {
        Some(pg) => pg.insert_post(&raw),
        None => insert_post(&config.database_path(), &raw),
    };
    let t = Instant::now();
    let queued = queue_post(&mut store, &health, post).unwrap();
    let queue_time = t.elapsed();
    assert_eq!(store.audience_size(queued.id).unwrap() as usize, recipients);

    // The copy one recipient gets, for smtp-source to send the same bytes.
    let stored = store.outbox_message(queued.id).unwrap();
    let prepared = Prepared::new(OutboxKind::Post, stored.message).unwrap();
    let copy = prepared
        .personalise(&Personal {
            recipient: "m000000@example.org",
            community: config.community("health").unwrap(),
            link_key: None,
        })
        .unwrap();
    // smtp-source ends each line of the file with CRLF itself.
    let copy_file = dir.path().join("copy.eml");
    std::fs::write(
        &copy_file,
        String::from_utf8_lossy(&copy).replace("\r\n", "\n"),
    )
    .unwrap();

    // The server's CPU from here on, less this harness's own backends
    // (alive now: the store above), which only poll.
    let server = pg.as_ref().map(|pg| ServerCpu::start(&pg.url));
    let sink_before = cpu_secs(sink.id());

    // praxis serve (N of them) until every delivery is sent.
    let t = Instant::now();
    let mut nodes: Vec<Child> = (0..args.nodes).map(|_| serve(&config_path)).collect();
    let mut peak_kb = 0;
    loop {
        for n in &nodes {
            peak_kb = peak_kb.max(vm_hwm_kb(n.id()));
        }
        // Done when nothing is left to send or expand: one step down the
        // due index and one down the open audiences, so polling often
        // costs next to nothing (counting every row would measure itself).
        // Read-only on both engines (on PostgreSQL `due_deliveries`
        // claims what it returns, which would take work from the nodes).
        if store.next_due_at(i64::MIN + 1).unwrap().is_none()
            && !store.audiences_open(i64::MAX).unwrap()
        {
            break;
        }
        for n in &mut nodes {
            if let Some(status) = n.try_wait().unwrap() {
                panic!("a praxis serve node stopped early: {status}");
            }
        }
        assert!(
            t.elapsed() < Duration::from_secs(600),
            "praxis did not finish"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let praxis_time = t.elapsed();
    let node_cpu: Vec<f64> = nodes.iter().map(|n| cpu_secs(n.id())).collect();
    let server_cpu = server.map(|s| s.spent());
    let sink_cpu = cpu_secs(sink.id()) - sink_before;
    let done = store.outbox_summary(queued.id).unwrap();
    assert_eq!(
        (done.sent as usize, done.failed),
        (recipients, 0),
        "every copy sent, none failed"
    );
    for n in &nodes {
        peak_kb = peak_kb.max(vm_hwm_kb(n.id()));
    }
    for n in &mut nodes {
        unsafe {
            libc::kill(n.id() as i32, libc::SIGTERM);
        }
    }
    for n in &mut nodes {
        n.wait().unwrap();
    }
    drop(store);

    // smtp-source: the same count, size and concurrency, connections reused.
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%e %M %U %S"])
        .arg("/usr/sbin/smtp-source")
        .args([
            "-s",
            &connections.to_string(),
            "-m",
            &recipients.to_string(),
            "-d",
        ])
        .args([
            "-f",
            "list-bounces@example.test",
            "-t",
            "m@example.org",
            "-F",
        ])
        .arg(&copy_file)
        .arg(format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let timing = String::from_utf8_lossy(&out.stderr);
    let last = timing.lines().last().unwrap_or("");
    let mut it = last.split_whitespace();
    let source_secs: f64 = it.next().and_then(|v| v.parse().ok()).unwrap();
    let source_kb: u64 = it.next().and_then(|v| v.parse().ok()).unwrap();
    let source_cpu: f64 = it.filter_map(|v| v.parse::<f64>().ok()).sum();
    let _ = sink.kill();
    let _ = sink.wait();
    drop(pg);

    let praxis_rate = recipients as f64 / praxis_time.as_secs_f64();
    let source_rate = recipients as f64 / source_secs.max(0.001);
    let nodes_total: f64 = node_cpu.iter().sum();
    let per_copy_us = |secs: f64| secs * 1e6 / recipients as f64;
    let engine = if args.database.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let plural = if args.nodes == 1 { "" } else { "s" };
    let name = if args.database.is_none() && args.nodes == 1 {
        "fan-out".to_string()
    } else {
        format!("fan-out ({engine}, {} node{plural})", args.nodes)
    };
    let round = |v: f64, k: f64| (v * k).round() / k;
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "benchmark": name,
                "praxis": round(praxis_rate, 10.0),
                "peer": round(source_rate, 10.0),
                "unit": "recipients/s",
                "ratio": round(praxis_rate / source_rate, 1000.0),
                "praxis_peak_mb": round(peak_kb as f64 / 1024.0, 10.0),
                "peer_peak_mb": round(source_kb as f64 / 1024.0, 10.0),
                "engine": engine,
                "nodes": args.nodes,
                "recipients": recipients,
                "seconds": round(praxis_time.as_secs_f64(), 1000.0),
                "cpu_us_per_copy": round(per_copy_us(nodes_total + server_cpu.unwrap_or(0.0)), 10.0),
                "cpu_s": {
                    "nodes": node_cpu.iter().map(|&v| round(v, 1000.0)).collect::<Vec<_>>(),
                    "postgres": server_cpu.map(|v| round(v, 1000.0)),
                    "sink": round(sink_cpu, 1000.0),
                },
            })
        );
        eprintln!(
            "{name}: {recipients} recipients, {connections} connections per node, {} B per copy: \
             praxis {:.3} s, smtp-source {source_secs:.3} s; CPU nodes {nodes_total:.2} s, \
             PostgreSQL {}, smtp-sink {sink_cpu:.2} s",
            copy.len(),
            praxis_time.as_secs_f64(),
            server_cpu.map_or("-".into(), |v| format!("{v:.2} s")),
        );
        return;
    }
    println!(
        "fan-out of one post to {recipients} recipients on {engine}, {} node{plural} of \
         {connections} connections, {} B per copy, into smtp-sink",
        args.nodes,
        copy.len()
    );
    println!(
        "  queue (one transaction, the audience recorded): {:.3} s",
        queue_time.as_secs_f64()
    );
    println!(
        "  praxis serve : {:>8.3} s  {:>9.0} recipients/s  peak RSS {:>7} KB{}",
        praxis_time.as_secs_f64(),
        praxis_rate,
        peak_kb,
        if args.nodes > 1 {
            " (largest node)"
        } else {
            ""
        }
    );
    println!(
        "  smtp-source  : {:>8.3} s  {:>9.0} messages/s    peak RSS {:>7} KB",
        source_secs, source_rate, source_kb
    );
    match server_cpu {
        Some(server) => {
            println!(
                "  CPU per copy : {:.0} µs = praxis serve {:.0} µs (process start included) + \
                 PostgreSQL server {:.0} µs (part of the work moves into the server, so its \
                 processes are counted); smtp-sink {:.0} µs; smtp-source {:.0} µs",
                per_copy_us(nodes_total + server),
                per_copy_us(nodes_total),
                per_copy_us(server),
                per_copy_us(sink_cpu),
                per_copy_us(source_cpu)
            );
            let each: Vec<String> = node_cpu.iter().map(|v| format!("{v:.2} s")).collect();
            println!(
                "  CPU split    : nodes {}, PostgreSQL {server:.2} s, smtp-sink {sink_cpu:.2} s \
                 over {:.2} s wall",
                each.join(" + "),
                praxis_time.as_secs_f64()
            );
        }
        None => println!(
            "  CPU per copy : praxis serve {:.0} µs (process start included), smtp-sink {:.0} µs, \
             smtp-source {:.0} µs",
            per_copy_us(nodes_total),
            per_copy_us(sink_cpu),
            per_copy_us(source_cpu)
        ),
    }
    println!(
        "  ratio praxis / smtp-source: {:.2}",
        praxis_rate / source_rate
    );
}

/// One `praxis serve` on the config (under `PRAXIS_FANOUT_WRAP`, if set:
/// a command to run it under, for profiling — its figures are then not
/// praxis's own).
fn serve(config: &Path) -> Child {
    let wrap = std::env::var("PRAXIS_FANOUT_WRAP").unwrap_or_default();
    let mut words = wrap.split_whitespace();
    let mut serve = match words.next() {
        Some(tool) => {
            let mut c = Command::new(tool);
            c.args(words).arg(env!("CARGO_BIN_EXE_praxis"));
            c
        }
        None => Command::new(env!("CARGO_BIN_EXE_praxis")),
    };
    serve
        .arg("--config")
        .arg(config)
        .arg("-q")
        .arg("serve")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// The run's own database on a PostgreSQL server, dropped with this value.
struct PgDatabase {
    /// The server's URL as given (the database it names is only connected
    /// to, to create and drop the run's).
    admin: String,
    /// The run's database's name.
    name: String,
    /// The run's database's URL.
    url: String,
}

impl PgDatabase {
    fn create(admin: &str) -> PgDatabase {
        let (rest, query) = match admin.split_once('?') {
            Some((r, q)) => (r, format!("?{q}")),
            None => (admin, String::new()),
        };
        let scheme_end = rest.find("://").map_or(0, |i| i + 3);
        let base = match rest[scheme_end..].find('/') {
            Some(i) => &rest[..scheme_end + i],
            None => rest,
        };
        let name = format!("pxbench_fanout_{}", std::process::id());
        let db = PgDatabase {
            admin: admin.to_string(),
            url: format!("{base}/{name}{query}"),
            name,
        };
        psql(admin, &format!("DROP DATABASE IF EXISTS {}", db.name));
        psql(admin, &format!("CREATE DATABASE {}", db.name));
        db
    }

    /// Stores an approved post with psql (as the tests do on PostgreSQL).
    fn insert_post(&self, raw: &str) -> PostId {
        let hex: String = raw.bytes().map(|b| format!("{b:02x}")).collect();
        let sql = format!(
            "INSERT INTO posts (community_id, message_id, sha256, raw, size, source, received_at, \
             class, state, from_addr, subject) SELECT id, 'bench@example.org', '\\x00'::bytea, \
             decode('{hex}', 'hex'), {}, 'pipe', 0, 'post', 'approved', 'm000001@example.org', \
             'bench' FROM communities RETURNING id",
            raw.len()
        );
        PostId(psql(&self.url, &sql).trim().parse().unwrap())
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        psql(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

/// Runs one statement with psql; its output (unaligned, tuples only).
fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            url,
            "-c",
            sql,
        ])
        .output()
        .expect("psql (postgresql-client) is installed");
    assert!(
        out.status.success(),
        "psql {sql:.80}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The CPU a PostgreSQL server spends from `start` to `spent`: the
/// postmaster's own and its reaped children's (backends and autovacuum
/// workers that ended meanwhile), plus every live child's, less the client
/// backends alive at the start (this harness's connections, and any other
/// client's).
struct ServerCpu {
    /// The postmaster's pid.
    postmaster: u32,
    /// Its own and reaped children's CPU at the start.
    own: f64,
    /// Each child's CPU at the start (client backends left out).
    children: HashMap<u32, f64>,
    /// The client backends alive at the start: not counted.
    excluded: Vec<u32>,
}

impl ServerCpu {
    fn start(url: &str) -> ServerCpu {
        let postmaster = postmaster_of(url);
        let mut children = HashMap::new();
        let mut excluded = Vec::new();
        for pid in children_of(postmaster) {
            if is_client_backend(pid) {
                excluded.push(pid);
            } else {
                children.insert(pid, cpu_secs(pid));
            }
        }
        ServerCpu {
            postmaster,
            own: cpu_with_reaped(postmaster),
            children,
            excluded,
        }
    }

    /// CPU seconds spent by the server since the start.
    fn spent(&self) -> f64 {
        let mut total = cpu_with_reaped(self.postmaster) - self.own;
        let now = children_of(self.postmaster);
        for pid in &now {
            if !self.excluded.contains(pid) {
                total += cpu_secs(*pid) - self.children.get(pid).copied().unwrap_or(0.0);
            }
        }
        // A child that ended meanwhile is in the reaped time whole: take
        // off what it had spent before the start.
        for (pid, before) in &self.children {
            if !now.contains(pid) {
                total -= before;
            }
        }
        total
    }
}

/// The postmaster behind `url`: the parent of a backend (a psql session's,
/// alive while its pid is read).
fn postmaster_of(url: &str) -> u32 {
    let mut child = Command::new("psql")
        .args(["-X", "-q", "-A", "-t", url])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("psql (postgresql-client) is installed");
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "SELECT pg_backend_pid();").unwrap();
    stdin.flush().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let backend: u32 = line.trim().parse().expect("psql printed its backend's pid");
    let ppid = stat_fields(backend)
        .get(1)
        .and_then(|v| v.parse().ok())
        .expect("the backend's /proc stat (the server runs on this machine)");
    drop(stdin);
    child.wait().unwrap();
    ppid
}

/// The pids whose parent is `parent`.
fn children_of(parent: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| stat_fields(pid).get(1).and_then(|v| v.parse().ok()) == Some(parent))
        .collect()
}

/// A backend serving a client: its title names the client's address
/// (`postgres: user db 127.0.0.1(port) idle`) or `[local]`.
fn is_client_backend(pid: u32) -> bool {
    let title = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let title = String::from_utf8_lossy(&title);
    title.contains('(') || title.contains("[local]")
}

/// The fields of /proc/PID/stat after the command name (state first).
fn stat_fields(pid: u32) -> Vec<String> {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .unwrap_or_default()
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

/// Sums the /proc stat fields at `indices` (after the command name) as
/// clock ticks, in seconds.
fn ticks_secs(pid: u32, indices: &[usize]) -> f64 {
    let fields = stat_fields(pid);
    let ticks: u64 = indices
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
        .sum();
    ticks as f64 / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

/// utime + stime of a running process, in seconds.
fn cpu_secs(pid: u32) -> f64 {
    ticks_secs(pid, &[11, 12])
}

/// utime + stime + cutime + cstime: a process's CPU and its reaped
/// children's, in seconds.
fn cpu_with_reaped(pid: u32) -> f64 {
    ticks_secs(pid, &[11, 12, 13, 14])
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn sink(port: u16) -> Child {
    let mut cmd = Command::new("/usr/sbin/smtp-sink");
    if unsafe { libc::geteuid() } == 0 {
        cmd.args(["-u", "nobody"]);
    }
    let child = cmd
        .arg(format!("127.0.0.1:{port}"))
        .arg("1024")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("smtp-sink (from postfix) is installed");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "smtp-sink did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

/// A plain post of about 2 KB.
fn post(n: usize) -> String {
    let para = "In the flood districts we ran mobile clinics from boats for six weeks; \
                antenatal visits went on with a midwife and a nurse per boat. ";
    format!(
        "From: Alice Rao <m000001@example.org>\r\nTo: list@example.test\r\n\
         Subject: Mobile clinics in flood areas ({n})\r\nDate: Mon, 2 Nov 2026 10:00:00 +0530\r\n\
         Message-ID: <bench-{n}@example.org>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{}\r\n",
        para.repeat(14)
    )
}

/// Stores an approved post with the sqlite3 shell (as the tests do).
fn insert_post(db: &Path, raw: &str) -> PostId {
    let file: PathBuf = db.with_extension("post.eml");
    std::fs::write(&file, raw).unwrap();
    let sql = format!(
        "INSERT INTO posts (community_id, message_id, sha256, raw, size, source, received_at, \
         class, state, from_addr, subject) SELECT id, 'bench@example.org', x'00', readfile('{}'), \
         {}, 'pipe', 0, 'post', 'approved', 'm000001@example.org', 'bench' FROM communities; \
         SELECT last_insert_rowid();",
        file.display(),
        raw.len()
    );
    let out = Command::new("sqlite3").arg(db).arg(sql).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    PostId(String::from_utf8_lossy(&out.stdout).trim().parse().unwrap())
}

/// The peak resident set of a process, in KB (VmHWM).
fn vm_hwm_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}
