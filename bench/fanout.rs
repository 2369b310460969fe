//! Fan-out benchmark (not a test): one post to N recipients (default 20,000)
//! through praxis's outbox and `praxis serve`'s sender into Postfix's
//! `smtp-sink`, beside Postfix's `smtp-source` pushing the same number of
//! messages of the same size (praxis's own copy, sent as a file) into the
//! same sink with the same concurrency and connection reuse. Prints
//! recipients per second and peak memory for both, and the ratio.
//!
//! Run with `bench/fanout [--quick] [--json] [--recipients N]
//! [--connections C]`. `--quick`: a tenth of the recipients (2,000).
//! `--json`: one JSON row on stdout (the `bench/run` row contract),
//! the rest on stderr. `PRAXIS_FANOUT_WRAP="valgrind --tool=callgrind …"`
//! runs `praxis serve` under a profiler (its figures are then the
//! profiler's, not praxis's).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use praxis::config::Config;
use praxis::deliver::compose::{Personal, Prepared};
use praxis::deliver::queue_post;
use praxis::model::{OutboxKind, PostId};
use praxis::store::{MemberFields, NewMember, Store};

fn main() {
    let mut recipients = 20_000usize;
    let mut connections = 4u32;
    let mut json = false;
    // `cargo bench` passes --bench; `cargo test` and nextest run or list
    // bench targets as tests: there are none here, and nothing is measured.
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.iter().any(|a| a == "--list") {
        return;
    }
    if !argv.iter().any(|a| a == "--bench") {
        eprintln!("fanout: a benchmark, not a test; run bench/fanout");
        return;
    }
    let mut args = argv.into_iter();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--recipients" => {
                recipients = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--recipients N")
            }
            "--connections" => {
                connections = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--connections C")
            }
            "--quick" => recipients = 2_000,
            "--json" => json = true,
            "--bench" => {}
            other => panic!(
                "unknown argument {other}; use --quick, --json, --recipients N, --connections C"
            ),
        }
    }
    let dir = tempfile::Builder::new()
        .prefix("pxbench")
        .tempdir_in("/tmp")
        .unwrap();
    let port = free_port();
    let mut sink = sink(port);

    // A home whose relay is the sink. No DMARC lookups (`dmarc =
    // "never"`): smtp-source makes none, and a benchmark's traffic stays on
    // loopback (with "auto", the first copy waited for the system
    // resolver to be made and for a DNS answer from off the machine).
    let config_path = dir.path().join("praxis.toml");
    std::fs::write(
        &config_path,
        format!(
            "[database]\npath = \"praxis.db\"\n[smtp]\nhost = \"127.0.0.1\"\nport = {port}\n\
             connections = {connections}\n[delivery]\nbatch = 500\npoll = \"100ms\"\n\
             [[community]]\nslug = \"health\"\nname = \"Maternal Health\"\n\
             address = \"list@example.test\"\n\
             [community.delivery]\ndmarc = \"never\"\n"
        ),
    )
    .unwrap();
    let config = Config::load(&config_path).unwrap();
    let mut store = Store::open(&config.database_path()).unwrap();
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
    let post = insert_post(&config.database_path(), &raw);
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

    // praxis serve until every delivery is sent.
    let t = Instant::now();
    // PRAXIS_FANOUT_WRAP: a command to run `praxis serve` under, for
    // profiling (`valgrind --tool=callgrind`); its figures are then not
    // praxis's own.
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
    let mut serve = serve
        .arg("--config")
        .arg(&config_path)
        .arg("-q")
        .arg("serve")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut peak_kb = 0;
    loop {
        peak_kb = peak_kb.max(vm_hwm_kb(serve.id()));
        // Done when nothing is left to send or expand: one step down the
        // due index and one down the open audiences, so polling often
        // costs next to nothing (counting every row would measure itself).
        let due = store.due_deliveries(i64::MAX, 1, &[], &[]).unwrap();
        if due.is_empty() && !store.audiences_open(i64::MAX).unwrap() {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(600),
            "praxis did not finish"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let praxis_time = t.elapsed();
    let done = store.outbox_summary(queued.id).unwrap();
    assert_eq!(
        (done.sent as usize, done.failed),
        (recipients, 0),
        "every copy sent, none failed"
    );
    peak_kb = peak_kb.max(vm_hwm_kb(serve.id()));
    let praxis_cpu = cpu_secs(serve.id());
    unsafe {
        libc::kill(serve.id() as i32, libc::SIGTERM);
    }
    serve.wait().unwrap();

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

    let praxis_rate = recipients as f64 / praxis_time.as_secs_f64();
    let source_rate = recipients as f64 / source_secs.max(0.001);
    if json {
        println!(
            "{}",
            serde_json::json!({
                "benchmark": "fan-out",
                "praxis": (praxis_rate * 10.0).round() / 10.0,
                "peer": (source_rate * 10.0).round() / 10.0,
                "unit": "recipients/s",
                "ratio": ((praxis_rate / source_rate) * 1000.0).round() / 1000.0,
                "praxis_peak_mb": (peak_kb as f64 / 102.4).round() / 10.0,
                "peer_peak_mb": (source_kb as f64 / 102.4).round() / 10.0,
            })
        );
        eprintln!(
            "fan-out: {recipients} recipients, {connections} connections, {} B per copy: praxis {:.3} s, smtp-source {source_secs:.3} s",
            copy.len(),
            praxis_time.as_secs_f64()
        );
        return;
    }
    println!(
        "fan-out of one post to {recipients} recipients, {connections} connections, {} B per copy, into smtp-sink",
        copy.len()
    );
    println!(
        "  queue (one transaction, the audience recorded): {:.3} s",
        queue_time.as_secs_f64()
    );
    println!(
        "  praxis serve : {:>8.3} s  {:>9.0} recipients/s  peak RSS {:>7} KB",
        praxis_time.as_secs_f64(),
        praxis_rate,
        peak_kb
    );
    println!(
        "  smtp-source  : {:>8.3} s  {:>9.0} messages/s    peak RSS {:>7} KB",
        source_secs, source_rate, source_kb
    );
    println!(
        "  CPU per copy : praxis serve {:.0} µs (process start included), smtp-source {:.0} µs",
        praxis_cpu * 1e6 / recipients as f64,
        source_cpu * 1e6 / recipients as f64
    );
    println!(
        "  ratio praxis / smtp-source: {:.2}",
        praxis_rate / source_rate
    );
}

/// utime + stime of a running process, in seconds.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
        .sum();
    ticks as f64 / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
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
