//! Issue 20's reliability scenarios on PostgreSQL, run by
//! `scripts/reliability` (ignored here: slow, and they need a server of
//! their own, which the script starts): two `praxis serve` nodes on one
//! database with one killed again and again mid-fan-out, and the server
//! itself restarted while mail streams in and a fan-out runs. Each prints
//! one `RELIABILITY|…` row as the scenarios of `reliability.rs` do.
//!
//! PRAXIS_TEST_POSTGRES names the server; the restart scenario also needs
//! PRAXIS_TEST_POSTGRES_DIR, the folder `scripts/postgres` runs it from.

use std::time::{Duration, Instant};

use praxis::model::OutboxId;

use crate::reliability::{
    Rng, Sink, add_fanout_members, outbox, peak_kb, queue_fanout, report, size, tail, wait_stored,
};
use crate::support::{Daemon, Home, PrivateStack, Stack, send_many};

/// Connections per node to the sink.
const CONNECTIONS: u32 = 4;

/// A home on a PostgreSQL database of its own, whose nodes beat every
/// second (taken as dead after three silent seconds), sending to the sink
/// at `smtp` with fast retries and watching the list mailbox of `imap`;
/// with `members` members m000000@example.org… and a trusted poster.
fn pg_home(smtp: &str, imap: &str, members: usize) -> Home {
    pg_home_with(smtp, imap, members, "")
}

/// As [`pg_home`], with `extra` (whole sections) before the community.
fn pg_home_with(smtp: &str, imap: &str, members: usize, extra: &str) -> Home {
    let (sh, sp) = Stack::split(smtp);
    let (ih, ip) = Stack::split(imap);
    let home = Home::on_postgres_with_config(&format!(
        "[database]\npath = \"praxis.db\"\nheartbeat = \"1s\"\n\n{extra}\
         [smtp]\nhost = \"{sh}\"\nport = {sp}\nconnections = {CONNECTIONS}\n\n\
         [delivery]\nretry_first = \"1s\"\nretry_max = \"2s\"\npoll = \"200ms\"\nbatch = 500\n\n\
         [[community]]\nslug = \"health\"\nname = \"Maternal Health\"\naddress = \"list@example.test\"\n\
         timezone = \"Asia/Kolkata\"\n\n\
         [community.imap]\nhost = \"{ih}\"\nport = {ip}\ntls = \"none\"\n\
         username = \"list@example.test\"\npassword_env = \"PRAXIS_IMAP_PASSWORD\"\n\n\
         [community.delivery]\ndmarc = \"never\"\n"
    ))
    .expect("PRAXIS_TEST_POSTGRES names a server: scripts/reliability starts one with scripts/postgres");
    add_fanout_members(&home, members);
    home
}

