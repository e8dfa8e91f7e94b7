//! TCP link (RFC 6587) and its TLS variant (RFC 5425): nonblocking connect, an optional TLS
//! handshake, whole-batch writes, reconnect with capped exponential back-off, and replay of
//! unacknowledged batches after a reconnect.
//!
//! Runs on the sender thread; the stream is registered with the thread's mio `Poll` under the
//! destination's index. What must hold: at-least-once delivery across reconnects (duplicates
//! are allowed, losses are not), no blocking call, no allocation per batch (rustls allocates one
//! buffer per TLS record; see `tls`), and one log line per connection change, never per message.
//
// Replay. A successful write only means the local kernel took the bytes. Each written batch is
// therefore kept in `held` with the stream position just past it (`stream_end`, counted from the
// start of the current connection). The socket's unacknowledged byte count (SIOCOUTQ, read
// after writes and on a 10 ms tick while bytes are in flight) gives the acknowledged position
// `acked = written - outq`. A held batch goes back to the pool once it ends at or before
// `acked - replay_overlap`: the overlap covers bytes the receiver's kernel acknowledged but its
// application never read before the connection dropped. On disconnect, held batches past that
// point move back to the front of the pending queue and are resent first on the next
// connection; those before it are released. `acked` is only ever taken from a live
// measurement, so after a reset it can only be too low, which costs duplicates, not losses.
// A clean close by the peer (end of stream, not a reset) needs no overlap: Linux answers a
// close() with unread bytes in the receive buffer with a reset, so a FIN means the receiver's
// application read everything its kernel had acknowledged. Only batches past `acked` are then
// resent, and a receiver that closes after the last message does not cost a replay.
//
// Over TLS the positions are ciphertext positions: `written` is the ciphertext produced so far
// and a batch's `stream_end` the end of the record holding its last byte (see `tls` for how
// that is kept exact), and SIOCOUTQ is subtracted from the ciphertext actually on the socket.
// A TLS failure (certificate refused, alert, protocol error) is handled like a dropped
// connection: nothing more is written on it, held batches go back for replay, and the next
// attempt follows the same back-off; it is counted in `tls_failures`. Under TLS 1.3 a receiver
// refuses a client certificate only after the client's side of the handshake is over, so no
// alert is written until the receiver has sent something (its session tickets) or about two
// handshake durations have passed without an alert.
//
// When the pool of the destination is empty (the pipeline may be waiting in `acquire`), held
// batches that are acknowledged but still inside the overlap are released oldest first, so a
// small pool cannot stall on batches that already arrived.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, IoSlice, Read};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use socket2::{Domain, Protocol, Socket, TcpKeepalive, Type};

use super::tls::{Session, SessionError, TlsSetup};
use super::worker::Queue;
use super::{Batch, DestinationConfig, DestinationStats, SendError, sys};

/// How often acknowledgements are checked while bytes are in flight.
const ACK_TICK: Duration = Duration::from_millis(10);

/// Batches gathered into one `sendmsg`; with the default 64 KiB batches one call can hand the
/// kernel up to 1 MiB, far more than a socket buffer takes at once.
const GATHER: usize = 16;

/// Bytes read (and discarded) per `read` call; syslog receivers normally send nothing.
const SCRATCH: usize = 4096;

// TODO: the host name is resolved once, in `Sender::start`; a receiver whose DNS record moves
// is not followed until otrelay restarts. The mark can go once each reconnect resolves again
// (off the sender thread, so a slow resolver cannot stall the other destinations).

