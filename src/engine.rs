//! The embedding API: an [`Engine`] built from a config that takes alert bytes from its caller.
//!
//! Pipeline position: the caller's thread does the parse, rule and encode stages (the same
//! [`Processor`] `otrelay run` uses); the engine starts one sender thread of its own. Use it to
//! put otrelay inside a sensor process: hand it the JSON lines the sensor produces, and it
//! forwards them as the config's rules say.
//!
//! What must hold: one thread at a time calls the engine (it is `Send`, not `Sync`). The caller
//! owns flushing: messages wait in batches until a batch fills or [`Engine::flush`] is called.

use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::deadletter::{DeadLetter, Location};
use crate::pipeline::{BuildError, Processor};
use crate::send::SendReport;
use crate::stats::PipelineStats;

/// Source name used in dead-letter records of embedded use.
const SOURCE: &str = "engine";

/// A running forwarder fed by its caller.
///
/// # Examples
///
/// ```
/// use otrelay::{Config, Engine};
///
/// let config = Config::parse(r#"
///     [sensor]
///     name = "sensor-plant-01"
///
///     [[rule]]
///     name = "all"
///     [[rule.action]]
///     kind = "cef"
///     transport = "stdout"
/// "#, "inline").expect("valid config");
///
/// let mut engine = Engine::new(&config).expect("engine starts");
/// let alert = concat!(
///     r#"{"time":1594808260000,"title":"Address Scan Detected","#,
///     r#""severity":"Critical","engine":"Anomaly"}"#,
/// );
/// engine.push(alert.as_bytes());
/// engine.push(b"not json\n");
/// let (stats, _report) = engine.finish(std::time::Duration::from_secs(1));
/// assert_eq!(stats.forwarded, 1);
/// assert_eq!(stats.rejected_total(), 1);
/// ```
pub struct Engine {
    processor: Processor,
    records: u64,
}

impl Engine {
    /// Builds the rules and actions of `config` and starts the sender thread.
    ///
    /// Rejected input goes to the config's dead-letter file. `[[source]]` entries are ignored:
    /// the caller is the source.
    ///
    /// # Errors
    ///
    /// Fails when actions conflict or the sender cannot start.
    pub fn new(config: &Config) -> Result<Engine, BuildError> {
        let dead_letter = Arc::new(DeadLetter::new(&config.dead_letter));
        let processor = Processor::new(config, dead_letter, None)?;
        Ok(Engine {
            processor,
            records: 0,
        })
    }

    /// Processes alert lines: each `\n`-terminated line is one alert, and so is a final line
    /// without a newline. Blocks while the destinations' queues are full (back-pressure).
    pub fn push(&mut self, bytes: &[u8]) {
        self.processor.tick();
        let mut rest = bytes;
        while !rest.is_empty() {
            let end = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
            self.records += 1;
            self.processor
                .process_line(&rest[..end], SOURCE, Location::Record(self.records));
            rest = rest.get(end + 1..).unwrap_or(&[]);
        }
    }

    /// Hands partly filled batches to the sender now.
    pub fn flush(&mut self) {
        self.processor.flush();
    }

    /// The pipeline counters so far.
    pub fn stats(&self) -> &PipelineStats {
        self.processor.stats()
    }

    /// Flushes and stops the sender, giving it `deadline` to deliver what is queued; returns
    /// the final counters. Undelivered messages are written to the dead-letter file.
    pub fn finish(self, deadline: Duration) -> (PipelineStats, SendReport) {
        self.processor.finish(deadline)
    }
}
