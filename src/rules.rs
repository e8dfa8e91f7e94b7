//! Forwarding rules compiled to bitmasks, and their evaluation per alert.
//!
//! Pipeline position: compiled once at start-up; [`RuleSet::evaluate`] runs on the pipeline
//! thread for every parsed alert. Evaluation allocates nothing and compares no strings except the
//! one case-insensitive check that confirms a protocol hash hit.
//!
//! How it works. Rule `i` owns bit `i % 64` of word `i / 64` in every mask. For each condition the
//! compiler precomputes, per possible value, the set of rules that value satisfies:
//!
//! - `severity[s]`: rules whose minimal level is at most `s`;
//! - `engine[e]`: rules that list engine `e` or accept any engine;
//! - `protocol[p]`: rules that list protocol `p` (interned, case-folded) or accept any protocol;
//!   an alert whose protocol is absent or listed by no rule gets `any_protocol`.
//!
//! The rules an alert matches are `severity[s] & engine[e] & protocol[p]`, minus the rules whose
//! `created_at` lies after the alert's time (the sensor only forwards alerts raised after a rule
//! was created). Disabled rules own no bit in any table, so they never match. The cost is one AND
//! per 64 rules, plus one hash lookup, whatever the number of rules.

use std::fmt;

use crate::alert::{Alert, AlertKind, DetectionEngine, RawStr, Severity};
use crate::config::RuleConfig;
use crate::fold::FoldTable;

/// Iterates over the indices of the set bits of a mask, lowest first.
#[derive(Clone)]
pub struct SetBits<'a> {
    words: &'a [u64],
    base: usize,
    current: u64,
}

/// The set bits of `words`, as indices.
pub fn set_bits(words: &[u64]) -> SetBits<'_> {
    match words.split_first() {
        Some((&first, rest)) => SetBits {
            words: rest,
            base: 0,
            current: first,
        },
        None => SetBits {
            words,
            base: 0,
            current: 0,
        },
    }
}

impl Iterator for SetBits<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        while self.current == 0 {
            let (&next, rest) = self.words.split_first()?;
            self.words = rest;
            self.base += 64;
            self.current = next;
        }
        let bit = self.current.trailing_zeros() as usize;
        self.current &= self.current - 1;
        Some(self.base + bit)
    }
}

/// Number of `u64` words needed for `n` bits (at least one).
pub fn words_for(n: usize) -> usize {
    n.div_ceil(64).max(1)
}

fn set_bit(words: &mut [u64], i: usize) {
    words[i / 64] |= 1 << (i % 64);
}

/// Why a rule did not match an alert, for `otrelay explain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    /// The rule is disabled.
    Disabled,
    /// The alert's level is below the rule's minimal level.
    Level {
        /// The alert's level.
        alert: Severity,
        /// The rule's minimal level.
        min: Severity,
    },
    /// The alert's engine is not in the rule's list.
    Engine {
        /// The alert's engine, as it spelled it.
        alert: String,
        /// The rule's engines.
        allowed: Vec<String>,
    },
    /// The alert's protocol is not in the rule's list.
    Protocol {
        /// The alert's protocol; `None` when it names none.
        alert: Option<String>,
        /// The rule's protocols.
        allowed: Vec<String>,
    },
    /// The alert was raised before the rule was created.
    BeforeCreation,
    /// The rule does not forward this kind of alert (engine alert or system notification).
    Kind(AlertKind),
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::Disabled => f.write_str("rule is disabled"),
            Mismatch::Level { alert, min } => write!(f, "level {alert} is below {min}"),
            Mismatch::Engine { alert, allowed } => {
                write!(f, "engine {alert} not in {{{}}}", allowed.join(","))
            }
            Mismatch::Protocol {
                alert: Some(p),
                allowed,
            } => {
                write!(f, "protocol {p} not in {{{}}}", allowed.join(","))
            }
            Mismatch::Protocol {
                alert: None,
                allowed,
            } => {
                write!(
                    f,
                    "the alert has no protocol; the rule wants {{{}}}",
                    allowed.join(",")
                )
            }
            Mismatch::BeforeCreation => f.write_str("alert was raised before the rule was created"),
            Mismatch::Kind(AlertKind::Alert) => f.write_str("alert_notifications is off"),
            Mismatch::Kind(AlertKind::System) => {
                f.write_str("system notification and system_notifications is off")
            }
        }
    }
}

