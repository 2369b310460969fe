//! The sender task inside `praxis serve`: takes due deliveries in batches,
//! builds each recipient's copy, sends it on one of `smtp.connections`
//! connections, and records the outcome.
//!
//! Three parts:
//! - the **ledger**, one thread owning a database connection: every read
//!   and write of the outbox goes through it, and the outcomes that arrive
//!   together are committed together (group commit);
//! - the **dispatcher**, which claims due deliveries (per community, within
//!   its rate limit) into a bounded queue, never claiming one already in hand;
//! - the **workers**, one per connection, which send and hand the outcome
//!   to the ledger, going on to the next delivery while it commits; a worker
//!   has at most [`UNCOMMITTED`] (8) outcomes not yet committed, and waits
//!   before its next transaction when it has that many. So a copy is marked
//!   sent only after the relay accepted it, soon after, and a crash leaves at
//!   most 8 accepted-but-unmarked copies per connection (sent again on
//!   restart: `smtp.connections` × 8 duplicates at worst). A delivery
//!   stays in the sender's hands until its outcome is committed, so it is
//!   never claimed twice.
//!
//! Member audiences (posts, digests, Consolidated Replies) become delivery
//! rows as the dispatcher claims them: the ledger expands the next window of
//! members just before reading due deliveries (`Store::expand_audiences`).
//!
//! A busy database or a full disk is waited out: the ledger retries the
//! commit until it succeeds (or the sender stops), and since no worker goes
//! past UNCOMMITTED outcomes, sending stops meanwhile. An outcome that
//! cannot be recorded at all keeps its delivery in hand, so it is not sent
//! again before a restart.
//!
//! Shutdown: the dispatcher stops claiming, idle workers stop, busy ones
//! finish their transaction and wait for their outcomes' commit within
//! `delivery.shutdown_grace`; past it they are dropped and their deliveries
//! stay pending. A copy taken ahead (its envelope perhaps sent behind the
//! last end of data) is released untouched and its connection closed
//! without QUIT, which drops that envelope. Nothing is marked sent that
//! the relay did not accept.
//!
//! All three but the ledger run on one thread of their own with a
//! single-threaded tokio runtime: a copy's turn (its writes, the replies, the
//! outcome's hand-over and its acknowledgement) wakes tasks several times,
//! and on the daemon's multi-threaded runtime each wake could hop to another
//! worker thread (a futex and a context switch per hop). One thread drives
//! every connection's socket, as smtp-source does.
//!
//! Long because the three parts share the state above; each is short.

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tracing::{debug, error, info, warn};

use super::compose::{Personal, Prepared};
use super::dkim::Signer;
use super::dmarc::{DmarcPolicy, MailAuthDmarc};
use super::dns::Zone;
use super::links::LinkKey;
use super::maildir::MaildirOut;
use super::retry::{Next, Schedule};
use super::smtp::{Attempt, Conn, Relay};
use super::{DeliverError, bounce, notice, verp};
use crate::config::{CommunityConfig, Config, DmarcMunge};
use crate::model::{CommunityId, DeliveryId, OutboxId, OutboxKind};
use crate::store::{DueDelivery, OutboxMessage, Outcome, Store, StoreError};

/// Outcomes committed in one transaction at most.
const GROUP_COMMIT: usize = 256;
/// Copies one connection may have had accepted by the relay while their
/// outcome is not yet committed: the bound on copies a crash sends twice,
/// per connection. The worker goes on to the next copy while the ledger
/// commits, so commits are off the critical path and grouped.
pub const UNCOMMITTED: usize = 8;
/// A burst with fewer outcomes than this waits [`LINGER`] once for more.
const LINGER_BELOW: usize = 8;
/// How long a small burst of outcomes waits for company before its commit.
const LINGER: Duration = Duration::from_millis(1);
/// How often a lingering burst looks for more outcomes (and for a worker
/// waiting on its commit).
const LINGER_STEP: Duration = Duration::from_micros(50);
/// The first pause before committing outcomes again after a busy database
/// or a full disk; it doubles up to [`RECORD_RETRY_MAX`].
const RECORD_RETRY_FIRST: Duration = Duration::from_millis(250);
/// The longest pause between attempts to commit outcomes.
const RECORD_RETRY_MAX: Duration = Duration::from_secs(5);
/// How often a commit that keeps failing is logged again.
const RECORD_WARN_EVERY: Duration = Duration::from_secs(30);
/// The longest wait between claims while the database cannot be read
/// (the wait starts at `delivery.poll` and doubles).
const CLAIM_RETRY_MAX: Duration = Duration::from_secs(10);
/// Prepared messages kept in memory (a digest can be large).
const PREPARED_CACHE: usize = 16;
/// A connection idle this long is closed.
const IDLE: Duration = Duration::from_secs(30);
/// How often probes are sent and settled, at most (more often when
/// `bounce.probe_wait` is short).
const MAINTENANCE: Duration = Duration::from_secs(60);
/// The longest pause after the relay failed.
const MAX_PAUSE: Duration = Duration::from_secs(60);

