//! Counters of every stage and the summary printed when otrelay stops.
//!
//! Pipeline position: [`PipelineStats`] lives on the pipeline thread and is bumped with plain
//! integer adds (one thread owns it, so no atomics). Sources and the sender keep their own atomic
//! counters, bumped per block or per batch, never per alert. The summary gathers all of them once
//! at shutdown; it is the only place that formats them.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use crate::config::RuleConfig;
use crate::intake::SourceStats;
use crate::parse::RejectReason;

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
    /// Per rule, in config order: alerts matched.
    pub matched: Vec<u64>,
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
            matched: vec![0; rules.len()],
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
        add(&mut self.matched, &other.matched);
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
    for (name, n) in pipeline.rule_names.iter().zip(&pipeline.matched) {
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
