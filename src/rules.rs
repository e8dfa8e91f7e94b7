//! Forwarding rules compiled to bitmasks, their evaluation per alert, and the memo that makes
//! routing an alert cost the same whatever the number of rules.
//!
//! Pipeline position: [`RuleSet`] is compiled once at start-up. On the pipeline thread the
//! [`Processor`](crate::pipeline::Processor) hands every parsed alert to its [`RuleMemo`], which
//! evaluates the rules only for a combination of alert values it has not met before.
//! [`RuleSet::evaluate`] is the uncached evaluation. Neither allocates per alert nor compares
//! strings, apart from the one case-insensitive check that confirms a protocol hash hit. The
//! memo allocates only when it meets a new combination, and never beyond its fixed capacity.
//!
//! Cost per alert, for `n` rules with `t` distinct creation times and `a` distinct actions:
//!
//! - [`RuleSet::key`]: one protocol hash lookup plus a binary search over the creation times,
//!   O(protocol length + log t).
//! - [`RuleSet::evaluate`]: the key plus an AND of five masks per 64 rules, O(log t + n / 64).
//! - [`RuleMemo::hit`]: the key, whose binary search it skips while alerts stay between the same
//!   two creation times, plus one probe of a small hash table and one counter add: O(protocol
//!   length) in steady state. The caller then walks the entry's action mask, one word per 64
//!   actions, O(a / 64). Nothing on this path grows with the number of rules or with how many
//!   of them the alert matches.
//! - Per-rule match counts are not bumped per alert: the hit of a memo entry stands for one match
//!   of each rule in its mask, and [`RuleMatches`] multiplies that out when the counts are read.

// How it works. Rule `i` owns bit `i % 64` of word `i / 64` in every mask. For each condition
// the compiler precomputes, per possible value, the set of rules that value satisfies:
//
// - `severity[s]`: rules whose minimal level is at most `s`;
// - `engine[e]`: rules that list engine `e` or accept any engine;
// - `protocol[p]`: rules that list protocol `p` (interned, case-folded) or accept any protocol;
//   one more row, for an alert whose protocol is absent or listed by no rule, holds the rules
//   that accept any protocol;
// - `kind[k]`: rules that forward engine alerts, or system notifications;
// - `too_new[c]`: the timed rules created after the `c`-th smallest distinct creation time,
//   where `c` is the number of distinct creation times at or before the alert's time (a binary
//   search). The sensor only forwards alerts raised at or after a rule's creation.
//
// An alert matches `severity & engine & protocol & kind & !too_new`. Disabled rules own no bit
// in any table, so they never match. The matched set thus depends only on the key (level,
// engine, protocol row, kind, c), which takes at most 4 × 6 × (p + 1) × 2 × (t + 1) values for
// p interned protocols. The memo maps a key to an entry that holds the matched rules and the OR
// of their action masks, computed on first use.
//
// Before the memo, routing walked the matched rules one by one, to count each and to OR its
// actions; with 1000 broad rules (`perf/run.py`, rules curve) the whole process slowed from
// 1.22 to 0.82 M alerts/s. `benches/rules.rs` measures both paths: per alert, the memo costs
// 16 to 18 ns for 1 to 1000 rules, the old walk 18 ns to 760 ns.
//
// Memory: `too_new` holds (t + 1) × n / 64 words, 128 KiB for 1000 rules that all have their
// own creation time. The memo holds at most min(key space, 4096, 1 MiB / entry size) entries;
// when a new key meets a full memo, the hit counts of its entries are folded into per-rule
// totals and the memo starts over, keeping its buffers, so it never allocates again.

use std::fmt;

use crate::alert::{Alert, AlertKind, DetectionEngine, RawStr, Severity};
use crate::config::RuleConfig;
use crate::fold::FoldTable;
use crate::stats::RuleMatches;

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

/// Number of alert kinds: engine alerts and system notifications.
const KINDS: usize = 2;