/// Unix seconds now.
fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A request to the ledger thread.
enum Req {
    Due {
        now: i64,
        limit: u32,
        exclude: Vec<DeliveryId>,
        skip: Vec<CommunityId>,
        reply: oneshot::Sender<Result<Vec<DueDelivery>, StoreError>>,
    },
    NextDue(i64, oneshot::Sender<Result<Option<i64>, StoreError>>),
    Message(OutboxId, oneshot::Sender<Result<OutboxMessage, StoreError>>),
    /// An outcome to record; the answer says whether it was committed.
    /// `waiting`: its worker has no room left for another copy until an
    /// outcome of its is committed, so the commit does not linger.
    Outcome {
        id: DeliveryId,
        outcome: Outcome,
        waiting: bool,
        ack: oneshot::Sender<bool>,
    },
    Maintain(i64, oneshot::Sender<()>),
}

/// The handle to the ledger thread.
#[derive(Clone)]
struct Ledger {
    tx: mpsc::UnboundedSender<Req>,
}

impl Ledger {
    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Req) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(make(tx)).ok()?;
        rx.await.ok()
    }

    async fn due(
        &self,
        now: i64,
        limit: u32,
        exclude: Vec<DeliveryId>,
        skip: Vec<CommunityId>,
    ) -> Result<Vec<DueDelivery>, String> {
        flat(
            self.ask(|reply| Req::Due {
                now,
                limit,
                exclude,
                skip,
                reply,
            })
            .await,
        )
    }

    async fn next_due(&self, now: i64) -> Result<Option<i64>, String> {
        flat(self.ask(|r| Req::NextDue(now, r)).await)
    }

    async fn message(&self, id: OutboxId) -> Result<OutboxMessage, String> {
        flat(self.ask(|r| Req::Message(id, r)).await)
    }

    /// Hands an outcome to the ledger; the receiver resolves once it is
    /// committed (true) or given up (false). `None`: the ledger is gone.
    /// `waiting`: the worker cannot take another copy until this commit.
    fn submit(
        &self,
        id: DeliveryId,
        outcome: Outcome,
        waiting: bool,
    ) -> Option<oneshot::Receiver<bool>> {
        let (tx, ack) = oneshot::channel();
        self.tx
            .send(Req::Outcome {
                id,
                outcome,
                waiting,
                ack: tx,
            })
            .ok()?;
        Some(ack)
    }

    async fn maintain(&self, now: i64) {
        self.ask(|r| Req::Maintain(now, r)).await;
    }
}

fn flat<T>(r: Option<Result<T, StoreError>>) -> Result<T, String> {
    match r {
        Some(r) => r.map_err(|e| e.to_string()),
        None => Err("the ledger thread stopped".into()),
    }
}

