//! Stdout link: batches written with `write_all`, one message per line.
//!
//! Runs on the sender thread. Meant for piping into another tool and for trying rules out; a
//! slow reader blocks the sender thread, which is the back-pressure the pipeline expects. What
//! must hold: each batch is written whole or counted as failed, never half-counted.

use std::io::{self, Write};
use std::time::Instant;

use super::worker::Queue;
use super::{DestinationStats, SendError};

/// The process's standard output.
pub(crate) struct StdoutLink {
    /// Handle to stdout; locked per batch.
    out: io::Stdout,
    /// True after a failed write, until one succeeds again (for the log only).
    failing: bool,
}

impl StdoutLink {
    /// Takes the process's stdout.
    pub(crate) fn new() -> StdoutLink {
        StdoutLink {
            out: io::stdout(),
            failing: false,
        }
    }

    /// Writes every pending batch; never asks to be called back.
    pub(crate) fn service(&mut self, q: &mut Queue) -> Option<Instant> {
        while let Some(batch) = q.pending.pop_front() {
            let mut out = self.out.lock();
            match out.write_all(batch.bytes()).and_then(|()| out.flush()) {
                Ok(()) => {
                    q.count_batch(batch.messages(), batch.len_bytes());
                    if self.failing {
                        self.failing = false;
                        eprintln!("otrelay: {}: writing again", q.name);
                    }
                }
                Err(e) => {
                    DestinationStats::add(&q.stats.send_errors, batch.messages() as u64);
                    if !self.failing {
                        self.failing = true;
                        eprintln!("otrelay: {}: write failed: {e}; messages are lost", q.name);
                    }
                }
            }
            drop(out);
            q.recycle(batch);
        }
        None
    }
}

/// Writes one framed message to stdout, for `send_once`.
pub(crate) fn send_once(framed: &[u8]) -> Result<(), SendError> {
    let mut out = io::stdout().lock();
    out.write_all(framed)
        .and_then(|()| out.flush())
        .map_err(|source| SendError::Io {
            context: "write to stdout",
            source,
        })
}