/// Connection state.
enum State {
    /// Not connected; the next attempt starts at `retry_at`.
    Down {
        /// When to try again.
        retry_at: Instant,
    },
    /// Nonblocking connect in progress.
    Connecting {
        /// Registered stream.
        stream: TcpStream,
        /// When the attempt started (for `connect_timeout`).
        since: Instant,
    },
    /// Connected, TLS handshake in progress.
    Handshaking {
        /// Registered stream.
        stream: TcpStream,
        /// The TLS client.
        session: Box<Session>,
        /// When the TCP connect started (the handshake shares `connect_timeout`).
        since: Instant,
        /// False after `WouldBlock` until the next writable event.
        writable: bool,
    },
    /// Connected (and, for TLS, handshake done).
    Up {
        /// Registered stream.
        stream: TcpStream,
        /// False after `WouldBlock` until the next writable event.
        writable: bool,
        /// The TLS client; `None` for plain TCP.
        session: Option<Box<Session>>,
    },
}

/// One TCP destination's connection and replay state.
pub(crate) struct TcpLink {
    /// Poll token (the destination index).
    token: Token,
    /// Resolved once at start.
    addr: SocketAddr,
    /// Back-off bounds and connect timeout.
    backoff_min: Duration,
    /// Longest back-off.
    backoff_max: Duration,
    /// Connect attempts that take longer fail.
    connect_timeout: Duration,
    /// Bytes before `acked` that are replayed after a reconnect.
    overlap: u64,
    /// SO_SNDBUF, if set.
    send_buffer: Option<usize>,
    /// Connection state.
    state: State,
    /// Next back-off delay before jitter.
    backoff: Duration,
    /// xorshift64 state for the jitter; never zero.
    rng: u64,
    /// Written, possibly unacknowledged batches, oldest first; capacity = pool size.
    held: VecDeque<Batch>,
    /// Bytes written on the current connection.
    written: u64,
    /// Acknowledged stream position on the current connection (last measurement).
    acked: u64,
    /// Bytes of the front pending batch already written on this connection.
    offset: usize,
    /// How many batches at the front of the pending queue are being resent.
    replay_batches: usize,
    /// Whether a connection was ever established (to count reconnects).
    ever_connected: bool,
    /// Buffer for discarding what the peer sends.
    scratch: Vec<u8>,
    /// TLS client configuration; `None` for plain TCP.
    tls: Option<TlsSetup>,
    /// TLS 1.3: no alert is written before the receiver confirmed the session or this moment
    /// passed (see `Session::needs_confirmation`).
    confirm_by: Option<Instant>,
}

impl TcpLink {
    /// Prepares the link; the first connect attempt starts on the sender thread's first round.
    pub(crate) fn new(
        index: usize,
        cfg: &DestinationConfig,
        addr: SocketAddr,
        tls: Option<TlsSetup>,
    ) -> TcpLink {
        let clock = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let seed = clock ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        TcpLink {
            token: Token(index),
            addr,
            backoff_min: cfg.backoff_min,
            backoff_max: cfg.backoff_max,
            connect_timeout: cfg.connect_timeout,
            overlap: cfg.replay_overlap as u64,
            send_buffer: cfg.send_buffer,
            state: State::Down {
                retry_at: Instant::now(),
            },
            backoff: cfg.backoff_min,
            rng: seed | 1,
            held: VecDeque::with_capacity(cfg.batches),
            written: 0,
            acked: 0,
            offset: 0,
            replay_batches: 0,
            ever_connected: false,
            scratch: vec![0; SCRATCH],
            tls,
            confirm_by: None,
        }
    }

    /// Connects, writes and checks acknowledgements as far as possible right now; returns when
    /// to come back without a socket event.
    pub(crate) fn service(
        &mut self,
        q: &mut Queue,
        registry: &Registry,
        now: Instant,
    ) -> Option<Instant> {
        match &self.state {
            State::Down { retry_at } if now >= *retry_at => self.connect(q, registry, now),
            State::Connecting { since, .. } if now >= *since + self.connect_timeout => {
                let e = io::Error::new(io::ErrorKind::TimedOut, "connect timed out");
                self.connect_failed(q, registry, now, &e);
            }
            State::Handshaking { since, .. } if now >= *since + self.connect_timeout => {
                let e = io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out");
                self.handshake_failed(q, registry, now, &SessionError::Io(e));
            }
            State::Handshaking { .. } => self.drive_handshake(q, registry, now),
            State::Up { session: None, .. } => {
                self.write(q, registry, now);
                self.release(q);
            }
            State::Up { .. } => {
                self.write_tls(q, registry, now);
                self.release(q);
            }
            State::Down { .. } | State::Connecting { .. } => {}
        }
        self.wake_at(q, now)
    }

