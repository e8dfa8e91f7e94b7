//! A TLS syslog receiver (RFC 5425, octet counting) that counts messages, for measuring TLS
//! end to end next to plain TCP.
//!
//! `tls_sink ADDR CERT_OUT [--expect N] [--idle-ms MS]`
//!
//! It makes a self-signed certificate for `localhost`, writes it (PEM) to `CERT_OUT` so that
//! otrelay can trust it with `ca = "CERT_OUT"`, then accepts connections one after another and
//! counts frames. It prints `messages=N bytes=B seconds=S` like `sink`.

use std::io::{self, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr = args.first().map(String::as_str).unwrap_or("127.0.0.1:6514");
    let cert_out = args.get(1).map(String::as_str).unwrap_or("tls-sink.pem");
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

    let key = rcgen::KeyPair::generate().map_err(io::Error::other)?;
    let params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned()]).map_err(io::Error::other)?;
    let cert = params.self_signed(&key).map_err(io::Error::other)?;
    std::fs::File::create(cert_out)?.write_all(cert.pem().as_bytes())?;
    let key_der = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], key_der)
        .map_err(io::Error::other)?;
    let config = Arc::new(config);

    let listener = TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    eprintln!("tls_sink: listening on {addr}");
    let (mut messages, mut bytes) = (0u64, 0u64);
    let (mut first, mut last): (Option<Instant>, Instant) = (None, Instant::now());
    let mut buf = vec![0u8; 1 << 20];
    let mut pending: Vec<u8> = Vec::with_capacity(1 << 21);

    'accept: while messages < expect {
        let tcp = match listener.accept() {
            Ok((s, _)) => s,
            Err(_) if first.is_some() && last.elapsed() > idle => break,
            Err(_) => {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            }
        };
        tcp.set_nonblocking(false)?;
        tcp.set_read_timeout(Some(Duration::from_millis(100)))?;
        let conn = rustls::ServerConnection::new(Arc::clone(&config)).map_err(io::Error::other)?;
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        pending.clear();
        loop {
            match tls.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    first.get_or_insert_with(Instant::now);
                    last = Instant::now();
                    bytes += n as u64;
                    pending.extend_from_slice(&buf[..n]);
                    messages += count_frames(&mut pending);
                    if messages >= expect {
                        break 'accept;
                    }
                }
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::TimedOut =>
                {
                    if first.is_some() && last.elapsed() > idle {
                        break 'accept;
                    }
                }
                Err(_) => break,
            }
        }
    }
    let secs = first.map_or(0.0, |f| last.duration_since(f).as_secs_f64());
    println!("messages={messages} bytes={bytes} seconds={secs:.6}");
    Ok(())
}

/// Removes the complete `LEN SP MSG` frames from the front of `pending` and counts them.
fn count_frames(pending: &mut Vec<u8>) -> u64 {
    let mut at = 0;
    let mut n = 0;
    while let Some(sp) = pending[at..].iter().position(|&b| b == b' ') {
        let digits = std::str::from_utf8(&pending[at..at + sp]).ok();
        let Some(len) = digits.and_then(|t| t.parse::<usize>().ok()) else {
            break;
        };
        if pending.len() < at + sp + 1 + len {
            break;
        }
        at += sp + 1 + len;
        n += 1;
    }
    pending.drain(..at);
    n
}
