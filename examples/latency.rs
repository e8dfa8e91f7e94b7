//! Latency of otrelay from intake to receiver, at a fixed offered rate.
//!
//! `latency --source ADDR --listen ADDR [--rate PER_S] [--seconds S]`
//!
//! It listens on `--listen` as the syslog receiver (TCP, LF framing) that otrelay's action
//! connects to, then connects to otrelay's TCP source at `--source` and sends alerts at a fixed
//! rate. Each alert's `uuid` is `lat-<CLOCK_REALTIME ns at send>`; the receiving thread finds it
//! in the CEF `UUID=` key and records arrival − send. The figure is an upper bound of otrelay's
//! intake-to-write time: it includes both loopback hops and the receiver's own read.
//!
//! Sending is paced in 1 ms steps: each step writes the alerts that are due by then in one
//! `write`, stamped when written. It prints `sent=N received=M p50_us=.. p99_us=.. p999_us=..
//! max_us=..`.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn realtime_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let source = flag("--source").ok_or_else(|| io::Error::other("--source ADDR is required"))?;
    let listen = flag("--listen").ok_or_else(|| io::Error::other("--listen ADDR is required"))?;
    let rate: u64 = flag("--rate")
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let seconds: f64 = flag("--seconds")
        .and_then(|v| v.parse().ok())
        .unwrap_or(5.0);
    let total = (rate as f64 * seconds) as u64;

    let listener = TcpListener::bind(&listen)?;
    eprintln!("latency: receiving on {listen}");
    // u64::MAX until the sender knows how many it sent.
    let sent_total = Arc::new(AtomicU64::new(u64::MAX));
    let receiver = {
        let sent_total = Arc::clone(&sent_total);
        thread::spawn(move || receive(listener, total as usize, &sent_total))
    };

    let sent = send(&source, rate, total)?;
    sent_total.store(sent, Ordering::Release);
    let mut lat = receiver
        .join()
        .map_err(|_| io::Error::other("receiver thread panicked"))??;

    lat.sort_unstable();
    let pct = |p: f64| -> f64 {
        if lat.is_empty() {
            return f64::NAN;
        }
        let i = ((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1;
        lat[i] as f64 / 1000.0
    };
    println!(
        "sent={sent} received={} p50_us={:.1} p99_us={:.1} p999_us={:.1} max_us={:.1}",
        lat.len(),
        pct(0.50),
        pct(0.99),
        pct(0.999),
        pct(1.0)
    );
    Ok(())
}

/// Connects to otrelay's source (retrying while it starts) and sends `total` alerts at `rate`.
fn send(source: &str, rate: u64, total: u64) -> io::Result<u64> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut stream = loop {
        match TcpStream::connect(source) {
            Ok(s) => break s,
            Err(e) if Instant::now() > deadline => return Err(e),
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
    };
    stream.set_nodelay(true)?;
    // Let otrelay's action connect to the receiver before the clock starts.
    thread::sleep(Duration::from_millis(300));

    let mut buf = Vec::with_capacity(1 << 20);
    let start = Instant::now();
    let mut sent = 0u64;
    while sent < total {
        let due = ((start.elapsed().as_secs_f64() * rate as f64) as u64).min(total);
        if due == sent {
            thread::sleep(Duration::from_micros(200));
            continue;
        }
        buf.clear();
        let ns = realtime_ns();
        for i in sent..due {
            alert(&mut buf, i, ns);
        }
        stream.write_all(&buf)?;
        sent = due;
    }
    stream.flush()?;
    Ok(sent)
}

/// One alert that the harness's latency rule forwards (Major, Modbus).
fn alert(buf: &mut Vec<u8>, id: u64, ns: u64) {
    let ms = ns / 1_000_000;
    let _ = writeln!(
        buf,
        "{{\"id\":{id},\"time\":{ms},\"title\":\"Unauthorized PLC Programming\",\
         \"message\":\"Latency probe {id}.\\nSecond line.\",\"severity\":\"Major\",\
         \"engine\":\"Policy Violation\",\"sourceDeviceAddress\":\"10.1.2.3\",\
         \"destinationDeviceAddress\":\"10.3.2.1\",\"protocol\":\"Modbus\",\
         \"category\":\"Programming\",\"uuid\":\"lat-{ns}\",\"sensorName\":\"sensor-plant-01\"}}"
    );
}

/// Accepts otrelay's connection and records the latency of every probe it delivers, until all
/// sent probes arrived or nothing came for two seconds after the sender finished.
fn receive(listener: TcpListener, capacity: usize, sent_total: &AtomicU64) -> io::Result<Vec<u64>> {
    let (mut stream, _) = listener.accept()?;
    stream.set_read_timeout(Some(Duration::from_millis(100)))?;
    let mut lat = Vec::with_capacity(capacity + 1024);
    let mut buf = vec![0u8; 1 << 20];
    let mut pending: Vec<u8> = Vec::with_capacity(1 << 20);
    let finder = memchr::memmem::Finder::new(b"UUID=lat-");
    let mut last = Instant::now();

    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                0
            }
            Err(e) => return Err(e),
        };
        let now = realtime_ns();
        if n > 0 {
            last = Instant::now();
            pending.extend_from_slice(&buf[..n]);
            let end = memchr::memrchr(b'\n', &pending).map_or(0, |i| i + 1);
            for line in pending[..end].split(|&b| b == b'\n') {
                if let Some(at) = finder.find(line) {
                    let digits = &line[at + 9..];
                    let len = digits.iter().take_while(|b| b.is_ascii_digit()).count();
                    let sent: u64 = std::str::from_utf8(&digits[..len])
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(now);
                    lat.push(now.saturating_sub(sent));
                }
            }
            pending.drain(..end);
        }
        let target = sent_total.load(Ordering::Acquire);
        if lat.len() as u64 >= target {
            break;
        }
        if target != u64::MAX && last.elapsed() > Duration::from_secs(2) {
            break;
        }
    }
    Ok(lat)
}
