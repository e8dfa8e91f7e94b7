//! Byte-stream sources: stdin and files (read once, or followed like `tail -F`).
//!
//! Pipeline position: intake, on the source's own thread. Reads go straight into the free space
//! of the current block, so a file is copied once, by the kernel, into memory the pipeline parses
//! in place. Only the partial line at the end of a block is copied, into the next block.
//!
//! Invariant of [`Assembler`]: between calls, the current block is never full. A full block
//! either has a newline (its complete lines are shipped and the tail moves on) or holds one line
//! longer than a block, which switches to discard mode until its newline arrives.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::Duration;

use super::{Block, IntakeEvent, OVERSIZE_KEEP, SourceCtx};

/// How long a followed file or an idle stdin sleeps before checking again for data and for a
/// stop request.
const IDLE_POLL: Duration = Duration::from_millis(100);

/// A line longer than a block, being discarded.
struct Oversize {
    kept: Vec<u8>,
    total: u64,
}

/// Cuts a byte stream into blocks of whole lines.
pub(super) struct Assembler {
    block: Option<Block>,
    oversize: Option<Oversize>,
}

impl Assembler {
    pub(super) fn new() -> Assembler {
        Assembler {
            block: None,
            oversize: None,
        }
    }

    /// Reads once from `src` into the current block. Returns the byte count (0 at end of
    /// stream), or `None` when the pipeline has gone away.
    pub(super) fn read_from(
        &mut self,
        ctx: &SourceCtx,
        src: &mut impl Read,
    ) -> io::Result<Option<usize>> {
        if self.block.is_none() {
            let Some(block) = ctx.acquire() else {
                return Ok(None);
            };
            self.block = Some(block);
        }
        let Some(block) = self.block.as_mut() else {
            return Ok(None);
        };

        let start = block.len;
        let n = loop {
            match src.read(&mut block.buf[start..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        block.len += n;
        self.absorb(ctx);
        Ok(Some(n))
    }

    /// Restores the invariant after new bytes arrived.
    fn absorb(&mut self, ctx: &SourceCtx) {
        let Some(block) = self.block.as_mut() else {
            return;
        };

        // Discard mode: everything up to the next newline belongs to the oversized line.
        if let Some(mut over) = self.oversize.take() {
            let data = &block.buf[..block.len];
            let end = memchr::memchr(b'\n', data);
            let part = &data[..end.unwrap_or(data.len())];
            keep_some(&mut over.kept, part);
            over.total += part.len() as u64;
            let consumed = end.map_or(data.len(), |p| p + 1);
            block.buf.copy_within(consumed..block.len, 0);
            block.len -= consumed;
            if end.is_some() {
                ctx.reject_oversized(over.total, &over.kept);
            } else {
                self.oversize = Some(over);
                return;
            }
        }

        if block.len < block.buf.len() {
            return;
        }
        if memchr::memrchr(b'\n', &block.buf[..block.len]).is_some() {
            self.ship(ctx);
            return;
        }

        // A full block without a newline: one line longer than any block.
        let mut kept = Vec::new();
        keep_some(&mut kept, &block.buf[..block.len]);
        self.oversize = Some(Oversize {
            kept,
            total: block.len as u64,
        });
        block.len = 0;
    }

    /// Sends the complete lines of the current block and carries the partial last line over
    /// into a fresh block. Returns false when the pipeline has gone away.
    pub(super) fn ship(&mut self, ctx: &SourceCtx) -> bool {
        let Some(block) = self.block.as_ref() else {
            return true;
        };
        let Some(last) = memchr::memrchr(b'\n', &block.buf[..block.len]) else {
            return true;
        };
        let Some(mut next) = ctx.acquire() else {
            return false;
        };
        let Some(mut full) = self.block.take() else {
            return false;
        };

        let tail = &full.buf[last + 1..full.len];
        next.buf[..tail.len()].copy_from_slice(tail);
        next.len = tail.len();
        full.len = last + 1;
        self.block = Some(next);
        ctx.ship(full)
    }

    /// End of stream: the last line may lack its newline; it is still an alert.
    pub(super) fn finish(&mut self, ctx: &SourceCtx) {
        if let Some(over) = self.oversize.take() {
            ctx.reject_oversized(over.total, &over.kept);
        }
        if let Some(block) = self.block.as_mut() {
            if block.len > 0 && block.buf[block.len - 1] != b'\n' {
                // The invariant guarantees room for one byte.
                block.buf[block.len] = b'\n';
                block.len += 1;
            }
        }
        self.ship(ctx);
        if let Some(block) = self.block.take() {
            ctx.ship(block);
        }
    }
}

/// Appends to `kept` up to the dead-letter cap.
fn keep_some(kept: &mut Vec<u8>, part: &[u8]) {
    let room = OVERSIZE_KEEP.saturating_sub(kept.len());
    kept.extend_from_slice(&part[..part.len().min(room)]);
}

/// Reads stdin to its end, or until a stop is requested.
pub(super) fn run_stdin(ctx: SourceCtx) {
    let mut stdin = io::stdin().lock();
    let mut asm = Assembler::new();
    loop {
        if ctx.stopping() {
            break;
        }
        if !super::wait_readable(libc::STDIN_FILENO, IDLE_POLL) {
            continue;
        }
        match asm.read_from(&ctx, &mut stdin) {
            Ok(Some(0)) | Ok(None) => break,
            Ok(Some(_)) => {
                if !asm.ship(&ctx) {
                    return;
                }
            }
            Err(e) => {
                eprintln!("otrelay: ERROR source {}: read failed: {e}", ctx.name);
                ctx.stats
                    .errors
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                break;
            }
        }
    }
    asm.finish(&ctx);
    let _ = ctx.out.send(IntakeEvent::Done(ctx.index));
}

// TODO: files are read with `read`, so the kernel copies every byte from the page cache into
// the blocks, the largest single cost of a fast run. Parsing from a memory map would avoid it,
// but needs a SIGBUS guard for a file truncated while mapped.

/// Reads a file to its end; with `follow`, keeps reading as it grows and reopens it when it is
/// rotated (a new inode at the path) or truncated.
pub(super) fn run_file(ctx: SourceCtx, mut file: File, path: PathBuf, follow: bool) {
    let mut asm = Assembler::new();
    let mut inode = file.metadata().map(|m| m.ino()).unwrap_or(0);
    let mut position: u64 = 0;

    loop {
        if ctx.stopping() {
            break;
        }
        match asm.read_from(&ctx, &mut file) {
            Ok(None) => break,
            Ok(Some(0)) if !follow => break,
            Ok(Some(0)) => {
                if !asm.ship(&ctx) {
                    break;
                }
                std::thread::sleep(IDLE_POLL);
                if let Some(reopened) = rotated(&path, inode, position) {
                    eprintln!(
                        "otrelay: source {}: file was rotated or truncated; reopening",
                        ctx.name
                    );
                    inode = reopened.metadata().map(|m| m.ino()).unwrap_or(0);
                    file = reopened;
                    position = 0;
                }
            }
            Ok(Some(n)) => {
                position += n as u64;
                if !asm.ship(&ctx) {
                    break;
                }
            }
            Err(e) => {
                eprintln!("otrelay: ERROR source {}: read failed: {e}", ctx.name);
                ctx.stats
                    .errors
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                break;
            }
        }
    }
    asm.finish(&ctx);
    let _ = ctx.out.send(IntakeEvent::Done(ctx.index));
}

/// Returns the file now at `path` when it is not the one being read, or when the one being read
/// shrank below what was already read.
fn rotated(path: &std::path::Path, inode: u64, position: u64) -> Option<File> {
    let meta = std::fs::metadata(path).ok()?;
    if meta.ino() != inode || meta.len() < position {
        return File::open(path).ok();
    }
    None
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    use super::*;
    use crate::intake::SourceStats;
    use crossbeam_channel::Receiver;

    fn ctx(block_size: usize, max_line: usize) -> (SourceCtx, Receiver<IntakeEvent>) {
        let (recycle, free) = crossbeam_channel::bounded(4);
        for _ in 0..4 {
            recycle.send(Block::with_capacity(0, block_size)).unwrap();
        }
        let (out, rx) = crossbeam_channel::unbounded();
        let ctx = SourceCtx {
            index: 0,
            name: "test".into(),
            max_line,
            lines: std::cell::Cell::new(0),
            free,
            recycle,
            out,
            stop: Arc::new(AtomicBool::new(false)),
            stats: Arc::new(SourceStats::default()),
        };
        (ctx, rx)
    }

    /// What the pipeline would see, in order: a line, or an oversized line's full length and
    /// kept bytes.
    #[derive(Debug, PartialEq)]
    enum Seen {
        Line(Vec<u8>),
        Oversized(u64, Vec<u8>),
    }

    /// Feeds `input` in reads of `step` bytes and collects what the pipeline would see.
    fn run(input: &[u8], step: usize, block: usize) -> Vec<Seen> {
        let (ctx, rx) = ctx(block, block - 1);
        let mut asm = Assembler::new();
        let mut seen = Vec::new();
        let mut reader = ChunkReader { data: input, step };
        let drain = |seen: &mut Vec<Seen>| {
            while let Ok(event) = rx.try_recv() {
                match event {
                    IntakeEvent::Block(b) => {
                        assert_eq!(b.lines().last(), Some(&b'\n'));
                        assert_eq!(b.first_line() as usize, seen.len() + 1);
                        let lines = b.lines().split_inclusive(|&c| c == b'\n');
                        seen.extend(lines.map(|l| Seen::Line(l.to_vec())));
                        ctx.recycle.send(b).unwrap();
                    }
                    IntakeEvent::Oversized {
                        len, kept, line, ..
                    } => {
                        assert_eq!(line as usize, seen.len() + 1);
                        seen.push(Seen::Oversized(len, kept));
                    }
                    IntakeEvent::Done(_) => {}
                }
            }
        };
        while asm.read_from(&ctx, &mut reader).unwrap() != Some(0) {
            assert!(asm.ship(&ctx));
            drain(&mut seen);
        }
        asm.finish(&ctx);
        drain(&mut seen);
        seen
    }

    struct ChunkReader<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for ChunkReader<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.data.len().min(self.step).min(buf.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn lines_survive_any_read_size() {
        let mut input = Vec::new();
        for i in 0..500 {
            input.extend_from_slice(format!("line {i} {}\n", "x".repeat(i % 37)).as_bytes());
        }
        input.extend_from_slice(b"last without newline");
        for step in [1, 7, 64, 1000, 1 << 20] {
            let seen = run(&input, step, 128);
            assert_eq!(seen.len(), 501, "step {step}");
            assert_eq!(seen[3], Seen::Line(b"line 3 xxx\n".to_vec()));
            assert_eq!(seen[500], Seen::Line(b"last without newline\n".to_vec()));
        }
    }

    #[test]
    fn oversized_line_goes_to_dead_letter_and_stream_goes_on() {
        let long = "y".repeat(1000);
        let input = format!("a\n{long}\nb\n{long}");
        for step in [3, 100, 5000] {
            let seen = run(input.as_bytes(), step, 128);
            let long = long.as_bytes().to_vec();
            let expected = vec![
                Seen::Line(b"a\n".to_vec()),
                Seen::Oversized(1000, long.clone()),
                Seen::Line(b"b\n".to_vec()),
                Seen::Oversized(1000, long.clone()),
            ];
            assert_eq!(seen, expected, "step {step}");
        }
    }
}