    /// Handles readiness of this link's stream.
    pub(crate) fn on_event(&mut self, ev: &mio::event::Event, q: &mut Queue, registry: &Registry) {
        let now = Instant::now();
        match &mut self.state {
            State::Down { .. } => {}
            State::Connecting { stream, .. } => match connect_result(stream) {
                Ok(true) if self.tls.is_some() => self.start_handshake(q, registry, now),
                Ok(true) => self.established(q, now),
                Ok(false) => {}
                Err(e) => self.connect_failed(q, registry, now, &e),
            },
            State::Handshaking {
                stream,
                session,
                writable,
                ..
            } => {
                if ev.is_writable() || ev.is_write_closed() {
                    *writable = true;
                }
                if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                    if let Err(e) = session.read(stream, &mut self.scratch) {
                        self.handshake_failed(q, registry, now, &e);
                        return;
                    }
                }
                self.drive_handshake(q, registry, now);
            }
            State::Up {
                stream,
                writable,
                session,
            } => {
                if ev.is_writable() || ev.is_write_closed() {
                    *writable = true;
                }
                if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                    let read = match session {
                        Some(s) => s.read(stream, &mut self.scratch),
                        None => discard_input(stream, &mut self.scratch).map_err(SessionError::Io),
                    };
                    if let Err(e) = read {
                        self.session_failed(q, registry, now, &e);
                    }
                }
            }
        }
    }

    /// True when every written byte has been acknowledged (or nothing is held).
    pub(crate) fn all_acknowledged(&self) -> bool {
        self.held.is_empty()
            || (matches!(self.state, State::Up { .. }) && self.acked >= self.written)
    }

    /// Copies the messages of held batches past the acknowledged position into `out`.
    pub(crate) fn collect_unacknowledged(&self, out: &mut Vec<Vec<u8>>) {
        for b in &self.held {
            if b.stream_end <= self.acked {
                continue;
            }
            let start = b.stream_end - b.len_bytes() as u64;
            let first = b.first_frame_ending_after(self.acked.saturating_sub(start) as usize);
            b.messages_from(first, out);
        }
    }

    /// When the worker should call `service` again at the latest.
    fn wake_at(&self, q: &Queue, now: Instant) -> Option<Instant> {
        match &self.state {
            State::Down { retry_at } => Some(*retry_at),
            State::Connecting { since, .. } | State::Handshaking { since, .. } => {
                Some(*since + self.connect_timeout)
            }
            State::Up { .. } if self.confirm_by.is_some() => self.confirm_by,
            State::Up { .. } => {
                let in_flight = self.acked < self.written;
                let starved = q.pool_empty() && !self.held.is_empty();
                (in_flight || starved).then(|| now + ACK_TICK)
            }
        }
    }

    /// Starts a nonblocking connect.
    fn connect(&mut self, q: &mut Queue, registry: &Registry, now: Instant) {
        let attempt = open(self.addr, self.send_buffer).and_then(|mut stream| {
            registry.register(
                &mut stream,
                self.token,
                Interest::READABLE | Interest::WRITABLE,
            )?;
            Ok(stream)
        });
        match attempt {
            Ok(stream) => self.state = State::Connecting { stream, since: now },
            Err(e) => self.connect_failed(q, registry, now, &e),
        }
    }

    /// The TCP connect completed on a TLS destination: send the ClientHello.
    fn start_handshake(&mut self, q: &mut Queue, registry: &Registry, now: Instant) {
        let Some(setup) = &self.tls else {
            return;
        };
        let session = match Session::new(setup) {
            Ok(s) => Box::new(s),
            Err(e) => {
                self.handshake_failed(q, registry, now, &e);
                return;
            }
        };
        let old = std::mem::replace(&mut self.state, State::Down { retry_at: now });
        let State::Connecting { stream, since } = old else {
            self.state = old;
            return;
        };
        self.state = State::Handshaking {
            stream,
            session,
            since,
            writable: true,
        };
        self.drive_handshake(q, registry, now);
    }

    /// Writes pending handshake records; moves to `Up` once rustls is done.
    fn drive_handshake(&mut self, q: &mut Queue, registry: &Registry, now: Instant) {
        let State::Handshaking {
            stream,
            session,
            writable,
            ..
        } = &mut self.state
        else {
            return;
        };
        if *writable && session.has_output() {
            match session.flush(stream) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => *writable = false,
                Err(e) => {
                    self.handshake_failed(q, registry, now, &SessionError::Io(e));
                    return;
                }
            }
        }
        if !session.is_handshaking() {
            self.established(q, now);
        }
    }

    /// The connect (and handshake) completed: start writing, replay first.
    fn established(&mut self, q: &mut Queue, now: Instant) {
        let old = std::mem::replace(&mut self.state, State::Down { retry_at: now });
        let (stream, writable, session) = match old {
            State::Connecting { stream, .. } => (stream, true, None),
            State::Handshaking {
                stream,
                session,
                writable,
                since,
            } => {
                // Wait about two handshake durations (at least 50 ms) for the receiver's
                // verdict on the client certificate.
                self.confirm_by = session.needs_confirmation().then(|| {
                    let grace =
                        (now.saturating_duration_since(since) * 2).max(Duration::from_millis(50));
                    now + grace.min(self.connect_timeout)
                });
                (stream, writable, Some(session))
            }
            State::Down { .. } | State::Up { .. } => {
                self.state = old;
                return;
            }
        };

        if self.ever_connected {
            DestinationStats::add(&q.stats.reconnects, 1);
        }
        self.ever_connected = true;
        q.stats.connected.store(1, Ordering::Relaxed);
        self.backoff = self.backoff_min;
        // Over TLS, positions count from the connection's first byte, handshake included.
        let start = session.as_ref().map_or(0, |s| s.produced());
        (self.written, self.acked, self.offset) = (start, 0, 0);
        let how = session
            .as_ref()
            .map_or(String::new(), |s| format!(" over {}", s.protocol()));
        self.state = State::Up {
            stream,
            writable,
            session,
        };

        let replay: usize = q
            .pending
            .iter()
            .take(self.replay_batches)
            .map(Batch::messages)
            .sum();
        if replay > 0 {
            eprintln!(
                "otrelay: {}: connected to {}{how}; resending {replay} messages",
                q.name, self.addr
            );
        } else {
            eprintln!("otrelay: {}: connected to {}{how}", q.name, self.addr);
        }
    }

    /// A connect attempt failed: schedule the next one.
    fn connect_failed(&mut self, q: &mut Queue, registry: &Registry, now: Instant, e: &io::Error) {
        DestinationStats::add(&q.stats.connect_failures, 1);
        let delay = self.go_down(registry, now);
        eprintln!(
            "otrelay: {}: connect to {} failed: {e}; retrying in {} ms",
            q.name,
            self.addr,
            delay.as_millis()
        );
    }

    /// The TLS handshake failed (certificate refused, alert, closed, timed out): nothing was
    /// sent on this connection; count it and retry with the usual back-off.
    fn handshake_failed(
        &mut self,
        q: &mut Queue,
        registry: &Registry,
        now: Instant,
        e: &SessionError,
    ) {
        DestinationStats::add(&q.stats.tls_failures, 1);
        self.flush_alert();
        let delay = self.go_down(registry, now);
        eprintln!(
            "otrelay: {}: TLS handshake with {} failed: {e}; retrying in {} ms",
            q.name,
            self.addr,
            delay.as_millis()
        );
    }

    /// A live connection failed; a TLS error (e.g. the receiver refused the client
    /// certificate after the handshake) is counted in `tls_failures`.
    fn session_failed(
        &mut self,
        q: &mut Queue,
        registry: &Registry,
        now: Instant,
        e: &SessionError,
    ) {
        if matches!(e, SessionError::Tls(_)) {
            DestinationStats::add(&q.stats.tls_failures, 1);
            self.flush_alert();
        }
        let clean = matches!(e, SessionError::Io(io) if io.kind() == io::ErrorKind::UnexpectedEof);
        self.disconnect(q, registry, now, e, clean);
    }

    /// Best effort: writes the alert rustls queued after a failure, so the peer logs why.
    fn flush_alert(&mut self) {
        if let State::Handshaking {
            stream, session, ..
        }
        | State::Up {
            stream,
            session: Some(session),
            ..
        } = &mut self.state
        {
            let _ = session.flush(stream);
        }
    }

    /// The connection dropped: release what is safely delivered, queue the rest for replay.
    /// `clean` is true when the peer closed the stream (end of stream) rather than reset it.
    fn disconnect(
        &mut self,
        q: &mut Queue,
        registry: &Registry,
        now: Instant,
        e: &dyn fmt::Display,
        clean: bool,
    ) {
        q.stats.connected.store(0, Ordering::Relaxed);
        if clean {
            // The socket is still open on this side: take the acknowledged position now.
            self.release(q);
        }

        // Release batches acknowledged past the overlap (or all acknowledged ones after a clean
        // close); the rest are resent first.
        let overlap = if clean { 0 } else { self.overlap };
        let keep_from = self.acked.saturating_sub(overlap);
        while self.held.front().is_some_and(|b| b.stream_end <= keep_from) {
            if let Some(b) = self.held.pop_front() {
                q.recycle(b);
            }
        }
        let resend: usize = self.held.iter().map(Batch::messages).sum();
        self.replay_batches += self.held.len();
        while let Some(b) = self.held.pop_back() {
            q.pending.push_front(b);
        }

        // The replayed queue may now be longer than the front partial write; restart it.
        (self.written, self.acked, self.offset) = (0, 0, 0);
        self.replay_batches = self.replay_batches.min(q.pending.len());
        let delay = self.go_down(registry, now);
        eprintln!(
            "otrelay: {}: disconnected from {}: {e}; {resend} messages to resend, \
             reconnecting in {} ms",
            q.name,
            self.addr,
            delay.as_millis()
        );
    }

    /// Drops the stream (if any) and schedules the next attempt; returns the delay.
    fn go_down(&mut self, registry: &Registry, now: Instant) -> Duration {
        self.confirm_by = None;
        let delay = self.next_delay();
        let old = std::mem::replace(
            &mut self.state,
            State::Down {
                retry_at: now + delay,
            },
        );
        if let State::Connecting { mut stream, .. }
        | State::Handshaking { mut stream, .. }
        | State::Up { mut stream, .. } = old
        {
            // Closing the descriptor removes it from epoll anyway; deregistering is tidier.
            let _ = registry.deregister(&mut stream);
        }
        delay
    }

    /// The current back-off with ±25 % jitter; doubles the next one up to `backoff_max`.
    fn next_delay(&mut self) -> Duration {
        let base = self.backoff;
        self.backoff = base.saturating_mul(2).min(self.backoff_max);

        // xorshift64 (Marsaglia): enough to spread reconnects of many relays apart.
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;

        let quarter = (base / 4).as_nanos() as u64;
        let jitter = if quarter == 0 {
            0
        } else {
            x % (2 * quarter + 1)
        };
        base - Duration::from_nanos(quarter) + Duration::from_nanos(jitter)
    }

    /// Writes pending batches until the socket is full; moves written batches to `held`.
    ///
    /// Up to `GATHER` batches go out in one `sendmsg`, so even small batches make large writes
    /// while a queue has built up.
    fn write(&mut self, q: &mut Queue, registry: &Registry, now: Instant) {
        loop {
            let State::Up {
                stream, writable, ..
            } = &mut self.state
            else {
                return;
            };
            if !*writable || q.pending.is_empty() {
                return;
            }

            // The unwritten rest of the front batch, then whole batches behind it.
            let mut iov = [IoSlice::new(&[]); GATHER];
            let mut n = 0;
            for (slot, b) in iov.iter_mut().zip(&q.pending) {
                let from = if n == 0 { self.offset } else { 0 };
                *slot = IoSlice::new(&b.bytes()[from..]);
                n += 1;
            }

            match sys::send_vectored_nosignal(stream, &iov[..n]) {
                Ok(sent) => self.advance(q, sent),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => *writable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.disconnect(q, registry, now, &e, false);
                    return;
                }
            }
        }
    }

    /// Encrypts the front batch piece by piece and writes the records, until the socket is
    /// full or nothing is pending; completed batches move to `held` with their ciphertext end.
    fn write_tls(&mut self, q: &mut Queue, registry: &Registry, now: Instant) {
        loop {
            let State::Up {
                stream,
                writable,
                session: Some(s),
            } = &mut self.state
            else {
                return;
            };

            // TLS 1.3: hold alerts back until the receiver accepted the session.
            if let Some(by) = self.confirm_by {
                if s.confirmed() || now >= by {
                    self.confirm_by = None;
                } else if !s.has_output() {
                    return;
                }
            }
            let confirming = self.confirm_by.is_some();

            // Records already made go first, in order.
            if s.has_output() {
                if !*writable {
                    return;
                }
                match s.flush(stream) {
                    Ok(()) => continue,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        *writable = false;
                        if !s.can_feed() {
                            return;
                        }
                    }
                    Err(e) => {
                        self.disconnect(q, registry, now, &e, false);
                        return;
                    }
                }
            }

            let Some(front) = q.pending.front() else {
                return;
            };
            if confirming || !s.can_feed() {
                return;
            }
            let plain = &front.bytes()[self.offset..];
            let taken = match s.encrypt(plain) {
                Ok(n) => n,
                Err(e) => {
                    self.session_failed(q, registry, now, &e);
                    return;
                }
            };
            self.written = s.produced();
            if taken == 0 && !plain.is_empty() {
                // rustls took nothing (its buffer is full); try again on the next round.
                return;
            }
            self.offset += taken;
            if self.offset == front.len_bytes() {
                self.offset = 0;
                self.hold_front(q);
            }
        }
    }

    /// Accounts `n` bytes taken by the kernel: completed batches move to `held` with their
    /// stream end, a partly written one keeps its offset.
    fn advance(&mut self, q: &mut Queue, mut n: usize) {
        while let Some(front) = q.pending.front() {
            let rest = front.len_bytes() - self.offset;
            if n < rest {
                self.offset += n;
                self.written += n as u64;
                return;
            }
            n -= rest;
            self.written += rest as u64;
            self.offset = 0;
            self.hold_front(q);
        }
    }

    /// The whole front batch is handed over (to the kernel, or encrypted in order before
    /// everything still to come): hold it, ending at `written`, until acknowledged.
    fn hold_front(&mut self, q: &mut Queue) {
        let Some(mut done) = q.pending.pop_front() else {
            return;
        };
        done.stream_end = self.written;
        q.count_batch(done.messages(), done.len_bytes());
        if self.replay_batches > 0 {
            self.replay_batches -= 1;
            DestinationStats::add(&q.stats.replayed_messages, done.messages() as u64);
        }
        self.held.push_back(done);
    }

    /// Measures the acknowledged position and returns delivered batches to the pool.
    fn release(&mut self, q: &mut Queue) {
        let State::Up {
            stream, session, ..
        } = &self.state
        else {
            return;
        };
        if self.held.is_empty() {
            return;
        }
        // What is on the socket: everything written for TCP, the flushed records for TLS.
        let on_socket = session.as_ref().map_or(self.written, |s| s.sent());
        if let Ok(outq) = sys::unacked_bytes(stream) {
            self.acked = self.acked.max(on_socket.saturating_sub(outq));
        }

        let limit = self.acked.saturating_sub(self.overlap);
        while let Some(front) = self.held.front() {
            let past_overlap = front.stream_end <= limit;
            let starved = q.pool_empty() && front.stream_end <= self.acked;
            if !(past_overlap || starved) {
                break;
            }
            if let Some(b) = self.held.pop_front() {
                q.recycle(b);
            }
        }
    }
}

