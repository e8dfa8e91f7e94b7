//! The send stage: preallocated batches, one sender thread, UDP (sendmmsg), TCP (nonblocking,
//! with replay across reconnects), TLS over that TCP path (RFC 5425, rustls) and stdout.
//!
//! Where it sits: last in the pipeline. The pipeline thread encodes each message straight into
//! a `Batch` taken from the destination's free pool (`Sender::acquire`) and submits the batch
//! when it is full. The single sender thread "otrelay-send" serves every destination: it writes
//! the batches and returns them, emptied, to their pool. An empty pool blocks `acquire`, and
//! that back-pressure is what stops intake while a TCP receiver is away; nothing accepted is
//! dropped for that reason.
//!
//! Threads: `Sender` lives on the pipeline thread (or an embedding caller, or is shared by the
//! pipeline workers); everything in `worker`, `udp`, `tcp`, `tls` and `stdout` runs on the
//! sender thread; `DestinationStats` is written by the sender thread and read by anyone. What must hold: all batches are allocated in
//! `start`; in steady state neither side allocates, and neither logs per message.
//!
//! Pool sizing. A destination owns `batches` batches of `batch_bytes` (+ one message). For TCP,
//! a written batch stays held until the peer has acknowledged everything up to
//! `replay_overlap` bytes past its end, so up to `ceil(replay_overlap / batch_bytes) + 1`
//! batches are pinned by the overlap, plus whatever the kernel send buffer holds unacknowledged.
//! The defaults (64 × 64 KiB, 64 KiB overlap) pin two batches and leave the rest for queueing.
//! Should every batch be held anyway (a tiny pool, or a huge overlap), the sender releases the
//! oldest acknowledged batches without waiting for the overlap, so the pipeline can never wait
//! forever on batches that are already delivered.

mod batch;
mod framing;
mod stdout;
mod sys;
mod tcp;
mod tls;
mod udp;
mod worker;

pub use batch::Batch;
pub use tls::{CaSource, TlsOptions, TlsSetup, Verify};

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering, fence};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use framing::Frame;

/// Largest UDP payload over IPv4 (RFC 5426 §3.2; 65535 − 8 − 20).
pub const MAX_UDP_MESSAGE: usize = 65_507;

/// Default flush threshold of a batch.
pub const DEFAULT_BATCH_BYTES: usize = 64 * 1024;

/// Default number of batches per destination (the queue bound).
pub const DEFAULT_BATCHES: usize = 64;

/// Default bytes replayed before the last acknowledged position after a reconnect.
pub const DEFAULT_REPLAY_OVERLAP: usize = 64 * 1024;

/// How messages reach a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Syslog over UDP (RFC 5426): one message per datagram.
    Udp,
    /// Syslog over TCP (RFC 6587), framed per `Framing`.
    Tcp,
    /// Syslog over TLS (RFC 5425): TCP with a TLS session, always octet counting.
    Tls,
    /// Standard output, one message per line.
    Stdout,
}

/// Message delimiting on a TCP stream (RFC 6587); UDP and stdout ignore it, and TLS always
/// uses octet counting (RFC 5425 §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Non-transparent framing: each message ends with LF.
    Lf,
    /// Octet counting: `MSG-LEN SP MSG`, MSG-LEN in decimal without leading zero.
    OctetCounting,
}

/// One destination, as given to `Sender::start`.
#[derive(Debug, Clone)]
pub struct DestinationConfig {
    /// Label for stats and logs, e.g. "tcp://127.0.0.1:6514".
    pub name: String,
    /// UDP, TCP or stdout.
    pub transport: Transport,
    /// Host name or address (resolved once, in `Sender::start`); unused for stdout.
    pub host: String,
    /// Port; unused for stdout.
    pub port: u16,
    /// TCP framing.
    pub framing: Framing,
    /// Longest message (syslog header + body) the encoder may write; ≤ 65507 for UDP.
    pub max_message: usize,
    /// A batch is submitted once it holds this many bytes.
    pub batch_bytes: usize,
    /// Batches in the pool: the bound of the queue towards this destination.
    pub batches: usize,
    /// First reconnect delay; doubles per failure up to `backoff_max`.
    pub backoff_min: Duration,
    /// Longest reconnect delay.
    pub backoff_max: Duration,
    /// A TCP connect attempt that takes longer fails.
    pub connect_timeout: Duration,
    /// Bytes before the acknowledged stream position that are resent after a reconnect.
    pub replay_overlap: usize,
    /// SO_SNDBUF, if set.
    pub send_buffer: Option<usize>,
    /// Certificates and checks for `Transport::Tls`; `None` there means the defaults (system
    /// CAs, full verification, no client certificate). Ignored by the other transports.
    pub tls: Option<TlsOptions>,
}

