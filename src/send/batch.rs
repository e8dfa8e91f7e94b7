//! `Batch`: a preallocated buffer of framed messages bound for one destination.
//!
//! The pipeline thread fills a batch (`begin`, append to `buf`, `finish`) and submits it; the
//! sender thread writes it and, once the bytes are delivered (UDP/stdout: written; TCP:
//! acknowledged past the replay overlap), clears it and returns it to the destination's free
//! pool. What must hold: the buffer and the end-offset table are allocated once, when the pool
//! is built, and never grow; `is_full` turns true before either could.

use super::framing::{self, Frame};

/// Messages are assumed to be at least this long when sizing the end-offset table, so a batch
/// of `batch_bytes` never needs more than `batch_bytes / MIN_MESSAGE_ESTIMATE` entries. Shorter
/// messages only make batches close earlier (`is_full` checks the table too).
const MIN_MESSAGE_ESTIMATE: usize = 32;

/// A reusable buffer of framed messages for one destination.
///
/// Layout: `buf` holds the frames back to back, exactly as they go on the wire (TCP, stdout) or
/// as the datagrams' payloads one after the other (UDP); `ends[i]` is the offset just past frame
/// `i`. Capacity is `batch_bytes + max_message + framing` and never changes.
#[derive(Debug)]
pub struct Batch {
    /// Index of the destination (position in the `Vec` given to `Sender::start`).
    dest: usize,
    /// How frames are delimited.
    frame: Frame,
    /// The frames; capacity fixed at construction.
    buf: Vec<u8>,
    /// Offset just past each frame; capacity fixed at construction.
    ends: Vec<u32>,
    /// Flush threshold.
    batch_bytes: usize,
    /// Longest message (without framing) the encoder may write.
    max_message: usize,
    /// TCP only, set by the sender thread: stream position just past this batch on the current
    /// connection, once it has been written.
    pub(crate) stream_end: u64,
}

impl Batch {
    /// Allocates an empty batch. Only the sender's pool calls this, at start-up.
    pub(crate) fn new(dest: usize, frame: Frame, batch_bytes: usize, max_message: usize) -> Batch {
        let capacity = batch_bytes + max_message + frame.overhead();
        Batch {
            dest,
            frame,
            buf: Vec::with_capacity(capacity),
            ends: Vec::with_capacity(batch_bytes / MIN_MESSAGE_ESTIMATE + 1),
            batch_bytes,
            max_message,
            stream_end: 0,
        }
    }

    /// Index of the destination this batch belongs to.
    pub fn dest(&self) -> usize {
        self.dest
    }

    /// Starts a message: reserves its framing room and returns where the message begins.
    ///
    /// The caller then appends one message (at most `max_message` bytes) to `buf()` and calls
    /// `finish` or `abandon` with the returned offset.
    pub fn begin(&mut self) -> usize {
        debug_assert!(!self.is_full(), "begin on a full batch");
        framing::begin(self.frame, &mut self.buf)
    }

    /// The buffer to append one message to, after `begin`.
    ///
    /// Only appending is allowed; bytes before the offset `begin` returned belong to earlier
    /// frames. The capacity leaves room for one message of `max_message` bytes.
    pub fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Completes the message begun at `start`: applies the framing and records its end.
    pub fn finish(&mut self, start: usize) {
        debug_assert!(start <= self.buf.len());
        debug_assert!(
            self.buf.len() - start <= self.max_message,
            "message longer than max_message"
        );
        framing::finish(self.frame, &mut self.buf, start);

        // The constructor checked that the capacity fits in u32 (see `Sender::start`).
        let end = self.buf.len() as u32;
        self.ends.push(end);
    }

    /// Drops the message begun at `start` (with its framing room).
    pub fn abandon(&mut self, start: usize) {
        let frame_start = start - self.frame.prefix_room();
        self.buf.truncate(frame_start);
    }

    /// True when the batch should be submitted: it reached `batch_bytes`, or one more message
    /// of `max_message` bytes or one more end offset would not fit without growing.
    pub fn is_full(&self) -> bool {
        self.buf.len() >= self.batch_bytes
            || self.buf.capacity() - self.buf.len() < self.max_message + self.frame.overhead()
            || self.ends.len() == self.ends.capacity()
    }

