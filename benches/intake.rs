//! Sealing an intake block (the intake thread's own work per block): the one-pass newline
//! index and ASCII check against the two passes it replaced (memchr's newline search, then
//! simdutf8's validation).
//!
//! `cargo bench --bench intake`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use otrelay::intake::seal;

const SAMPLES: &str = include_str!("../examples/alerts.jsonl");

fn bench_seal(c: &mut Criterion) {
    // One intake block's worth (1 MiB) of sensor alerts, as the default config ships them.
    let mut block = Vec::with_capacity(1 << 20);
    while block.len() + SAMPLES.len() <= 1 << 20 {
        block.extend_from_slice(SAMPLES.as_bytes());
    }
    let mut ends: Vec<u32> = Vec::with_capacity(16 * 1024 + 1);

    let mut group = c.benchmark_group("seal");
    group.throughput(Throughput::Bytes(block.len() as u64));
    group.bench_function("one_pass", |b| {
        b.iter(|| {
            ends.clear();
            let s = seal::scan(std::hint::black_box(&block), &mut ends);
            s.ascii || simdutf8::basic::from_utf8(&block).is_ok()
        })
    });
    group.bench_function("memchr_then_simdutf8", |b| {
        b.iter(|| {
            ends.clear();
            let s = seal::scan_portable(std::hint::black_box(&block), &mut ends);
            (s.lines, simdutf8::basic::from_utf8(&block).is_ok())
        })
    });
    group.finish();
}

criterion_group!(benches, bench_seal);
criterion_main!(benches);