impl DestinationConfig {
    /// A destination with the default tuning; `name` becomes "udp://host:port" etc.
    pub fn new(transport: Transport, host: &str, port: u16) -> DestinationConfig {
        let name = match transport {
            Transport::Udp => format!("udp://{host}:{port}"),
            Transport::Tcp => format!("tcp://{host}:{port}"),
            Transport::Tls => format!("tls://{host}:{port}"),
            Transport::Stdout => "stdout".to_string(),
        };
        DestinationConfig {
            name,
            transport,
            host: host.to_string(),
            port,
            framing: Framing::Lf,
            max_message: 8192,
            batch_bytes: DEFAULT_BATCH_BYTES,
            batches: DEFAULT_BATCHES,
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            replay_overlap: DEFAULT_REPLAY_OVERLAP,
            send_buffer: None,
            tls: None,
        }
    }

    /// Checks the tuning values once, before anything is allocated.
    fn validate(&self) -> Result<(), SendError> {
        let fail = |reason| {
            Err(SendError::Config {
                dest: self.name.clone(),
                reason,
            })
        };

        if self.max_message == 0 {
            return fail("max_message must be at least 1");
        }
        if self.transport == Transport::Udp && self.max_message > MAX_UDP_MESSAGE {
            return fail("max_message exceeds the largest UDP datagram (65507)");
        }
        if self.batch_bytes == 0 || self.batches == 0 {
            return fail("batch_bytes and batches must be at least 1");
        }
        // End offsets are u32; keep a wide margin below that.
        if self.batch_bytes.saturating_add(self.max_message) > (u32::MAX / 2) as usize {
            return fail("batch_bytes + max_message must stay below 2 GiB");
        }
        if self.backoff_min.is_zero() || self.backoff_min > self.backoff_max {
            return fail("backoff_min must be positive and not above backoff_max");
        }
        let stream = matches!(self.transport, Transport::Tcp | Transport::Tls);
        if stream && self.connect_timeout.is_zero() {
            return fail("connect_timeout must be positive");
        }
        Ok(())
    }

    /// The framing applied inside this destination's batches.
    fn frame(&self) -> Frame {
        match (self.transport, self.framing) {
            (Transport::Udp, _) => Frame::Datagram,
            (Transport::Stdout, _) | (Transport::Tcp, Framing::Lf) => Frame::Lf,
            (Transport::Tcp, Framing::OctetCounting) | (Transport::Tls, _) => {
                Frame::octet(self.max_message)
            }
        }
    }

    /// Loads and checks the TLS settings (defaults if unset) for this destination's host.
    fn tls_setup(&self) -> Result<TlsSetup, SendError> {
        match &self.tls {
            Some(opts) => opts.build(&self.host),
            None => TlsOptions::default().build(&self.host),
        }
    }

    /// Resolves host and port to the first address.
    fn resolve(&self) -> Result<SocketAddr, SendError> {
        let resolve_err = |source| SendError::Resolve {
            host: self.host.clone(),
            port: self.port,
            source,
        };
        let mut addrs = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(resolve_err)?;
        addrs
            .next()
            .ok_or_else(|| resolve_err(io::Error::new(io::ErrorKind::NotFound, "no address")))
    }
}

