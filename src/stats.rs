//! Counters of every stage and the summary printed when otrelay stops.
//!
//! Pipeline position: [`PipelineStats`] lives on the pipeline thread and is bumped with plain
//! integer adds (one thread owns it, so no atomics). Sources and the sender keep their own atomic
//! counters, bumped per block or per batch, never per alert. The summary gathers all of them once
//! at shutdown; it is the only place that formats them.
//!
//! Per-rule match counts ([`RuleMatches`]) cost one add per alert, however many rules it matches:
//! the pipeline counts hits of rule-memo entries, and the per-rule figures are derived from them
//! when read (by the summary, [`PipelineStats::merge`], or a caller of
//! [`crate::Engine::stats`]). Reading them allocates; they are never read per alert.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use crate::config::RuleConfig;
use crate::intake::SourceStats;
use crate::parse::RejectReason;
use crate::rules::{set_bits, words_for};

/// Counters of the parse, rule and encode stages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PipelineStats {
    /// Lines seen, blank ones included.
    pub lines: u64,
    /// Lines with nothing but whitespace; skipped silently, as a JSON-lines reader would.
    pub blank: u64,
    /// Lines parsed into alerts.
    pub parsed: u64,
    /// Lines rejected, by [`RejectReason::index`].
    pub rejected: [u64; RejectReason::COUNT],
    /// Alerts suppressed by an exclusion rule.
    pub excluded: u64,
    /// Per enabled exclusion, in config order: alerts it suppressed.
    pub excluded_by: Vec<u64>,
    /// Enabled exclusion names, in config order.
    pub exclusion_names: Vec<String>,
    /// Alerts that matched no rule.
    pub unmatched: u64,
    /// Alerts that matched at least one rule.
    pub forwarded: u64,
    /// Per rule, in config order: alerts matched ([`RuleMatches::counts`]).
    pub matched: RuleMatches,
    /// Rule names, in config order.
    pub rule_names: Vec<String>,
    /// Per distinct action: messages encoded.
    pub messages: Vec<u64>,
    /// Messages cut to `max_message`.
    pub truncated: u64,
    /// Times the pipeline waited for a free batch (a destination was slow or away).
    pub backpressure_waits: u64,
    /// Messages given up at shutdown because their destination stayed away (in the dead-letter
    /// file).
    pub undelivered: u64,
    /// Dead-letter records that could not be written (the line is then only counted).
    pub dead_letter_errors: u64,
}

impl PipelineStats {
    /// Zeroed counters sized for `rules` and `actions` distinct actions.
    pub fn new(rules: &[RuleConfig], actions: usize) -> PipelineStats {
        PipelineStats {
            matched: RuleMatches::new(rules.len()),
            rule_names: rules.iter().map(|r| r.name.clone()).collect(),
            messages: vec![0; actions],
            ..PipelineStats::default()
        }
    }

    /// Adds another worker's counters (same rules, exclusions and actions) to these.
    pub fn merge(&mut self, other: &PipelineStats) {
        let add = |a: &mut [u64], b: &[u64]| a.iter_mut().zip(b).for_each(|(a, b)| *a += b);
        self.lines += other.lines;
        self.blank += other.blank;
        self.parsed += other.parsed;
        add(&mut self.rejected, &other.rejected);
        self.excluded += other.excluded;
        add(&mut self.excluded_by, &other.excluded_by);
        self.unmatched += other.unmatched;
        self.forwarded += other.forwarded;
        self.matched.merge(&other.matched);
        add(&mut self.messages, &other.messages);
        self.truncated += other.truncated;
        self.backpressure_waits += other.backpressure_waits;
        self.undelivered += other.undelivered;
        self.dead_letter_errors += other.dead_letter_errors;
    }

    /// Lines rejected for any reason.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.iter().sum()
    }
}

/// How many alerts each rule matched, kept as hits of groups of rules.
///
/// A group is one entry of the pipeline's [`crate::rules::RuleMemo`]: the set of rules that
/// alerts with one key match. Counting one hit per alert on its group, instead of one per
/// matched rule, keeps the per-alert cost flat; a group's hits count once for each of its rules
/// when the counts are read. Groups are added on the memo's cold path and folded into per-rule
/// totals when the memo starts over.
#[derive(Clone)]
pub struct RuleMatches {
    /// Words per group mask.
    words: usize,
    /// Per rule: matches folded in from groups that are gone or from other workers.
    settled: Vec<u64>,
    /// `[group][word]`: the rules of each group.
    masks: Vec<u64>,
    /// Per group: alerts counted on it.
    hits: Vec<u64>,
}