    /// Number of complete messages.
    pub fn messages(&self) -> usize {
        self.ends.len()
    }

    /// True when no message has been finished.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Bytes of all complete frames.
    pub fn len_bytes(&self) -> usize {
        self.ends.last().map_or(0, |&e| e as usize)
    }

    /// The complete frames, back to back, as they go on a stream.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf[..self.len_bytes()]
    }

    /// The frame `i` (a datagram payload for UDP).
    pub(crate) fn frame(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.buf[start..self.ends[i] as usize]
    }

    /// Bytes of frames `first..last` (`last` exclusive).
    pub(crate) fn span(&self, first: usize, last: usize) -> usize {
        if first >= last {
            return 0;
        }
        let start = if first == 0 {
            0
        } else {
            self.ends[first - 1] as usize
        };
        self.ends[last - 1] as usize - start
    }

    /// Index of the first frame that ends after byte `offset` of `bytes()`.
    pub(crate) fn first_frame_ending_after(&self, offset: usize) -> usize {
        self.ends.partition_point(|&e| (e as usize) <= offset)
    }

    /// Copies the messages (without framing) from frame `from` on into `out`; used only for the
    /// shutdown report.
    pub(crate) fn messages_from(&self, from: usize, out: &mut Vec<Vec<u8>>) {
        for i in from..self.ends.len() {
            out.push(framing::unframe(self.frame, self.frame(i)).to_vec());
        }
    }

    /// Drops every message, keeping both allocations (the sender does this before returning a
    /// batch to its pool; a caller may use it to discard a batch's contents).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.ends.clear();
        self.stream_end = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_until_full_without_growing() {
        let mut b = Batch::new(3, Frame::octet(200), 1000, 200);
        let (cap, ends_cap) = (b.buf.capacity(), b.ends.capacity());
        let mut n = 0;
        while !b.is_full() {
            let s = b.begin();
            b.buf().extend_from_slice(&[b'x'; 200]);
            b.finish(s);
            n += 1;
        }
        assert_eq!(b.dest(), 3);
        assert_eq!(b.messages(), n);
        assert!(b.len_bytes() >= 1000);
        assert_eq!((b.buf.capacity(), b.ends.capacity()), (cap, ends_cap));
        assert_eq!(b.frame(0), [&b"200 "[..], &[b'x'; 200][..]].concat());
    }

    #[test]
    fn tiny_messages_close_the_batch_on_the_end_table() {
        let mut b = Batch::new(0, Frame::Lf, 320, 10);
        let ends_cap = b.ends.capacity();
        while !b.is_full() {
            let s = b.begin();
            b.buf().push(b'a');
            b.finish(s);
        }
        assert_eq!(b.messages(), ends_cap);
        assert_eq!(b.ends.capacity(), ends_cap);
    }

    #[test]
    fn abandon_removes_the_begun_message() {
        let mut b = Batch::new(0, Frame::octet(1000), 4096, 1000);
        let s = b.begin();
        b.buf().extend_from_slice(b"keep");
        b.finish(s);
        let s = b.begin();
        b.buf().extend_from_slice(b"drop me");
        b.abandon(s);
        assert_eq!(b.bytes(), b"4 keep");
        assert_eq!(b.messages(), 1);
    }

    #[test]
    fn frames_and_offsets() {
        let mut b = Batch::new(0, Frame::Lf, 4096, 100);
        for m in [&b"a"[..], b"bb", b"ccc"] {
            let s = b.begin();
            b.buf().extend_from_slice(m);
            b.finish(s);
        }
        assert_eq!(b.bytes(), b"a\nbb\nccc\n");
        assert_eq!(b.first_frame_ending_after(0), 0);
        assert_eq!(b.first_frame_ending_after(2), 1);
        assert_eq!(b.first_frame_ending_after(9), 3);
        let mut out = Vec::new();
        b.messages_from(1, &mut out);
        assert_eq!(out, vec![b"bb".to_vec(), b"ccc".to_vec()]);
        b.clear();
        assert!(b.is_empty());
    }
}