/// Why the send stage could not start or a one-shot send failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum SendError {
    /// The destination's host name did not resolve.
    Resolve {
        /// Host as configured.
        host: String,
        /// Port as configured.
        port: u16,
        /// Resolver error.
        source: io::Error,
    },
    /// Connecting (TCP) or a refused datagram (UDP) in `send_once`.
    Connect {
        /// Resolved address.
        addr: SocketAddr,
        /// Socket error.
        source: io::Error,
    },
    /// Any other I/O failure; `context` says which step.
    Io {
        /// The step that failed, e.g. "create the poll instance".
        context: &'static str,
        /// The error.
        source: io::Error,
    },
    /// TLS settings that cannot be used (a file, key or passphrase), or a TLS session that
    /// failed in `send_once`.
    Tls {
        /// The setting or file at fault, e.g. "client key /etc/otrelay/key.pem".
        what: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A destination's settings are unusable.
    Config {
        /// Destination name.
        dest: String,
        /// What is wrong.
        reason: &'static str,
    },
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Resolve { host, port, source } => {
                write!(f, "cannot resolve {host}:{port}: {source}")
            }
            SendError::Connect { addr, source } => write!(f, "cannot reach {addr}: {source}"),
            SendError::Io { context, source } => write!(f, "cannot {context}: {source}"),
            SendError::Tls { what, reason } => write!(f, "tls {what}: {reason}"),
            SendError::Config { dest, reason } => write!(f, "destination {dest}: {reason}"),
        }
    }
}

impl std::error::Error for SendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SendError::Resolve { source, .. }
            | SendError::Connect { source, .. }
            | SendError::Io { source, .. } => Some(source),
            SendError::Config { .. } | SendError::Tls { .. } => None,
        }
    }
}

/// Counters of one destination. Written by the sender thread once per batch (or per connection
/// event), read by anyone with `Relaxed` loads.
#[derive(Debug, Default)]
pub struct DestinationStats {
    /// Messages handed to the kernel (TCP, UDP) or written (stdout), replays included.
    pub messages_sent: AtomicU64,
    /// Bytes of those messages, framing included.
    pub bytes_sent: AtomicU64,
    /// Batches completely written.
    pub batches_sent: AtomicU64,
    /// TCP connections established after the first one.
    pub reconnects: AtomicU64,
    /// Failed TCP connect attempts (refused, timed out, …).
    pub connect_failures: AtomicU64,
    /// TLS connections that failed: handshake refused (certificate, name, client certificate),
    /// fatal alert or protocol error.
    pub tls_failures: AtomicU64,
    /// Messages resent after a reconnect.
    pub replayed_messages: AtomicU64,
    /// Datagrams the kernel refused (e.g. ECONNREFUSED) and stdout writes that failed.
    pub send_errors: AtomicU64,
    /// Datagrams the kernel took only partly.
    pub short_sends: AtomicU64,
    /// Most batches ever waiting for this destination on the sender thread.
    pub queue_depth_max: AtomicU64,
    /// 1 while the TCP connection is up (always 1 for UDP and stdout once started).
    pub connected: AtomicU64,
}

impl DestinationStats {
    /// Adds `n` to a counter (sender thread only; one writer, so `Relaxed` suffices).
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Reads all counters.
    pub fn snapshot(&self) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            messages_sent: get(&self.messages_sent),
            bytes_sent: get(&self.bytes_sent),
            batches_sent: get(&self.batches_sent),
            reconnects: get(&self.reconnects),
            connect_failures: get(&self.connect_failures),
            tls_failures: get(&self.tls_failures),
            replayed_messages: get(&self.replayed_messages),
            send_errors: get(&self.send_errors),
            short_sends: get(&self.short_sends),
            queue_depth_max: get(&self.queue_depth_max),
            connected: get(&self.connected) != 0,
        }
    }
}

