//! The rule memo against a naive per-rule evaluation: random rule sets of up to 1000 rules (with
//! creation times, engine and protocol lists, disabled rules and notification kinds) and random
//! alerts, through [`RuleSet::evaluate`], [`RuleSet::explain`], [`RuleMemo::hit`] with several
//! capacities, and through a whole [`Engine`], whose per-rule and per-action counts must equal the
//! oracle's.
#![allow(clippy::unwrap_used, reason = "a test fails loudly on any setup error")]

use std::net::UdpSocket;
use std::time::Duration;

use otrelay::alert::{Alert, AlertKind, DetectionEngine, RawStr, Severity};
use otrelay::config::RuleConfig;
use otrelay::rules::{RuleMemo, RuleSet, set_bits, words_for};
use otrelay::stats::RuleMatches;
use otrelay::{Config, Engine};

/// splitmix64: a small seeded generator, so that a failure replays exactly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// A random non-empty subset of `items`, without repeats.
    fn subset<T: Clone + PartialEq>(&mut self, items: &[T], max: usize) -> Vec<T> {
        let n = 1 + self.below(max.min(items.len()));
        let mut out: Vec<T> = Vec::with_capacity(n);
        while out.len() < n {
            let item = self.pick(items).clone();
            if !out.contains(&item) {
                out.push(item);
            }
        }
        out
    }
}

const PROTOCOLS: [&str; 8] = [
    "Modbus",
    "DNP3",
    "BACnet",
    "ICMP",
    "Siemens S7",
    "HTTP",
    "SMB / CIFS",
    "EtherNet/IP CIP",
];
/// Protocols alerts name that no rule lists.
const UNLISTED: [&str; 2] = ["Telnet", "MQTT"];
const ENGINES: [&str; 6] = [
    "Policy Violation",
    "Protocol Violation",
    "Malware",
    "Anomaly",
    "Operational",
    "Quantum",
];
/// Rule creation times, epoch ms.
const CREATED: [i64; 5] = [
    1_600_000_000_000,
    1_650_000_000_000,
    1_650_000_000_001,
    1_700_000_000_000,
    1_750_000_000_000,
];

/// One alert's deciding values.
#[derive(Clone, Debug)]
struct Case {
    severity: Severity,
    engine: &'static str,
    protocol: Option<String>,
    time_ms: i64,
    kind: AlertKind,
}

impl Case {
    fn random(rng: &mut Rng) -> Case {
        let protocol = match rng.below(10) {
            0 => None,
            1 => Some(rng.pick(&UNLISTED).to_string()),
            // Case must not matter.
            2 => Some(rng.pick(&PROTOCOLS).to_ascii_uppercase()),
            3 => Some(rng.pick(&PROTOCOLS).to_ascii_lowercase()),
            _ => Some(rng.pick(&PROTOCOLS).to_string()),
        };
        // Right at, just before or just after a creation time, or far from all of them.
        let time_ms = match rng.below(5) {
            0 => 1_500_000_000_000,
            1 => 1_800_000_000_000,
            _ => *rng.pick(&CREATED) + [-1, 0, 1][rng.below(3)],
        };
        Case {
            severity: *rng.pick(&Severity::ALL),
            engine: ENGINES[rng.below(ENGINES.len())],
            protocol,
            time_ms,
            kind: if rng.chance(15) {
                AlertKind::System
            } else {
                AlertKind::Alert
            },
        }
    }

    fn alert(&self) -> Alert<'_> {
        Alert {
            time_ms: self.time_ms,
            severity: self.severity,
            engine: DetectionEngine::from_name(self.engine.as_bytes()),
            engine_name: RawStr::literal(self.engine),
            protocol: self.protocol.as_deref().map(RawStr::literal),
            kind: self.kind,
            ..Alert::default()
        }
    }

    fn json(&self) -> String {
        let protocol = match &self.protocol {
            Some(p) => format!(",\"protocol\":\"{}\"", p.replace('/', "\\/")),
            None => String::new(),
        };
        let kind = match self.kind {
            AlertKind::Alert => "",
            AlertKind::System => ",\"kind\":\"system\"",
        };
        format!(
            "{{\"time\":{},\"title\":\"t\",\"severity\":\"{}\",\"engine\":\"{}\"{protocol}{kind}}}",
            self.time_ms,
            self.severity.name(),
            self.engine
        )
    }

    /// The oracle: the sensor's rule semantics, one rule at a time.
    fn matches(&self, rule: &RuleConfig) -> bool {
        let kind_ok = match self.kind {
            AlertKind::Alert => rule.alert_notifications,
            AlertKind::System => rule.system_notifications,
        };
        let engine = DetectionEngine::from_name(self.engine.as_bytes());
        let protocol_ok = match (&rule.protocols, &self.protocol) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(list), Some(p)) => list.iter().any(|l| l.eq_ignore_ascii_case(p)),
        };
        rule.enabled
            && kind_ok
            && self.severity >= rule.min_level
            && rule.engines.as_ref().is_none_or(|l| l.contains(&engine))
            && protocol_ok
            && rule.created_at_ms.is_none_or(|t| self.time_ms >= t)
    }
}

