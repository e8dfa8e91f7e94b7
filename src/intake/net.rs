//! Network sources: a TCP listener (newline-delimited alerts from many clients) and a UDP
//! listener (one alert per datagram).
//!
//! Pipeline position: intake, each on its source's own thread.
//!
//! TCP: every connection reads into its own buffer of `max_line` plus one read's worth; complete
//! lines are copied into the shared current block (one copy, so that lines from many clients can
//! share blocks), the partial last line stays in the connection's buffer. When no block is free,
//! the thread stops reading every connection, and the kernel's TCP window pushes back on the
//! clients.
//!
//! UDP: datagrams are received straight into the block. A datagram may hold pretty-printed JSON;
//! its CR and LF bytes become TAB before the terminating LF is added. TAB is JSON whitespace
//! outside strings and, like CR and LF, invalid inside them, so the rewrite keeps valid alerts
//! valid and invalid ones invalid while keeping one alert per line.

use std::io::{self, Read};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

use super::{Block, IntakeEvent, OVERSIZE_KEEP, SourceCtx};

const LISTENER: Token = Token(usize::MAX);
const TICK: Duration = Duration::from_millis(100);
const READ_CHUNK: usize = 64 * 1024;

/// One client connection.
struct Conn {
    stream: TcpStream,
    /// `buf[..len]` holds the partial line carried between reads.
    buf: Box<[u8]>,
    len: usize,
    /// In discard mode: the bytes kept of an oversized line and its length so far.
    oversize: Option<(Vec<u8>, u64)>,
}

/// Shared state of the TCP source loop.
struct TcpState<'c> {
    ctx: &'c SourceCtx,
    block: Option<Block>,
    /// False once the pipeline has gone away.
    alive: bool,
}

impl TcpState<'_> {
    /// Copies complete lines into the current block, shipping blocks as they fill.
    fn push_lines(&mut self, mut lines: &[u8]) {
        while !lines.is_empty() && self.alive {
            if self.block.is_none() {
                match self.ctx.acquire() {
                    Some(b) => self.block = Some(b),
                    None => {
                        self.alive = false;
                        return;
                    }
                }
            }
            let Some(block) = self.block.as_mut() else {
                return;
            };
            let room = block.buf.len() - block.len;

            // Copy as many whole lines as fit; `lines` ends with a newline.
            let fit = if lines.len() <= room {
                lines.len()
            } else {
                memchr::memrchr(b'\n', &lines[..room]).map_or(0, |p| p + 1)
            };
            block.buf[block.len..block.len + fit].copy_from_slice(&lines[..fit]);
            block.len += fit;
            lines = &lines[fit..];
            if !lines.is_empty() {
                self.ship();
            }
        }
    }

    fn ship(&mut self) {
        if let Some(block) = self.block.take() {
            if !self.ctx.ship(block) {
                self.alive = false;
            }
        }
    }
}

/// Serves a TCP listener until a stop is requested.
pub(super) fn run_tcp(ctx: SourceCtx, mut listener: TcpListener) {
    if let Err(e) = serve_tcp(&ctx, &mut listener) {
        eprintln!("otrelay: ERROR source {}: {e}", ctx.name);
        ctx.stats.errors.fetch_add(1, Ordering::Relaxed);
    }
    let _ = ctx.out.send(IntakeEvent::Done(ctx.index));
}