/// Creates a nonblocking socket with the destination's options and starts connecting.
fn open(addr: SocketAddr, send_buffer: Option<usize>) -> io::Result<TcpStream> {
    let sock = configured_socket(addr, send_buffer)?;
    sock.set_nonblocking(true)?;
    match sock.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if sys::is_in_progress(&e) => {}
        Err(e) => return Err(e),
    }
    Ok(TcpStream::from_std(sock.into()))
}

impl Drop for TcpLink {
    /// Ends a TLS session with close_notify (best effort), so receivers see a clean close.
    fn drop(&mut self) {
        if let State::Up {
            stream,
            session: Some(s),
            ..
        } = &mut self.state
        {
            s.close();
            let _ = s.flush(stream);
        }
    }
}

/// A TCP socket with TCP_NODELAY, keepalive and the optional SO_SNDBUF.
pub(crate) fn configured_socket(
    addr: SocketAddr,
    send_buffer: Option<usize>,
) -> io::Result<Socket> {
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    sock.set_tcp_nodelay(true)?;
    let keepalive = TcpKeepalive::new()
        .with_time(Duration::from_secs(30))
        .with_interval(Duration::from_secs(10));
    sock.set_tcp_keepalive(&keepalive)?;
    if let Some(size) = send_buffer {
        sock.set_send_buffer_size(size)?;
    }
    Ok(sock)
}