/// `n` random rules built on `base` (whose actions they keep).
fn random_rules(rng: &mut Rng, n: usize, base: &RuleConfig) -> Vec<RuleConfig> {
    (0..n)
        .map(|i| RuleConfig {
            name: format!("r{i}"),
            min_level: *rng.pick(&Severity::ALL),
            protocols: rng.chance(50).then(|| {
                rng.subset(&PROTOCOLS, 4)
                    .into_iter()
                    .map(String::from)
                    .collect()
            }),
            engines: rng
                .chance(40)
                .then(|| rng.subset(&DetectionEngine::KNOWN, 3)),
            created_at_ms: rng.chance(40).then(|| *rng.pick(&CREATED)),
            enabled: rng.chance(90),
            alert_notifications: rng.chance(90),
            system_notifications: rng.chance(30),
            ..base.clone()
        })
        .collect()
}

fn base_rule() -> RuleConfig {
    let text =
        "[[rule]]\nname = \"base\"\n[[rule.action]]\nkind = \"cef\"\ntransport = \"stdout\"\n";
    Config::parse(text, "test").unwrap().rules.remove(0)
}

#[test]
fn memo_equals_naive_evaluation() {
    let base = base_rule();
    let mut rng = Rng(0x5EED_0723);
    for n in [1, 3, 10, 64, 65, 100, 1000] {
        let rules = random_rules(&mut rng, n, &base);
        let set = RuleSet::compile(&rules);
        let cases: Vec<Case> = (0..2000).map(|_| Case::random(&mut rng)).collect();

        // Up to 70 distinct actions, so that action masks take two words; each rule has 1 to 3.
        let actions = 1 + rng.below(70);
        let action_words = words_for(actions);
        let mut rule_actions = vec![0u64; n * action_words];
        for r in 0..n {
            for _ in 0..1 + rng.below(3) {
                let a = rng.below(actions);
                rule_actions[r * action_words + a / 64] |= 1 << (a % 64);
            }
        }

        // Capacity 1 and 5 make the memo start over all the time; the default never does here.
        for capacity in [None, Some(1), Some(5)] {
            let mut memo = match capacity {
                None => RuleMemo::new(set.clone(), rule_actions.clone(), action_words),
                Some(c) => {
                    RuleMemo::with_capacity(set.clone(), rule_actions.clone(), action_words, c)
                }
            };
            let mut counts = RuleMatches::new(n);
            let mut want_counts = vec![0u64; n];
            let mut mask = vec![0u64; set.words()];

            for (i, case) in cases.iter().enumerate() {
                let alert = case.alert();
                let want: Vec<usize> = (0..n).filter(|&r| case.matches(&rules[r])).collect();
                let mut want_actions = vec![0u64; action_words];
                for &r in &want {
                    want_counts[r] += 1;
                    for (m, w) in want_actions
                        .iter_mut()
                        .zip(&rule_actions[r * action_words..])
                    {
                        *m |= w;
                    }
                }

                let any = set.evaluate(&alert, &mut mask);
                assert_eq!(
                    set_bits(&mask).collect::<Vec<_>>(),
                    want,
                    "{n} rules, {case:?}"
                );
                assert_eq!(any, !want.is_empty());

                let entry = memo.hit(&alert, &mut counts);
                assert_eq!(memo.rule_mask(entry), &mask[..], "{n} rules, {case:?}");
                assert_eq!(memo.matched(entry), any);
                assert_eq!(memo.actions(entry), &want_actions[..]);
                assert!(memo.len() <= memo.capacity());

                // `explain` is the per-rule path of `otrelay explain`; it must agree too.
                if capacity.is_none() && i % 20 == 0 {
                    for (r, rule) in rules.iter().enumerate() {
                        let why = set.explain(r, &alert);
                        assert_eq!(why.is_none(), case.matches(rule), "rule {r}: {why:?}");
                    }
                }
            }
            assert_eq!(
                counts.counts(),
                want_counts,
                "{n} rules, capacity {capacity:?}"
            );
        }
    }
}