fn serve_tcp(ctx: &SourceCtx, listener: &mut TcpListener) -> io::Result<()> {
    let mut poll = Poll::new()?;
    poll.registry()
        .register(listener, LISTENER, Interest::READABLE)?;
    let mut events = Events::with_capacity(256);
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut state = TcpState {
        ctx,
        block: None,
        alive: true,
    };

    while state.alive && !ctx.stopping() {
        if let Err(e) = poll.poll(&mut events, Some(TICK)) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for event in &events {
            if event.token() == LISTENER {
                accept_all(ctx, listener, &poll, &mut conns)?;
                continue;
            }
            let slot = event.token().0;
            let Some(conn) = conns.get_mut(slot).and_then(Option::as_mut) else {
                continue;
            };
            if !read_conn(&mut state, conn) {
                let _ = poll.registry().deregister(&mut conn.stream);
                finish_conn(&mut state, conn);
                conns[slot] = None;
            }
        }
        // Ship after every wake-up: low latency when idle, full blocks under load.
        state.ship();
    }

    // Stopping: what clients already sent and we read is delivered; partial lines too.
    for conn in conns.iter_mut().flatten() {
        finish_conn(&mut state, conn);
    }
    state.ship();
    Ok(())
}

fn accept_all(
    ctx: &SourceCtx,
    listener: &TcpListener,
    poll: &Poll,
    conns: &mut Vec<Option<Conn>>,
) -> io::Result<()> {
    loop {
        let (mut stream, _peer) = match listener.accept() {
            Ok(pair) => pair,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                // Running out of descriptors must not end the listener; retry at the next tick.
                eprintln!("otrelay: WARN source {}: accept failed: {e}", ctx.name);
                return Ok(());
            }
        };
        let slot = conns
            .iter()
            .position(Option::is_none)
            .unwrap_or(conns.len());
        poll.registry()
            .register(&mut stream, Token(slot), Interest::READABLE)?;
        let conn = Conn {
            stream,
            buf: vec![0; ctx.max_line + READ_CHUNK].into_boxed_slice(),
            len: 0,
            oversize: None,
        };
        if slot == conns.len() {
            conns.push(Some(conn));
        } else {
            conns[slot] = Some(conn);
        }
        ctx.stats.connections.fetch_add(1, Ordering::Relaxed);
    }
}

/// Reads until the socket would block. Returns false when the connection is finished.
fn read_conn(state: &mut TcpState<'_>, conn: &mut Conn) -> bool {
    loop {
        let n = match conn.stream.read(&mut conn.buf[conn.len..]) {
            Ok(0) => return false,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return false,
        };
        let start = conn.len;
        conn.len += n;
        take_lines(state, conn, start);
        if !state.alive {
            return false;
        }
    }
}

/// Moves the complete lines out of a connection's buffer.
fn take_lines(state: &mut TcpState<'_>, conn: &mut Conn, new_from: usize) {
    let ctx = state.ctx;
    if let Some((mut kept, mut total)) = conn.oversize.take() {
        let data = &conn.buf[new_from..conn.len];
        let end = memchr::memchr(b'\n', data);
        let part = &data[..end.unwrap_or(data.len())];
        let room = OVERSIZE_KEEP.saturating_sub(kept.len());
        kept.extend_from_slice(&part[..part.len().min(room)]);
        total += part.len() as u64;
        let Some(p) = end else {
            conn.len = 0;
            conn.oversize = Some((kept, total));
            return;
        };
        state.ship();
        ctx.reject_oversized(total, &kept);
        let consumed = new_from + p + 1;
        conn.buf.copy_within(consumed..conn.len, 0);
        conn.len -= consumed;
    }

    if let Some(last) = memchr::memrchr(b'\n', &conn.buf[..conn.len]) {
        state.push_lines(&conn.buf[..=last]);
        conn.buf.copy_within(last + 1..conn.len, 0);
        conn.len -= last + 1;
    }

    // A partial line longer than max_line cannot become valid: discard it up to its newline.
    if conn.len > ctx.max_line {
        let kept = conn.buf[..conn.len].to_vec();
        conn.oversize = Some((kept, conn.len as u64));
        conn.len = 0;
    }
}

/// A closed connection's partial last line is still an alert.
fn finish_conn(state: &mut TcpState<'_>, conn: &mut Conn) {
    if let Some((kept, total)) = conn.oversize.take() {
        state.ship();
        state.ctx.reject_oversized(total, &kept);
    }
    if conn.len > 0 {
        conn.buf[conn.len] = b'\n';
        conn.len += 1;
        let len = conn.len;
        state.push_lines(&conn.buf[..len]);
        conn.len = 0;
    }
}

