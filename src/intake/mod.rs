//! Intake: sources read alert bytes into fixed-size blocks that hold whole lines only.
//!
//! Pipeline position: first stage. Each `[[source]]` runs on its own thread ("otrelay-in-N") and
//! owns a fixed pool of blocks, allocated once at start-up. A source fills a free block, cuts it
//! after the last complete line, and sends it to the pipeline thread over one shared channel; the
//! pipeline parses the lines in place and sends the block back to its source's pool. The pools
//! and the channel together form the intake ring: when the pipeline falls behind, a source finds
//! its pool empty, blocks, and stops reading (back-pressure). Only UDP cannot wait; the kernel
//! drops what overflows its receive buffer, and the source reports that count.
//!
//! Invariants handed to the pipeline:
//! - a block holds zero or more lines, each ending in `\n`, and nothing else;
//! - lines from one source arrive in order, so the pipeline can number them;
//! - a line that cannot fit in a block (longer than `block_size`, which exceeds `max_line`) never
//!   goes into one: it travels as an `Oversized` event, and the pipeline counts it and writes it
//!   to the dead-letter file;
//! - intake numbers lines: each block carries the number of its first line, each oversized line
//!   its own, so that any pipeline worker can name a rejected line;
//! - when a block is shipped, intake records where its first lines end (up to the capacity of
//!   the block's line index) and checks its bytes as UTF-8 once. The pipeline then neither
//!   searches for newlines nor validates line by line; it is the busier thread, and the intake
//!   thread had to read every byte to count lines anyway.

mod net;
pub mod seal;
mod stream;

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};

use crate::config::{PipelineConfig, SourceConfig, SourceKind};

/// One block of whole lines from one source.
#[derive(Debug)]
pub struct Block {
    /// Storage of the configured block size, zeroed once at start-up and reused.
    pub(crate) buf: Box<[u8]>,
    /// Bytes in use: `buf[..len]`.
    pub(crate) len: usize,
    /// Index of the source in the config.
    pub(crate) source: usize,
    /// Number of the block's first line within its source (1-based). Intake counts lines so
    /// that several pipeline workers can number rejected lines without talking to each other.
    pub(crate) first_line: u64,
    /// Offsets of the newlines of the first lines, in order; never grown past its capacity, so
    /// filling it does not allocate. Lines after the last one recorded are found by search.
    ends: Vec<u32>,
    /// True when `buf[..len]` was checked as UTF-8 at shipping time.
    utf8: bool,
}

impl Block {
    /// Line ends recorded per block: enough for lines of 64 bytes on average, which sensor
    /// alerts exceed several times over.
    const LINES_PER_KIB: usize = 16;

    fn with_capacity(source: usize, capacity: usize) -> Block {
        Block {
            buf: vec![0; capacity].into_boxed_slice(),
            len: 0,
            source,
            first_line: 0,
            ends: Vec::with_capacity(capacity / 1024 * Block::LINES_PER_KIB + 1),
            utf8: false,
        }
    }

    /// Empties the block for reuse; forgets its index and its UTF-8 check.
    fn reset(&mut self) {
        self.len = 0;
        self.ends.clear();
        self.utf8 = false;
    }

    /// Records the line ends of `buf[..len]` (as many as fit) and checks it as UTF-8. Returns
    /// the number of lines. Called once, when the block is shipped; nothing writes to it after
    /// that until it is back in its pool and reset.
    fn seal(&mut self) -> u64 {
        let data = &self.buf[..self.len];
        let sealed = seal::scan(data, &mut self.ends);
        // All-ASCII blocks, the common case, need no second pass.
        self.utf8 = sealed.ascii || simdutf8::basic::from_utf8(data).is_ok();
        sealed.lines
    }

