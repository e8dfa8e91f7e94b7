//! UDP link (RFC 5426): one message per datagram, sent in groups through `sendmmsg`.
//!
//! Runs on the sender thread (the socket is opened in `Sender::start`). What must hold: the
//! `mmsghdr`/`iovec` arrays are allocated once; a datagram the kernel refuses (ECONNREFUSED
//! after an ICMP "port unreachable", EMSGSIZE, …) is counted in `send_errors` and skipped, and
//! never stops the rest of the batch; EAGAIN is flow control, not an error.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use super::sys::{self, MmsgBuf};
use super::worker::Queue;
use super::{DestinationStats, SendError};

// TODO: while a UDP socket stays full, each round of the sender thread waits up to
// `WRITABLE_WAIT` on it, delaying the other destinations by as much. The mark can go once UDP
// sockets are registered with the sender's poll like the TCP streams.

/// How long one round waits for a full socket buffer to drain before turning to the other
/// destinations; the batch resumes where it stopped on the next round.
const WRITABLE_WAIT: Duration = Duration::from_millis(10);

/// A connected, nonblocking UDP socket and its send state.
pub(crate) struct UdpLink {
    /// Connected to the destination; nonblocking.
    socket: UdpSocket,
    /// Reused `sendmmsg` arrays.
    mmsg: MmsgBuf,
    /// Next datagram of the front pending batch.
    next: usize,
    /// Datagrams of the front batch sent so far, and their bytes.
    sent: usize,
    /// Bytes of the datagrams counted in `sent`.
    sent_bytes: usize,
    /// True after a refused datagram, until one is accepted again (for the log only).
    refusing: bool,
}

impl UdpLink {
    /// Opens a nonblocking socket connected to `addr`.
    pub(crate) fn open(addr: SocketAddr, send_buffer: Option<usize>) -> Result<UdpLink, SendError> {
        let socket = connect(addr, send_buffer).map_err(|source| SendError::Io {
            context: "open the UDP socket",
            source,
        })?;
        socket
            .set_nonblocking(true)
            .map_err(|source| SendError::Io {
                context: "make the UDP socket nonblocking",
                source,
            })?;
        Ok(UdpLink {
            socket,
            mmsg: MmsgBuf::new(),
            next: 0,
            sent: 0,
            sent_bytes: 0,
            refusing: false,
        })
    }

    /// Sends pending batches until they are done or the socket stays full for a moment;
    /// returns when to come back (now, if a batch is left).
    pub(crate) fn service(&mut self, q: &mut Queue) -> Option<std::time::Instant> {
        while let Some(front) = q.pending.front() {
            if !self.send_batch(front, &q.stats, &q.name) {
                return Some(std::time::Instant::now());
            }

            // Whole batch handled (sent or refused datagram by datagram).
            q.count_batch(self.sent, self.sent_bytes);
            (self.next, self.sent, self.sent_bytes) = (0, 0, 0);
            if let Some(done) = q.pending.pop_front() {
                q.recycle(done);
            }
        }
        None
    }

    /// Sends the rest of `batch` from `self.next`; false if the socket stayed full.
    fn send_batch(&mut self, batch: &super::Batch, stats: &DestinationStats, name: &str) -> bool {
        let total = batch.messages();
        let fd = self.socket.as_raw_fd();

        while self.next < total {
            let first = self.next;
            match self
                .mmsg
                .send(fd, total - first, |i| batch.frame(first + i))
            {
                Ok((sent, short)) => {
                    self.sent += sent;
                    self.sent_bytes += batch.span(first, first + sent);
                    self.next += sent;
                    DestinationStats::add(&stats.short_sends, short as u64);
                    if self.refusing && sent > 0 {
                        self.refusing = false;
                        eprintln!("otrelay: {name}: datagrams accepted again");
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    match sys::wait_writable(&self.socket, WRITABLE_WAIT) {
                        Ok(true) => {}
                        Ok(false) => return false,
                        Err(_) => return false,
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // The kernel reports the error on the first datagram of the call and did
                    // not send it; count it and go on with the next one.
                    DestinationStats::add(&stats.send_errors, 1);
                    self.next += 1;
                    if !self.refusing {
                        self.refusing = true;
                        eprintln!("otrelay: {name}: datagram refused: {e}; counting, not logging");
                    }
                }
            }
        }
        true
    }

    /// Datagrams of the front pending batch already handled (for the shutdown report).
    pub(crate) fn sent_of_front(&self) -> usize {
        self.next
    }
}

/// Creates the socket with socket2 (for SO_SNDBUF), binds it to any local port of the same
/// family and connects it.
fn connect(addr: SocketAddr, send_buffer: Option<usize>) -> io::Result<UdpSocket> {
    let sock = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if let Some(size) = send_buffer {
        sock.set_send_buffer_size(size)?;
    }
    let any: SocketAddr = match addr {
        SocketAddr::V4(_) => (std::net::Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    sock.bind(&any.into())?;
    sock.connect(&addr.into())?;
    Ok(sock.into())
}

/// One datagram, blocking, for `send_once`; a "port unreachable" that comes back within
/// `timeout` (at most 200 ms) turns into `Connect`.
pub(crate) fn send_once(
    addr: SocketAddr,
    send_buffer: Option<usize>,
    datagram: &[u8],
    timeout: Duration,
) -> Result<(), SendError> {
    let connect_err = |source| SendError::Connect { addr, source };
    let socket = connect(addr, send_buffer).map_err(connect_err)?;
    socket
        .set_write_timeout(Some(timeout.max(Duration::from_millis(1))))
        .map_err(|source| SendError::Io {
            context: "set the UDP write timeout",
            source,
        })?;
    let sent = socket.send(datagram).map_err(connect_err)?;
    if sent != datagram.len() {
        let short = io::Error::new(io::ErrorKind::WriteZero, "datagram sent only in part");
        return Err(SendError::Io {
            context: "send the datagram",
            source: short,
        });
    }

    // An ICMP "port unreachable" surfaces as an error on the next receive.
    let wait = timeout
        .min(Duration::from_millis(200))
        .max(Duration::from_millis(1));
    socket
        .set_read_timeout(Some(wait))
        .map_err(|source| SendError::Io {
            context: "set the UDP read timeout",
            source,
        })?;
    let mut scratch = [0u8; 1];
    match socket.recv(&mut scratch) {
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => Err(connect_err(e)),
        _ => Ok(()),
    }
}