/// Plain copy of `DestinationStats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// See `DestinationStats::messages_sent`.
    pub messages_sent: u64,
    /// See `DestinationStats::bytes_sent`.
    pub bytes_sent: u64,
    /// See `DestinationStats::batches_sent`.
    pub batches_sent: u64,
    /// See `DestinationStats::reconnects`.
    pub reconnects: u64,
    /// See `DestinationStats::connect_failures`.
    pub connect_failures: u64,
    /// See `DestinationStats::tls_failures`.
    pub tls_failures: u64,
    /// See `DestinationStats::replayed_messages`.
    pub replayed_messages: u64,
    /// See `DestinationStats::send_errors`.
    pub send_errors: u64,
    /// See `DestinationStats::short_sends`.
    pub short_sends: u64,
    /// See `DestinationStats::queue_depth_max`.
    pub queue_depth_max: u64,
    /// See `DestinationStats::connected`.
    pub connected: bool,
}

/// What `Sender::shutdown` hands back, one entry per destination in `start` order.
#[derive(Debug, Default)]
pub struct SendReport {
    /// Per-destination outcome.
    pub destinations: Vec<DestinationReport>,
}

impl SendReport {
    /// Messages no destination could deliver, with their destination's name.
    pub fn undelivered(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.destinations.iter().flat_map(|d| {
            d.undelivered
                .iter()
                .map(move |m| (d.name.as_str(), m.as_slice()))
        })
    }

    /// Adds the counters and undelivered messages of `other`, the report of another sender
    /// thread serving the same destinations, to this one.
    pub fn merge(&mut self, other: SendReport) {
        for d in other.destinations {
            let Some(mine) = self.destinations.iter_mut().find(|m| m.name == d.name) else {
                self.destinations.push(d);
                continue;
            };
            let (a, b) = (&mut mine.stats, d.stats);
            a.messages_sent += b.messages_sent;
            a.bytes_sent += b.bytes_sent;
            a.batches_sent += b.batches_sent;
            a.reconnects += b.reconnects;
            a.connect_failures += b.connect_failures;
            a.tls_failures += b.tls_failures;
            a.replayed_messages += b.replayed_messages;
            a.send_errors += b.send_errors;
            a.short_sends += b.short_sends;
            a.queue_depth_max = a.queue_depth_max.max(b.queue_depth_max);
            a.connected &= b.connected;
            mine.undelivered.extend(d.undelivered);
        }
    }

    /// How many messages could not be delivered.
    pub fn undelivered_count(&self) -> u64 {
        self.destinations
            .iter()
            .map(|d| d.undelivered.len() as u64)
            .sum()
    }
}

impl fmt::Display for SendReport {
    /// One summary line per destination, each starting with `otrelay:`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.destinations {
            let s = &d.stats;
            writeln!(
                f,
                "otrelay: destination {}: {} messages sent ({} bytes, {} batches), {} replayed, \
                 {} reconnects, {} connect failures, {} tls failures, {} send errors, \
                 {} short sends, max queue depth {}, {} undelivered",
                d.name,
                s.messages_sent,
                s.bytes_sent,
                s.batches_sent,
                s.replayed_messages,
                s.reconnects,
                s.connect_failures,
                s.tls_failures,
                s.send_errors,
                s.short_sends,
                s.queue_depth_max,
                d.undelivered.len(),
            )?;
        }
        Ok(())
    }
}

/// Final counters and the messages one destination could not deliver.
#[derive(Debug)]
pub struct DestinationReport {
    /// Destination name.
    pub name: String,
    /// Counters at the end.
    pub stats: StatsSnapshot,
    /// Messages (without framing) that were queued or written but not acknowledged by the
    /// deadline; some may have reached the receiver. Meant for the dead-letter file.
    pub undelivered: Vec<Vec<u8>>,
}

/// State shared by `Sender` and the sender thread.
struct Shared {
    /// Wakes the sender thread's poll.
    waker: mio::Waker,
    /// True while the sender thread is about to sleep or sleeping in poll.
    sleeping: AtomicBool,
    /// Set by `shutdown`.
    stop: AtomicBool,
    /// When the sender thread must give up sending, set together with `stop`.
    deadline: Mutex<Option<Instant>>,
}

