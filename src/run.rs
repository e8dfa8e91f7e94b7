//! `otrelay run`: wires the sources, the pipeline thread and the sender together, and stops them.
//!
//! Pipeline position: this is the pipeline thread's main loop. The calling thread becomes the
//! pipeline thread (pinned to the first CPU when pinning is on and there are two CPUs; the
//! sender gets the second), sources get threads of their own.
//!
//! Shutdown: SIGINT or SIGTERM sets the stop flag. Sources stop reading and report `Done`; the
//! pipeline finishes the blocks already read, flushes its batches, and gives the sender
//! `drain_timeout` to deliver what is queued. Whatever could not be delivered by then is written
//! to the dead-letter file and counted, never dropped silently. Without a signal, the run ends
//! when every source is done (for example, a file read to its end).

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use crossbeam_channel::RecvTimeoutError;

use crate::affinity;
use crate::config::{Config, SourceKind};
use crate::deadletter::{DeadLetter, Location};
use crate::intake::{IntakeError, IntakeEvent, start_sources};
use crate::pipeline::{BuildError, Processor};
use crate::stats::{PipelineStats, SourceSummary, summary};

/// How long the pipeline waits for input before flushing partly filled batches.
const IDLE_FLUSH: Duration = Duration::from_millis(20);

/// What a finished run reports.
pub struct RunOutcome {
    /// Pipeline counters.
    pub stats: PipelineStats,
    /// The summary text, as printed.
    pub summary: String,
    /// Messages that could not be delivered (they are in the dead-letter file).
    pub undelivered: u64,
}

/// Why a run could not start.
#[derive(Debug)]
pub enum RunError {
    /// Building the pipeline failed.
    Build(BuildError),
    /// A source could not start.
    Intake(IntakeError),
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Build(e) => e.fmt(f),
            RunError::Intake(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for RunError {}

/// Runs until every source is done or `stop` is set, then drains and summarises.
///
/// # Errors
///
/// Fails only at start-up; once running, problems are counted and reported in the summary.
pub fn run(config: &Config, stop: Arc<AtomicBool>) -> Result<RunOutcome, RunError> {
    let started = Instant::now();
    let dead_letter = Arc::new(DeadLetter::new(&config.dead_letter));
    let (pipeline_cpu, sender_cpu) = affinity::plan(config.pipeline.pin);

    let mut processor =
        Processor::new(config, Arc::clone(&dead_letter), sender_cpu).map_err(RunError::Build)?;
    processor.set_stop_flag(Arc::clone(&stop));

    let (tx, rx) = crossbeam_channel::bounded(config.sources.len() * config.pipeline.blocks);
    let mut sources =
        start_sources(&config.sources, &config.pipeline, &tx, &stop).map_err(|e| {
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            RunError::Intake(e)
        })?;
    drop(tx);
    if let Some(cpu) = pipeline_cpu {
        affinity::pin_current(cpu);
    }

    let names: Vec<&str> = config.sources.iter().map(|s| s.name.as_str()).collect();
    let by_line: Vec<bool> = config
        .sources
        .iter()
        .map(|s| matches!(s.kind, SourceKind::Stdin | SourceKind::File { .. }))
        .collect();
    let mut line_nos = vec![0u64; names.len()];
    let mut live = names.len();

    while live > 0 {
        let event = match rx.recv_timeout(IDLE_FLUSH) {
            Ok(event) => event,
            Err(RecvTimeoutError::Timeout) => {
                processor.flush();
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        };
        match event {
            IntakeEvent::Block(block) => {
                let s = block.source();
                processor.tick();
                processor.process_block(block.lines(), names[s], &mut line_nos[s], by_line[s]);
                sources[s].recycle(block);
                // Nothing else waiting: send what we have now rather than when a batch fills.
                if rx.is_empty() {
                    processor.flush();
                }
            }
            IntakeEvent::Oversized {
                source: s,
                len,
                kept,
            } => {
                line_nos[s] += 1;
                let n = line_nos[s];
                let location = if by_line[s] {
                    Location::Line(n)
                } else {
                    Location::Record(n)
                };
                processor.reject_oversized(&kept, len, names[s], location);
            }
            IntakeEvent::Done(_) => live -= 1,
        }
    }

    for source in &mut sources {
        source.join();
    }
    let actions = processor.action_names();
    let (stats, report) = processor.finish(config.pipeline.drain_timeout);
    let source_summaries: Vec<SourceSummary<'_>> = sources
        .iter()
        .map(|s| SourceSummary {
            name: &s.name,
            stats: &s.stats,
        })
        .collect();
    let text = summary(
        &stats,
        &source_summaries,
        &actions,
        &report,
        started.elapsed(),
    );
    let undelivered = stats.undelivered + report.undelivered_count();
    Ok(RunOutcome {
        stats,
        summary: text,
        undelivered,
    })
}