/// Row of `kind` in the kind table.
fn kind_index(kind: AlertKind) -> usize {
    match kind {
        AlertKind::Alert => 0,
        AlertKind::System => 1,
    }
}

/// The values of an alert that decide which rules it matches: alerts with equal keys match the
/// same rules. Made by [`RuleSet::key`]; only meaningful for the set that made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatchKey {
    /// [`Severity::rank`].
    severity: usize,
    /// [`DetectionEngine::index`].
    engine: usize,
    /// Interned protocol index; the number of interned protocols when the alert has no protocol
    /// or one no rule lists.
    protocol: usize,
    /// Row in the kind table.
    kind: usize,
    /// How many distinct rule creation times are at or before the alert's time.
    created: usize,
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
    /// `[protocol index][word]`, each row including the rules that accept any protocol; the last
    /// row (index `protocols.len()`) holds only those, for alerts with no listed protocol.
    protocol: Vec<u64>,
    /// `[kind row][word]`: rules that forward engine alerts (row 0), system notifications (1).
    kind: Vec<u64>,
    /// Distinct creation times of the enabled rules that have one, ascending (epoch ms).
    created: Vec<i64>,
    /// `[c][word]` for `c` in `0..=created.len()`: the rules created after `created[c - 1]`
    /// (row 0: every timed rule; the last row is empty).
    too_new: Vec<u64>,
    protocols: FoldTable,
    rules: Vec<RuleConfig>,
}

