//! Message framing inside a batch buffer: LF trailers and RFC 6587 octet counting.
//!
//! Runs on the pipeline thread, inside `Batch::begin` and `Batch::finish`, once per message.
//! What must hold: no allocation (the batch buffer has room reserved for the prefix and the
//! trailer), and the framed message stays contiguous so a whole batch is one write.
//
// Octet counting (RFC 6587 §3.4.1) puts `MSG-LEN SP` in front of the message, with MSG-LEN in
// decimal and no leading zero. The length is only known once the encoder is done, so `begin`
// reserves room for the longest prefix the destination can need (digits of `max_message` plus the
// space) and `finish` writes the real prefix at the start of that room and moves the message
// left over the unused bytes. Moving a few
// hundred bytes with `copy_within` costs less than a second buffer, and the batch keeps one
// contiguous run of frames for the sender's single large write. When the prefix is exactly as
// long as the room (the common case for messages of the maximum digit count) nothing moves.
//
// LF framing (RFC 6587 §3.4.2, non-transparent framing) appends `\n`; the CEF encoder escapes
// every LF in field values, so a message never contains one. UDP (RFC 5426) sends one message per
// datagram and needs no framing at all.

/// How messages are delimited inside one batch; derived from the destination's transport and
/// `Framing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Frame {
    /// One message per datagram, nothing added (UDP).
    Datagram,
    /// Each message is followed by `\n` (TCP with LF framing, stdout).
    Lf,
    /// Each message is preceded by `MSG-LEN SP`; `room` bytes are reserved in front of it.
    Octet {
        /// Digits of the longest allowed message, plus one for the space.
        room: usize,
    },
}

impl Frame {
    /// The octet-counting frame for messages of at most `max_message` bytes.
    pub(crate) fn octet(max_message: usize) -> Frame {
        Frame::Octet {
            room: decimal_digits(max_message) + 1,
        }
    }

    /// Bytes reserved in front of each message.
    pub(crate) fn prefix_room(self) -> usize {
        match self {
            Frame::Octet { room } => room,
            Frame::Datagram | Frame::Lf => 0,
        }
    }

    /// Upper bound of the framing bytes one message adds (prefix room plus trailer).
    pub(crate) fn overhead(self) -> usize {
        match self {
            Frame::Octet { room } => room,
            Frame::Lf => 1,
            Frame::Datagram => 0,
        }
    }
}

/// Number of decimal digits of `n` (1 for 0).
pub(crate) fn decimal_digits(mut n: usize) -> usize {
    let mut digits = 1;
    while n >= 10 {
        n /= 10;
        digits += 1;
    }
    digits
}

/// Reserves the framing room for a message about to be appended; returns where it starts.
pub(crate) fn begin(frame: Frame, buf: &mut Vec<u8>) -> usize {
    let room = frame.prefix_room();

    // `resize` within the preallocated capacity does not allocate.
    let len = buf.len();
    buf.resize(len + room, b' ');
    len + room
}

/// Frames the message that occupies `buf[start..]`, leaving the frame contiguous with the ones
/// before it. `start` is the value `begin` returned.
pub(crate) fn finish(frame: Frame, buf: &mut Vec<u8>, start: usize) {
    match frame {
        Frame::Datagram => {}
        Frame::Lf => buf.push(b'\n'),
        Frame::Octet { room } => finish_octet(buf, start, room),
    }
}

/// Writes `MSG-LEN SP` in front of `buf[start..]` and closes the gap left by unused room.
fn finish_octet(buf: &mut Vec<u8>, start: usize, room: usize) {
    let msg_len = buf.len() - start;
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(msg_len).as_bytes();
    let prefix = digits.len() + 1;
    let frame_start = start - room;

    // A message longer than `max_message` breaks the encoder's contract; keep the output
    // correct anyway by widening the gap (this may reallocate, which only a bug can cause).
    if prefix > room {
        debug_assert!(
            false,
            "message of {msg_len} bytes exceeds the reserved prefix room"
        );
        let extra = prefix - room;
        let end = buf.len();
        buf.resize(end + extra, 0);
        buf.copy_within(start..end, start + extra);
        write_prefix(&mut buf[frame_start..frame_start + prefix], digits);
        return;
    }

    // Prefix at the front of the room, message moved left over the unused bytes.
    let body_at = frame_start + prefix;
    write_prefix(&mut buf[frame_start..body_at], digits);
    if body_at != start {
        let end = buf.len();
        buf.copy_within(start..end, body_at);
        buf.truncate(end - (start - body_at));
    }
}