/// Binds the UDP listener with a large receive buffer, so bursts are absorbed by the kernel.
pub(super) fn bind_udp(addr: SocketAddr) -> io::Result<UdpSocket> {
    let domain = socket2::Domain::for_address(addr);
    let socket = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    // Not fatal: the kernel caps the size at net.core.rmem_max.
    let _ = socket.set_recv_buffer_size(8 << 20);
    socket.bind(&addr.into())?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// Receives datagrams until a stop is requested.
pub(super) fn run_udp(ctx: SourceCtx, socket: UdpSocket) {
    let port = socket.local_addr().map(|a| a.port()).unwrap_or(0);
    let baseline = kernel_drops(port).unwrap_or(0);
    let mut block: Option<Block> = None;
    let mut last_drop_check = Instant::now();

    'outer: while !ctx.stopping() {
        if block.is_none() {
            match ctx.acquire() {
                Some(b) => block = Some(b),
                None => break,
            }
        }
        let Some(b) = block.as_mut() else { break };

        // Leave room for the longest accepted datagram, one byte to detect longer ones, and LF.
        if b.buf.len() - b.len < ctx.max_line + 2 {
            if let Some(full) = block.take() {
                if !ctx.ship(full) {
                    break 'outer;
                }
            }
            continue;
        }

        let start = b.len;
        let window = &mut b.buf[start..start + ctx.max_line + 1];
        match socket.recv(window) {
            Ok(n) if n > ctx.max_line => {
                // Lines before it are shipped first, so that records stay numbered in order.
                let kept = window[..n].to_vec();
                if let Some(full) = block.take() {
                    if !ctx.ship(full) {
                        break 'outer;
                    }
                }
                ctx.reject_oversized(n as u64, &kept);
            }
            Ok(n) => {
                for byte in &mut window[..n] {
                    if *byte == b'\n' || *byte == b'\r' {
                        *byte = b'\t';
                    }
                }
                b.buf[start + n] = b'\n';
                b.len = start + n + 1;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if let Some(full) = block.take() {
                    if !ctx.ship(full) {
                        break 'outer;
                    }
                }
                super::wait_readable(socket.as_raw_fd(), TICK);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                eprintln!("otrelay: WARN source {}: receive failed: {e}", ctx.name);
                ctx.stats.errors.fetch_add(1, Ordering::Relaxed);
                super::wait_readable(socket.as_raw_fd(), TICK);
            }
        }

        if last_drop_check.elapsed() >= Duration::from_secs(1) {
            last_drop_check = Instant::now();
            publish_drops(&ctx, port, baseline);
        }
    }

    if let Some(b) = block.take() {
        ctx.ship(b);
    }
    publish_drops(&ctx, port, baseline);
    let _ = ctx.out.send(IntakeEvent::Done(ctx.index));
}

fn publish_drops(ctx: &SourceCtx, port: u16, baseline: u64) {
    if let Some(d) = kernel_drops(port) {
        ctx.stats
            .kernel_drops
            .store(d.saturating_sub(baseline), Ordering::Relaxed);
    }
}

/// The kernel's drop counter for the UDP socket bound to `port`, from `/proc/net/udp{,6}`.
fn kernel_drops(port: u16) -> Option<u64> {
    let wanted = format!(":{port:04X}");
    let mut total = None;
    for table in ["/proc/net/udp", "/proc/net/udp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let mut fields = line.split_whitespace();
            let local = fields.nth(1)?;
            if local.ends_with(&wanted) {
                let drops: u64 = line.split_whitespace().last()?.parse().ok()?;
                total = Some(total.unwrap_or(0) + drops);
            }
        }
    }
    total
}