impl RuleSet {
    /// Compiles `rules`; rule `i` owns bit `i`.
    pub fn compile(rules: &[RuleConfig]) -> RuleSet {
        let words = words_for(rules.len());
        let enabled = || rules.iter().enumerate().filter(|(_, r)| r.enabled);

        // Intern every listed protocol first so that the protocol table has its final size.
        let mut protocols = FoldTable::new();
        for (_, rule) in enabled() {
            for p in rule.protocols.iter().flatten() {
                protocols.intern(p);
            }
        }
        let mut created: Vec<i64> = enabled().filter_map(|(_, r)| r.created_at_ms).collect();
        created.sort_unstable();
        created.dedup();

        let mut set = RuleSet {
            words,
            severity: vec![0; Severity::ALL.len() * words],
            engine: vec![0; DetectionEngine::COUNT * words],
            protocol: vec![0; (protocols.len() + 1) * words],
            kind: vec![0; KINDS * words],
            too_new: vec![0; (created.len() + 1) * words],
            created,
            protocols,
            rules: rules.to_vec(),
        };
        for (i, rule) in enabled() {
            set.add_rule(i, rule);
        }

        // `add_rule` put each timed rule in the row of its own time only; a rule is too new for
        // every count of passed times up to its own, so each row takes in all the rows after it.
        for c in (0..set.created.len()).rev() {
            let (head, tail) = set.too_new.split_at_mut((c + 1) * words);
            for (a, b) in head[c * words..].iter_mut().zip(&tail[..words]) {
                *a |= b;
            }
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
            // Every row, the one for unlisted protocols included.
            None => {
                for p in 0..=self.protocols.len() {
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
            set_bit(
                &mut self.kind[kind_index(AlertKind::Alert) * words..][..words],
                i,
            );
        }
        if rule.system_notifications {
            set_bit(
                &mut self.kind[kind_index(AlertKind::System) * words..][..words],
                i,
            );
        }
        if let Some(t) = rule.created_at_ms {
            let row = self.created.partition_point(|&c| c < t);
            set_bit(&mut self.too_new[row * words..][..words], i);
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

    /// Number of distinct keys [`RuleSet::key`] can return: 4 levels × 6 engines × (interned
    /// protocols + 1) × 2 kinds × (distinct creation times + 1).
    pub fn key_space(&self) -> u64 {
        let protocols = self.protocols.len() as u64 + 1;
        let created = self.created.len() as u64 + 1;
        let fixed = (Severity::ALL.len() * DetectionEngine::COUNT * KINDS) as u64;
        fixed.saturating_mul(protocols).saturating_mul(created)
    }

    /// The values of `alert` that decide which rules it matches.
    #[inline]
    pub fn key(&self, alert: &Alert<'_>) -> MatchKey {
        self.key_in_row(alert, self.created_row(alert.time_ms))
    }

    /// How many distinct creation times are at or before `time_ms`: the row of `too_new`.
    #[inline]
    fn created_row(&self, time_ms: i64) -> usize {
        if self.created.is_empty() {
            return 0;
        }
        self.created.partition_point(|&c| c <= time_ms)
    }

    /// The alert times `[from, until)` whose creation-time row is `row`.
    fn row_span(&self, row: usize) -> (i64, i64) {
        let from = match row.checked_sub(1) {
            Some(previous) => self.created[previous],
            None => i64::MIN,
        };
        let until = self.created.get(row).copied().unwrap_or(i64::MAX);
        (from, until)
    }

    /// The key of `alert`, whose creation-time row is already known.
    #[inline]
    fn key_in_row(&self, alert: &Alert<'_>, created: usize) -> MatchKey {
        // Without protocol lists there is nothing to look up: every alert takes the last row.
        let unlisted = self.protocols.len();
        let protocol = match alert.protocol {
            Some(p) if !self.protocols.is_empty() => self.protocols.lookup(&p).unwrap_or(unlisted),
            _ => unlisted,
        };
        MatchKey {
            severity: alert.severity.rank(),
            engine: alert.engine.index(),
            protocol,
            kind: kind_index(alert.kind),
            created,
        }
    }

    /// `key` as a dense number below [`RuleSet::key_space`].
    fn key_index(&self, key: &MatchKey) -> u64 {
        let mut index = key.created as u64;
        index = index * (self.protocols.len() as u64 + 1) + key.protocol as u64;
        index = index * DetectionEngine::COUNT as u64 + key.engine as u64;
        index = index * Severity::ALL.len() as u64 + key.severity as u64;
        index * KINDS as u64 + key.kind as u64
    }

    /// Writes the mask of rules that `alert` matches into `out` and says whether any did.
    ///
    /// # Panics
    ///
    /// Panics if `out.len() != self.words()`.
    #[inline]
    pub fn evaluate(&self, alert: &Alert<'_>, out: &mut [u64]) -> bool {
        self.evaluate_key(&self.key(alert), out)
    }

    /// Writes the mask of rules that alerts with `key` match into `out` and says whether any did.
    ///
    /// # Panics
    ///
    /// Panics if `out.len() != self.words()`, or if `key` was made by another set (with more
    /// protocols or creation times).
    #[inline]
    pub fn evaluate_key(&self, key: &MatchKey, out: &mut [u64]) -> bool {
        assert_eq!(out.len(), self.words, "mask buffer has the wrong length");
        let words = self.words;
        let severity = &self.severity[key.severity * words..][..words];
        let engine = &self.engine[key.engine * words..][..words];
        let protocol = &self.protocol[key.protocol * words..][..words];
        let kind = &self.kind[key.kind * words..][..words];
        let too_new = &self.too_new[key.created * words..][..words];

        let mut any = 0;
        for w in 0..words {
            let m = severity[w] & engine[w] & protocol[w] & kind[w] & !too_new[w];
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

// TODO: a stream that keeps cycling through more keys than the memo holds starts the memo over
// again and again, and each miss evaluates every rule; routing stays exact but its cost then
// grows with the number of rules. Evicting single entries instead of starting over would fix it.

/// Most entries a [`RuleMemo`] holds, whatever its memory budget allows. A steady stream of
/// alerts meets a few hundred keys (levels × engines × protocols seen × kinds).
const MEMO_MAX_ENTRIES: usize = 4096;

/// Memory budget of the memo's masks and of their copies in [`RuleMatches`], in bytes.
const MEMO_BUDGET: usize = 1 << 20;

/// Marks a free slot of the memo. Key indices stay below [`RuleSet::key_space`], which is far
/// below `u64::MAX` for any set that fits in memory.
const FREE: u64 = u64::MAX;

/// Fibonacci hashing: the top bits of the product spread consecutive key indices over the
/// table.
const SPREAD: u64 = 0x9E37_79B9_7F4A_7C15;

/// The rules, with the outcome of every key met so far: the matched rules and the OR of their
/// action masks.
///
/// One pipeline thread owns it. [`RuleMemo::hit`] is the per-alert call; an entry is built on a
/// key's first alert (a cold path that evaluates the rules and walks the matched ones) and then
/// serves every later alert with that key. Each entry is also a group of the [`RuleMatches`]
/// passed to `hit`, which counts per-rule matches through it.
#[derive(Debug, Clone)]
pub struct RuleMemo {
    set: RuleSet,
    /// `[rule][action word]`: the actions of each rule.
    rule_actions: Vec<u64>,
    /// Words per action mask.
    action_words: usize,
    /// Most entries held; at least 1.
    capacity: usize,
    /// Open addressing with linear probing: `(key index, entry)`, or `(FREE, 0)`. The length is a
    /// power of two and at least twice `capacity`, so that every probe ends at a free slot.
    slots: Vec<(u64, u32)>,
    /// `64 - log2(slots.len())`: the shift that turns a product into a slot.
    shift: u32,
    /// `[entry][rule word]`: the rules matched.
    rule_masks: Vec<u64>,
    /// `[entry][action word]`: the OR of the matched rules' actions.
    action_masks: Vec<u64>,
    /// Per entry: whether any rule matched.
    matched: Vec<bool>,
    /// `(from, until, row)`: alerts raised in `[from, until)` have creation-time row `row`.
    /// Alerts come nearly in time order, so this saves the binary search for almost all of them
    /// (`benches/rules.rs`, 1000 rules with 143 distinct creation times: 27 → 16 ns an alert).
    window: (i64, i64, usize),
}

impl RuleMemo {
    /// A memo over `set` whose rule `r` has the actions set in
    /// `rule_actions[r * action_words..][..action_words]`, holding as many entries as the key
    /// space, 4096 and a 1 MiB budget allow (at least 64, for very large rule sets).
    ///
    /// # Panics
    ///
    /// Panics if `rule_actions.len() != set.len() * action_words`.
    pub fn new(set: RuleSet, rule_actions: Vec<u64>, action_words: usize) -> RuleMemo {
        // Each entry's rule mask is kept twice: here and in the counters' group.
        let entry_bytes = (2 * set.words() + action_words) * 8;
        let by_budget = (MEMO_BUDGET / entry_bytes).max(64);
        let capacity = usize::try_from(set.key_space())
            .unwrap_or(usize::MAX)
            .min(MEMO_MAX_ENTRIES)
            .min(by_budget);
        RuleMemo::with_capacity(set, rule_actions, action_words, capacity)
    }

    /// Like [`RuleMemo::new`], holding at most `capacity` entries (at least one).
    ///
    /// # Panics
    ///
    /// Panics if `rule_actions.len() != set.len() * action_words`.
    pub fn with_capacity(
        set: RuleSet,
        rule_actions: Vec<u64>,
        action_words: usize,
        capacity: usize,
    ) -> RuleMemo {
        assert_eq!(
            rule_actions.len(),
            set.len() * action_words,
            "one action mask per rule"
        );
        let capacity = capacity.max(1);
        let slots = (2 * capacity).next_power_of_two();
        RuleMemo {
            set,
            rule_actions,
            action_words,
            capacity,
            slots: vec![(FREE, 0); slots],
            shift: 64 - slots.trailing_zeros(),
            rule_masks: Vec::new(),
            action_masks: Vec::new(),
            matched: Vec::new(),
            // Empty: the first alert sets it.
            window: (0, 0, 0),
        }
    }

    /// The compiled rules.
    pub fn rules(&self) -> &RuleSet {
        &self.set
    }

    /// Words per action mask; the length of [`RuleMemo::actions`].
    pub fn action_words(&self) -> usize {
        self.action_words
    }

    /// Most entries held before the memo starts over.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Entries held now.
    pub fn len(&self) -> usize {
        self.matched.len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.matched.is_empty()
    }

    /// Finds the entry of `alert`'s key, building it on the key's first alert, and counts one
    /// match in `matches` for every rule it matches. Returns the entry, valid until the next
    /// call.
    ///
    /// `matches` must be the same counters on every call: the memo's entries are its groups.
    /// When the memo is full and a new key comes, their hits are folded into per-rule totals and
    /// the memo starts over.
    #[inline]
    pub fn hit(&mut self, alert: &Alert<'_>, matches: &mut RuleMatches) -> usize {
        let t = alert.time_ms;
        let (from, until, row) = self.window;
        let row = if from <= t && t < until {
            row
        } else {
            self.move_window(t)
        };
        let key = self.set.key_in_row(alert, row);
        let index = self.set.key_index(&key);
        let entry = match self.find(index) {
            Ok(entry) => entry,
            Err(slot) => self.insert(&key, index, slot, matches),
        };
        matches.hit(entry);
        entry
    }

    /// Whether `entry` matched any rule.
    #[inline]
    pub fn matched(&self, entry: usize) -> bool {
        self.matched[entry]
    }

    /// The rules `entry` matched.
    pub fn rule_mask(&self, entry: usize) -> &[u64] {
        &self.rule_masks[entry * self.set.words()..][..self.set.words()]
    }

    /// The actions of the rules `entry` matched, each once.
    #[inline]
    pub fn actions(&self, entry: usize) -> &[u64] {
        &self.action_masks[entry * self.action_words..][..self.action_words]
    }

    /// Points the time window at the creation-time row of `time_ms` and returns that row.
    fn move_window(&mut self, time_ms: i64) -> usize {
        let row = self.set.created_row(time_ms);
        let (from, until) = self.set.row_span(row);
        self.window = (from, until, row);
        row
    }

    /// The first slot `index` probes.
    fn home(&self, index: u64) -> usize {
        (index.wrapping_mul(SPREAD) >> self.shift) as usize
    }

    /// The entry of key `index`, or the free slot where it belongs.
    #[inline]
    fn find(&self, index: u64) -> Result<usize, usize> {
        let mask = self.slots.len() - 1;
        let mut slot = self.home(index);
        loop {
            let (key, entry) = self.slots[slot];
            if key == index {
                return Ok(entry as usize);
            }
            if key == FREE {
                return Err(slot);
            }
            slot = (slot + 1) & mask;
        }
    }

    /// Builds the entry of `key` in free slot `slot`. Runs once per distinct key (until the
    /// memo starts over), so walking the matched rules here is fine.
    // Cold and out of line so that `hit`, which `Processor::route` inlines, stays a probe and an
    // add; this was not measured against an inlined build (`benches/rules.rs`, `rules_route`,
    // only ever misses during warm-up).
    #[cold]
    #[inline(never)]
    fn insert(
        &mut self,
        key: &MatchKey,
        index: u64,
        mut slot: usize,
        matches: &mut RuleMatches,
    ) -> usize {
        if self.len() == self.capacity {
            matches.settle();
            self.slots.fill((FREE, 0));
            self.rule_masks.clear();
            self.action_masks.clear();
            self.matched.clear();
            slot = self.home(index);
        }
        let entry = self.len();
        self.slots[slot] = (index, entry as u32);

        let words = self.set.words();
        let start = self.rule_masks.len();
        self.rule_masks.resize(start + words, 0);
        let any = self.set.evaluate_key(key, &mut self.rule_masks[start..]);
        self.matched.push(any);

        let aw = self.action_words;
        let actions_start = self.action_masks.len();
        self.action_masks.resize(actions_start + aw, 0);
        let actions = &mut self.action_masks[actions_start..];
        for r in set_bits(&self.rule_masks[start..]) {
            for (m, w) in actions.iter_mut().zip(&self.rule_actions[r * aw..][..aw]) {
                *m |= w;
            }
        }

        let group = matches.add_group(&self.rule_masks[start..]);
        debug_assert_eq!(
            group, entry,
            "the memo and its match counters are out of step"
        );
        entry
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

    /// Epoch ms of 2023-11-14T22:13:20Z, 2023-11-14T22:30:00Z and 2023-11-15T00:00:00Z.
    const T1: i64 = 1_700_000_000_000;
    const T2: i64 = 1_700_001_000_000;
    const T3: i64 = 1_700_006_400_000;

    fn timed_set() -> RuleSet {
        compile(
            &[
                rule("t2a", "created_at = \"2023-11-14T22:30:00Z\""),
                rule("plain", ""),
                rule("t1", "created_at = \"2023-11-14T22:13:20Z\""),
                rule("t3", "created_at = \"2023-11-15T00:00:00Z\""),
                rule(
                    "t2b",
                    "created_at = \"2023-11-14T22:30:00Z\"\nmin_level = \"Critical\"",
                ),
                // Disabled: its earlier time must not count.
                rule(
                    "off",
                    "created_at = \"2020-01-01T00:00:00Z\"\nenabled = false",
                ),
            ]
            .concat(),
        )
    }

    #[test]
    fn timed_rules_match_from_their_creation_on() {
        let set = timed_set();
        let at = |t: i64| matched(&set, &alert(Severity::Critical, "Malware", None, t));
        assert_eq!(at(i64::MIN), vec![1]);
        assert_eq!(at(T1 - 1), vec![1]);
        assert_eq!(at(T1), vec![1, 2]);
        assert_eq!(at(T1 + 1), vec![1, 2]);
        assert_eq!(at(T2 - 1), vec![1, 2]);
        assert_eq!(at(T2), vec![0, 1, 2, 4]);
        assert_eq!(at(T3 - 1), vec![0, 1, 2, 4]);
        assert_eq!(at(T3), vec![0, 1, 2, 3, 4]);
        assert_eq!(at(i64::MAX), vec![0, 1, 2, 3, 4]);

        // The level still applies to a rule that is old enough.
        let a = alert(Severity::Major, "Malware", None, T3);
        assert_eq!(matched(&set, &a), vec![0, 1, 2, 3]);

        // Three distinct times of enabled rules: four time rows.
        assert_eq!(set.key_space(), 4 * 6 * 2 * 4);
        for (t, why) in [(T2 - 1, Some(Mismatch::BeforeCreation)), (T2, None)] {
            let a = alert(Severity::Critical, "Malware", None, t);
            assert_eq!(set.explain(0, &a), why);
        }
    }

    #[test]
    fn key_decides_the_match() {
        let set = timed_set();
        let a = alert(Severity::Critical, "Malware", Some("Modbus"), T2 + 5);
        let b = alert(Severity::Critical, "Malware", Some("DNP3"), T3 - 5);
        assert_eq!(set.key(&a), set.key(&b));
        let c = alert(Severity::Critical, "Malware", None, T3);
        assert_ne!(set.key(&a), set.key(&c));
    }

    /// A memo over `set` where rule `r` has action `r % actions`.
    fn memo(set: RuleSet, actions: usize, capacity: usize) -> RuleMemo {
        let words = words_for(actions);
        let mut rule_actions = vec![0; set.len() * words];
        for r in 0..set.len() {
            set_bit(&mut rule_actions[r * words..][..words], r % actions);
        }
        RuleMemo::with_capacity(set, rule_actions, words, capacity)
    }

    #[test]
    fn memo_entries_equal_evaluation_and_counts_stay_exact() {
        let set = timed_set();
        let rules = set.len();
        let alerts = [
            alert(Severity::Critical, "Malware", None, T1),
            alert(Severity::Critical, "Malware", None, T3),
            alert(Severity::Major, "Anomaly", None, T3),
            alert(Severity::Critical, "Malware", None, T1),
            alert(Severity::Warning, "Quantum", Some("Modbus"), T2),
            alert(Severity::Critical, "Malware", None, T1 - 1),
            alert(Severity::Critical, "Malware", None, T3),
            // The extremes, twice each: the time window must not stick at its open ends.
            alert(Severity::Critical, "Malware", None, i64::MAX),
            alert(Severity::Critical, "Malware", None, i64::MAX),
            alert(Severity::Critical, "Malware", None, i64::MIN),
            alert(Severity::Critical, "Malware", None, i64::MIN),
            alert(Severity::Critical, "Malware", None, T2),
        ];
        // Capacity 2 makes the memo start over several times.
        for capacity in [1, 2, 100] {
            let mut memo = memo(set.clone(), 3, capacity);
            let mut counts = RuleMatches::new(rules);
            let mut want = vec![0u64; rules];
            for a in &alerts {
                let mut mask = vec![0; set.words()];
                let any = set.evaluate(a, &mut mask);
                let entry = memo.hit(a, &mut counts);
                assert_eq!(memo.rule_mask(entry), &mask[..]);
                assert_eq!(memo.matched(entry), any);

                let mut actions = vec![0u64; 1];
                for r in set_bits(&mask) {
                    want[r] += 1;
                    set_bit(&mut actions, r % 3);
                }
                assert_eq!(memo.actions(entry), &actions[..]);
                assert!(memo.len() <= capacity);
            }
            assert_eq!(counts.counts(), want, "capacity {capacity}");
            assert_eq!(counts.count(3), want[3]);
        }
    }

    #[test]
    fn memo_capacity_follows_the_key_space() {
        // No protocol lists, no creation times: 4 levels × 6 engines × 1 × 2 kinds × 1.
        let set = compile(&[rule("a", ""), rule("b", "min_level = \"Major\"")].concat());
        assert_eq!(set.key_space(), 48);
        let memo = RuleMemo::new(set, vec![1, 1], 1);
        assert_eq!(memo.capacity(), 48);
        assert!(memo.is_empty());

        // n rules, each with its own protocol: a key space of 48 × (n + 1).
        let base = Config::parse(&rule("r", ""), "t").unwrap().rules[0].clone();
        let many = |n: usize| -> RuleSet {
            let rules: Vec<RuleConfig> = (0..n)
                .map(|i| RuleConfig {
                    name: format!("r{i}"),
                    protocols: Some(vec![format!("p{i}")]),
                    ..base.clone()
                })
                .collect();
            RuleSet::compile(&rules)
        };
        let set = many(300);
        assert_eq!(set.key_space(), 48 * 301);
        assert_eq!(RuleMemo::new(set, vec![1; 300], 1).capacity(), 4096);

        // 5000 rules: 79 words per mask, so the 1 MiB budget allows 1 MiB / (159 × 8) entries.
        let set = many(5000);
        assert_eq!(set.words(), 79);
        let memo = RuleMemo::new(set, vec![1; 5000], 1);
        assert_eq!(memo.capacity(), (1 << 20) / (159 * 8));
    }

    #[test]
    fn disabled_rules_never_count() {
        let set = compile(
            &[
                rule("off", "enabled = false"),
                rule("on", ""),
                rule(
                    "off-timed",
                    "enabled = false\ncreated_at = \"2023-11-14T22:13:20Z\"",
                ),
            ]
            .concat(),
        );
        let mut memo = memo(set, 1, 16);
        let mut counts = RuleMatches::new(3);
        for t in [0, T1, T1 + 1] {
            let entry = memo.hit(&alert(Severity::Critical, "Malware", None, t), &mut counts);
            assert_eq!(memo.rule_mask(entry), &[0b010]);
        }
        assert_eq!(counts.counts(), vec![0, 3, 0]);
        // No enabled rule has a creation time: a single time row.
        assert_eq!(memo.rules().key_space(), 48);
    }

    #[test]
    fn set_bits_walks_words() {
        let words = [0b101, 0, 1 << 63];
        assert_eq!(set_bits(&words).collect::<Vec<_>>(), vec![0, 2, 191]);
        assert_eq!(set_bits(&[]).count(), 0);
    }
}
