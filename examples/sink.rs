//! A fast syslog receiver that counts messages, for the `perf/` harness and manual tests.
//!
//! `sink tcp|udp ADDR [--expect N] [--idle-ms MS] [--out FILE]`
//!
//! TCP: accepts connections one after another and counts LF-terminated messages. UDP: counts
//! datagrams, read 256 at a time with `recvmmsg` into a socket buffer forced to 256 MiB, so that
//! the receiver is never the reason for a loss. It stops after `--expect` messages, or after
//! `--idle-ms` without data once data has arrived. Over TCP, it first reads the connection that
//! brought the last expected message to its end (or to the idle limit): closing it under a
//! sender that is still flushing would make the sender count a reconnect and resend. It prints
//! `messages=N bytes=B seconds=S first_ns=F last_ns=L`: S runs from the first byte to the last,
//! F and L are those instants as CLOCK_REALTIME nanoseconds, so that a harness can measure from
//! the moment it spawned a sender (start-up, wall time) with the same clock.
//! With `--out`, it writes what it received (TCP bytes as they came, UDP one datagram per line).
//! While it counts, it only copies what arrives into memory that it allocated and touched before
//! it said it was listening (`--out-reserve BYTES`, default 512 MiB, grown if needed); the file
//! is written after the last message. Saving for a byte check thus costs the receiver one copy
//! per message, and no page-cache writes, while a sender on the same CPUs is being measured.

use std::io::{self, Read};
use std::net::{TcpListener, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Datagrams per `recvmmsg` call and the largest datagram kept whole.
const BATCH: usize = 256;
const DATAGRAM: usize = 65536;

struct Tally {
    messages: u64,
    bytes: u64,
    first: Option<Instant>,
    first_ns: u128,
    last: Instant,
    last_ns: u128,
}

impl Tally {
    /// Records that data arrived now.
    fn arrived(&mut self) {
        let now = Instant::now();
        let ns = realtime_ns();
        if self.first.is_none() {
            self.first = Some(now);
            self.first_ns = ns;
        }
        self.last = now;
        self.last_ns = ns;
    }

    fn idle_for(&self, idle: Duration) -> bool {
        self.first.is_some() && self.last.elapsed() > idle
    }
}

fn realtime_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = args.first().map(String::as_str).unwrap_or("tcp");
    let addr = args.get(1).map(String::as_str).unwrap_or("127.0.0.1:5514");
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
    };
    let expect: u64 = flag("--expect")
        .and_then(|v| v.parse().ok())
        .unwrap_or(u64::MAX);
    let idle = Duration::from_millis(
        flag("--idle-ms")
            .and_then(|v| v.parse().ok())
            .unwrap_or(3000),
    );
    let reserve: usize = flag("--out-reserve")
        .and_then(|v| v.parse().ok())
        .unwrap_or(512 << 20);
    let out_path = flag("--out");
    let mut out = match out_path {
        Some(path) => {
            // Fail before listening when the file cannot be created.
            std::fs::File::create(path)?;
            Some(Capture::new(reserve))
        }
        None => None,
    };
    let mut t = Tally {
        messages: 0,
        bytes: 0,
        first: None,
        first_ns: 0,
        last: Instant::now(),
        last_ns: 0,
    };

    if mode == "udp" {
        receive_udp(addr, expect, idle, &mut out, &mut t)?;
    } else {
        receive_tcp(addr, expect, idle, &mut out, &mut t)?;
    }

    if let (Some(o), Some(path)) = (out, out_path) {
        std::fs::write(path, &o.data)?;
    }
    let secs = t
        .first
        .map_or(0.0, |f| t.last.duration_since(f).as_secs_f64());
    println!(
        "messages={} bytes={} seconds={secs:.6} first_ns={} last_ns={}",
        t.messages, t.bytes, t.first_ns, t.last_ns
    );
    Ok(())
}

/// What the sink received, kept in memory until it stops.
struct Capture {
    data: Vec<u8>,
}

