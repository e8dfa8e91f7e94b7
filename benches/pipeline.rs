//! The whole pipeline in one process: alert lines → parse → rules → CEF → batches → the sender
//! thread → TCP on 127.0.0.1 → a draining receiver thread. One iteration pushes the nine spec
//! alerts repeated to ~1 MiB through an [`otrelay::Engine`] and waits until the receiver has
//! them all, so the figure includes the sender and the kernel, not only the encoding.
//!
//! `cargo bench --bench pipeline`

use std::io::Read;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use otrelay::{Config, Engine};

const SAMPLES: &str = include_str!("../examples/alerts.jsonl");

fn bench_pipeline(c: &mut Criterion) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let received = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&received);
    std::thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else {
            return;
        };
        let mut buf = vec![0u8; 1 << 20];
        while let Ok(n) = stream.read(&mut buf) {
            if n == 0 {
                break;
            }
            let lines = memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
            counter.fetch_add(lines, Ordering::Release);
        }
    });

    // The perf workload's filter: Minor and above, a few protocols; about half is forwarded.
    let config = Config::parse(
        &format!(
            "dead_letter = \"{}\"\n[[rule]]\nname = \"siem\"\nmin_level = \"Minor\"\n\
             protocols = [\"Modbus\", \"BACnet\", \"ICMP\", \"Siemens S7\", \"DNP3\"]\n\
             [[rule.action]]\nkind = \"cef\"\nhost = \"127.0.0.1\"\nport = {port}\n\
             transport = \"tcp\"\n",
            std::env::temp_dir().join("otrelay-bench-dl.log").display()
        ),
        "bench",
    )
    .expect("bench config is valid");
    let mut engine = Engine::new(&config).expect("engine starts");

    let mut input = String::new();
    while input.len() < 1 << 20 {
        input.push_str(SAMPLES);
    }
    let lines = input.lines().count() as u64;

    // Forwarded per push, measured once.
    engine.push(input.as_bytes());
    engine.flush();
    let per_push = engine.stats().forwarded;
    wait(&received, per_push);

    let mut group = c.benchmark_group("pipeline");
    group.throughput(Throughput::Elements(lines));
    group.sample_size(20);
    group.bench_function("tcp_1MiB_of_alerts", |b| {
        b.iter(|| {
            let target = received.load(Ordering::Acquire) + per_push;
            engine.push(input.as_bytes());
            engine.flush();
            wait(&received, target);
        })
    });
    group.finish();
}

fn wait(counter: &AtomicU64, n: u64) {
    while counter.load(Ordering::Acquire) < n {
        std::hint::spin_loop();
    }
}

criterion_group!(benches, bench_pipeline);
criterion_main!(benches);
