//! The pipeline stage: parse each line, evaluate the rules, encode into destination batches.
//!
//! Pipeline position: the middle. In `otrelay run` the [`Processor`] runs on the pipeline thread
//! (pinned when the machine has the cores), fed with intake blocks; embedded through
//! [`crate::Engine`] it runs on the caller's thread. Either way one thread owns it, so its
//! counters are plain integers.
//!
//! What must hold here, per alert: no allocation, no logging, no lock, no syscall. Lines are
//! parsed in place; every message is written straight into a preallocated batch of its
//! destination; a full batch goes to the sender thread and a free one comes back from the pool.
//! Rejected lines are the exception: they go to the dead-letter file, which is a cold path.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::alert::{Alert, SensorIdentity};
use crate::config::{
    ActionConfig, ActionKind, Config, FormatOptions, FramingKind, HeaderKind, PipelineConfig,
    TransportKind,
};
use crate::deadletter::{DeadLetter, Location};
use crate::encode::Encoded;
use crate::encode::cef::{CefEncoder, CefFlavor, CefOptions};
use crate::encode::leef::LeefEncoder;
use crate::encode::object::ObjectEncoder;
use crate::encode::syslog::{HeaderOptions, HeaderStyle, SyslogHeader};
use crate::encode::text::TextEncoder;
use crate::encode::time::{AlertClock, parse_timezone};
use crate::exclusions::Exclusions;
use crate::intake::Block;
use crate::parse::{ParseError, RejectReason, parse_alert, parse_alert_text};
use crate::rules::{RuleMemo, RuleSet, words_for};
use crate::send::{Batch, DestinationConfig, Framing, SendError, Sender, Transport};
use crate::stats::PipelineStats;

/// The message writer of one action.
pub(crate) enum Format {
    /// CEF, in either flavor.
    Cef(CefEncoder),
    /// LEEF 1.0 or 2.0.
    Leef(LeefEncoder),
    /// Labelled text.
    Text(TextEncoder),
    /// Labelled object fields, as key-value pairs or JSON.
    Object(ObjectEncoder),
}

impl Format {
    fn encode(&mut self, alert: &Alert<'_>, out: &mut Vec<u8>, limit: usize) -> Encoded {
        match self {
            Format::Cef(e) => e.encode(alert, out, limit),
            Format::Leef(e) => e.encode(alert, out, limit),
            Format::Text(e) => e.encode(alert, out, limit),
            Format::Object(e) => e.encode(alert, out, limit),
        }
    }
}

/// One distinct action: identical actions of different rules are merged, so that an alert
/// matching both rules is sent once.
pub(crate) struct Action {
    pub(crate) config: ActionConfig,
    pub(crate) format: Format,
    pub(crate) header: SyslogHeader,
    pub(crate) dest: usize,
}

impl Action {
    /// Writes one complete message (syslog header + body) into `out`, at most `max_message`.
    pub(crate) fn write(&mut self, alert: &Alert<'_>, now_secs: i64, out: &mut Vec<u8>) -> Encoded {
        let start = out.len();
        self.header.write(now_secs, out);
        let limit = self.config.max_message.saturating_sub(out.len() - start);
        self.format.encode(alert, out, limit)
    }
}

/// The actions and destinations of a config.
pub(crate) struct Plan {
    /// Distinct actions.
    pub(crate) actions: Vec<Action>,
    /// For each rule, the indices of its actions.
    pub(crate) per_rule: Vec<Vec<usize>>,
    /// Distinct destinations: actions with the same transport, host and port share one.
    pub(crate) dests: Vec<DestinationConfig>,
}

/// Builds the actions and destinations of a config.
pub(crate) fn build_actions(config: &Config) -> Result<Plan, BuildError> {
    let mut actions: Vec<Action> = Vec::new();
    let mut dests: Vec<DestinationConfig> = Vec::new();
    let mut per_rule = Vec::with_capacity(config.rules.len());

    for rule in &config.rules {
        let mut mine = Vec::with_capacity(rule.actions.len());
        for ac in &rule.actions {
            if let Some(i) = actions.iter().position(|a| a.config == *ac) {
                mine.push(i);
                continue;
            }
            let dest = destination_for(ac, &config.pipeline, &mut dests)?;
            actions.push(build_action(ac, &config.sensor, dest)?);
            mine.push(actions.len() - 1);
        }
        per_rule.push(mine);
    }
    Ok(Plan {
        actions,
        per_rule,
        dests,
    })
}

