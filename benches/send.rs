//! Benchmarks of the send stage: filling batches (the framing cost on the pipeline thread) and
//! end-to-end throughput through the sender thread to loopback UDP, TCP and TLS receivers.
//!
//! One iteration = one batch of 300-byte messages (about 64 KiB) filled and, end to end,
//! submitted; the pipeline side waits in `acquire` whenever the sender thread lags, so the
//! end-to-end figure is the slower of the two sides. Run with
//! `cargo bench --bench send -- --warm-up-time 1 --measurement-time 2`.

use std::hint::black_box;
use std::io::Read;
use std::net::{TcpListener, UdpSocket};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use otrelay::send::{Batch, DestinationConfig, Framing, Sender, TlsOptions, Transport, Verify};

/// Message size, close to an encoded CEF alert.
const MESSAGE: usize = 300;

/// A message like an encoded CEF alert, with spaces.
fn message() -> Vec<u8> {
    let mut m =
        b"<9>May  5 12:29:23 sensor-plant-01 CEF:0|Microsoft|Defender for IoT|1.0|".to_vec();
    while m.len() < MESSAGE {
        m.extend_from_slice(b"src=10.13.10.1 ");
    }
    m.truncate(MESSAGE);
    m
}

/// Fills `batch` until full; returns the bytes written.
fn fill(batch: &mut Batch, msg: &[u8]) -> usize {
    while !batch.is_full() {
        let start = batch.begin();
        batch.buf().extend_from_slice(msg);
        batch.finish(start);
    }
    batch.len_bytes()
}

/// Framing cost alone: fill one batch and clear it, on the calling thread.
fn bench_fill(c: &mut Criterion) {
    let msg = message();
    let mut group = c.benchmark_group("batch_fill");
    group.throughput(Throughput::Bytes(64 * 1024));

    for (label, framing) in [("lf", Framing::Lf), ("octet", Framing::OctetCounting)] {
        // Only the batch is used; the destination is never written to.
        let mut d = DestinationConfig::new(Transport::Tcp, "127.0.0.1", 9);
        d.framing = framing;
        d.batches = 1;
        d.backoff_min = Duration::from_secs(10);
        d.backoff_max = Duration::from_secs(10);
        let sender = Sender::start(vec![d], None).expect("sender starts");
        let mut batch = sender.acquire(0);
        group.bench_function(label, |b| {
            b.iter(|| {
                black_box(fill(&mut batch, &msg));
                batch.clear();
            })
        });
        drop(batch);
        drop(sender);
    }
    group.finish();
}

/// Accepts connections and discards what they send, one thread each.
fn discard_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut s) = conn else { return };
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 1 << 20];
                while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
            });
        }
    });
    port
}

/// Fill-and-submit loop against one destination.
fn bench_dest(
    c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    label: &str,
    d: DestinationConfig,
    msg: &[u8],
) {
    let sender = Sender::start(vec![d], None).expect("sender starts");
    c.bench_function(label, |b| {
        b.iter(|| {
            let mut batch = sender.acquire(0);
            fill(&mut batch, msg);
            sender.submit(batch);
        })
    });
    let report = sender.shutdown(Duration::from_secs(5));
    let st = &report.destinations[0].stats;
    eprintln!(
        "{label}: {} messages, {} send errors",
        st.messages_sent, st.send_errors
    );
}

/// End to end through the sender thread.
fn bench_e2e(c: &mut Criterion) {
    let msg = message();
    let mut group = c.benchmark_group("send_e2e");
    group.throughput(Throughput::Bytes(64 * 1024));

    // UDP to a bound socket nobody reads: the kernel drops what does not fit its buffer, so
    // this measures the sendmmsg path rather than a receiver.
    let sink = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let port = sink.local_addr().expect("addr").port();
    let d = DestinationConfig::new(Transport::Udp, "127.0.0.1", port);
    bench_dest(&mut group, "udp_sendmmsg", d, &msg);

    let port = discard_server();
    for (label, framing) in [
        ("tcp_lf", Framing::Lf),
        ("tcp_octet", Framing::OctetCounting),
    ] {
        let mut d = DestinationConfig::new(Transport::Tcp, "127.0.0.1", port);
        d.framing = framing;
        bench_dest(&mut group, label, d, &msg);
    }

    // TLS (rustls, ring) to a rustls server that decrypts and discards.
    let port = tls_discard_server();
    let mut d = DestinationConfig::new(Transport::Tls, "127.0.0.1", port);
    d.tls = Some(TlsOptions {
        verify: Verify::None,
        ..TlsOptions::default()
    });
    bench_dest(&mut group, "tls_octet", d, &msg);
    group.finish();
}

/// Accepts TLS connections with a throw-away self-signed certificate and discards the
/// plaintext, one thread each.
fn tls_discard_server() -> u16 {
    let key = rcgen::KeyPair::generate().expect("key");
    let params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("params");
    let cert = params.self_signed(&key).expect("certificate");
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .expect("server config");
    let config = std::sync::Arc::new(config);

    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(s) = conn else { return };
            let config = std::sync::Arc::clone(&config);
            std::thread::spawn(move || {
                let Ok(tls) = rustls::ServerConnection::new(config) else {
                    return;
                };
                let mut stream = rustls::StreamOwned::new(tls, s);
                let mut buf = vec![0u8; 1 << 20];
                while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
            });
        }
    });
    port
}

criterion_group!(benches, bench_fill, bench_e2e);
criterion_main!(benches);