/// The pipeline side of the send stage: hands out empty batches and takes full ones.
pub struct Sender {
    /// Per destination: the free pool (receiving side).
    pools: Vec<crossbeam_channel::Receiver<Batch>>,
    /// Full batches towards the sender thread; its capacity is the total number of batches,
    /// so `send` never blocks.
    queue: crossbeam_channel::Sender<Batch>,
    /// Waker, sleep flag and shutdown request.
    shared: Arc<Shared>,
    /// Counters, one per destination.
    stats: Vec<Arc<DestinationStats>>,
    /// Destination names, for the report.
    names: Vec<String>,
    /// The sender thread; `None` once joined.
    thread: Option<JoinHandle<Vec<Vec<Vec<u8>>>>>,
}

impl Sender {
    /// Validates the destinations, allocates every batch, opens UDP sockets and stdout, and
    /// spawns the "otrelay-send" thread (pinned to `cpu` if given; failing to pin only logs).
    /// TCP destinations connect from that thread, asynchronously.
    ///
    /// # Errors
    ///
    /// `Config` for unusable settings, `Resolve` for a host that does not resolve, `Io` when a
    /// socket, the poll instance or the thread cannot be created.
    pub fn start(dests: Vec<DestinationConfig>, cpu: Option<usize>) -> Result<Sender, SendError> {
        for d in &dests {
            d.validate()?;
        }
        let poll = mio::Poll::new().map_err(|source| SendError::Io {
            context: "create the poll instance",
            source,
        })?;
        let waker =
            mio::Waker::new(poll.registry(), worker::WAKER).map_err(|source| SendError::Io {
                context: "create the sender waker",
                source,
            })?;
        let shared = Arc::new(Shared {
            waker,
            sleeping: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            deadline: Mutex::new(None),
        });

        // Pools, links and counters, in destination order.
        let total: usize = dests.iter().map(|d| d.batches).sum();
        let (queue_tx, queue_rx) = crossbeam_channel::bounded(total.max(1));
        let mut pools = Vec::with_capacity(dests.len());
        let mut dest_states = Vec::with_capacity(dests.len());
        let mut stats = Vec::with_capacity(dests.len());
        for (i, d) in dests.iter().enumerate() {
            let (free_tx, free_rx) = crossbeam_channel::bounded(d.batches);
            for _ in 0..d.batches {
                let b = Batch::new(i, d.frame(), d.batch_bytes, d.max_message);
                // Cannot fail: the channel has room for exactly `batches` and its receiver
                // is alive in `free_rx`.
                let _ = free_tx.send(b);
            }
            let st = Arc::new(DestinationStats::default());
            dest_states.push(worker::Dest::open(i, d, free_tx, Arc::clone(&st))?);
            pools.push(free_rx);
            stats.push(st);
        }

        let names = dests.iter().map(|d| d.name.clone()).collect();
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("otrelay-send".to_string())
            .spawn(move || worker::run(poll, queue_rx, dest_states, thread_shared, cpu))
            .map_err(|source| SendError::Io {
                context: "spawn the sender thread",
                source,
            })?;

        Ok(Sender {
            pools,
            queue: queue_tx,
            shared,
            stats,
            names,
            thread: Some(thread),
        })
    }

    /// Takes an empty batch for destination `dest`, waiting while its pool is empty.
    ///
    /// # Panics
    ///
    /// If `dest` is out of range, or if the sender thread has died (it only does by panicking,
    /// which aborts the process in release builds).
    pub fn acquire(&self, dest: usize) -> Batch {
        match self.pools[dest].recv() {
            Ok(b) => b,
            Err(_) => panic!("the otrelay-send thread is gone"),
        }
    }

    /// Takes an empty batch for `dest`, waiting at most `timeout` for one to come free.
    pub fn acquire_timeout(&self, dest: usize, timeout: Duration) -> Option<Batch> {
        self.pools[dest].recv_timeout(timeout).ok()
    }

    /// Takes an empty batch for `dest` if one is free.
    pub fn try_acquire(&self, dest: usize) -> Option<Batch> {
        self.pools[dest].try_recv().ok()
    }