impl RuleMatches {
    /// Zeroed counts for `rules` rules.
    pub fn new(rules: usize) -> RuleMatches {
        RuleMatches {
            words: words_for(rules),
            settled: vec![0; rules],
            masks: Vec::new(),
            hits: Vec::new(),
        }
    }

    /// Number of rules counted.
    pub fn len(&self) -> usize {
        self.settled.len()
    }

    /// Whether no rule is counted.
    pub fn is_empty(&self) -> bool {
        self.settled.is_empty()
    }

    /// Alerts rule `rule` matched.
    ///
    /// # Panics
    ///
    /// Panics if `rule >= self.len()`.
    pub fn count(&self, rule: usize) -> u64 {
        let (word, bit) = (rule / 64, 1 << (rule % 64));
        let grouped: u64 = self
            .masks
            .chunks_exact(self.words)
            .zip(&self.hits)
            .filter(|(mask, _)| mask[word] & bit != 0)
            .map(|(_, &hits)| hits)
            .sum();
        self.settled[rule] + grouped
    }

    /// Alerts matched, per rule in config order.
    pub fn counts(&self) -> Vec<u64> {
        let mut counts = self.settled.clone();
        self.fold_into(&mut counts);
        counts
    }

    /// Adds another worker's counts (same rules) to these.
    pub fn merge(&mut self, other: &RuleMatches) {
        other.fold_into(&mut self.settled);
        for (a, b) in self.settled.iter_mut().zip(&other.settled) {
            *a += b;
        }
    }

    /// Adds every group's hits to the counts of its rules in `counts`.
    fn fold_into(&self, counts: &mut [u64]) {
        let groups = self.masks.chunks_exact(self.words).zip(&self.hits);
        for (mask, &hits) in groups.filter(|(_, h)| **h != 0) {
            for r in set_bits(mask) {
                if let Some(c) = counts.get_mut(r) {
                    *c += hits;
                }
            }
        }
    }

    /// Adds a group of the rules set in `mask` (at most `len()` bits) and returns its index.
    pub(crate) fn add_group(&mut self, mask: &[u64]) -> usize {
        debug_assert_eq!(mask.len(), self.words, "group mask has the wrong length");
        self.masks.extend_from_slice(mask);
        self.hits.push(0);
        self.hits.len() - 1
    }

    /// Counts one alert on `group`: one match for each of its rules.
    #[inline]
    pub(crate) fn hit(&mut self, group: usize) {
        self.hits[group] += 1;
    }

    /// Folds every group into the per-rule totals and forgets the groups, keeping the buffers.
    pub(crate) fn settle(&mut self) {
        let mut settled = std::mem::take(&mut self.settled);
        self.fold_into(&mut settled);
        self.settled = settled;
        self.masks.clear();
        self.hits.clear();
    }
}

impl Default for RuleMatches {
    fn default() -> Self {
        RuleMatches::new(0)
    }
}

/// Equal when every rule has the same count, however the counts are grouped.
impl PartialEq for RuleMatches {
    fn eq(&self, other: &Self) -> bool {
        self.counts() == other.counts()
    }
}

impl Eq for RuleMatches {}

impl std::fmt::Debug for RuleMatches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.counts()).finish()
    }
}

/// A source's name with its counters, for the summary.
pub struct SourceSummary<'a> {
    /// The source's name.
    pub name: &'a str,
    /// Its counters.
    pub stats: &'a SourceStats,
}