fn destination_for(
    ac: &ActionConfig,
    pipeline: &PipelineConfig,
    dests: &mut Vec<DestinationConfig>,
) -> Result<usize, BuildError> {
    let transport = match ac.transport {
        TransportKind::Udp => Transport::Udp,
        TransportKind::Tcp => Transport::Tcp,
        TransportKind::Tls => Transport::Tls,
        TransportKind::Stdout => Transport::Stdout,
    };
    let framing = match ac.framing {
        FramingKind::Lf => Framing::Lf,
        FramingKind::OctetCounting => Framing::OctetCounting,
    };
    let name = match ac.transport {
        TransportKind::Stdout => "stdout".to_owned(),
        TransportKind::Udp => format!("udp://{}:{}", ac.host, ac.port),
        TransportKind::Tcp => format!("tcp://{}:{}", ac.host, ac.port),
        TransportKind::Tls => format!("tls://{}:{}", ac.host, ac.port),
    };

    if let Some(i) = dests.iter().position(|d| d.name == name) {
        let d = &mut dests[i];
        if d.framing != framing && ac.transport == TransportKind::Tcp {
            return Err(BuildError::Conflict(format!(
                "actions sending to {name} disagree on the framing"
            )));
        }
        if d.tls != ac.tls {
            return Err(BuildError::Conflict(format!(
                "actions sending to {name} disagree on the TLS settings"
            )));
        }
        // A shared destination must fit the longest message of any action using it.
        d.max_message = d.max_message.max(ac.max_message);
        return Ok(i);
    }

    dests.push(DestinationConfig {
        name,
        transport,
        host: ac.host.clone(),
        port: ac.port,
        framing,
        max_message: ac.max_message,
        batch_bytes: pipeline.batch_bytes,
        batches: pipeline.batches,
        backoff_min: pipeline.backoff_min,
        backoff_max: pipeline.backoff_max,
        connect_timeout: std::time::Duration::from_secs(5),
        replay_overlap: pipeline.replay_overlap,
        send_buffer: None,
        tls: ac.tls.clone(),
    });
    Ok(dests.len() - 1)
}

pub(crate) fn build_action(
    ac: &ActionConfig,
    sensor: &SensorIdentity,
    dest: usize,
) -> Result<Action, BuildError> {
    let tz = parse_timezone(&ac.timezone)
        .map_err(|e| BuildError::Conflict(format!("time zone {:?}: {e}", ac.timezone)))?;
    let clock = AlertClock::new(tz);
    let format = match (&ac.format, ac.kind) {
        (FormatOptions::Leef(o), _) => Format::Leef(LeefEncoder::new(o, sensor, clock)),
        (FormatOptions::Text(o), _) => Format::Text(TextEncoder::new(o, sensor, clock)),
        (FormatOptions::Object(o), _) => Format::Object(ObjectEncoder::new(o, sensor, clock)),
        (FormatOptions::Cef, kind) => {
            let flavor = if kind == ActionKind::NetWitness {
                CefFlavor::NetWitness
            } else {
                CefFlavor::Microsoft
            };
            let options = CefOptions {
                flavor,
                vendor: ac.vendor.clone(),
                product: ac.product.clone(),
                version: ac.version.clone(),
                event_class: ac.event_class.clone(),
                field_limits: ac.field_limits,
            };
            Format::Cef(CefEncoder::new(&options, sensor, clock))
        }
    };

    let header = SyslogHeader::new(&HeaderOptions {
        style: match ac.header {
            HeaderKind::Rfc3164 => HeaderStyle::Rfc3164,
            HeaderKind::Rfc5424 => HeaderStyle::Rfc5424,
        },
        facility: ac.facility,
        severity: ac.syslog_severity,
        hostname: ac
            .hostname
            .clone()
            .unwrap_or_else(|| sensor.hostname.clone()),
        app_name: ac.app_name.clone(),
    })
    .map_err(|e| BuildError::Conflict(format!("syslog header: {e}")))?;

    Ok(Action {
        config: ac.clone(),
        format,
        header,
        dest,
    })
}

/// Writes what a sender could not deliver to the dead-letter file; returns the number of records
/// that could not be written.
pub fn keep_undelivered(dead_letter: &DeadLetter, report: &crate::send::SendReport) -> u64 {
    let mut errors = 0;
    for (dest, bytes) in report.undelivered() {
        let detail = "not delivered before the shutdown deadline";
        if dead_letter
            .write("undelivered", dest, Location::Undelivered, detail, bytes)
            .is_err()
        {
            errors += 1;
        }
    }
    errors
}

