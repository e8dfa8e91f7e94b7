//! Rule evaluation cost against the number of rules (1, 10, 100, 1000): the bitmask design keeps
//! it flat apart from one AND per 64 rules.
//!
//! `cargo bench --bench rules`

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use otrelay::config::Config;
use otrelay::parse::parse_alert;
use otrelay::rules::RuleSet;

const SAMPLES: &str = include_str!("../examples/alerts.jsonl");
const PROTOCOLS: [&str; 8] = [
    "Modbus",
    "DNP3",
    "BACnet",
    "ICMP",
    "Siemens S7",
    "HTTP",
    "SSH",
    "DNS",
];
const LEVELS: [&str; 4] = ["Warning", "Minor", "Major", "Critical"];

/// `n` rules with varied levels, protocol lists and engines.
fn rules(n: usize) -> RuleSet {
    let mut text = String::new();
    for i in 0..n {
        text.push_str(&format!(
            "[[rule]]\nname = \"r{i}\"\nmin_level = \"{}\"\n",
            LEVELS[i % 4]
        ));
        if i % 3 != 0 {
            text.push_str(&format!(
                "protocols = [\"{}\", \"{}\"]\n",
                PROTOCOLS[i % 8],
                PROTOCOLS[(i / 8) % 8]
            ));
        }
        if i % 5 == 1 {
            text.push_str("engines = [\"Malware\", \"Anomaly\"]\n");
        }
        if i % 7 == 2 {
            text.push_str("created_at = \"2019-01-01T00:00:00Z\"\n");
        }
        text.push_str("[[rule.action]]\nkind = \"cef\"\ntransport = \"stdout\"\n");
    }
    let config = Config::parse(&text, "bench").expect("bench config is valid");
    RuleSet::compile(&config.rules)
}

fn bench_rules(c: &mut Criterion) {
    let lines: Vec<&str> = SAMPLES.lines().collect();
    let alerts: Vec<_> = lines
        .iter()
        .map(|l| parse_alert(l.as_bytes()).expect("sample"))
        .collect();

    let mut group = c.benchmark_group("rules_evaluate");
    group.throughput(Throughput::Elements(alerts.len() as u64));
    for n in [1, 10, 100, 1000] {
        let set = rules(n);
        let mut mask = vec![0u64; set.words()];
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                let mut matched = 0;
                for alert in &alerts {
                    if set.evaluate(black_box(alert), &mut mask) {
                        matched += 1;
                    }
                }
                black_box(matched)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_rules);
criterion_main!(benches);
