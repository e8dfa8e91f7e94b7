//! Parser throughput: the nine spec §1.8 sample alerts, and one long alert whose ~4 KiB message
//! is full of escapes.
//!
//! Run with `cargo bench --bench parse`; criterion reports both bytes/s and alerts/s.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use otrelay::parse::parse_alert;

/// The nine example alerts of spec §1.8, one per line.
const SAMPLES: &str = include_str!("../examples/alerts.jsonl");

/// A sample-shaped alert with a ~4 KiB message mixing plain text, `\n`, `\"`, `\u` escapes and
/// non-ASCII text.
fn long_alert() -> String {
    let mut message = String::new();
    while message.len() < 4096 {
        message.push_str(
            "Device 10.1.1.50 wrote \\\"coil 17\\\" on PLC 10.1.1.20\\n\\tvalue=\\u00e9t\\u00e9 \
             \u{00e9}t\u{00e9} \\ud83d\\ude00 path C:\\\\plc\\\\prog; ",
        );
    }
    let first = SAMPLES.lines().next().unwrap_or_default();
    let start = first.find("\"message\":\"").unwrap_or(0) + "\"message\":\"".len();
    let end = start + first[start..].find("\",\"severity\"").unwrap_or(0);
    format!("{}{}{}", &first[..start], message, &first[end..])
}

fn bench_parse(c: &mut Criterion) {
    let lines: Vec<&[u8]> = SAMPLES.lines().map(str::as_bytes).collect();
    let total: usize = lines.iter().map(|l| l.len()).sum();
    for line in &lines {
        assert!(parse_alert(line).is_ok(), "sample does not parse");
    }

    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Bytes(total as u64));
    group.bench_function("spec_samples_bytes", |b| {
        b.iter(|| {
            for line in &lines {
                let _ = black_box(parse_alert(black_box(line)));
            }
        })
    });
    group.throughput(Throughput::Elements(lines.len() as u64));
    group.bench_function("spec_samples_alerts", |b| {
        b.iter(|| {
            for line in &lines {
                let _ = black_box(parse_alert(black_box(line)));
            }
        })
    });

    let long = long_alert();
    assert!(
        parse_alert(long.as_bytes()).is_ok(),
        "long alert does not parse"
    );
    group.throughput(Throughput::Bytes(long.len() as u64));
    group.bench_function("long_message_bytes", |b| {
        b.iter(|| black_box(parse_alert(black_box(long.as_bytes()))))
    });
    group.throughput(Throughput::Elements(1));
    group.bench_function("long_message_alerts", |b| {
        b.iter(|| black_box(parse_alert(black_box(long.as_bytes()))))
    });
    group.finish();
}

criterion_group!(benches, bench_parse);
criterion_main!(benches);