    /// Hands a batch (full or not) to the sender thread.
    ///
    /// Makes a syscall (the waker) only when the sender thread sleeps; while it is busy the
    /// batch just joins the queue.
    pub fn submit(&self, batch: Batch) {
        // The queue holds every batch there is, so this never blocks; it fails only when the
        // thread is gone, and then the batch has nowhere to go anyway.
        if self.queue.send(batch).is_err() {
            return;
        }

        // Pairs with the fence in `worker::run`: either the thread sees the batch before it
        // sleeps, or this sees `sleeping` and wakes it.
        fence(Ordering::SeqCst);
        if self.shared.sleeping.swap(false, Ordering::SeqCst) {
            // A failed wake leaves the batch to the thread's next periodic wake-up.
            let _ = self.shared.waker.wake();
        }
    }

    /// Counters, one per destination, in `start` order.
    pub fn stats(&self) -> &[Arc<DestinationStats>] {
        &self.stats
    }

    /// Stops accepting, sends what is queued until `deadline` has passed, then returns the
    /// counters and the messages that could not be delivered.
    ///
    /// Batches the caller still holds are not part of the queue: submit them first.
    pub fn shutdown(mut self, deadline: Duration) -> SendReport {
        let undelivered = self.stop_and_join(deadline);
        let destinations = self
            .names
            .iter()
            .zip(&self.stats)
            .zip(
                undelivered
                    .into_iter()
                    .chain(std::iter::repeat_with(Vec::new)),
            )
            .map(|((name, st), undelivered)| DestinationReport {
                name: name.clone(),
                stats: st.snapshot(),
                undelivered,
            })
            .collect();
        SendReport { destinations }
    }

    /// Asks the thread to finish by `deadline` from now and waits for it.
    fn stop_and_join(&mut self, deadline: Duration) -> Vec<Vec<Vec<u8>>> {
        let Some(thread) = self.thread.take() else {
            return Vec::new();
        };
        if let Ok(mut d) = self.shared.deadline.lock() {
            *d = Some(Instant::now() + deadline);
        }
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = self.shared.waker.wake();

        match thread.join() {
            Ok(undelivered) => undelivered,
            Err(_) => {
                eprintln!("otrelay: the sender thread panicked; queued messages are lost");
                Vec::new()
            }
        }
    }
}

impl Drop for Sender {
    /// A sender dropped without `shutdown` stops its thread at once, dropping what is queued.
    fn drop(&mut self) {
        let _ = self.stop_and_join(Duration::ZERO);
    }
}

/// Blocking one-shot send for `otrelay test-message`: connects (TCP, TLS) or sends (UDP,
/// stdout) one message, framed as `dest` says, and reports success or the error.
///
/// TCP and TLS succeed once the peer has acknowledged the bytes (TLS: after the handshake, and
/// when no alert follows within a short read); UDP succeeds unless the peer answers
/// with "port unreachable" within a short wait (at most `timeout`, 200 ms by default).
///
/// # Errors
///
/// `Config`, `Resolve`, `Connect` (refused, timed out, not acknowledged), `Tls` (settings,
/// handshake or alert) or `Io`.
pub fn send_once(
    dest: &DestinationConfig,
    message: &[u8],
    timeout: Duration,
) -> Result<(), SendError> {
    dest.validate()?;
    if message.len() > dest.max_message {
        let reason = "message longer than max_message";
        return Err(SendError::Config {
            dest: dest.name.clone(),
            reason,
        });
    }

    // Frame the message exactly as a batch would.
    let mut batch = Batch::new(0, dest.frame(), message.len(), message.len());
    let start = batch.begin();
    batch.buf().extend_from_slice(message);
    batch.finish(start);
    let framed = batch.bytes();

    match dest.transport {
        Transport::Stdout => stdout::send_once(framed),
        Transport::Udp => udp::send_once(dest.resolve()?, dest.send_buffer, framed, timeout),
        Transport::Tcp => tcp::send_once(dest.resolve()?, dest.send_buffer, framed, timeout),
        Transport::Tls => {
            let setup = dest.tls_setup()?;
            tls::send_once(dest.resolve()?, dest.send_buffer, &setup, framed, timeout)
        }
    }
}