/// Commits `outcomes`, waiting out a busy database or a full disk for as
/// long as it lasts (until the sender stops): giving up would release the
/// deliveries to be claimed and sent again, every time, while the disk
/// stayed full. Meanwhile no worker goes past [`UNCOMMITTED`] copies, so
/// the sender stops sending. False when they could not be recorded.
fn record(
    store: &mut Store,
    outcomes: &[(DeliveryId, Outcome)],
    rule: &crate::store::BounceRule,
    render: &dyn Fn(&crate::store::Member, f64, &str) -> Option<crate::store::Notice>,
    stopping: &AtomicBool,
) -> bool {
    let started = Instant::now();
    let mut pause = RECORD_RETRY_FIRST;
    let mut warned_at: Option<Instant> = None;
    loop {
        match store.apply_outcomes(outcomes, rule, render) {
            Ok(_) => {
                if warned_at.is_some() {
                    info!(
                        "recorded {} delivery outcomes after {:.0?}; sending again",
                        outcomes.len(),
                        started.elapsed()
                    );
                }
                return true;
            }
            Err(e) if e.is_temporary() && !stopping.load(Ordering::Relaxed) => {
                if warned_at.is_none_or(|w| w.elapsed() >= RECORD_WARN_EVERY) {
                    warn!(
                        "cannot record {} delivery outcomes yet ({e}); sending waits until they are",
                        outcomes.len()
                    );
                    warned_at = Some(Instant::now());
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(RECORD_RETRY_MAX);
            }
            Err(e) => {
                error!(
                    "cannot record {} delivery outcomes: {e}; they stay pending and are not sent again until praxis restarts",
                    outcomes.len()
                );
                return false;
            }
        }
    }
}

/// The ledger thread: commits the outcomes of each burst in one
/// transaction, then serves the burst's other requests in arrival order.
fn ledger_thread(
    mut store: Store,
    config: Arc<Config>,
    mut rx: mpsc::UnboundedReceiver<Req>,
    stopping: Arc<AtomicBool>,
) {
    let rule = bounce::rule(&config, true);
    let render = notice::disabled(&config);
    while let Some(first) = rx.blocking_recv() {
        let mut burst = vec![first];
        let mut linger_until: Option<Instant> = None;
        loop {
            while burst.len() < GROUP_COMMIT {
                match rx.try_recv() {
                    Ok(r) => burst.push(r),
                    Err(_) => break,
                }
            }
            // A few outcomes only: linger once for the other connections'
            // so a commit carries many (commits are the ledger's cost),
            // unless a worker has UNCOMMITTED in flight and waits on it.
            let outcomes = burst
                .iter()
                .filter(|r| matches!(r, Req::Outcome { .. }))
                .count();
            let waited_on = burst
                .iter()
                .any(|r| matches!(r, Req::Outcome { waiting: true, .. }));
            if outcomes == 0 || outcomes >= LINGER_BELOW || waited_on {
                break;
            }
            // Look again every LINGER_STEP rather than sleeping the whole
            // LINGER: a worker that reaches UNCOMMITTED sends an outcome
            // marked waiting, and that ends the linger at once. Sleeping
            // the whole millisecond stalled every connection once it had
            // UNCOMMITTED copies out: the fan-out ran at 8 copies per
            // connection per linger (0.73-0.89x smtp-source; 1.6x with
            // the bound lifted, which is not allowed).
            let until = *linger_until.get_or_insert_with(|| Instant::now() + LINGER);
            if Instant::now() >= until {
                break;
            }
            std::thread::sleep(LINGER_STEP);
        }
        // Outcomes first: workers wait on their commit, while the reads
        // (a claim expands audiences, which takes longer) can wait for it.
        let mut outcomes = Vec::new();
        let mut acks = Vec::new();
        let mut reads = Vec::new();
        for req in burst {
            match req {
                Req::Outcome {
                    id, outcome, ack, ..
                } => {
                    outcomes.push((id, outcome));
                    acks.push(ack);
                }
                other => reads.push(other),
            }
        }
        if !outcomes.is_empty() {
            let recorded = record(&mut store, &outcomes, &rule, &render, &stopping);
            for ack in acks {
                let _ = ack.send(recorded);
            }
        }
        for req in reads {
            match req {
                Req::Due {
                    now,
                    limit,
                    exclude,
                    skip,
                    reply,
                } => {
                    // Member audiences become delivery rows as they are claimed.
                    if let Err(e) = store.expand_audiences(now, limit, exclude.len()) {
                        warn!("cannot expand queued messages' audiences yet: {e}");
                    }
                    let _ = reply.send(store.due_deliveries(now, limit, &exclude, &skip));
                }
                Req::NextDue(now, reply) => {
                    let _ = reply.send(store.next_due_at(now));
                }
                Req::Message(id, reply) => {
                    let _ = reply.send(store.outbox_message(id));
                }
                Req::Maintain(now, ack) => {
                    maintain(&mut store, &config, now);
                    let _ = ack.send(());
                }
                Req::Outcome { .. } => unreachable!("outcomes are taken out above"),
            }
        }
    }
}

/// Probes: settle the ones sent, send new ones.
fn maintain(store: &mut Store, config: &Config, now: i64) {
    let b = &config.bounce;
    if !b.probes {
        return;
    }
    match store.settle_probes(now, b.probe_wait.whole_secs()) {
        Ok(back) => {
            for r in back {
                info!(email = %r.email, "re-enabled: a probe was delivered and did not bounce");
            }
        }
        Err(e) => warn!("cannot settle probes: {e}"),
    }
    let due = match store.probes_due(now, b.probe_after.whole_secs(), 100) {
        Ok(d) => d,
        Err(e) => {
            warn!("cannot look for members to probe: {e}");
            return;
        }
    };
    for p in due {
        let Ok(cfg) = config.community(&p.member.community) else {
            continue;
        };
        let Some(probe) = notice::probe(cfg, &p.member) else {
            continue;
        };
        match store.queue_probe(p.community, p.member.id, &p.member.email, &probe, now) {
            Ok(_) => info!(email = %p.member.email, "probe queued for a disabled member"),
            Err(e) => warn!("cannot queue a probe to {}: {e}", p.member.email),
        }
    }
}

/// A community as the sender needs it: resolved once, plus what sending adds.
struct Outgoing {
    /// The community, resolved when the sender started.
    community: Arc<crate::community::Community>,
    /// Its DKIM signer, when configured.
    signer: Option<Signer>,
    /// Its rate limit, when configured.
    bucket: Option<Mutex<Bucket>>,
}

/// A token bucket: `rate` copies per second, bursts up to `rate` (at least 1).
struct Bucket {
    /// Tokens added per second (`delivery.rate_limit`).
    rate: f64,
    /// Tokens now; a copy takes one.
    tokens: f64,
    /// When `tokens` was last brought up to date.
    at: Instant,
}

impl Bucket {
    fn new(rate: f64) -> Bucket {
        Bucket {
            rate,
            tokens: 1.0,
            at: Instant::now(),
        }
    }

    fn refill(&mut self, now: Instant) {
        let cap = self.rate.max(1.0);
        self.tokens =
            (self.tokens + now.duration_since(self.at).as_secs_f64() * self.rate).min(cap);
        self.at = now;
    }

    /// Whole tokens available now.
    fn available(&mut self, now: Instant) -> u32 {
        self.refill(now);
        self.tokens.floor().max(0.0) as u32
    }

    fn take(&mut self, n: u32) {
        self.tokens -= f64::from(n);
    }

    /// How long until one token is available.
    fn wait(&mut self, now: Instant) -> Duration {
        self.refill(now);
        if self.tokens >= 1.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((1.0 - self.tokens) / self.rate)
        }
    }
}