/// Starts a node and waits for its heartbeat.
fn serve(home: &Home) -> Daemon {
    let d = Daemon::start(home);
    let deadline = Instant::now() + Duration::from_secs(60);
    // Its own row among the nodes: the daemon's health row is shared.
    let name = format!("{}:{}", praxis::store::host_name(), d.child.id());
    while home
        .store()
        .nodes(0, praxis::store::now())
        .map(|n| !n.iter().any(|n| n.name == name))
        .unwrap_or(true)
    {
        assert!(
            Instant::now() < deadline,
            "node {name} never registered:\n{}",
            tail(&d.log_text())
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    d
}

/// Which node holds the IMAP watch now (`host:pid`), if any.
fn watcher(home: &Home) -> Option<String> {
    home.store()
        .lease_holder("imap:health", praxis::store::now())
        .ok()
        .flatten()
}

fn node_name(d: &Daemon) -> String {
    format!("{}:{}", praxis::store::host_name(), d.child.id())
}

/// Waits until pending reaches 0 or `limit` passes; how long it took.
fn wait_fanout(home: &Home, id: OutboxId, limit: Duration) -> Duration {
    let start = Instant::now();
    while outbox(home, id).1 != 0 && start.elapsed() < limit {
        std::thread::sleep(Duration::from_millis(100));
    }
    start.elapsed()
}

/// Two nodes on one database share a fan-out; one of them is killed with
/// `kill -9` at random points and restarted, and at the end killed for
/// good while it watches the mailbox: every member has one copy (at most
/// the dead node's in-flight copies twice), the survivor finishes the
/// fan-out alone and takes the IMAP watch over within the lease's bound.
#[test]
#[ignore = "scripts/reliability"]
fn reliability_two_nodes_kill9_during_fanout() {
    let members = size(5000, 1000);
    let kill_points = size(10, 3);
    let stack = PrivateStack::start();
    // 50 ms a message (150 quick): about 80 copies a second per node over
    // four connections, so the fan-out outlasts the kill points.
    let sink = Sink::start(Duration::from_millis(size(50, 150) as u64));
    let home = pg_home(&sink.addr, &stack.imap, members);
    let (outbox_id, recipients) = queue_fanout(&home, members);
    let mut a = serve(&home);
    let b = serve(&home);
    let mut rng = Rng::new();
    let mut kills = 0;
    let mut peak = 0;
    while kills < kill_points {
        std::thread::sleep(Duration::from_millis(300 + rng.below(1500)));
        let (_, pending, _) = outbox(&home, outbox_id);
        if pending < (members / 4) as i64 {
            break;
        }
        peak = peak.max(peak_kb(&a)).max(peak_kb(&b));
        a.kill9();
        kills += 1;
        a = serve(&home);
    }
    // The last kill, for good, of whichever node watches the mailbox (the
    // other when neither does yet), while a share of the fan-out is left.
    let deadline = Instant::now() + Duration::from_secs(60);
    while watcher(&home).is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let held = watcher(&home);
    let (victim, survivor) = if held.as_deref() == Some(node_name(&b).as_str()) {
        (b, a)
    } else {
        (a, b)
    };
    let victim_name = node_name(&victim);
    // Killed while it holds claims (a node just restarted may have none
    // yet), so the survivor has something to take over.
    let claimed = format!("SELECT count(*) FROM deliveries WHERE claimed_by = '{victim_name}'");
    let deadline = Instant::now() + Duration::from_secs(20);
    while home.sql(&claimed).trim() == "0" && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let pending_at_death = outbox(&home, outbox_id).1;
    peak = peak.max(peak_kb(&victim)).max(peak_kb(&survivor));
    victim.kill9();
    kills += 1;
    let died = Instant::now();
    let claims_at_death = home.sql(&claimed).trim().to_string();
    // Its claims go when the survivor takes it as dead: three silent
    // heartbeats (3 s here), seen at the survivor's next heartbeat.
    while home.sql(&claimed).trim() != "0" && died.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let claims_freed = died.elapsed();
    // The watch: a message into the list mailbox is stored by the
    // survivor within the lease's bound (60 s lease + a heartbeat's
    // standby; the survivor lets the lease go sooner, when it takes the
    // node as dead).
    let ids = tokio::runtime::Runtime::new().unwrap().block_on(send_many(
        &stack.smtp,
        "list@example.test",
        "after-death",
        5,
    ));
    let (lost_in, dup_in) = wait_stored(&survivor, &ids, Duration::from_secs(90));
    let watch_taken = died.elapsed();
    // The survivor sends the rest alone.
    wait_fanout(&home, outbox_id, Duration::from_secs(600));
    let finished = died.elapsed();
    let new_watcher = watcher(&home);
    peak = peak.max(peak_kb(&survivor));
    let log = survivor.log_text();
    drop(survivor);
    let (sent, pending, failed) = outbox(&home, outbox_id);
    let (lost, dup) = sink.tally(&recipients);
    eprintln!(
        "two nodes: {sent} sent, {pending} pending, {failed} failed; {} of {members} at the sink; \
         {kills} kills; {pending_at_death} pending when {victim_name} died for good \
         (it watched: {:?}, {claims_at_death} claims); its claims were let go {claims_freed:?} \
         after its death; the \
         survivor stored the mailbox's new mail {watch_taken:?} and finished the fan-out \
         {finished:?} after it (watch now {new_watcher:?})",
        sink.delivered(&recipients),
        held.as_deref() == Some(victim_name.as_str()),
    );
    report(
        &format!("two nodes, kill -9 of one during a {members}-recipient fan-out"),
        kills,
        lost + lost_in,
        dup + dup_in,
        peak,
    );
    assert_eq!((lost, failed, pending), (0, 0, 0));
    assert_eq!((lost_in, dup_in), (0, 0), "{}", tail(&log));
    let bound = kills * CONNECTIONS as usize * praxis::deliver::sender::UNCOMMITTED;
    assert!(
        dup <= bound,
        "{dup} duplicates over the in-flight bound {bound} ({kills} kills x {CONNECTIONS} connections x {})",
        praxis::deliver::sender::UNCOMMITTED
    );
    assert!(
        claims_freed < Duration::from_secs(10),
        "the dead node's claims were let go after {claims_freed:?}"
    );
    assert!(
        finished < Duration::from_secs(120),
        "the survivor took {finished:?} to finish the fan-out"
    );
    assert!(
        watch_taken < Duration::from_secs(90),
        "the watch was taken over after {watch_taken:?}"
    );
    assert_ne!(new_watcher.as_deref(), Some(victim_name.as_str()));
    if pending_at_death > 0 {
        assert!(
            log.contains(&format!("node={victim_name}")) && log.contains("is taken as dead"),
            "the survivor took the dead node as dead:\n{}",
            tail(&log)
        );
    }
}

/// Runs `scripts/postgres CMD DIR` on the test server.
fn postgres(cmd: &str, dir: &str) {
    let out = std::process::Command::new("bash")
        .arg(crate::support::repo().join("scripts/postgres"))
        .args([cmd, dir])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "scripts/postgres {cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// PostgreSQL stopped for 5 s (twice; once quick) while mail streams into
/// the watched mailbox and a fan-out runs: the node stays up, says the
/// database is away, and once it is back stores every message once and
/// gives every member one copy (duplicates within the in-flight bound);
/// `praxis status` names the database while it is away and shows the
/// outage after.
#[test]
#[ignore = "scripts/reliability"]
fn reliability_postgres_restart_mid_ingest_and_fanout() {
    let dir = std::env::var("PRAXIS_TEST_POSTGRES_DIR").expect(
        "PRAXIS_TEST_POSTGRES_DIR names the folder of the server to restart: run scripts/reliability",
    );
    let members = size(3000, 1000);
    let restarts = size(2, 1);
    let stack = PrivateStack::start();
    let sink = Sink::start(Duration::from_millis(size(20, 40) as u64));
    // Mail from an MTA over LMTP too, to a listener of the node's own.
    let lmtp = format!("127.0.0.1:{}", crate::lmtp::free_port());
    let home = pg_home_with(
        &sink.addr,
        &stack.imap,
        members,
        &format!("[lmtp]\nlisten = \"{lmtp}\"\n\n"),
    );
    let (outbox_id, recipients) = queue_fanout(&home, members);
    let mut daemon = serve(&home);
    // Mail streams in from a thread for the whole run.
    let smtp = stack.smtp.clone();
    let streaming = std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let mut ids = Vec::new();
        for round in 0..size(30, 15) {
            ids.extend(rt.block_on(send_many(
                &smtp,
                "list@example.test",
                &format!("pg-restart{round}"),
                10,
            )));
            std::thread::sleep(Duration::from_millis(500));
        }
        ids
    });
    let mut status_away = String::new();
    let mut lmtp_away = Vec::new();
    let mut back_at = Instant::now();
    for r in 0..restarts {
        // At a fifth, then at three fifths of the fan-out.
        let mark = (members * (1 + 2 * r) / 5) as i64;
        let deadline = Instant::now() + Duration::from_secs(300);
        while outbox(&home, outbox_id).0 < mark && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        postgres("stop", &dir);
        std::thread::sleep(Duration::from_secs(2));
        let out = home.praxis().arg("status").output().unwrap();
        status_away = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            !out.status.success(),
            "status succeeded with the database away"
        );
        // A message over LMTP is refused for now (4xx: the MTA keeps it
        // and tries again), never taken and lost.
        let id = format!("lmtp-away-{r}-{}@test.example.test", std::process::id());
        lmtp_away.push((id.clone(), lmtp_deliver(&lmtp, &daemon, &id)));
        std::thread::sleep(Duration::from_secs(2));
        assert!(
            daemon.child.try_wait().unwrap().is_none(),
            "the node died with the database away:\n{}",
            tail(&daemon.log_text())
        );
        postgres("start", &dir);
        back_at = Instant::now();
    }
    let mut ids = streaming.join().unwrap();
    // The MTA's retry of what LMTP refused, now that the server is back.
    for (id, away) in &lmtp_away {
        assert!(
            away.starts_with('4'),
            "LMTP with the database away answered {away}"
        );
        let again = lmtp_deliver(&lmtp, &daemon, id);
        assert!(again.starts_with("250"), "LMTP retry answered {again}");
        ids.push(id.clone());
    }
    let (lost_in, dup_in) = wait_stored(&daemon, &ids, Duration::from_secs(300));
    wait_fanout(&home, outbox_id, Duration::from_secs(600));
    let took = back_at.elapsed();
    // The heartbeat notices the database is back within a heartbeat.
    std::thread::sleep(Duration::from_secs(3));
    let status = home.stdout(&["status"]);
    let peak = peak_kb(&daemon);
    let log = daemon.log_text();
    drop(daemon);
    let (sent, pending, failed) = outbox(&home, outbox_id);
    let (lost, dup) = sink.tally(&recipients);
    let warnings = log.lines().filter(|l| l.contains("WARN")).count();
    eprintln!(
        "PostgreSQL restarted {restarts} time(s): {} messages streamed in, {lost_in} lost, {dup_in} twice \
         (LMTP with the database away: {:?}); \
         fan-out {sent} sent, {pending} pending, {failed} failed, all stored and sent {took:?} after \
         the last restart; {warnings} warnings in the node's log; \
         status while away: {}; status after: {}",
        ids.len(),
        lmtp_away.iter().map(|(_, a)| a.trim()).collect::<Vec<_>>(),
        status_away.trim(),
        status
            .lines()
            .find(|l| l.starts_with("database outage"))
            .unwrap_or("(no outage line)")
    );
    report(
        &format!("PostgreSQL restarted mid-ingest and mid-fan-out to {members}"),
        restarts,
        lost + lost_in,
        dup + dup_in,
        peak,
    );
    assert_eq!((lost_in, dup_in), (0, 0), "{}", tail(&log));
    assert_eq!((lost, failed, pending), (0, 0, 0), "{}", tail(&log));
    let bound = restarts * CONNECTIONS as usize * praxis::deliver::sender::UNCOMMITTED;
    assert!(
        dup <= bound,
        "{dup} duplicates over the in-flight bound {bound}"
    );
    let url = home.database().to_string();
    assert!(
        status_away.contains(&format!("cannot connect to PostgreSQL at {url}"))
            && status_away.contains("check the server runs"),
        "{status_away}"
    );
    assert!(
        status.contains("database outage: node ") && status.contains("failed attempts"),
        "{status}"
    );
    assert!(log.contains("the database is back after"), "{}", tail(&log));
}

/// Delivers one message with Message-ID `id` to the list over LMTP at
/// `addr`, as an MTA does; the reply to its data.
fn lmtp_deliver(addr: &str, daemon: &Daemon, id: &str) -> String {
    use crate::lmtp::{connect, reply, say};
    use std::io::Write;
    let (mut r, mut w) = connect(addr, daemon);
    let greeting = reply(&mut r);
    if !greeting.starts_with("220") {
        return greeting;
    }
    say(&mut w, &mut r, "LHLO mta.example.test");
    say(&mut w, &mut r, "MAIL FROM:<alice@example.test>");
    let rcpt = say(&mut w, &mut r, "RCPT TO:<list@example.test>");
    if !rcpt.starts_with("250") {
        return rcpt;
    }
    say(&mut w, &mut r, "DATA");
    w.write_all(
        format!(
            "From: Alice Rao <alice@example.test>\r\nTo: list@example.test\r\n\
             Subject: over LMTP {id}\r\nMessage-ID: <{id}>\r\n\r\nSent while the database was away.\r\n.\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    let answer = reply(&mut r);
    say(&mut w, &mut r, "QUIT");
    answer
}