/// Formats the final summary (several lines, each starting with `otrelay:`).
pub fn summary(
    pipeline: &PipelineStats,
    sources: &[SourceSummary<'_>],
    actions: &[String],
    send: &crate::send::SendReport,
    elapsed: std::time::Duration,
) -> String {
    let mut out = String::new();
    let secs = elapsed.as_secs_f64().max(1e-9);
    let _ = writeln!(
        out,
        "otrelay: summary: {} lines in {:.3} s ({:.0} lines/s): {} parsed, {} rejected, \
         {} excluded, {} forwarded, {} matched no rule, {} blank",
        pipeline.lines,
        secs,
        pipeline.lines as f64 / secs,
        pipeline.parsed,
        pipeline.rejected_total(),
        pipeline.excluded,
        pipeline.forwarded,
        pipeline.unmatched,
        pipeline.blank,
    );

    for s in sources {
        let st = s.stats;
        let _ = writeln!(
            out,
            "otrelay: source {}: {} bytes, {} kernel drops, {} connections, {} stalls, \
             {} errors",
            s.name,
            st.bytes.load(Ordering::Relaxed),
            st.kernel_drops.load(Ordering::Relaxed),
            st.connections.load(Ordering::Relaxed),
            st.stalls.load(Ordering::Relaxed),
            st.errors.load(Ordering::Relaxed),
        );
    }

    if pipeline.rejected_total() > 0 {
        let mut parts = Vec::new();
        for reason in RejectReason::ALL {
            let n = pipeline.rejected[reason.index()];
            if n > 0 {
                parts.push(format!("{}={n}", reason.name()));
            }
        }
        let _ = writeln!(out, "otrelay: rejected by reason: {}", parts.join(" "));
    }

    for (name, n) in pipeline.exclusion_names.iter().zip(&pipeline.excluded_by) {
        let _ = writeln!(out, "otrelay: exclusion {name:?}: {n} excluded");
    }
    for (name, n) in pipeline.rule_names.iter().zip(pipeline.matched.counts()) {
        let _ = writeln!(out, "otrelay: rule {name:?}: {n} matched");
    }
    for (name, n) in actions.iter().zip(&pipeline.messages) {
        let _ = writeln!(out, "otrelay: action {name}: {n} messages encoded");
    }
    if pipeline.truncated > 0 {
        let _ = writeln!(
            out,
            "otrelay: {} messages truncated to max_message",
            pipeline.truncated
        );
    }
    out.push_str(&send.to_string());
    if pipeline.dead_letter_errors > 0 {
        let _ = writeln!(
            out,
            "otrelay: ERROR {} dead-letter records could not be written",
            pipeline.dead_letter_errors
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts with three groups over 70 rules (two mask words).
    fn sample() -> RuleMatches {
        let mut m = RuleMatches::new(70);
        let a = m.add_group(&[0b101, 0]);
        let b = m.add_group(&[0b001, 1 << 5]);
        let empty = m.add_group(&[0, 0]);
        for _ in 0..3 {
            m.hit(a);
        }
        m.hit(b);
        m.hit(empty);
        m
    }

    #[test]
    fn groups_multiply_out_per_rule() {
        let m = sample();
        let counts = m.counts();
        assert_eq!(counts.len(), 70);
        assert_eq!((counts[0], counts[2], counts[69]), (4, 3, 1));
        assert_eq!(counts.iter().sum::<u64>(), 8);
        for (r, &n) in counts.iter().enumerate() {
            assert_eq!(m.count(r), n, "rule {r}");
        }
    }

    #[test]
    fn settling_and_merging_keep_the_counts() {
        let mut m = sample();
        let before = m.counts();
        m.settle();
        assert_eq!(m.counts(), before);
        let g = m.add_group(&[0b100, 0]);
        m.hit(g);
        assert_eq!(m.count(2), 4);

        // Equal counts compare equal whatever their grouping.
        let mut other = sample();
        other.settle();
        let g = other.add_group(&[0b100, 0]);
        other.hit(g);
        assert_eq!(m, other);

        m.merge(&sample());
        assert_eq!((m.count(0), m.count(2), m.count(69)), (8, 7, 2));
        assert_ne!(m, other);
    }

    #[test]
    fn pipeline_stats_merge_rule_counts() {
        let mut total = PipelineStats {
            matched: sample(),
            forwarded: 5,
            ..PipelineStats::default()
        };
        let mut other = total.clone();
        other.matched.settle();
        total.merge(&other);
        assert_eq!(total.forwarded, 10);
        assert_eq!(total.matched.count(0), 8);
        assert_eq!(total.matched.count(69), 2);
    }
}
