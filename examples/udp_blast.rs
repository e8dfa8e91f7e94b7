//! The kernel's UDP ceiling on this machine: sends datagrams with `sendmmsg` as fast as it can.
//!
//! `udp_blast ADDR --from FILE [--batch N]`
//!
//! FILE holds one datagram per line, as `sink udp --out FILE` saves them, so the blast sends
//! exactly the datagrams (count and sizes) that otrelay sent in a measured run. The whole file is
//! loaded and the message headers are built before the clock starts; the timed loop only calls
//! `sendmmsg`. It prints `messages=N bytes=B seconds=S start_ns=T`, T being the CLOCK_REALTIME
//! nanosecond of the first send, so that a harness can time the run up to the receiver's last
//! datagram with the same clock as it times otrelay.

use std::io;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr = args.first().map_or("127.0.0.1:5514", String::as_str);
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
    };
    let path = flag("--from").ok_or_else(|| io::Error::other("--from FILE is required"))?;
    let batch: usize = flag("--batch").and_then(|v| v.parse().ok()).unwrap_or(1024);

    let data = std::fs::read(path)?;
    let mut lines: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    socket.connect(addr)?;
    let _ = socket2::SockRef::from(&socket).set_send_buffer_size(8 << 20);

    // One iovec and one header per datagram, built up front. The kernel only reads them.
    let mut iov: Vec<libc::iovec> = lines
        .iter()
        .map(|l| libc::iovec {
            iov_base: l.as_ptr().cast_mut().cast(),
            iov_len: l.len(),
        })
        .collect();
    // SAFETY: mmsghdr is a plain C struct for which all-zero bytes are valid.
    let mut msgs: Vec<libc::mmsghdr> = vec![unsafe { std::mem::zeroed() }; iov.len()];
    for (m, v) in msgs.iter_mut().zip(iov.iter_mut()) {
        m.msg_hdr.msg_iov = v;
        m.msg_hdr.msg_iovlen = 1;
    }

    let start_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let start = Instant::now();
    let mut sent = 0;
    while sent < msgs.len() {
        let n = batch.min(msgs.len() - sent);
        // SAFETY: `msgs[sent..sent + n]` are initialised headers pointing at iovecs and at
        // `data`, all of which outlive the call; the socket is connected, so no address is set.
        let rc = unsafe {
            libc::sendmmsg(
                socket.as_raw_fd(),
                msgs[sent..].as_mut_ptr(),
                n as libc::c_uint,
                0,
            )
        };
        if rc < 0 {
            let e = io::Error::last_os_error();
            // ECONNREFUSED reports an earlier ICMP error; ENOBUFS a full device queue. Retry.
            if matches!(e.raw_os_error(), Some(libc::ECONNREFUSED | libc::ENOBUFS)) {
                continue;
            }
            return Err(e);
        }
        sent += rc as usize;
    }
    let secs = start.elapsed().as_secs_f64();
    let bytes: usize = lines.iter().map(|l| l.len()).sum();
    println!(
        "messages={} bytes={bytes} seconds={secs:.6} start_ns={start_ns}",
        msgs.len()
    );
    Ok(())
}