impl Capture {
    /// Allocates `reserve` bytes and touches every page, so that no page fault lands inside
    /// the measured run.
    fn new(reserve: usize) -> Capture {
        let mut data = vec![1u8; reserve];
        data.clear();
        Capture { data }
    }

    fn keep(&mut self, bytes: &[u8]) {
        self.data.extend_from_slice(bytes);
    }
}

type Out = Option<Capture>;

fn receive_tcp(
    addr: &str,
    expect: u64,
    idle: Duration,
    out: &mut Out,
    t: &mut Tally,
) -> io::Result<()> {
    let listener = TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    eprintln!("sink: listening on tcp {addr}");
    let mut buf = vec![0u8; 1 << 20];
    while t.messages < expect {
        let mut stream = match listener.accept() {
            Ok((s, _)) => s,
            Err(_) if t.idle_for(idle) => break,
            Err(_) => {
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
        };
        stream.set_nonblocking(false)?;
        stream.set_read_timeout(Some(Duration::from_millis(100)))?;
        loop {
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    t.arrived();
                    t.bytes += n as u64;
                    t.messages += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
                    if let Some(o) = out.as_mut() {
                        o.keep(&buf[..n]);
                    }
                }
                Err(_) if t.idle_for(idle) => return Ok(()),
                Err(_) => {}
            }
        }
    }
    Ok(())
}

fn receive_udp(
    addr: &str,
    expect: u64,
    idle: Duration,
    out: &mut Out,
    t: &mut Tally,
) -> io::Result<()> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)?;
    force_recv_buffer(&socket, 256 << 20);
    socket.bind(
        &addr
            .parse::<std::net::SocketAddr>()
            .map_err(io::Error::other)?
            .into(),
    )?;
    let socket: UdpSocket = socket.into();
    socket.set_read_timeout(Some(Duration::from_millis(100)))?;
    eprintln!("sink: listening on udp {addr}");

    let mut bufs = vec![0u8; BATCH * DATAGRAM];
    // SAFETY: iovec and mmsghdr are plain C structs for which all-zero bytes are valid.
    let mut iov: Vec<libc::iovec> = vec![unsafe { std::mem::zeroed() }; BATCH];
    // SAFETY: as above.
    let mut msgs: Vec<libc::mmsghdr> = vec![unsafe { std::mem::zeroed() }; BATCH];
    while t.messages < expect {
        for (i, (v, m)) in iov.iter_mut().zip(msgs.iter_mut()).enumerate() {
            v.iov_base = bufs[i * DATAGRAM..].as_mut_ptr().cast();
            v.iov_len = DATAGRAM;
            m.msg_hdr.msg_iov = v;
            m.msg_hdr.msg_iovlen = 1;
            m.msg_len = 0;
        }
        // SAFETY: `msgs` holds BATCH headers, each pointing at its own iovec in `iov`, whose
        // buffers are disjoint DATAGRAM-byte slices of `bufs`; all outlive the call.
        let got = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                msgs.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if got <= 0 {
            if t.idle_for(idle) {
                break;
            }
            continue;
        }
        t.arrived();
        for (i, m) in msgs.iter().take(got as usize).enumerate() {
            let n = m.msg_len as usize;
            t.messages += 1;
            t.bytes += n as u64;
            if let Some(o) = out.as_mut() {
                o.keep(&bufs[i * DATAGRAM..i * DATAGRAM + n]);
                o.keep(b"\n");
            }
        }
    }
    Ok(())
}

/// Sets the receive buffer past `net.core.rmem_max` when running as root (SO_RCVBUFFORCE), else
/// as large as the limit allows.
fn force_recv_buffer(socket: &socket2::Socket, bytes: usize) {
    let size = bytes as libc::c_int;
    // SAFETY: the option value is a c_int that lives across the call, and its size is passed.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        let _ = socket.set_recv_buffer_size(bytes);
    }
    if let Ok(got) = socket.recv_buffer_size() {
        eprintln!("sink: udp receive buffer {got} bytes");
    }
}