/// What the workers and the dispatcher share.
struct Shared {
    /// The whole config (batch size, poll, grace, bounce rules).
    config: Arc<Config>,
    /// Each configured community by database id: a delivery names its
    /// community by id, and the copy needs its config, key and rate.
    communities: HashMap<CommunityId, Outgoing>,
    /// Where copies go.
    relay: Relay,
    /// With `[delivery] maildir`: copies go into this Maildir instead.
    maildir: Option<MaildirOut>,
    /// The only way to the database.
    ledger: Ledger,
    /// Decides DMARC From rewriting for `dmarc = "auto"`.
    dmarc: Arc<dyn DmarcPolicy>,
    /// Signs the https unsubscribe links, when configured.
    link_key: Option<LinkKey>,
    /// When temporary failures are retried and given up.
    schedule: Schedule,
    /// Deliveries claimed and not yet settled.
    in_hand: Mutex<HashSet<DeliveryId>>,
    /// Stored messages read and prepared, most recent last.
    prepared: Mutex<VecDeque<(OutboxId, Arc<Prepared>)>>,
    /// No new transactions before this, after the relay failed.
    paused_until: Mutex<Option<Instant>>,
    /// Woken when a worker finishes a delivery.
    done: Notify,
    /// How long to pause after a relay failure.
    pause: Duration,
}

impl Shared {
    /// Where copies go, for logs.
    fn destination(&self) -> String {
        match &self.maildir {
            Some(m) => m.name(),
            None => format!("relay {}", self.relay.name()),
        }
    }
}

/// The sender, ready to run.
pub struct Sender {
    shared: Arc<Shared>,
    ledger: std::thread::JoinHandle<()>,
    /// Set when the sender stops: the ledger gives up waiting for a full
    /// disk then (what it could not record stays pending).
    stopping: Arc<AtomicBool>,
    /// Held while the sender lives: one sender per SQLite file.
    _lock: Option<std::fs::File>,
}

/// Takes the sender's lock beside the database, so two daemons never send
/// the same deliveries; released by the kernel however the process ends.
fn lock(db: &std::path::Path) -> Result<std::fs::File, DeliverError> {
    use std::io::{Read, Seek, Write};
    use std::os::unix::io::AsRawFd;
    let path = db.with_extension("sender.lock");
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| DeliverError::Setup(format!("cannot open {}: {e}", path.display())))?;
    // SAFETY: flock on a descriptor this function owns; no memory is shared.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let mut pid = String::new();
        let _ = file.read_to_string(&mut pid);
        return Err(DeliverError::Setup(format!(
            "another praxis serve (pid {}) is already sending from {}; stop it first",
            pid.trim(),
            db.display()
        )));
    }
    let _ = file.set_len(0);
    let _ = file.rewind();
    let _ = write!(file, "{}", std::process::id());
    Ok(file)
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sender({})", self.shared.destination())
    }
}

