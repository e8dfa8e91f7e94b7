//! A fast syslog receiver that counts messages, for the `perf/` harness and manual tests.
//!
//! `sink tcp|udp ADDR [--expect N] [--idle-ms MS] [--out FILE]`
//!
//! TCP: accepts connections one after another and counts LF-terminated messages. UDP: counts
//! datagrams. It stops after `--expect` messages, or after `--idle-ms` without data once data has
//! arrived, and prints `messages=N bytes=B seconds=S` (S runs from the first byte to the last).
//! With `--out`, it writes what it received (TCP bytes as they came, UDP one datagram per line).

use std::io::{self, Read, Write};
use std::net::{TcpListener, UdpSocket};
use std::time::{Duration, Instant};

struct Tally {
    messages: u64,
    bytes: u64,
    first: Option<Instant>,
    last: Instant,
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
    let mut out = match flag("--out") {
        Some(path) => Some(io::BufWriter::with_capacity(
            1 << 20,
            std::fs::File::create(path)?,
        )),
        None => None,
    };
    let mut t = Tally {
        messages: 0,
        bytes: 0,
        first: None,
        last: Instant::now(),
    };

    if mode == "udp" {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)?;
        let _ = socket.set_recv_buffer_size(64 << 20);
        socket.bind(
            &addr
                .parse::<std::net::SocketAddr>()
                .map_err(io::Error::other)?
                .into(),
        )?;
        let socket: UdpSocket = socket.into();
        socket.set_read_timeout(Some(Duration::from_millis(100)))?;
        eprintln!("sink: listening on udp {addr}");
        let mut buf = vec![0u8; 65536];
        while t.messages < expect {
            match socket.recv(&mut buf) {
                Ok(n) => {
                    t.first.get_or_insert_with(Instant::now);
                    t.last = Instant::now();
                    t.messages += 1;
                    t.bytes += n as u64;
                    if let Some(o) = out.as_mut() {
                        o.write_all(&buf[..n])?;
                        o.write_all(b"\n")?;
                    }
                }
                Err(_) if t.first.is_some() && t.last.elapsed() > idle => break,
                Err(_) => {}
            }
        }
    } else {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        eprintln!("sink: listening on tcp {addr}");
        let mut buf = vec![0u8; 1 << 20];
        'accept: while t.messages < expect {
            let mut stream = match listener.accept() {
                Ok((s, _)) => s,
                Err(_) if t.first.is_some() && t.last.elapsed() > idle => break,
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                }
            };
            stream.set_nonblocking(false)?;
            stream.set_read_timeout(Some(Duration::from_millis(100)))?;
            loop {
                match stream.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        t.first.get_or_insert_with(Instant::now);
                        t.last = Instant::now();
                        t.bytes += n as u64;
                        t.messages += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
                        if let Some(o) = out.as_mut() {
                            o.write_all(&buf[..n])?;
                        }
                        if t.messages >= expect {
                            break 'accept;
                        }
                    }
                    Err(_) if t.last.elapsed() > idle && t.first.is_some() => break 'accept,
                    Err(_) => {}
                }
            }
        }
    }

    if let Some(mut o) = out {
        o.flush()?;
    }
    let secs = t
        .first
        .map_or(0.0, |f| t.last.duration_since(f).as_secs_f64());
    println!(
        "messages={} bytes={} seconds={secs:.6}",
        t.messages, t.bytes
    );
    Ok(())
}