/// Why the runtime could not be built from a (valid) config.
#[derive(Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// Two settings cannot hold together.
    Conflict(String),
    /// The sender could not start.
    Send(SendError),
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BuildError::Conflict(m) => f.write_str(m),
            BuildError::Send(e) => write!(f, "cannot start sending: {e}"),
        }
    }
}

impl std::error::Error for BuildError {}

/// Parses, routes and encodes alerts into destination batches.
pub struct Processor {
    exclusions: Exclusions,
    /// The rules, with the matched rules and combined actions of every key met so far; its
    /// entries are the groups of `stats.matched`.
    memo: RuleMemo,
    actions: Vec<Action>,
    /// The batch being filled, per destination.
    batches: Vec<Option<Batch>>,
    sender: Arc<Sender>,
    now_secs: i64,
    max_line: usize,
    dead_letter: Arc<DeadLetter>,
    stats: PipelineStats,
    /// Set by the signal handler; while it is set, waiting for a free batch is bounded.
    stop: Option<Arc<AtomicBool>>,
    drain_timeout: Duration,
    /// When the stop request was first seen while waiting for a batch.
    stop_seen: Option<Instant>,
}

impl Processor {
    /// Builds the rules, actions and sender of `config`; starts the sender thread.
    ///
    /// # Errors
    ///
    /// Fails when actions conflict or the sender cannot start.
    pub fn new(
        config: &Config,
        dead_letter: Arc<DeadLetter>,
        sender_cpu: Option<usize>,
    ) -> Result<Processor, BuildError> {
        let dests = build_actions(config)?.dests;
        let sender = Sender::start(dests, sender_cpu).map_err(BuildError::Send)?;
        Processor::with_sender(config, dead_letter, Arc::new(sender))
    }

    /// Builds a processor that shares `sender` with other processors (pipeline workers). The
    /// sender must have been started with this config's destinations, in `build_actions`
    /// order.
    ///
    /// # Errors
    ///
    /// Fails when actions conflict.
    pub fn with_sender(
        config: &Config,
        dead_letter: Arc<DeadLetter>,
        sender: Arc<Sender>,
    ) -> Result<Processor, BuildError> {
        let rules = RuleSet::compile(&config.rules);
        let Plan {
            actions,
            per_rule,
            dests,
        } = build_actions(config)?;
        let action_words = words_for(actions.len());
        let mut rule_actions = vec![0u64; rules.len() * action_words];
        for (r, list) in per_rule.iter().enumerate() {
            for &a in list {
                rule_actions[r * action_words + a / 64] |= 1 << (a % 64);
            }
        }

        let dest_count = dests.len();
        let mut stats = PipelineStats::new(&config.rules, actions.len());
        stats.exclusion_names = config
            .exclusions
            .iter()
            .filter(|e| e.enabled)
            .map(|e| e.name.clone())
            .collect();
        stats.excluded_by = vec![0; stats.exclusion_names.len()];
        Ok(Processor {
            exclusions: Exclusions::compile(&config.exclusions),
            memo: RuleMemo::new(rules, rule_actions, action_words),
            actions,
            batches: (0..dest_count).map(|_| None).collect(),
            sender,
            now_secs: jiff::Timestamp::now().as_second(),
            max_line: config.pipeline.max_line,
            dead_letter,
            stats,
            stop: None,
            drain_timeout: config.pipeline.drain_timeout,
            stop_seen: None,
        })
    }

    /// Makes waits for a free batch give up `drain_timeout` after `stop` is set, so that a
    /// receiver that stays away cannot hold shutdown forever. Messages given up on go to the
    /// dead-letter file.
    pub fn set_stop_flag(&mut self, stop: Arc<AtomicBool>) {
        self.stop = Some(stop);
    }

    /// Refreshes the clock used for syslog header times; call once per block, not per alert.
    pub fn tick(&mut self) {
        self.now_secs = jiff::Timestamp::now().as_second();
    }

    /// The counters so far.
    pub fn stats(&self) -> &PipelineStats {
        &self.stats
    }

    /// The sender, for its counters.
    pub fn sender(&self) -> &Sender {
        &self.sender
    }