/// The compiled rules.
#[derive(Debug, Clone)]
pub struct RuleSet {
    /// Words per rule mask.
    words: usize,
    /// `[severity rank][word]`.
    severity: Vec<u64>,
    /// `[engine index][word]`.
    engine: Vec<u64>,
    /// `[protocol index][word]`, each including `any_protocol`.
    protocol: Vec<u64>,
    /// Rules that accept any protocol.
    any_protocol: Vec<u64>,
    /// Rules that forward engine alerts (`[word]`).
    alert_kind: Vec<u64>,
    /// Rules that forward system notifications (`[word]`).
    system_kind: Vec<u64>,
    /// Rules with a creation time.
    timed: Vec<u64>,
    /// Per rule: alerts raised before this (epoch ms) do not match.
    created_at: Vec<i64>,
    protocols: FoldTable,
    rules: Vec<RuleConfig>,
}

impl RuleSet {
    /// Compiles `rules`; rule `i` owns bit `i`.
    pub fn compile(rules: &[RuleConfig]) -> RuleSet {
        let words = words_for(rules.len());
        let mut set = RuleSet {
            words,
            severity: vec![0; Severity::ALL.len() * words],
            engine: vec![0; DetectionEngine::COUNT * words],
            protocol: Vec::new(),
            any_protocol: vec![0; words],
            alert_kind: vec![0; words],
            system_kind: vec![0; words],
            timed: vec![0; words],
            created_at: vec![i64::MIN; rules.len()],
            protocols: FoldTable::new(),
            rules: rules.to_vec(),
        };

        // Intern every listed protocol first so that the protocol table has its final size.
        for rule in rules.iter().filter(|r| r.enabled) {
            for p in rule.protocols.iter().flatten() {
                set.protocols.intern(p);
            }
        }
        set.protocol = vec![0; set.protocols.len() * words];

        for (i, rule) in rules.iter().enumerate().filter(|(_, r)| r.enabled) {
            set.add_rule(i, rule);
        }
        set
    }

    fn add_rule(&mut self, i: usize, rule: &RuleConfig) {
        let words = self.words;
        for s in Severity::ALL.into_iter().filter(|&s| s >= rule.min_level) {
            set_bit(&mut self.severity[s.rank() * words..][..words], i);
        }

        let engines = DetectionEngine::KNOWN
            .into_iter()
            .chain([DetectionEngine::Other]);
        for e in engines {
            let accepts = rule.engines.as_ref().is_none_or(|list| list.contains(&e));
            if accepts {
                set_bit(&mut self.engine[e.index() * words..][..words], i);
            }
        }

        match &rule.protocols {
            None => {
                set_bit(&mut self.any_protocol, i);
                for p in 0..self.protocols.len() {
                    set_bit(&mut self.protocol[p * words..][..words], i);
                }
            }
            Some(list) => {
                for name in list {
                    if let Some(p) = self.protocols.lookup(&RawStr::literal(name)) {
                        set_bit(&mut self.protocol[p * words..][..words], i);
                    }
                }
            }
        }

        if rule.alert_notifications {
            set_bit(&mut self.alert_kind, i);
        }
        if rule.system_notifications {
            set_bit(&mut self.system_kind, i);
        }
        if let Some(t) = rule.created_at_ms {
            set_bit(&mut self.timed, i);
            self.created_at[i] = t;
        }
    }

    /// Number of rules, disabled ones included.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Words per rule mask; the length [`RuleSet::evaluate`] expects for `out`.
    pub fn words(&self) -> usize {
        self.words
    }

    /// The rules, in config order.
    pub fn rules(&self) -> &[RuleConfig] {
        &self.rules
    }