/// A config of `rules` (as TOML) with `actions` distinct UDP actions to `port`; rule `r` uses
/// action `r % actions` and, for every third rule, action `(r + 1) % actions` too.
fn config_text(rules: &[RuleConfig], actions: usize, port: u16, dead_letter: &str) -> String {
    let mut text = format!("dead_letter = \"{dead_letter}\"\n");
    for (r, rule) in rules.iter().enumerate() {
        text.push_str(&format!(
            "[[rule]]\nname = \"{}\"\nmin_level = \"{}\"\nenabled = {}\n\
             alert_notifications = {}\nsystem_notifications = {}\n",
            rule.name,
            rule.min_level.name(),
            rule.enabled,
            rule.alert_notifications,
            rule.system_notifications
        ));
        if let Some(list) = &rule.protocols {
            let quoted: Vec<String> = list.iter().map(|p| format!("{p:?}")).collect();
            text.push_str(&format!("protocols = [{}]\n", quoted.join(", ")));
        }
        if let Some(list) = &rule.engines {
            let quoted: Vec<String> = list.iter().map(|e| format!("{:?}", e.name())).collect();
            text.push_str(&format!("engines = [{}]\n", quoted.join(", ")));
        }
        if let Some(t) = rule.created_at_ms {
            let ts = jiff::Timestamp::from_millisecond(t).unwrap();
            text.push_str(&format!("created_at = \"{ts}\"\n"));
        }
        let mut mine = vec![r % actions];
        if r % 3 == 0 && actions > 1 {
            mine.push((r + 1) % actions);
        }
        for a in mine {
            text.push_str(&format!(
                "[[rule.action]]\nkind = \"cef\"\ntransport = \"udp\"\nhost = \"127.0.0.1\"\n\
                 port = {port}\napp_name = \"a{a}\"\n"
            ));
        }
    }
    text
}

#[test]
fn engine_counts_equal_naive_counts() {
    let base = base_rule();
    let mut rng = Rng(0xC0_047);
    let n = 300;
    let actions = 5;
    let rules = random_rules(&mut rng, n, &base);

    // A receiver nobody reads: the kernel drops what does not fit, which is fine here.
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = sink.local_addr().unwrap().port();
    let dead_letter = std::env::temp_dir().join("otrelay-rules-memo-dl.log");
    let text = config_text(&rules, actions, port, &dead_letter.display().to_string());
    let config = Config::parse(&text, "test").unwrap();
    // The parsed rules are the generated ones, so the oracle may use either.
    for (parsed, made) in config.rules.iter().zip(&rules) {
        assert_eq!(
            (parsed.min_level, &parsed.protocols, &parsed.engines),
            (made.min_level, &made.protocols, &made.engines)
        );
        assert_eq!(parsed.created_at_ms, made.created_at_ms);
    }

    let cases: Vec<Case> = (0..5000).map(|_| Case::random(&mut rng)).collect();
    let mut want_matched = vec![0u64; n];
    let mut want_forwarded = 0;
    let mut want_messages = vec![0u64; actions];
    for case in &cases {
        let mut hit = vec![false; actions];
        for (r, rule) in rules.iter().enumerate() {
            if case.matches(rule) {
                want_matched[r] += 1;
                hit[r % actions] = true;
                if r % 3 == 0 {
                    hit[(r + 1) % actions] = true;
                }
            }
        }
        if hit.contains(&true) {
            want_forwarded += 1;
        }
        for (m, h) in want_messages.iter_mut().zip(hit) {
            *m += u64::from(h);
        }
    }

    let mut engine = Engine::new(&config).unwrap();
    let input: String = cases.iter().map(|c| c.json() + "\n").collect();
    let cut = input[..input.len() / 2].rfind('\n').unwrap() + 1;
    let (first, second) = input.split_at(cut);
    engine.push(first.as_bytes());
    // Mid-stream counts, read through `&self`, are exact too.
    let half = first.lines().count();
    let mut want_half = vec![0u64; n];
    for case in &cases[..half] {
        for (r, rule) in rules.iter().enumerate() {
            want_half[r] += u64::from(case.matches(rule));
        }
    }
    assert_eq!(engine.stats().matched.counts(), want_half);
    engine.push(second.as_bytes());

    let (stats, _report) = engine.finish(Duration::from_secs(2));
    assert_eq!(stats.rejected_total(), 0);
    assert_eq!(stats.parsed, cases.len() as u64);
    assert_eq!(stats.matched.counts(), want_matched);
    assert_eq!(stats.forwarded, want_forwarded);
    assert_eq!(stats.unmatched, cases.len() as u64 - want_forwarded);

    // Actions are merged by config, so `messages` follows the order of first use; map it back.
    let names: Vec<String> = (0..actions).map(|a| format!("a{a}")).collect();
    let action_of = |config: &Config, index: usize| -> usize {
        let mut seen: Vec<&str> = Vec::new();
        for rule in &config.rules {
            for action in &rule.actions {
                if !seen.contains(&action.app_name.as_str()) {
                    seen.push(&action.app_name);
                }
            }
        }
        names.iter().position(|n| n == seen[index]).unwrap()
    };
    for (index, &got) in stats.messages.iter().enumerate() {
        assert_eq!(
            got,
            want_messages[action_of(&config, index)],
            "action {index}"
        );
    }
    assert!(stats.matched.counts().iter().sum::<u64>() > 0);
}
