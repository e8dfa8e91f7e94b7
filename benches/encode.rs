//! Encoder throughput: the nine spec §1.8 alerts as syslog + CEF messages (both flavors), LEEF
//! 1.0/2.0, text and object (key/value, JSON) messages, written into one reused buffer the way
//! the pipeline fills a batch. Criterion reports alerts/s.

#[path = "../tests/spec_alerts/mod.rs"]
mod spec_alerts;

use std::hint::black_box;

use criterion::BenchmarkGroup;
use criterion::measurement::WallTime;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use otrelay::alert::Alert;
use otrelay::encode::Encoded;
use otrelay::encode::cef::{CefEncoder, CefFlavor, CefOptions};
use otrelay::encode::leef::{LeefEncoder, LeefOptions, LeefVersion};
use otrelay::encode::object::{ObjectEncoder, ObjectOptions, ObjectStyle};
use otrelay::encode::syslog::{HeaderOptions, HeaderStyle, SyslogHeader};
use otrelay::encode::text::{TextEncoder, TextOptions};
use otrelay::encode::time::{AlertClock, parse_timezone};

/// Per-message limit: the RFC 3164 packet size, which every spec alert fits.
const LIMIT: usize = 1024;

fn encode(c: &mut Criterion) {
    let alerts = spec_alerts::spec_alerts();
    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Elements(alerts.len() as u64));

    let cases = [
        (
            "microsoft_rfc3164",
            CefFlavor::Microsoft,
            HeaderStyle::Rfc3164,
        ),
        (
            "netwitness_rfc3164",
            CefFlavor::NetWitness,
            HeaderStyle::Rfc3164,
        ),
        (
            "microsoft_rfc5424",
            CefFlavor::Microsoft,
            HeaderStyle::Rfc5424,
        ),
    ];
    for (name, flavor, style) in cases {
        let clock = AlertClock::new(parse_timezone("Europe/Moscow").expect("known zone"));
        let opts = CefOptions {
            flavor,
            field_limits: true,
            ..CefOptions::default()
        };
        let mut encoder = CefEncoder::new(&opts, &spec_alerts::sensor(), clock);
        let mut header = SyslogHeader::new(&HeaderOptions {
            style,
            hostname: "sensor-plant-01".to_owned(),
            ..HeaderOptions::default()
        })
        .expect("valid header");
        let mut out = Vec::with_capacity(alerts.len() * (LIMIT + header.max_len()));
        let now = 1_594_808_261;

        group.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                for alert in &alerts {
                    header.write(black_box(now), &mut out);
                    let status = encoder.encode(black_box(alert), &mut out, LIMIT);
                    debug_assert_eq!(status, Encoded::Complete);
                    let _ = status;
                }
                black_box(out.len())
            })
        });
    }
    group.finish();
}

fn clock() -> AlertClock {
    AlertClock::new(parse_timezone("Europe/Moscow").expect("known zone"))
}

/// Benchmarks one body encoder behind an RFC 3164 header, as `encode` does for CEF.
fn bench_body(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    alerts: &[Alert<'static>],
    mut body: impl FnMut(&Alert<'static>, &mut Vec<u8>) -> Encoded,
) {
    let mut header = SyslogHeader::new(&HeaderOptions {
        hostname: "sensor-plant-01".to_owned(),
        ..HeaderOptions::default()
    })
    .expect("valid header");
    let mut out = Vec::with_capacity(alerts.len() * (LIMIT + header.max_len()));
    let now = 1_594_808_261;

    group.bench_function(name, |b| {
        b.iter(|| {
            out.clear();
            for alert in alerts {
                header.write(black_box(now), &mut out);
                let status = body(black_box(alert), &mut out);
                debug_assert_eq!(status, Encoded::Complete);
                let _ = status;
            }
            black_box(out.len())
        })
    });
}

fn formats(c: &mut Criterion) {
    let alerts = spec_alerts::spec_alerts();
    let sensor = spec_alerts::sensor();
    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Elements(alerts.len() as u64));

    for (name, version) in [
        ("leef1_rfc3164", LeefVersion::V1),
        ("leef2_rfc3164", LeefVersion::V2 { delimiter: b'^' }),
    ] {
        let opts = LeefOptions {
            version,
            ..LeefOptions::default()
        };
        let mut enc = LeefEncoder::new(&opts, &sensor, clock());
        bench_body(&mut group, name, &alerts, |a, out| {
            enc.encode(a, out, LIMIT)
        });
    }

    let mut enc = TextEncoder::new(&TextOptions::default(), &sensor, clock());
    bench_body(&mut group, "text_rfc3164", &alerts, |a, out| {
        enc.encode(a, out, LIMIT)
    });

    for (name, style) in [
        ("object_kv_rfc3164", ObjectStyle::KeyValue),
        ("object_json_rfc3164", ObjectStyle::Json),
    ] {
        let opts = ObjectOptions {
            style,
            ..ObjectOptions::default()
        };
        let mut enc = ObjectEncoder::new(&opts, &sensor, clock());
        bench_body(&mut group, name, &alerts, |a, out| {
            enc.encode(a, out, LIMIT)
        });
    }
    group.finish();
}

criterion_group!(benches, encode, formats);
criterion_main!(benches);