    /// The bytes: whole lines, each ending in `\n`.
    pub fn lines(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// The bytes as text, when they were checked as UTF-8 at shipping time.
    pub fn text(&self) -> Option<&str> {
        if !self.utf8 {
            return None;
        }
        debug_assert!(std::str::from_utf8(self.lines()).is_ok());
        // SAFETY: `seal` set `utf8` right after checking exactly `buf[..len]`; a shipped block
        // is only read until it returns to its pool, and `reset` clears the flag before the
        // block is written again.
        Some(unsafe { std::str::from_utf8_unchecked(self.lines()) })
    }

    /// Offsets of the newlines of the block's first lines, ascending; may stop before the last
    /// line when the block holds more lines than its index has room for.
    pub fn line_ends(&self) -> &[u32] {
        &self.ends
    }

    /// Number of the block's first line within its source (1-based).
    pub fn first_line(&self) -> u64 {
        self.first_line
    }

    /// The source this block came from.
    pub fn source(&self) -> usize {
        self.source
    }
}

/// What a source thread sends to the pipeline.
#[derive(Debug)]
pub enum IntakeEvent {
    /// A block of lines.
    Block(Block),
    /// A line longer than a block: never in a block, it comes in order with them.
    Oversized {
        /// Index of the source.
        source: usize,
        /// Its number within the source (1-based).
        line: u64,
        /// The line's full length in bytes.
        len: u64,
        /// Its first bytes (all of it up to 16 MiB), for the dead-letter file.
        kept: Vec<u8>,
    },
    /// The source has finished (end of file, or stopped); it sends nothing more.
    Done(usize),
}

/// Counters a source shares with the summary; updated per block or per rare event.
#[derive(Debug, Default)]
pub struct SourceStats {
    /// Bytes read.
    pub bytes: AtomicU64,
    /// Datagrams the kernel dropped before otrelay could read them (UDP only).
    pub kernel_drops: AtomicU64,
    /// Connections accepted (TCP only).
    pub connections: AtomicU64,
    /// Times the source waited for a free block (back-pressure).
    pub stalls: AtomicU64,
    /// Read errors (the source stops on a fatal one).
    pub errors: AtomicU64,
}

/// Everything a source thread needs.
pub(crate) struct SourceCtx {
    pub index: usize,
    pub name: String,
    pub max_line: usize,
    /// Lines (records) handed on so far, counted at intake.
    pub lines: std::cell::Cell<u64>,
    pub free: Receiver<Block>,
    pub recycle: Sender<Block>,
    pub out: Sender<IntakeEvent>,
    pub stop: Arc<AtomicBool>,
    pub stats: Arc<SourceStats>,
}

impl SourceCtx {
    /// Takes a free block, waiting for the pipeline if necessary; `None` once the pipeline is
    /// gone.
    fn acquire(&self) -> Option<Block> {
        if let Ok(mut block) = self.free.try_recv() {
            block.reset();
            return Some(block);
        }
        self.stats.stalls.fetch_add(1, Ordering::Relaxed);
        let mut block = self.free.recv().ok()?;
        block.reset();
        Some(block)
    }

    /// Hands a block of whole lines to the pipeline; empty blocks go straight back to the pool.
    fn ship(&self, mut block: Block) -> bool {
        if block.len == 0 {
            // The pool has room for every block it owns, so this cannot block.
            return self.free_back(block);
        }
        let lines = block.seal();
        block.first_line = self.lines.get() + 1;
        self.lines.set(self.lines.get() + lines);
        self.stats
            .bytes
            .fetch_add(block.len as u64, Ordering::Relaxed);
        self.out.send(IntakeEvent::Block(block)).is_ok()
    }

    fn free_back(&self, block: Block) -> bool {
        self.recycle.send(block).is_ok()
    }