impl Sender {
    /// A sender for `config`, deciding DMARC rewriting with `dmarc`. Fails
    /// (naming the key and the fix) when a DKIM key, the relay password or
    /// the link secret cannot be read, or the database cannot be opened.
    pub fn new(config: Config, dmarc: Arc<dyn DmarcPolicy>) -> Result<Sender, DeliverError> {
        let config = Arc::new(config);
        let password = config
            .smtp
            .password()
            .resolve("smtp.password")
            .map_err(DeliverError::Setup)?;
        let relay = Relay::new(&config.smtp, password).map_err(DeliverError::Setup)?;
        let maildir = match &config.delivery.maildir {
            Some(p) => Some(MaildirOut::open(&config.resolve(p)).map_err(DeliverError::Setup)?),
            None => None,
        };
        let link_key = config
            .delivery
            .link_secret()
            .resolve("delivery.link_secret")
            .map_err(DeliverError::Setup)?
            .map(|s| LinkKey::new(&s));
        let db = config.database().map_err(DeliverError::Setup)?;
        // One sender per SQLite file; on PostgreSQL several nodes send,
        // each claiming the deliveries it takes.
        let lock = db.sqlite_path().map(lock).transpose()?;
        let store = Store::open_database(&db)?;
        // The ledger's connection: a sent mark lost to a power cut resends
        // a copy (at least once holds); an fsync per commit would not pay.
        store.relax_durability()?;
        let resolved = crate::community::Communities::load(&config, &store)
            .map_err(|e| DeliverError::Setup(e.to_string()))?;
        let mut communities = HashMap::new();
        for resolved in resolved.iter() {
            let c = &resolved.config;
            let signer = match &c.dkim {
                Some(d) => {
                    let domain = c.address_parts().map(|(_, d)| d).unwrap_or("");
                    Some(Signer::load(
                        &c.slug,
                        d,
                        &config.resolve(&d.key_file),
                        domain,
                    )?)
                }
                None => None,
            };
            let bucket = (c.delivery.rate_limit > 0.0)
                .then(|| Mutex::new(Bucket::new(c.delivery.rate_limit)));
            communities.insert(
                resolved.id,
                Outgoing {
                    community: resolved.clone(),
                    signer,
                    bucket,
                },
            );
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let ledger_config = Arc::clone(&config);
        let stopping = Arc::new(AtomicBool::new(false));
        let ledger_stopping = Arc::clone(&stopping);
        let ledger = std::thread::Builder::new()
            .name("praxis-ledger".into())
            .spawn(move || ledger_thread(store, ledger_config, rx, ledger_stopping))
            .map_err(|e| DeliverError::Setup(format!("cannot start the ledger thread: {e}")))?;
        let pause = config
            .delivery
            .retry_first
            .duration()
            .clamp(Duration::from_secs(1), MAX_PAUSE);
        Ok(Sender {
            shared: Arc::new(Shared {
                schedule: Schedule::from_config(&config.delivery),
                config,
                communities,
                relay,
                maildir,
                ledger: Ledger { tx },
                dmarc,
                link_key,
                in_hand: Mutex::new(HashSet::new()),
                prepared: Mutex::new(VecDeque::new()),
                paused_until: Mutex::new(None),
                done: Notify::new(),
                pause,
            }),
            ledger,
            stopping,
            _lock: lock,
        })
    }

    /// A sender that looks DMARC policies up in the system's DNS (cached).
    /// Without a usable resolver (no /etc/resolv.conf, say), each post from
    /// another domain has its From rewritten and says why in the log.
    pub fn with_system_dns(config: Config) -> Result<Sender, DeliverError> {
        Sender::new(config, Arc::new(MailAuthDmarc::new(Zone::cache())))
    }

    /// Runs until `shutdown` resolves, then stops as described in the module
    /// doc. The sender runs on its own thread with a single-threaded
    /// runtime (see the module doc); dropping this future stops it too.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), DeliverError> {
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let (done_tx, mut done_rx) = oneshot::channel::<Result<(), DeliverError>>();
        std::thread::Builder::new()
            .name("praxis-sender".into())
            .spawn(move || {
                let result = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt.block_on(self.run_here(async {
                        // Told to stop, or the caller went away.
                        let _ = stop_rx.await;
                    })),
                    Err(e) => Err(DeliverError::Setup(format!(
                        "cannot start the sender's runtime: {e}"
                    ))),
                };
                let _ = done_tx.send(result);
            })
            .map_err(|e| DeliverError::Setup(format!("cannot start the sender thread: {e}")))?;
        let gone = || Err(DeliverError::Setup("the sender thread stopped".into()));
        tokio::select! {
            r = &mut done_rx => return r.unwrap_or_else(|_| gone()),
            _ = shutdown => {}
        }
        let _ = stop_tx.send(());
        done_rx.await.unwrap_or_else(|_| gone())
    }

    /// [`Sender::run`] on the current runtime.
    async fn run_here(self, shutdown: impl Future<Output = ()>) -> Result<(), DeliverError> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let batch = self.shared.config.delivery.batch.max(1) as usize;
        let (jobs_tx, jobs_rx) = mpsc::channel::<DueDelivery>(batch);
        let jobs_rx = Arc::new(tokio::sync::Mutex::new(jobs_rx));
        let mut workers = JoinSet::new();
        let connections = self.shared.config.smtp.connections.max(1);
        for _ in 0..connections {
            workers.spawn(worker(
                Arc::clone(&self.shared),
                Arc::clone(&jobs_rx),
                stop_rx.clone(),
            ));
        }
        let dispatcher = tokio::spawn(dispatch(Arc::clone(&self.shared), jobs_tx, stop_rx));
        info!(
            destination = %self.shared.destination(),
            connections,
            "sender started"
        );
        shutdown.await;
        let _ = stop_tx.send(true);
        let _ = dispatcher.await;
        let grace = self.shared.config.delivery.shutdown_grace.duration();
        let drained = tokio::time::timeout(grace, async {
            while workers.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            warn!(
                "transactions still running after {grace:?}; abandoning them (their deliveries stay pending)"
            );
            workers.abort_all();
            while workers.join_next().await.is_some() {}
        }
        let Sender {
            shared,
            ledger,
            stopping,
            _lock,
        } = self;
        stopping.store(true, Ordering::Relaxed);
        drop(shared);
        let _ = tokio::task::spawn_blocking(move || ledger.join()).await;
        info!("sender stopped");
        Ok(())
    }
}