/// Whether a nonblocking connect has completed: `Ok(false)` while still in progress.
fn connect_result(stream: &TcpStream) -> io::Result<bool> {
    if let Some(e) = stream.take_error()? {
        return Err(e);
    }
    match stream.peer_addr() {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotConnected || sys::is_in_progress(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Reads and drops whatever the peer sent; an error means the connection is gone.
fn discard_input(stream: &mut TcpStream, scratch: &mut [u8]) -> io::Result<()> {
    loop {
        match stream.read(scratch) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "closed by peer",
                ));
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Blocking one-shot: connect, write one framed message, wait for the acknowledgement.
pub(crate) fn send_once(
    addr: SocketAddr,
    send_buffer: Option<usize>,
    framed: &[u8],
    timeout: Duration,
) -> Result<(), SendError> {
    let connect_err = |source| SendError::Connect { addr, source };
    let end = Instant::now() + timeout;

    let sock = configured_socket(addr, send_buffer).map_err(connect_err)?;
    sock.connect_timeout(&addr.into(), timeout)
        .map_err(connect_err)?;
    sock.set_nonblocking(true).map_err(|source| SendError::Io {
        context: "make the TCP socket nonblocking",
        source,
    })?;

    // Write everything, waiting for room as needed.
    let mut rest = framed;
    while !rest.is_empty() {
        match sys::send_nosignal(&sock, rest) {
            Ok(n) => rest = &rest[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let left = end.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(connect_err(io::Error::from(io::ErrorKind::TimedOut)));
                }
                sys::wait_writable(&sock, left).map_err(connect_err)?;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(connect_err(e)),
        }
    }

    // Success means the peer's kernel acknowledged every byte.
    loop {
        if sys::unacked_bytes(&sock).map_err(connect_err)? == 0 {
            return Ok(());
        }
        if Instant::now() >= end {
            let e = io::Error::new(io::ErrorKind::TimedOut, "message not acknowledged");
            return Err(connect_err(e));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}