    /// Numbers a line that is longer than a block and hands it to the pipeline, which counts it
    /// and keeps it in the dead-letter file like any rejected line. Callers ship the lines
    /// before it first, so that numbering stays in order. Returns false when the pipeline has
    /// gone away.
    fn reject_oversized(&self, total_len: u64, kept: &[u8]) -> bool {
        let line = self.lines.get() + 1;
        self.lines.set(line);
        let event = IntakeEvent::Oversized {
            source: self.index,
            line,
            len: total_len,
            kept: kept.to_vec(),
        };
        self.out.send(event).is_ok()
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// Waits at most `timeout` until `fd` is readable (or at its end). Returns false on a timeout.
///
/// Errors (EINTR from a signal, for example) count as ready: the caller reads, or checks its
/// stop flag and comes back. A descriptor that cannot be polled (a regular file) is always
/// ready.
fn wait_readable(fd: std::os::fd::RawFd, timeout: std::time::Duration) -> bool {
    let mut fds = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: `fds` is a valid, initialised pollfd and the count is exactly one.
    let rc = unsafe { libc::poll(&mut fds, 1, ms) };
    rc != 0
}

/// Most bytes of one oversized line kept for the dead-letter file.
const OVERSIZE_KEEP: usize = 16 << 20;

/// A running source.
pub struct SourceHandle {
    /// The source's name.
    pub name: String,
    /// Its counters.
    pub stats: Arc<SourceStats>,
    /// Returns emptied blocks to this source's pool.
    pub(crate) recycle: Sender<Block>,
    thread: Option<JoinHandle<()>>,
}

impl SourceHandle {
    /// Gives a parsed block back to its source.
    pub fn recycle(&self, block: Block) {
        // If the source has exited its pool is gone; dropping the block is then correct.
        let _ = self.recycle.send(block);
    }

    /// Waits for the source thread to end.
    pub fn join(&mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts one thread per source; they feed `out`.
///
/// # Errors
///
/// Returns an error naming the source when a file cannot be opened or a listener cannot bind;
/// sources started before it are stopped by the caller through `stop`.
pub fn start_sources(
    sources: &[SourceConfig],
    pipeline: &PipelineConfig,
    out: &Sender<IntakeEvent>,
    stop: &Arc<AtomicBool>,
) -> Result<Vec<SourceHandle>, IntakeError> {
    let mut handles = Vec::with_capacity(sources.len());
    for (index, source) in sources.iter().enumerate() {
        let (recycle, free) = crossbeam_channel::bounded(pipeline.blocks);
        for _ in 0..pipeline.blocks {
            // The channel was sized for exactly these blocks.
            let _ = recycle.send(Block::with_capacity(index, pipeline.block_size));
        }
        let stats = Arc::new(SourceStats::default());
        let ctx = SourceCtx {
            index,
            name: source.name.clone(),
            max_line: pipeline.max_line,
            lines: std::cell::Cell::new(0),
            free,
            recycle: recycle.clone(),
            out: out.clone(),
            stop: Arc::clone(stop),
            stats: Arc::clone(&stats),
        };
        let runner = prepare(&source.kind, ctx).map_err(|e| IntakeError {
            source: source.name.clone(),
            error: e,
        })?;
        let thread = std::thread::Builder::new()
            .name(format!("otrelay-in-{index}"))
            .spawn(runner)
            .map_err(|e| IntakeError {
                source: source.name.clone(),
                error: e,
            })?;
        handles.push(SourceHandle {
            name: source.name.clone(),
            stats,
            recycle,
            thread: Some(thread),
        });
    }
    Ok(handles)
}

/// Opens what the source needs on the calling thread, so that errors surface at start-up, and
/// returns the loop to run on the source's thread.
fn prepare(kind: &SourceKind, ctx: SourceCtx) -> io::Result<Box<dyn FnOnce() + Send>> {
    match kind {
        SourceKind::Stdin => Ok(Box::new(move || stream::run_stdin(ctx))),
        SourceKind::File { path, follow } => {
            let file = std::fs::File::open(path)?;
            let (path, follow) = (path.clone(), *follow);
            Ok(Box::new(move || stream::run_file(ctx, file, path, follow)))
        }
        SourceKind::Tcp { listen } => {
            let listener = mio::net::TcpListener::bind(*listen)?;
            Ok(Box::new(move || net::run_tcp(ctx, listener)))
        }
        SourceKind::Udp { listen } => {
            let socket = net::bind_udp(*listen)?;
            Ok(Box::new(move || net::run_udp(ctx, socket)))
        }
    }
}

/// A source that could not start.
#[derive(Debug)]
pub struct IntakeError {
    /// The source's name.
    pub source: String,
    /// What failed.
    pub error: io::Error,
}

impl std::fmt::Display for IntakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "source {}: {}", self.source, self.error)
    }
}

impl std::error::Error for IntakeError {}

#[cfg(test)]
mod tests {
    use super::Block;

    fn filled(bytes: &[u8]) -> Block {
        let mut block = Block::with_capacity(0, 4096);
        block.buf[..bytes.len()].copy_from_slice(bytes);
        block.len = bytes.len();
        block
    }

    #[test]
    fn seal_indexes_lines_up_to_capacity_and_checks_utf8() {
        let mut block = filled(b"{\"a\":1}\n\n{\"b\":\"\xc3\xa9\"}\n");
        assert_eq!(block.seal(), 3);
        assert_eq!(block.line_ends(), &[7, 8, 19]);
        assert_eq!(block.text().map(str::len), Some(20));

        // More lines than the index holds: all are counted, the first ones recorded.
        let mut many = filled(&[b'\n'; 1000]);
        assert_eq!(many.seal(), 1000);
        assert_eq!(many.line_ends().len(), many.ends.capacity());
        assert!(many.line_ends().len() < 1000);

        let mut bad = filled(b"ok\n\xff\n");
        assert_eq!(bad.seal(), 2);
        assert!(bad.text().is_none());

        // A reused block forgets its check.
        block.reset();
        assert!(block.text().is_none() && block.line_ends().is_empty());
    }
}
