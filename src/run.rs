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
use crate::intake::{IntakeError, IntakeEvent, SourceHandle, start_sources};
use crate::pipeline::{BuildError, Processor, build_actions, keep_undelivered};
use crate::send::Sender;
use crate::stats::{PipelineStats, SourceSummary, summary};

/// How long the pipeline waits for input before flushing partly filled batches.
const IDLE_FLUSH: Duration = Duration::from_millis(20);

/// What the pipeline workers share.
struct WorkerCtx<'s> {
    rx: crossbeam_channel::Receiver<IntakeEvent>,
    names: Vec<&'s str>,
    by_line: Vec<bool>,
    sources: &'s [SourceHandle],
}

/// One pipeline worker: takes blocks from intake until every source has ended.
fn work(mut processor: Processor, ctx: &WorkerCtx<'_>) -> (PipelineStats, Arc<Sender>) {
    loop {
        let event = match ctx.rx.recv_timeout(IDLE_FLUSH) {
            Ok(event) => event,
            Err(RecvTimeoutError::Timeout) => {
                processor.flush();
                continue;
            }
            // Every source thread has ended and dropped its end of the channel.
            Err(RecvTimeoutError::Disconnected) => break,
        };
        match event {
            IntakeEvent::Block(block) => {
                let s = block.source();
                processor.tick();
                let (name, by_line) = (ctx.names[s], ctx.by_line[s]);
                processor.process_intake_block(&block, name, by_line);
                ctx.sources[s].recycle(block);
                // Nothing else waiting: send what we have now rather than when a batch fills.
                if ctx.rx.is_empty() {
                    processor.flush();
                }
            }
            IntakeEvent::Oversized {
                source: s,
                line,
                len,
                kept,
            } => {
                let location = Location::numbered(line, ctx.by_line[s]);
                processor.reject_oversized(&kept, len, ctx.names[s], location);
            }
            IntakeEvent::Done(_) => {}
        }
    }
    processor.into_parts()
}

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
    let workers = config.pipeline.workers;
    // One worker gets a core of its own and the sender the other; several workers share the
    // cores with the sender, and the scheduler places them better than fixed pins would.
    let (pipeline_cpu, sender_cpu) = if workers == 1 {
        affinity::plan(config.pipeline.pin)
    } else {
        (None, None)
    };

    let dests = build_actions(config).map_err(RunError::Build)?.dests;
    let start_sender = || -> Result<Arc<Sender>, RunError> {
        let sender = Sender::start(dests.clone(), sender_cpu)
            .map_err(|e| RunError::Build(BuildError::Send(e)))?;
        Ok(Arc::new(sender))
    };
    // A sender of its own per worker puts the kernel's send work of each worker's messages on
    // that worker's share of the CPUs; one UDP sender thread otherwise caps the rate.
    let per_worker = workers > 1 && config.pipeline.sender_per_worker;
    let shared = if per_worker {
        None
    } else {
        Some(start_sender()?)
    };
    let mut processors = Vec::with_capacity(workers);
    for _ in 0..workers {
        let sender = match &shared {
            Some(s) => Arc::clone(s),
            None => start_sender()?,
        };
        let mut p = Processor::with_sender(config, Arc::clone(&dead_letter), sender)
            .map_err(RunError::Build)?;
        p.set_stop_flag(Arc::clone(&stop));
        processors.push(p);
    }
    drop(shared);
    let actions = processors[0].action_names();

    let (tx, rx) = crossbeam_channel::bounded(config.sources.len() * config.pipeline.blocks);
    let mut sources =
        start_sources(&config.sources, &config.pipeline, &tx, &stop).map_err(|e| {
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            RunError::Intake(e)
        })?;
    drop(tx);

    let ctx = WorkerCtx {
        rx,
        names: config.sources.iter().map(|s| s.name.as_str()).collect(),
        by_line: config
            .sources
            .iter()
            .map(|s| matches!(s.kind, SourceKind::Stdin | SourceKind::File { .. }))
            .collect(),
        sources: &sources,
    };

    // The calling thread is worker 0; the others run beside it until intake ends.
    let mut stats: Option<PipelineStats> = None;
    let mut handed_back = Vec::with_capacity(workers);
    std::thread::scope(|scope| {
        let mut others = Vec::with_capacity(workers.saturating_sub(1));
        let mut processors = processors.into_iter();
        let first = processors.next();
        for (i, p) in processors.enumerate() {
            let ctx = &ctx;
            let thread = std::thread::Builder::new()
                .name(format!("otrelay-work-{}", i + 1))
                .spawn_scoped(scope, move || work(p, ctx));
            match thread {
                Ok(t) => others.push(t),
                Err(e) => eprintln!("otrelay: WARN cannot start a pipeline worker: {e}"),
            }
        }
        if let Some(cpu) = pipeline_cpu {
            affinity::pin_current(cpu);
        }
        let mut results: Vec<(PipelineStats, Arc<Sender>)> = Vec::new();
        if let Some(p) = first {
            results.push(work(p, &ctx));
        }
        for t in others {
            if let Ok(r) = t.join() {
                results.push(r);
            }
        }
        for (s, sender) in results {
            match stats.as_mut() {
                Some(total) => total.merge(&s),
                None => stats = Some(s),
            }
            handed_back.push(sender);
        }
    });
    drop(ctx);

    for source in &mut sources {
        source.join();
    }
    let mut stats = stats.unwrap_or_default();
    // Every worker has handed its sender handle back; a shared sender is shut down by its last
    // handle, and each sender's report joins one report per destination.
    // The senders keep sending while one after another is shut down, so one deadline
    // covers them all.
    let mut report = crate::send::SendReport::default();
    let drain_end = Instant::now() + config.pipeline.drain_timeout;
    for sender in handed_back {
        if let Ok(sender) = Arc::try_unwrap(sender) {
            report.merge(sender.shutdown(drain_end.saturating_duration_since(Instant::now())));
        }
    }
    stats.dead_letter_errors += keep_undelivered(&dead_letter, &report);
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