    /// Processes every line of `block` (whole lines, each ending in `\n`). `first_line` is the
    /// number of its first line within its source; `by_line` says whether the source numbers
    /// lines (files, stdin) or records (network sources).
    pub fn process_block(&mut self, block: &[u8], source: &str, first_line: u64, by_line: bool) {
        let mut rest = block;
        let mut n = first_line;
        while !rest.is_empty() {
            let end = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
            self.process_line(&rest[..end], source, Location::numbered(n, by_line));
            n += 1;
            rest = rest.get(end + 1..).unwrap_or(&[]);
        }
    }

    /// Processes an intake block: its lines are cut at the newline offsets intake recorded,
    /// and parsed without a second UTF-8 check when intake found the whole block valid.
    pub fn process_intake_block(&mut self, block: &Block, source: &str, by_line: bool) {
        let Some(text) = block.text() else {
            return self.process_block(block.lines(), source, block.first_line(), by_line);
        };

        let mut start = 0;
        let mut n = block.first_line();
        for &end in block.line_ends() {
            let end = end as usize;
            // Newlines are ASCII, so both ends are character boundaries.
            let line = text.get(start..end).unwrap_or_default();
            self.process_text_line(line, source, Location::numbered(n, by_line));
            n += 1;
            start = end + 1;
        }

        // Lines past the end of the index (a block of unusually short lines).
        let rest = text.get(start..).unwrap_or_default();
        for line in rest.split_terminator('\n') {
            self.process_text_line(line, source, Location::numbered(n, by_line));
            n += 1;
        }
    }

    /// Rejects a line intake could not fit in a block: counted as too long and kept (its first
    /// `kept.len()` bytes) in the dead-letter file.
    #[cold]
    pub fn reject_oversized(&mut self, kept: &[u8], len: u64, source: &str, location: Location) {
        self.stats.lines += 1;
        self.stats.rejected[RejectReason::TooLong.index()] += 1;
        let detail = if kept.len() as u64 == len {
            format!("line of {len} bytes exceeds max_line ({})", self.max_line)
        } else {
            format!(
                "line of {len} bytes exceeds max_line ({}); its first {} bytes are kept",
                self.max_line,
                kept.len()
            )
        };
        let reason = RejectReason::TooLong.name();
        if self
            .dead_letter
            .write(reason, source, location, &detail, kept)
            .is_err()
        {
            self.stats.dead_letter_errors += 1;
        }
    }

    /// Processes one line (without its newline).
    pub fn process_line(&mut self, line: &[u8], source: &str, location: Location) {
        if let Some(line) = self.screen(line, source, location) {
            match parse_alert(line) {
                Ok(alert) => self.route(&alert),
                Err(error) => self.reject(line, &error, source, location),
            }
        }
    }

    /// [`Processor::process_line`] for a line already known to be UTF-8.
    fn process_text_line(&mut self, line: &str, source: &str, location: Location) {
        if let Some(bytes) = self.screen(line.as_bytes(), source, location) {
            // `screen` only strips an ASCII `\r`, so the same cut of `line` is still text.
            let line = line.get(..bytes.len()).unwrap_or_default();
            match parse_alert_text(line) {
                Ok(alert) => self.route(&alert),
                Err(error) => self.reject(bytes, &error, source, location),
            }
        }
    }