    /// Writes the mask of rules that `alert` matches into `out` and says whether any did.
    ///
    /// # Panics
    ///
    /// Panics if `out.len() != self.words()`.
    #[inline]
    pub fn evaluate(&self, alert: &Alert<'_>, out: &mut [u64]) -> bool {
        assert_eq!(out.len(), self.words, "mask buffer has the wrong length");
        let words = self.words;
        let severity = &self.severity[alert.severity.rank() * words..][..words];
        let engine = &self.engine[alert.engine.index() * words..][..words];
        let protocol = match alert.protocol.and_then(|p| self.protocols.lookup(&p)) {
            Some(p) => &self.protocol[p * words..][..words],
            None => &self.any_protocol[..],
        };
        let kind = match alert.kind {
            AlertKind::Alert => &self.alert_kind[..],
            AlertKind::System => &self.system_kind[..],
        };

        let mut any = 0;
        for w in 0..words {
            let mut m = severity[w] & engine[w] & protocol[w] & kind[w];
            // Only rules that carry a creation time need the per-rule check.
            let mut timed = m & self.timed[w];
            while timed != 0 {
                let bit = timed.trailing_zeros() as usize;
                timed &= timed - 1;
                if alert.time_ms < self.created_at[w * 64 + bit] {
                    m &= !(1 << bit);
                }
            }
            out[w] = m;
            any |= m;
        }
        any != 0
    }