/// Writes the digits followed by one space into `out` (exactly `digits.len() + 1` bytes).
fn write_prefix(out: &mut [u8], digits: &[u8]) {
    out[..digits.len()].copy_from_slice(digits);
    out[digits.len()] = b' ';
}

/// Returns the message inside one frame written by `finish` (used for the dead-letter report,
/// never on the hot path).
pub(crate) fn unframe(frame: Frame, framed: &[u8]) -> &[u8] {
    match frame {
        Frame::Datagram => framed,
        Frame::Lf => framed.strip_suffix(b"\n").unwrap_or(framed),
        Frame::Octet { .. } => match memchr::memchr(b' ', framed) {
            Some(space) => &framed[space + 1..],
            None => framed,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames each message in turn into one buffer, the way a batch does.
    fn frame_all(frame: Frame, messages: &[&[u8]]) -> Vec<u8> {
        let mut buf = Vec::with_capacity(1 << 16);
        for m in messages {
            let start = begin(frame, &mut buf);
            buf.extend_from_slice(m);
            finish(frame, &mut buf, start);
        }
        buf
    }

    /// Obvious oracle for octet counting: `format!` of the length.
    fn octet_oracle(messages: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for m in messages {
            out.extend_from_slice(format!("{} ", m.len()).as_bytes());
            out.extend_from_slice(m);
        }
        out
    }

    #[test]
    fn digits() {
        assert_eq!(decimal_digits(0), 1);
        assert_eq!(decimal_digits(9), 1);
        assert_eq!(decimal_digits(10), 2);
        assert_eq!(decimal_digits(65507), 5);
        assert_eq!(decimal_digits(100_000), 6);
    }

    #[test]
    fn lf_appends_one_newline_per_message() {
        let out = frame_all(Frame::Lf, &[b"<9>a b", b"", b"<9>c"]);
        assert_eq!(out, b"<9>a b\n\n<9>c\n");
    }

    #[test]
    fn datagram_adds_nothing() {
        let out = frame_all(Frame::Datagram, &[b"ab", b"cd"]);
        assert_eq!(out, b"abcd");
    }

    #[test]
    fn octet_counting_lengths_across_digit_boundaries() {
        let lens = [0usize, 1, 9, 10, 99, 100, 999, 1000, 9999, 10000, 65507];
        let bodies: Vec<Vec<u8>> = lens
            .iter()
            .map(|&n| {
                (0..n)
                    .map(|i| {
                        if i % 7 == 3 {
                            b' '
                        } else {
                            b'a' + (i % 26) as u8
                        }
                    })
                    .collect()
            })
            .collect();
        let refs: Vec<&[u8]> = bodies.iter().map(|b| b.as_slice()).collect();
        let out = frame_all(Frame::octet(65507), &refs);
        assert_eq!(out, octet_oracle(&refs));
    }

    #[test]
    fn octet_prefix_has_no_leading_zero_when_room_is_wide() {
        // Room for 6 digits, message of 3 bytes: prefix must be "3 ", not "000003 ".
        let out = frame_all(Frame::octet(100_000), &[b"x y"]);
        assert_eq!(out, b"3 x y");
    }

    #[test]
    fn octet_message_filling_the_room_does_not_move() {
        let body = vec![b'z'; 99];
        let out = frame_all(Frame::octet(99), &[&body]);
        assert_eq!(&out[..3], b"99 ");
        assert_eq!(&out[3..], &body[..]);
    }

    #[test]
    fn unframe_recovers_the_message() {
        let f = Frame::octet(1000);
        let out = frame_all(f, &[b"12 34"]);
        assert_eq!(unframe(f, &out), b"12 34");
        assert_eq!(unframe(Frame::Lf, b"abc\n"), b"abc");
        assert_eq!(unframe(Frame::Datagram, b"abc"), b"abc");
    }

    proptest::proptest! {
        #[test]
        fn octet_matches_oracle(msgs in proptest::collection::vec(
            proptest::collection::vec(proptest::num::u8::ANY, 0..300), 0..20)) {
            let refs: Vec<&[u8]> = msgs.iter().map(|m| m.as_slice()).collect();
            proptest::prop_assert_eq!(frame_all(Frame::octet(300), &refs), octet_oracle(&refs));
        }

        #[test]
        fn lf_matches_oracle(msgs in proptest::collection::vec("[^\n]{0,80}", 0..20)) {
            let refs: Vec<&[u8]> = msgs.iter().map(|m| m.as_bytes()).collect();
            let mut want = Vec::new();
            for m in &refs {
                want.extend_from_slice(m);
                want.push(b'\n');
            }
            proptest::prop_assert_eq!(frame_all(Frame::Lf, &refs), want);
        }
    }
}