/// Claims due deliveries into the queue until told to stop.
async fn dispatch(
    shared: Arc<Shared>,
    jobs: mpsc::Sender<DueDelivery>,
    mut stop: watch::Receiver<bool>,
) {
    let batch = shared.config.delivery.batch.max(1) as usize;
    let poll = shared.config.delivery.poll.duration();
    let maintenance =
        (shared.config.bounce.probe_wait.duration() / 2).clamp(Duration::from_secs(1), MAINTENANCE);
    let mut last_maintenance: Option<Instant> = None;
    // Deliveries of rate-limited communities claimed but waiting for a token.
    let mut held: HashMap<CommunityId, VecDeque<DueDelivery>> = HashMap::new();
    // Claims that failed in a row (the database away): the next waits
    // longer, and a warning is logged at the first and then every
    // RECORD_WARN_EVERY, not at every poll.
    let mut failed_claims: u32 = 0;
    let mut warned_at: Option<Instant> = None;
    loop {
        if *stop.borrow() {
            break;
        }
        if last_maintenance.is_none_or(|t| t.elapsed() >= maintenance) {
            shared.ledger.maintain(unix_now()).await;
            last_maintenance = Some(Instant::now());
        }
        let mut wake = poll;
        if let Some(t) = last_maintenance {
            wake = wake.min(maintenance.saturating_sub(t.elapsed()));
        }
        let paused = *shared.paused_until.lock().expect("pause lock");
        if let Some(until) = paused.filter(|u| *u > Instant::now()) {
            wake = wake.min(until - Instant::now());
        } else {
            if let Some(w) = release_held(&shared, &jobs, &mut held) {
                wake = wake.min(w);
            }
            let free = jobs.capacity();
            if free > 0 && (free >= batch.div_ceil(2) || free == jobs.max_capacity()) {
                let claimed = claim(&shared, &jobs, &mut held, free, batch).await;
                if claimed.is_ok() && failed_claims > 0 {
                    info!("due deliveries read again after {failed_claims} failed tries");
                    failed_claims = 0;
                    warned_at = None;
                }
                match claimed {
                    Ok(claimed) if claimed < free => {
                        // Everything due is in hand: sleep until the next retry.
                        let now = unix_now();
                        if let Ok(Some(next)) = shared.ledger.next_due(now).await {
                            let secs = (next - now).max(0) as u64;
                            wake = wake.min(Duration::from_secs(secs));
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        failed_claims += 1;
                        let retry = poll
                            .saturating_mul(1 << failed_claims.min(16))
                            .min(CLAIM_RETRY_MAX);
                        if warned_at.is_none_or(|w| w.elapsed() >= RECORD_WARN_EVERY) {
                            warn!(
                                "cannot read due deliveries ({failed_claims} tries): {e}; trying again in {retry:?}"
                            );
                            warned_at = Some(Instant::now());
                        }
                        wake = wake.max(retry);
                    }
                }
            }
        }
        tokio::select! {
            _ = stopped(&mut stop) => break,
            _ = shared.done.notified() => {}
            _ = tokio::time::sleep(wake.max(Duration::from_millis(10))) => {}
        }
    }
    // Held deliveries were never attempted: they stay due in the database.
    drop(held);
}

/// Resolves once the stop flag is set.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

fn in_hand(shared: &Shared) -> Vec<DeliveryId> {
    shared
        .in_hand
        .lock()
        .expect("in_hand lock")
        .iter()
        .copied()
        .collect()
}

/// The community's rate limit, if it has one.
fn bucket(shared: &Shared, c: Option<CommunityId>) -> Option<&Mutex<Bucket>> {
    c.and_then(|c| shared.communities.get(&c))
        .and_then(|c| c.bucket.as_ref())
}

/// Moves held deliveries to the queue as their communities' tokens allow;
/// returns how long until the next token when some are still held.
fn release_held(
    shared: &Shared,
    jobs: &mpsc::Sender<DueDelivery>,
    held: &mut HashMap<CommunityId, VecDeque<DueDelivery>>,
) -> Option<Duration> {
    let mut wake: Option<Duration> = None;
    for (c, q) in held.iter_mut() {
        let Some(b) = bucket(shared, Some(*c)) else {
            continue;
        };
        let mut b = b.lock().expect("bucket lock");
        let now = Instant::now();
        while !q.is_empty() && b.available(now) > 0 {
            let Ok(permit) = jobs.try_reserve() else {
                return wake;
            };
            b.take(1);
            permit.send(q.pop_front().expect("not empty"));
        }
        if !q.is_empty() {
            let w = b.wait(now);
            wake = Some(wake.map_or(w, |x| x.min(w)));
        }
    }
    held.retain(|_, q| !q.is_empty());
    wake
}

/// Claims up to `free` due deliveries: straight to the queue, or held when
/// their community's rate limit has no token now. Communities already
/// holding a batch are skipped, so they cannot crowd out the others.
async fn claim(
    shared: &Shared,
    jobs: &mpsc::Sender<DueDelivery>,
    held: &mut HashMap<CommunityId, VecDeque<DueDelivery>>,
    free: usize,
    batch: usize,
) -> Result<usize, String> {
    let skip: Vec<CommunityId> = held
        .iter()
        .filter(|(_, q)| q.len() >= batch)
        .map(|(c, _)| *c)
        .collect();
    let rows = shared
        .ledger
        .due(unix_now(), free as u32, in_hand(shared), skip)
        .await?;
    let claimed = rows.len();
    for row in rows {
        shared.in_hand.lock().expect("in_hand lock").insert(row.id);
        if let (Some(c), Some(b)) = (row.community, bucket(shared, row.community)) {
            let mut b = b.lock().expect("bucket lock");
            let waiting = held.get(&c).is_some_and(|q| !q.is_empty());
            if waiting || b.available(Instant::now()) == 0 {
                held.entry(c).or_default().push_back(row);
                continue;
            }
            b.take(1);
        }
        if jobs.send(row).await.is_err() {
            break;
        }
    }
    Ok(claimed)
}

/// A delivery a worker took from the queue, with its place in the
/// connection's window of uncommitted outcomes and what to do with it.
struct Taken {
    /// The delivery.
    job: DueDelivery,
    /// Its place among the connection's [`UNCOMMITTED`] outcomes, given
    /// back once its outcome is committed.
    permit: OwnedSemaphorePermit,
    /// Its copy, or its outcome when there is nothing to send.
    copy: Copy,
}

/// What a taken delivery comes to before it is sent.
enum Copy {
    /// Send `bytes` with the return path `from`.
    Send {
        /// The VERP return path.
        from: String,
        /// The recipient's copy, without its final line end.
        bytes: Vec<u8>,
    },
    /// Nothing to send: its outcome, or `None` when it is released
    /// untouched (the sender is paused).
    Settled(Option<Outcome>),
}

/// One connection's worth of sending. While a copy is sent, the worker
/// takes the next delivery when one is waiting and its window has room,
/// so that copy's envelope follows this one's end of data in one write
/// (see `smtp.rs`); the window counts it from the moment it is taken.
async fn worker(
    shared: Arc<Shared>,
    jobs: Arc<tokio::sync::Mutex<mpsc::Receiver<DueDelivery>>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut conn: Option<Conn> = None;
    // One permit per copy whose outcome is not yet committed.
    let window = Arc::new(Semaphore::new(UNCOMMITTED));
    // The delivery taken while the last copy was sent: its envelope may be
    // on the connection already, so no other copy goes on it before.
    let mut ahead: Option<Taken> = None;
    loop {
        let Taken { job, permit, copy } = match ahead.take() {
            // Stopping: the copy taken ahead has not begun (its envelope
            // at most): released untouched, its envelope dropped with the
            // connection when the worker closes it.
            Some(t) if *stop.borrow() => Taken {
                copy: Copy::Settled(None),
                ..t
            },
            Some(t) => t,
            None => {
                let Ok(permit) = Arc::clone(&window).acquire_owned().await else {
                    break;
                };
                let next = async {
                    let mut rx = jobs.lock().await;
                    rx.recv().await
                };
                let job = tokio::select! {
                    biased;
                    _ = stopped(&mut stop) => break,
                    job = next => match job {
                        Some(job) => job,
                        None => break,
                    },
                    _ = tokio::time::sleep(IDLE), if conn.is_some() => {
                        shared.relay.close(&mut conn).await;
                        continue;
                    }
                };
                let copy = copy_for(&shared, &job).await;
                Taken { job, permit, copy }
            }
        };
        let id = job.id;
        let outcome = match copy {
            Copy::Settled(outcome) => outcome,
            Copy::Send { .. } if paused(&shared) => {
                // Released untouched; a connection holding its envelope
                // is closed, which drops that envelope.
                if conn.as_ref().is_some_and(Conn::sent_ahead) {
                    shared.relay.close(&mut conn).await;
                }
                None
            }
            Copy::Send { from, bytes } => {
                if shared.maildir.is_none() {
                    ahead = take_ahead(&shared, &jobs, &window).await;
                }
                let next = match &ahead {
                    Some(Taken {
                        job,
                        copy: Copy::Send { from, bytes },
                        ..
                    }) => Some((from.as_str(), job.recipient.as_str(), bytes.as_slice())),
                    _ => None,
                };
                Some(send(&shared, &mut conn, &job, &from, &bytes, next).await)
            }
        };
        // None: released untouched (paused), to be claimed again.
        // Its worker waits on this commit when the window is full.
        let waiting = window.available_permits() == 0;
        let ack = outcome.map(|o| {
            let ack = shared.ledger.submit(id, o, waiting);
            if ack.is_none() {
                error!("the ledger stopped before delivery {id} was recorded");
            }
            ack
        });
        // Settled (and released to the dispatcher) once committed: until
        // then the row is still pending and must not be claimed again. One
        // whose outcome could not be recorded stays in hand, so it is not
        // sent again before a restart.
        let shared2 = Arc::clone(&shared);
        let settle = async move {
            let release = match ack {
                None => true,
                Some(Some(ack)) => ack.await.unwrap_or(false),
                Some(None) => false,
            };
            if release {
                shared2.in_hand.lock().expect("in_hand lock").remove(&id);
            }
            shared2.done.notify_one();
            drop(permit);
        };
        tokio::spawn(settle);
    }
    // Every outcome of this connection committed before it stops.
    let _ = window.acquire_many(UNCOMMITTED as u32).await;
    shared.relay.close(&mut conn).await;
}

/// Whether the sender is paused after a relay failure.
fn paused(shared: &Shared) -> bool {
    let paused = *shared.paused_until.lock().expect("pause lock");
    paused.is_some_and(|u| u > Instant::now())
}

/// The next delivery, when one is waiting in the queue and the window has
/// room for it now (never waiting for either), with its copy.
async fn take_ahead(
    shared: &Shared,
    jobs: &tokio::sync::Mutex<mpsc::Receiver<DueDelivery>>,
    window: &Arc<Semaphore>,
) -> Option<Taken> {
    let permit = Arc::clone(window).try_acquire_owned().ok()?;
    let job = jobs.try_lock().ok()?.try_recv().ok()?;
    let copy = copy_for(shared, &job).await;
    Some(Taken { job, permit, copy })
}

/// Builds one delivery's copy; its outcome instead when it cannot be
/// built, or `None` when it is released untouched (the sender is paused).
async fn copy_for(shared: &Shared, job: &DueDelivery) -> Copy {
    if paused(shared) {
        return Copy::Settled(None); // released untouched; claimed again after the pause
    }
    let Some(community) = job.community.and_then(|c| shared.communities.get(&c)) else {
        return Copy::Settled(Some(retry_outcome(
            shared,
            job,
            "the message's community is not in the config; add it back or `praxis outbox` will show it waiting".into(),
            false,
        )));
    };
    let prepared = match prepared(shared, job.outbox, &community.community.config).await {
        Ok(p) => p,
        Err(e) => {
            return Copy::Settled(Some(Outcome::Failed {
                at: unix_now(),
                error: format!("cannot build the message: {e}"),
                bounce: false,
            }));
        }
    };
    let personal = Personal {
        recipient: &job.recipient,
        community: &community.community.config,
        link_key: shared.link_key.as_ref(),
    };
    let copy = prepared
        .personalise(&personal)
        .map_err(|e| e.to_string())
        .and_then(|m| match &community.signer {
            Some(s) => s.sign(&m).map_err(|e| e.to_string()),
            None => Ok(m),
        });
    let mut bytes = match copy {
        Ok(c) => c,
        Err(e) => {
            return Copy::Settled(Some(Outcome::Failed {
                at: unix_now(),
                error: format!("cannot build the copy: {e}"),
                bounce: false,
            }));
        }
    };
    if bytes.ends_with(b"\r\n") {
        bytes.truncate(bytes.len() - 2);
    }
    Copy::Send {
        from: verp::bounce_address(&community.community.config.address, &job.recipient),
        bytes,
    }
}

/// Sends one copy (followed by `next`'s envelope when the relay pipelines)
/// and returns its outcome to record.
async fn send(
    shared: &Shared,
    conn: &mut Option<Conn>,
    job: &DueDelivery,
    from: &str,
    copy: &[u8],
    next: Option<(&str, &str, &[u8])>,
) -> Outcome {
    let attempt = match &shared.maildir {
        Some(m) => m.deliver(from, &job.recipient, copy),
        None => {
            shared
                .relay
                .transact_then(conn, from, &job.recipient, copy, next)
                .await
        }
    };
    match attempt {
        Attempt::Sent => Outcome::Sent { at: unix_now() },
        Attempt::Permanent { error, bounce } => {
            info!(recipient = %job.recipient, %error, "delivery failed");
            Outcome::Failed {
                at: unix_now(),
                error,
                bounce,
            }
        }
        Attempt::Temporary { error, relay } => {
            if relay {
                let until = Instant::now() + shared.pause;
                *shared.paused_until.lock().expect("pause lock") = Some(until);
                warn!(%error, pause = ?shared.pause, "relay failed; pausing");
            } else {
                debug!(recipient = %job.recipient, %error, "temporary failure");
            }
            retry_outcome(shared, job, error, !relay)
        }
    }
}

/// A temporary failure: retry per the schedule, or give up.
fn retry_outcome(shared: &Shared, job: &DueDelivery, error: String, recipient: bool) -> Outcome {
    let now = unix_now();
    match shared.schedule.next(job.attempts, job.first_failed_at, now) {
        Next::At(t) => Outcome::Retry {
            at: now,
            next_attempt_at: t,
            error,
        },
        Next::GiveUp => Outcome::Failed {
            at: now,
            error: format!(
                "gave up after {} of temporary failures; last: {error}",
                shared.config.delivery.give_up_after
            ),
            bounce: recipient,
        },
    }
}

/// The prepared message for `id`, from the cache or read and prepared now
/// (deciding the DMARC rewrite once per message).
async fn prepared(
    shared: &Shared,
    id: OutboxId,
    cfg: &CommunityConfig,
) -> Result<Arc<Prepared>, String> {
    if let Some(p) = shared
        .prepared
        .lock()
        .expect("cache lock")
        .iter()
        .find(|(k, _)| *k == id)
        .map(|(_, p)| Arc::clone(p))
    {
        return Ok(p);
    }
    let stored = shared.ledger.message(id).await?;
    let mut p = Prepared::new(stored.kind, stored.message).map_err(|e| e.to_string())?;
    if stored.kind != OutboxKind::Notice {
        p.set_munge(munge(shared, cfg, &p).await);
    }
    let p = Arc::new(p);
    let mut cache = shared.prepared.lock().expect("cache lock");
    if !cache.iter().any(|(k, _)| *k == id) {
        cache.push_back((id, Arc::clone(&p)));
        while cache.len() > PREPARED_CACHE {
            cache.pop_front();
        }
    }
    Ok(p)
}

/// Whether copies of `p` come from the list rather than the author.
async fn munge(shared: &Shared, cfg: &CommunityConfig, p: &Prepared) -> bool {
    let Some(author) = p.author() else {
        return false;
    };
    let list_domain = cfg.address_parts().map(|(_, d)| d).unwrap_or("");
    if author.domain().eq_ignore_ascii_case(list_domain) {
        return false;
    }
    match cfg.delivery.dmarc {
        DmarcMunge::Always => true,
        DmarcMunge::Never => false,
        DmarcMunge::Auto => match shared.dmarc.enforces(author.domain()).await {
            Ok(e) => e,
            Err(err) => {
                warn!("{err}; rewriting From to be safe");
                true
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_allows_its_rate_and_says_how_long_to_wait() {
        let mut b = Bucket::new(2.0);
        let t0 = b.at;
        assert_eq!(b.available(t0), 1, "starts with one token");
        b.take(1);
        assert_eq!(b.available(t0), 0);
        assert_eq!(b.wait(t0), Duration::from_millis(500));
        assert_eq!(
            b.available(t0 + Duration::from_secs(5)),
            2,
            "bursts up to the rate"
        );
    }
}