    /// Why rule `i` does not match `alert`, or `None` when it does; for `otrelay explain`.
    pub fn explain(&self, i: usize, alert: &Alert<'_>) -> Option<Mismatch> {
        let rule = &self.rules[i];
        if !rule.enabled {
            return Some(Mismatch::Disabled);
        }
        match alert.kind {
            AlertKind::Alert if !rule.alert_notifications => {
                return Some(Mismatch::Kind(alert.kind));
            }
            AlertKind::System if !rule.system_notifications => {
                return Some(Mismatch::Kind(alert.kind));
            }
            _ => {}
        }
        if alert.severity < rule.min_level {
            return Some(Mismatch::Level {
                alert: alert.severity,
                min: rule.min_level,
            });
        }
        if let Some(list) = &rule.engines {
            if !list.contains(&alert.engine) {
                return Some(Mismatch::Engine {
                    alert: alert.engine_name.to_string_lossy(),
                    allowed: list.iter().map(|e| e.name().to_owned()).collect(),
                });
            }
        }
        if let Some(list) = &rule.protocols {
            let listed = alert
                .protocol
                .is_some_and(|p| list.iter().any(|l| p.eq_ignore_ascii_case(l)));
            if !listed {
                return Some(Mismatch::Protocol {
                    alert: alert.protocol.map(|p| p.to_string_lossy()),
                    allowed: list.clone(),
                });
            }
        }
        if rule.created_at_ms.is_some_and(|t| alert.time_ms < t) {
            return Some(Mismatch::BeforeCreation);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn rule(name: &str, extra: &str) -> String {
        format!(
            "[[rule]]\nname = \"{name}\"\n{extra}\n[[rule.action]]\nkind = \"cef\"\n\
             transport = \"stdout\"\n"
        )
    }

    fn compile(text: &str) -> RuleSet {
        RuleSet::compile(&Config::parse(text, "t").unwrap().rules)
    }

    fn alert<'a>(sev: Severity, engine: &'a str, proto: Option<&'a str>, time: i64) -> Alert<'a> {
        Alert {
            time_ms: time,
            severity: sev,
            engine: DetectionEngine::from_name(engine.as_bytes()),
            engine_name: RawStr::literal(engine),
            protocol: proto.map(RawStr::literal),
            ..Alert::default()
        }
    }

    fn matched(set: &RuleSet, a: &Alert<'_>) -> Vec<usize> {
        let mut out = vec![0; set.words()];
        set.evaluate(a, &mut out);
        set_bits(&out).collect()
    }

    #[test]
    fn conditions_are_anded() {
        let set = compile(&format!(
            "{}{}{}",
            rule(
                "nw",
                "min_level = \"Minor\"\nprotocols = [\"Modbus\", \"DNP3\"]\nengines = [\"Malware\"]"
            ),
            rule("all", ""),
            rule("crit", "min_level = \"Critical\"")
        ));
        let a = alert(Severity::Major, "Malware", Some("MODBUS"), 0);
        assert_eq!(matched(&set, &a), vec![0, 1]);
        let a = alert(Severity::Critical, "Anomaly", Some("Modbus"), 0);
        assert_eq!(matched(&set, &a), vec![1, 2]);
        let why = set.explain(0, &a).unwrap();
        assert_eq!(why.to_string(), "engine Anomaly not in {Malware}");
        let a = alert(Severity::Warning, "Malware", Some("DNP3"), 0);
        assert_eq!(matched(&set, &a), vec![1]);
        let a = alert(Severity::Major, "Malware", None, 0);
        assert_eq!(matched(&set, &a), vec![1]);
        let why = set.explain(0, &a).unwrap();
        assert_eq!(
            why.to_string(),
            "the alert has no protocol; the rule wants {Modbus,DNP3}"
        );
        let s7 = alert(Severity::Major, "Malware", Some("S7"), 0);
        let why = set.explain(0, &s7).unwrap();
        assert_eq!(why.to_string(), "protocol S7 not in {Modbus,DNP3}");
        let a = alert(Severity::Major, "Malware", Some("S7"), 0);
        assert_eq!(matched(&set, &a), vec![1]);
    }

    #[test]
    fn escaped_protocol_matches() {
        let set = compile(&rule("p", "protocols = [\"SMB / CIFS\"]"));
        let mut a = alert(Severity::Major, "Malware", None, 0);
        a.protocol = Some(RawStr::new(br"smb \/ cifs", true));
        assert_eq!(matched(&set, &a), vec![0]);
    }

    #[test]
    fn created_at_and_disabled() {
        let set = compile(&format!(
            "{}{}",
            rule("new", "created_at = \"2023-11-14T22:13:20Z\""),
            rule("off", "enabled = false")
        ));
        assert_eq!(
            matched(
                &set,
                &alert(Severity::Major, "Malware", None, 1_699_999_999_999)
            ),
            Vec::<usize>::new()
        );
        assert_eq!(
            matched(
                &set,
                &alert(Severity::Major, "Malware", None, 1_700_000_000_000)
            ),
            vec![0]
        );
        assert_eq!(
            set.explain(1, &alert(Severity::Major, "Malware", None, 0)),
            Some(Mismatch::Disabled)
        );
    }

    #[test]
    fn many_rules_use_many_words() {
        let mut text = String::new();
        for i in 0..200 {
            let extra = if i % 2 == 0 {
                "protocols = [\"Modbus\"]"
            } else {
                "min_level = \"Critical\""
            };
            text.push_str(&rule(&format!("r{i}"), extra));
        }
        let set = compile(&text);
        assert_eq!(set.words(), 4);
        let m = matched(&set, &alert(Severity::Major, "Anomaly", Some("modbus"), 0));
        assert_eq!(m, (0..200).step_by(2).collect::<Vec<_>>());
        let m = matched(&set, &alert(Severity::Critical, "Anomaly", Some("http"), 0));
        assert_eq!(m, (1..200).step_by(2).collect::<Vec<_>>());
    }

    #[test]
    fn notification_kinds() {
        let set = compile(&format!(
            "{}{}",
            rule(
                "sys",
                "system_notifications = true\nalert_notifications = false"
            ),
            rule("plain", "")
        ));
        let mut a = alert(Severity::Major, "Operational", None, 0);
        assert_eq!(matched(&set, &a), vec![1]);
        a.kind = AlertKind::System;
        assert_eq!(matched(&set, &a), vec![0]);
        assert_eq!(set.explain(1, &a), Some(Mismatch::Kind(AlertKind::System)));
    }

    #[test]
    fn set_bits_walks_words() {
        let words = [0b101, 0, 1 << 63];
        assert_eq!(set_bits(&words).collect::<Vec<_>>(), vec![0, 2, 191]);
        assert_eq!(set_bits(&[]).count(), 0);
    }
}