    /// Counts a line and sets aside blank and overlong ones; returns the rest without a
    /// trailing `\r`.
    #[inline]
    fn screen<'l>(&mut self, line: &'l [u8], source: &str, location: Location) -> Option<&'l [u8]> {
        self.stats.lines += 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            self.stats.blank += 1;
            return None;
        }
        if line.len() > self.max_line {
            self.reject(line, &ParseError::too_long(self.max_line), source, location);
            return None;
        }
        Some(line)
    }

    /// Counts a rejected line and keeps it in the dead-letter file.
    #[cold]
    fn reject(&mut self, line: &[u8], error: &ParseError, source: &str, location: Location) {
        self.stats.rejected[error.reason.index()] += 1;
        let detail = error.to_string();
        if self
            .dead_letter
            .write(error.reason.name(), source, location, &detail, line)
            .is_err()
        {
            self.stats.dead_letter_errors += 1;
        }
    }

    /// Sends a parsed alert to the actions of every rule it matches, unless an exclusion
    /// suppresses it first.
    pub fn route(&mut self, alert: &Alert<'_>) {
        self.stats.parsed += 1;
        if !self.exclusions.is_empty() {
            if let Some(i) = self.exclusions.first_match(alert) {
                self.stats.excluded += 1;
                self.stats.excluded_by[i] += 1;
                return;
            }
        }

        // One memo probe stands for evaluating every rule: the entry holds the matched rules'
        // actions, already ORed, and its hit counts one match for each of those rules. Walking
        // the matched rules here instead made 1000 broad rules cost a third of the throughput.
        let entry = self.memo.hit(alert, &mut self.stats.matched);
        if !self.memo.matched(entry) {
            self.stats.unmatched += 1;
            return;
        }
        self.stats.forwarded += 1;

        for a in 0..self.memo.action_words() {
            let mut word = self.memo.actions(entry)[a];
            while word != 0 {
                let index = a * 64 + word.trailing_zeros() as usize;
                word &= word - 1;
                self.emit(index, alert);
            }
        }
    }

    /// Encodes `alert` for action `index` into its destination's batch.
    fn emit(&mut self, index: usize, alert: &Alert<'_>) {
        let dest = self.actions[index].dest;
        if self.batches[dest].is_none() {
            match self.sender.try_acquire(dest) {
                Some(b) => self.batches[dest] = Some(b),
                None => match self.acquire_slow(dest) {
                    Some(b) => self.batches[dest] = Some(b),
                    None => return self.give_up(index, alert),
                },
            }
        }
        let action = &mut self.actions[index];
        let Some(batch) = self.batches[dest].as_mut() else {
            return;
        };

        let start = batch.begin();
        if action.write(alert, self.now_secs, batch.buf()) == Encoded::Truncated {
            self.stats.truncated += 1;
        }
        batch.finish(start);
        self.stats.messages[index] += 1;

        if batch.is_full() {
            if let Some(full) = self.batches[dest].take() {
                self.sender.submit(full);
            }
        }
    }

    /// Waits for a free batch of `dest`: the back-pressure path, when its receiver is slow or
    /// away. Returns `None` only when a stop was requested and the drain deadline has passed.
    #[cold]
    fn acquire_slow(&mut self, dest: usize) -> Option<Batch> {
        self.stats.backpressure_waits += 1;
        // Partly filled batches of other destinations must not wait behind this one.
        self.flush();
        loop {
            if let Some(b) = self.sender.acquire_timeout(dest, Duration::from_millis(50)) {
                return Some(b);
            }
            let Some(stop) = &self.stop else { continue };
            if !stop.load(Ordering::Relaxed) {
                continue;
            }
            let seen = *self.stop_seen.get_or_insert_with(Instant::now);
            if seen.elapsed() >= self.drain_timeout {
                return None;
            }
        }
    }

    /// Keeps a message that cannot be queued because shutdown gave up waiting for its
    /// destination.
    #[cold]
    fn give_up(&mut self, index: usize, alert: &Alert<'_>) {
        let action = &mut self.actions[index];
        let mut message = Vec::with_capacity(action.config.max_message);
        let _ = action.write(alert, self.now_secs, &mut message);
        self.stats.undelivered += 1;
        let dest = action.config.describe();
        let detail = "destination unavailable at shutdown";
        if self
            .dead_letter
            .write(
                "undelivered",
                &dest,
                Location::Undelivered,
                detail,
                &message,
            )
            .is_err()
        {
            self.stats.dead_letter_errors += 1;
        }
    }

    /// Hands every partly filled batch to the sender.
    pub fn flush(&mut self) {
        for slot in &mut self.batches {
            if let Some(batch) = slot.take_if(|b| !b.is_empty()) {
                self.sender.submit(batch);
            }
        }
    }

    /// Flushes, then stops the sender, giving it `deadline` to deliver what is queued. Messages
    /// it could not deliver are written to the dead-letter file.
    pub fn finish(self, deadline: Duration) -> (PipelineStats, crate::send::SendReport) {
        let dead_letter = Arc::clone(&self.dead_letter);
        let (mut stats, sender) = self.into_parts();
        let report = match Arc::try_unwrap(sender) {
            Ok(sender) => sender.shutdown(deadline),
            // Another processor still shares the sender; whoever holds it last shuts it down.
            Err(_) => crate::send::SendReport::default(),
        };
        stats.dead_letter_errors += keep_undelivered(&dead_letter, &report);
        (stats, report)
    }

    /// Flushes and hands back the counters and the (possibly shared) sender; for workers that
    /// share one sender, which the last of them shuts down.
    pub fn into_parts(mut self) -> (PipelineStats, Arc<Sender>) {
        self.flush();
        (self.stats, self.sender)
    }

    /// The distinct actions, in index order, for the summary.
    pub fn action_names(&self) -> Vec<String> {
        self.actions.iter().map(|a| a.config.describe()).collect()
    }
}
