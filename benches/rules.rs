//! Rule cost per alert against the number of rules (1, 10, 100, 1000), all broad (most alerts
//! match most rules). Every seventh rule, the first included, has its own creation time (all
//! before the alerts) and every fourth lists protocols, so that every size has alert keys of the
//! same shape.
//!
//! - `rules_route`: what `Processor::route` does for the rules: [`RuleMemo::hit`] (key, probe,
//!   one counter add), then a walk over the entry's action mask. This curve must stay flat.
//! - `rules_evaluate`: the uncached [`RuleSet::evaluate`], one AND of five masks per 64 rules.
//! - `rules_walk_matched`: evaluate, then count and OR the actions of every matched rule one by
//!   one, as routing did before the memo; it grows with the number of rules matched.
//!
//! `cargo bench --bench rules -- --warm-up-time 1 --measurement-time 2`

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use otrelay::alert::Alert;
use otrelay::config::Config;
use otrelay::parse::parse_alert;
use otrelay::rules::{RuleMemo, RuleSet, set_bits, words_for};
use otrelay::stats::RuleMatches;

const SAMPLES: &str = include_str!("../examples/alerts.jsonl");
const PROTOCOLS: [&str; 5] = ["Modbus", "DNP3", "BACnet", "ICMP", "Siemens S7"];
const SIZES: [usize; 4] = [1, 10, 100, 1000];
/// Distinct actions; rule `i` forwards to action `i % ACTIONS`, as duplicates merge into few.
const ACTIONS: usize = 2;

/// `n` broad rules: most accept every protocol and engine from level Warning or Minor; one in
/// four lists five protocols, and one in seven was created at its own time in 2015 or 2016,
/// before every sample alert.
fn rules(n: usize) -> RuleSet {
    let mut text = String::new();
    for i in 0..n {
        let level = if i % 2 == 0 { "Warning" } else { "Minor" };
        text.push_str(&format!(
            "[[rule]]\nname = \"r{i}\"\nmin_level = \"{level}\"\n"
        ));
        if i % 4 == 0 {
            let list: Vec<String> = PROTOCOLS.iter().map(|p| format!("{p:?}")).collect();
            text.push_str(&format!("protocols = [{}]\n", list.join(", ")));
        }
        if i % 7 == 0 {
            let day = 1 + i % 28;
            let month = 1 + (i / 28) % 12;
            let year = 2015 + (i / 336) % 2;
            text.push_str(&format!(
                "created_at = \"{year}-{month:02}-{day:02}T00:00:{:02}Z\"\n",
                i % 60
            ));
        }
        text.push_str("[[rule.action]]\nkind = \"cef\"\ntransport = \"stdout\"\n");
    }
    let config = Config::parse(&text, "bench").expect("bench config is valid");
    RuleSet::compile(&config.rules)
}

/// `[rule][action word]`: rule `r` has action `r % ACTIONS`.
fn rule_actions(set: &RuleSet) -> Vec<u64> {
    (0..set.len()).map(|r| 1 << (r % ACTIONS)).collect()
}

fn bench_rules(c: &mut Criterion) {
    let alerts: Vec<Alert<'_>> = SAMPLES
        .lines()
        .map(|l| parse_alert(l.as_bytes()).expect("sample"))
        .collect();
    let elements = Throughput::Elements(alerts.len() as u64);
    assert_eq!(words_for(ACTIONS), 1);

    let mut group = c.benchmark_group("rules_route");
    group.throughput(elements.clone());
    for n in SIZES {
        let set = rules(n);
        let actions = rule_actions(&set);
        let mut memo = RuleMemo::new(set, actions, 1);
        let mut matches = RuleMatches::new(n);
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                let mut sent = 0;
                for alert in &alerts {
                    let entry = memo.hit(black_box(alert), &mut matches);
                    if !memo.matched(entry) {
                        continue;
                    }
                    for &word in memo.actions(entry) {
                        sent += word.count_ones();
                    }
                }
                black_box(sent)
            })
        });
        // The memo's counts are the per-rule matches of every alert routed.
        black_box(matches.counts());
    }
    group.finish();

    let mut group = c.benchmark_group("rules_evaluate");
    group.throughput(elements.clone());
    for n in SIZES {
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

    let mut group = c.benchmark_group("rules_walk_matched");
    group.throughput(elements);
    for n in SIZES {
        let set = rules(n);
        let actions = rule_actions(&set);
        let mut mask = vec![0u64; set.words()];
        let mut counts = vec![0u64; n];
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                let mut sent = 0;
                for alert in &alerts {
                    if !set.evaluate(black_box(alert), &mut mask) {
                        continue;
                    }
                    let mut action_mask = 0u64;
                    for r in set_bits(&mask) {
                        counts[r] += 1;
                        action_mask |= actions[r];
                    }
                    sent += action_mask.count_ones();
                }
                black_box(sent)
            })
        });
        black_box(&counts);
    }
    group.finish();
}

criterion_group!(benches, bench_rules);
criterion_main!(benches);
