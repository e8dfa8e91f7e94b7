//! Escaping into a bounded output buffer: CEF, and the value rules of the LEEF, text and object
//! formats.
//!
//! Pipeline position: called by the encoders on the pipeline thread, once per field of every
//! alert. Nothing here allocates: bytes go straight into the caller's batch buffer, and a
//! [`BoundedWriter`] never lets the buffer grow past the message limit it was given, so a batch
//! buffer sized for the limit is never reallocated.
//!
//! What must hold for the output (spec §5.1):
//! - header fields: `\` → `\\`, `|` → `\|`, CR and LF → space;
//! - extension values: `\` → `\\`, `=` → `\=`, LF → `\n`, CR → `\r`;
//! - everywhere: every other control character (C0, DEL, C1 U+0080–U+009F) → one space, so no raw
//!   control byte reaches the wire and no field or syslog message can be injected;
//! - a cut happens on a UTF-8 character boundary and never splits an escape sequence, so the
//!   output never ends in a dangling `\`.
//!
//! The other formats get their value rules from [`Rules`], built once when their encoder is
//! built: LEEF values ([`Rules::leef_value`]), labelled text values ([`Rules::labelled`]) and
//! JSON strings ([`Rules::json`]). [`Pairs`] writes the separator, key and value of one field and
//! takes a field back when its value did not fit at all.

// How the scan works
//
// Most field text needs no escaping at all, so the scan is built to skip plain text quickly and
// copy it with one `append`. The candidate bytes are: below 0x20, a backslash, the rules'
// separator byte (`|` or `=` in CEF, the LEEF delimiter, the key of a text separator, `"` in
// JSON), DEL, and 0xC2 (the lead byte of every C1 control in UTF-8). On x86_64, text of 16 bytes
// or more is compared 16 bytes at a time with SSE2 (the last partial block as the final 16
// bytes), which yields the exact position of the next candidate. Shorter text, and everything
// on other targets, is read eight bytes at a time, asking with word-at-a-time bit tricks whether
// the word holds a candidate, and only such a word is looked at byte by byte. Every candidate is
// confirmed through a 256-entry action table, the one definition of what to do with each byte.
// 0xC2 also leads ordinary characters such as `©` or `°`; those cost a table lookup and are
// copied. A backslash is a candidate even where the table copies it (LEEF values); it then costs
// a table lookup too.
//
// JSON escapes are decoded on the fly with `RawStr::chunks`: text runs go through the scan, and
// each decoded character is re-encoded into a 4-byte stack buffer and scanned the same way.

use crate::alert::{Chunk, RawStr};

/// The writer reached its limit and stopped; what was written so far is a clean prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Full;

impl std::fmt::Display for Full {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("message limit reached")
    }
}

impl std::error::Error for Full {}

/// Which CEF escaping rules apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// A header field (`Device Vendor` … `Name`).
    Header,
    /// An extension value (the right-hand side of `key=`).
    Extension,
}

/// Copy the byte.
const COPY: u8 = 0;
/// Write one space instead.
const SPACE: u8 = 1;
/// Write a backslash, then the byte.
const BACKSLASH: u8 = 2;
/// Write `\n`.
const NEWLINE: u8 = 3;
/// Write `\r`.
const RETURN: u8 = 4;
/// 0xC2: a C1 control follows when the next byte is 0x80..=0x9F; it becomes one space.
const C1_LEAD: u8 = 5;
/// Write `\t`.
const TAB: u8 = 6;
/// Write `\u00XX` with the byte in hex (JSON).
const HEX: u8 = 7;
/// 0xC2 in JSON: a following C1 control becomes `\u00XX`.
const C1_HEX: u8 = 8;

/// Builds the action table for one field kind at compile time.
const fn table(field: Field) -> [u8; 256] {
    let mut t = [COPY; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = SPACE;
        b += 1;
    }
    t[0x7F] = SPACE;
    t[0xC2] = C1_LEAD;
    t[b'\\' as usize] = BACKSLASH;
    match field {
        Field::Header => t[b'|' as usize] = BACKSLASH,
        Field::Extension => {
            t[b'=' as usize] = BACKSLASH;
            t[b'\n' as usize] = NEWLINE;
            t[b'\r' as usize] = RETURN;
        }
    }
    t
}

static HEADER_RULES: Rules = Rules {
    table: table(Field::Header),
    sep: b'|',
};
static EXTENSION_RULES: Rules = Rules {
    table: table(Field::Extension),
    sep: b'=',
};
static JSON_RULES: Rules = Rules::json_rules();

/// How the values of one format are escaped: an action per byte value, and the one byte beyond
/// the common set (controls, `\`, DEL, 0xC2) that the fast scan must stop at.
///
/// Invariant, relied on by the fast scan: every byte whose action is not a plain copy is below
/// 0x20, `\`, DEL, 0xC2 or `sep`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rules {
    table: [u8; 256],
    sep: u8,
}

impl Rules {
    /// LEEF attribute values: the delimiter and every control character (TAB, CR and LF
    /// included) become one space; nothing is backslash-escaped, because LEEF receivers do not
    /// unescape attribute values.
    ///
    /// # Panics
    ///
    /// If `delimiter` is not ASCII (a delimiter inside a UTF-8 sequence could not be replaced
    /// without breaking the character); options are validated before this is called.
    pub fn leef_value(delimiter: u8) -> Rules {
        assert!(delimiter.is_ascii(), "LEEF delimiter must be ASCII");
        let mut table = controls_to_spaces();
        table[usize::from(delimiter)] = SPACE;
        Rules {
            table,
            sep: delimiter,
        }
    }

    /// Values of `Label: value` text: `\` → `\\`, `key` → `\key`, LF → `\n`, CR → `\r`,
    /// TAB → `\t`, every other control character → one space.
    ///
    /// `key` is the first non-space byte of the pair separator; escaping it is enough to keep
    /// the whole separator out of every value (see `text.rs`).
    ///
    /// # Panics
    ///
    /// If `key` is not ASCII punctuation or is `\`; options are validated before this is
    /// called.
    pub fn labelled(key: u8) -> Rules {
        assert!(
            key.is_ascii_punctuation() && key != b'\\',
            "separator key must be ASCII punctuation other than a backslash"
        );
        let mut table = controls_to_spaces();
        table[usize::from(b'\\')] = BACKSLASH;
        table[usize::from(key)] = BACKSLASH;
        table[usize::from(b'\n')] = NEWLINE;
        table[usize::from(b'\r')] = RETURN;
        table[usize::from(b'\t')] = TAB;
        Rules { table, sep: key }
    }

    /// The contents of a JSON string (RFC 8259): `"` and `\` are backslash-escaped, LF, CR and
    /// TAB become `\n`, `\r`, `\t`, and every other control character (C0, DEL, C1) becomes
    /// `\u00XX`, so a JSON reader gets every character back and no raw control byte is written.
    pub fn json() -> &'static Rules {
        &JSON_RULES
    }

    const fn json_rules() -> Rules {
        let mut table = [COPY; 256];
        let mut b = 0;
        while b < 0x20 {
            table[b] = HEX;
            b += 1;
        }
        table[0x7F] = HEX;
        table[0xC2] = C1_HEX;
        table[b'"' as usize] = BACKSLASH;
        table[b'\\' as usize] = BACKSLASH;
        table[b'\n' as usize] = NEWLINE;
        table[b'\r' as usize] = RETURN;
        table[b'\t' as usize] = TAB;
        Rules { table, sep: b'"' }
    }

    /// The rules CEF uses for `field`.
    pub fn cef(field: Field) -> &'static Rules {
        match field {
            Field::Header => &HEADER_RULES,
            Field::Extension => &EXTENSION_RULES,
        }
    }
}

/// A table that copies everything but control characters (C0, DEL, C1), which become spaces.
fn controls_to_spaces() -> [u8; 256] {
    let mut t = [COPY; 256];
    t[..0x20].fill(SPACE);
    t[0x7F] = SPACE;
    t[0xC2] = C1_LEAD;
    t
}

/// Runs `write` on a [`BoundedWriter`] over `out` limited to `limit` bytes, and says whether
/// it had to cut: the common shape of every encoder's `encode`.
pub fn bounded(
    out: &mut Vec<u8>,
    limit: usize,
    write: impl FnOnce(&mut BoundedWriter<'_>) -> Result<(), Full>,
) -> super::Encoded {
    let mut w = BoundedWriter::new(out, limit);
    match write(&mut w) {
        Ok(()) => super::Encoded::Complete,
        Err(Full) => super::Encoded::Truncated,
    }
}

/// Appends to a `Vec<u8>` without ever letting it grow past a fixed end.
///
/// Every method either writes everything it was given or writes a clean prefix and returns
/// [`Full`]; once `Full` has been returned the caller stops writing fields.
pub struct BoundedWriter<'o> {
    out: &'o mut Vec<u8>,
    end: usize,
}

impl<'o> BoundedWriter<'o> {
    /// Writes after the current contents of `out`, at most `limit` bytes.
    pub fn new(out: &'o mut Vec<u8>, limit: usize) -> BoundedWriter<'o> {
        let end = out.len().saturating_add(limit);
        BoundedWriter { out, end }
    }

    /// Current length of the underlying buffer.
    pub fn len(&self) -> usize {
        self.out.len()
    }

    /// Whether nothing at all has been written to the underlying buffer.
    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }

    /// How many more bytes may be written.
    pub fn room(&self) -> usize {
        self.end.saturating_sub(self.out.len())
    }

    /// The absolute end position.
    pub fn end(&self) -> usize {
        self.end
    }

    /// Moves the end; used to keep room for bytes that must follow a field.
    pub fn set_end(&mut self, end: usize) {
        self.end = end;
    }

    /// Drops everything written after `len` (used to take back a key whose value did not fit).
    pub fn rollback(&mut self, len: usize) {
        self.out.truncate(len);
    }

    /// Gives the buffer to a writer of exactly `n` bytes, if `n` bytes fit.
    pub fn reserve(&mut self, n: usize) -> Result<&mut Vec<u8>, Full> {
        if n <= self.room() {
            Ok(self.out)
        } else {
            Err(Full)
        }
    }

    /// Writes `bytes` entirely or not at all (keys, numbers, fixed-format values).
    pub fn whole(&mut self, bytes: &[u8]) -> Result<(), Full> {
        if bytes.len() <= self.room() {
            append(self.out, bytes);
            Ok(())
        } else {
            Err(Full)
        }
    }

    /// Writes text that is already escaped, cutting it cleanly if it does not fit.
    pub fn escaped(&mut self, bytes: &[u8]) -> Result<(), Full> {
        let room = self.room();
        if bytes.len() <= room {
            append(self.out, bytes);
            return Ok(());
        }

        // An odd run of backslashes before the cut means the last one opens an escape whose
        // second byte was cut off; drop it too.
        let mut cut = floor_char_boundary(bytes, room);
        let slashes = bytes[..cut]
            .iter()
            .rev()
            .take_while(|&&b| b == b'\\')
            .count();
        if slashes % 2 == 1 {
            cut -= 1;
        }
        self.out.extend_from_slice(&bytes[..cut]);
        Err(Full)
    }

    /// Escapes a decoded string for `field`.
    pub fn text(&mut self, field: Field, s: &str) -> Result<(), Full> {
        self.text_with(Rules::cef(field), s)
    }

    /// Decodes the JSON escapes of `s` and escapes the result for `field`, in one pass.
    pub fn raw(&mut self, field: Field, s: RawStr<'_>) -> Result<(), Full> {
        self.raw_with(Rules::cef(field), s)
    }

    /// Escapes a decoded string by `rules`.
    pub fn text_with(&mut self, rules: &Rules, s: &str) -> Result<(), Full> {
        self.scan(rules, s.as_bytes())
    }

    /// Decodes the JSON escapes of `s` and escapes the result by `rules`, in one pass.
    pub fn raw_with(&mut self, rules: &Rules, s: RawStr<'_>) -> Result<(), Full> {
        if !s.is_escaped() {
            return self.scan(rules, s.raw());
        }

        let mut buf = [0u8; 4];
        for chunk in s.chunks() {
            match chunk {
                Chunk::Text(t) => self.scan(rules, t.as_bytes())?,
                Chunk::Char(c) => self.scan(rules, c.encode_utf8(&mut buf).as_bytes())?,
            }
        }
        Ok(())
    }

    /// Copies plain runs and rewrites special bytes according to `rules`.
    fn scan(&mut self, rules: &Rules, mut rest: &[u8]) -> Result<(), Full> {
        let (table, sep) = (&rules.table, rules.sep);
        loop {
            let plain = find_special(table, sep, rest);
            self.run(&rest[..plain])?;
            let Some(&b) = rest.get(plain) else {
                return Ok(());
            };
            rest = &rest[plain + 1..];

            match table[usize::from(b)] {
                SPACE => self.whole(b" ")?,
                BACKSLASH => self.whole(&[b'\\', b])?,
                NEWLINE => self.whole(b"\\n")?,
                RETURN => self.whole(b"\\r")?,
                TAB => self.whole(b"\\t")?,
                HEX => self.whole(&hex_escape(b))?,
                C1_HEX => match rest.first() {
                    // The code point of a C1 control equals its continuation byte.
                    Some(&next) if (0x80..=0x9F).contains(&next) => {
                        self.whole(&hex_escape(next))?;
                        rest = &rest[1..];
                    }
                    Some(&next) if (0xA0..=0xBF).contains(&next) => {
                        self.whole(&[b, next])?;
                        rest = &rest[1..];
                    }
                    _ => self.whole(b"\\ufffd")?,
                },
                _ => {
                    // 0xC2: either a C1 control (one space) or an ordinary two-byte character.
                    // Anything else would be broken UTF-8, which the field invariants exclude;
                    // it still becomes a space rather than reaching the wire.
                    match rest.first() {
                        Some(&next) if (0x80..=0x9F).contains(&next) => {
                            self.whole(b" ")?;
                            rest = &rest[1..];
                        }
                        Some(&next) if (0xA0..=0xBF).contains(&next) => {
                            self.whole(&[b, next])?;
                            rest = &rest[1..];
                        }
                        _ => self.whole(b" ")?,
                    }
                }
            }
        }
    }

    /// Copies a run of valid UTF-8 that needs no escaping, cut on a character boundary.
    fn run(&mut self, run: &[u8]) -> Result<(), Full> {
        let room = self.room();
        if run.len() <= room {
            append(self.out, run);
            return Ok(());
        }
        let cut = floor_char_boundary(run, room);
        self.out.extend_from_slice(&run[..cut]);
        Err(Full)
    }
}

/// Appends `bytes` to `out`, like `extend_from_slice`, but copies short slices inline.
///
/// Most of what an encoder writes is short (keys, addresses, severity words, runs between two
/// escapes), and `extend_from_slice` hands every one of them to the C library's `memmove`; the
/// call and its size dispatch were 3.6 % of the pipeline thread under `perf record`. Up to 32
/// bytes are copied here as two possibly overlapping loads and stores of a fixed size.
#[inline(always)]
pub fn append(out: &mut Vec<u8>, bytes: &[u8]) {
    let n = bytes.len();
    if n > 32 {
        out.extend_from_slice(bytes);
        return;
    }
    out.reserve(n);
    let len = out.len();
    let src = bytes.as_ptr();
    // SAFETY: `reserve` made room for `n` more bytes after `len`, so every store below lands in
    // `out`'s allocation within `len..len + n`; every load reads within `bytes[..n]`, because
    // each pair of fixed-size copies starts at 0 and at `n - size`, with `size <= n`. Source
    // and destination are different allocations (`bytes` cannot borrow `out` mutably borrowed).
    // After the copies `len..len + n` is initialised, so the new length is valid.
    unsafe {
        let dst = out.as_mut_ptr().add(len);
        if n >= 16 {
            let head = std::ptr::read_unaligned(src.cast::<[u8; 16]>());
            let tail = std::ptr::read_unaligned(src.add(n - 16).cast::<[u8; 16]>());
            std::ptr::write_unaligned(dst.cast::<[u8; 16]>(), head);
            std::ptr::write_unaligned(dst.add(n - 16).cast::<[u8; 16]>(), tail);
        } else if n >= 8 {
            let head = std::ptr::read_unaligned(src.cast::<u64>());
            let tail = std::ptr::read_unaligned(src.add(n - 8).cast::<u64>());
            std::ptr::write_unaligned(dst.cast::<u64>(), head);
            std::ptr::write_unaligned(dst.add(n - 8).cast::<u64>(), tail);
        } else if n >= 4 {
            let head = std::ptr::read_unaligned(src.cast::<u32>());
            let tail = std::ptr::read_unaligned(src.add(n - 4).cast::<u32>());
            std::ptr::write_unaligned(dst.cast::<u32>(), head);
            std::ptr::write_unaligned(dst.add(n - 4).cast::<u32>(), tail);
        } else {
            for i in 0..n {
                *dst.add(i) = *src.add(i);
            }
        }
        out.set_len(len + n);
    }
}

/// Writes the fields of a message body as `separator key value close`, the first without its
/// separator, taking a field back when not one byte of its value fit.
///
/// `key` is everything before the value (`cat=`, `Alert group: `, `"alert_group":"`) and
/// `close` everything after it (`"` for JSON, else nothing). Room for `close` is kept while the
/// value is written, so a cut value is still closed.
pub struct Pairs<'s> {
    /// Buffer position where the first field starts.
    start: usize,
    separator: &'s [u8],
}

impl<'s> Pairs<'s> {
    /// Fields start at `start` (the current length of the buffer, after any header) and are
    /// separated by `separator`.
    pub fn new(start: usize, separator: &'s [u8]) -> Pairs<'s> {
        Pairs { start, separator }
    }

    /// The separator as it must be written at the current position.
    fn lead(&self, w: &BoundedWriter<'_>) -> &'s [u8] {
        if w.len() == self.start {
            &[]
        } else {
            self.separator
        }
    }

    /// A decoded-on-the-fly alert value escaped by `rules`, cut cleanly if it does not fit.
    pub fn raw(
        &self,
        w: &mut BoundedWriter<'_>,
        key: &[u8],
        rules: &Rules,
        value: RawStr<'_>,
        close: &[u8],
    ) -> Result<(), Full> {
        self.cut(w, key, close, |w| w.raw_with(rules, value))
    }

    /// A configured string escaped by `rules` per message, cut cleanly if it does not fit; for
    /// values whose escapes are longer than two bytes, where [`BoundedWriter::escaped`] could
    /// not cut a prepared copy.
    pub fn text(
        &self,
        w: &mut BoundedWriter<'_>,
        key: &[u8],
        rules: &Rules,
        value: &str,
        close: &[u8],
    ) -> Result<(), Full> {
        self.cut(w, key, close, |w| w.text_with(rules, value))
    }

    /// A value escaped at start-up with two-byte escapes only, cut cleanly if it does not fit.
    pub fn escaped(
        &self,
        w: &mut BoundedWriter<'_>,
        key: &[u8],
        value: &[u8],
        close: &[u8],
    ) -> Result<(), Full> {
        self.cut(w, key, close, |w| w.escaped(value))
    }

    /// A structured value that needs no escaping (time, address, number, fixed word), written
    /// whole with its key or not at all.
    pub fn whole(
        &self,
        w: &mut BoundedWriter<'_>,
        key: &[u8],
        value: &[u8],
        close: &[u8],
    ) -> Result<(), Full> {
        self.whole_with(w, key, value.len(), close, |out| {
            out.extend_from_slice(value)
        })
    }

    /// Like [`Pairs::whole`], for a value of exactly `len` bytes that `write` appends.
    pub fn whole_with(
        &self,
        w: &mut BoundedWriter<'_>,
        key: &[u8],
        len: usize,
        close: &[u8],
        write: impl FnOnce(&mut Vec<u8>),
    ) -> Result<(), Full> {
        let lead = self.lead(w);
        let out = w.reserve(lead.len() + key.len() + len + close.len())?;
        out.extend_from_slice(lead);
        out.extend_from_slice(key);
        write(out);
        out.extend_from_slice(close);
        Ok(())
    }

    /// Writes separator and key whole, then the value by `value`, keeping room for `close`.
    fn cut(
        &self,
        w: &mut BoundedWriter<'_>,
        key: &[u8],
        close: &[u8],
        value: impl FnOnce(&mut BoundedWriter<'_>) -> Result<(), Full>,
    ) -> Result<(), Full> {
        let lead = self.lead(w);
        let mark = w.len();
        let end = w.end();
        w.set_end(end.saturating_sub(close.len()));

        let written = w.reserve(lead.len() + key.len()).map(|out| {
            out.extend_from_slice(lead);
            out.extend_from_slice(key);
        });
        let written = written.and_then(|()| value(w));
        w.set_end(end);

        // A field with no byte of its value would read as an empty value: take it back.
        if written.is_err() && w.len() <= mark + lead.len() + key.len() {
            w.rollback(mark);
            return written;
        }
        // The room kept above guarantees that `close` fits.
        w.whole(close)?;
        written
    }
}

/// `\u00XX` for a byte below 0x100 (JSON's escape for a control character).
fn hex_escape(b: u8) -> [u8; 6] {
    const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";
    [
        b'\\',
        b'u',
        b'0',
        b'0',
        HEX_DIGITS[usize::from(b >> 4)],
        HEX_DIGITS[usize::from(b & 0xF)],
    ]
}

/// The largest position `<= at` that does not fall inside a UTF-8 sequence of `bytes`.
fn floor_char_boundary(bytes: &[u8], at: usize) -> usize {
    let mut at = at.min(bytes.len());
    while at > 0 && at < bytes.len() && bytes[at] & 0xC0 == 0x80 {
        at -= 1;
    }
    at
}

const LOW: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// Whether some byte of `w` is below 0x20 (exact for "is there any", since 0x20 <= 0x80).
#[inline]
fn has_below_space(w: u64) -> bool {
    w.wrapping_sub(LOW * 0x20) & !w & HIGH != 0
}

/// Whether some byte of `w` may equal `b` (exact for "is there any").
#[inline]
fn has_byte(w: u64, b: u8) -> bool {
    let x = w ^ (LOW * u64::from(b));
    x.wrapping_sub(LOW) & !x & HIGH != 0
}

/// Position of the first byte of `bytes` whose table action is not [`COPY`], or `bytes.len()`.
///
/// `sep` is the rules' separator byte, the one special byte that differs between rule sets.
fn find_special(table: &[u8; 256], sep: u8, bytes: &[u8]) -> usize {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    {
        if bytes.len() >= 16 {
            // The vector scan finds candidates; the table, the one definition of what is
            // special, confirms them (a backslash is a candidate even where it is copied).
            let mut from = 0;
            loop {
                // SAFETY: the cfg above says this build targets CPUs with SSE2, which every
                // x86_64 CPU has; `next_candidate` needs nothing else.
                let at = unsafe { sse2::next_candidate(sep, bytes, from) };
                match bytes.get(at) {
                    Some(&b) if table[usize::from(b)] == COPY => from = at + 1,
                    _ => return at,
                }
            }
        }
    }
    find_special_swar(table, sep, bytes)
}

/// Word-at-a-time version of [`find_special`], for text shorter than 16 bytes and for targets
/// without SSE2.
fn find_special_swar(table: &[u8; 256], sep: u8, bytes: &[u8]) -> usize {
    let mut words = bytes.chunks_exact(8);
    let mut at = 0;
    for word in &mut words {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        let w = u64::from_le_bytes(w);
        let maybe = has_below_space(w)
            || has_byte(w, b'\\')
            || has_byte(w, sep)
            || has_byte(w, 0x7F)
            || has_byte(w, 0xC2);
        if maybe {
            if let Some(i) = word.iter().position(|&b| table[usize::from(b)] != COPY) {
                return at + i;
            }
        }
        at += 8;
    }

    let tail = words.remainder();
    match tail.iter().position(|&b| table[usize::from(b)] != COPY) {
        Some(i) => at + i,
        None => bytes.len(),
    }
}

/// Sixteen bytes at a time with SSE2, which every x86_64 CPU has. On the spec alerts this
/// scan took a third of the encode time in its word-at-a-time form (`benches/encode.rs`).
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
mod sse2 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };

    /// Offset of the first candidate byte at or after `from` (a control, `\\`, `sep`, DEL or
    /// 0xC2), or `bytes.len()` when there is none. `bytes` must be at least 16 bytes long: the
    /// last partial block is read as the final 16 bytes, ignoring those seen already.
    #[target_feature(enable = "sse2")]
    pub(super) fn next_candidate(sep: u8, bytes: &[u8], from: usize) -> usize {
        debug_assert!(bytes.len() >= 16);
        let mut at = from;
        while at + 16 <= bytes.len() {
            let mask = candidates(sep, bytes, at);
            if mask != 0 {
                return at + mask.trailing_zeros() as usize;
            }
            at += 16;
        }
        if at < bytes.len() {
            let last = bytes.len() - 16;
            let mask = candidates(sep, bytes, last) >> (at - last);
            if mask != 0 {
                return at + mask.trailing_zeros() as usize;
            }
        }
        bytes.len()
    }

    /// Bit `k` is set when `bytes[at + k]` is a candidate, for `k` in `0..16`.
    #[target_feature(enable = "sse2")]
    fn candidates(sep: u8, bytes: &[u8], at: usize) -> u32 {
        let block = &bytes[at..at + 16];
        // SAFETY: `block` is 16 readable bytes and `_mm_loadu_si128` accepts any alignment.
        let v = unsafe { _mm_loadu_si128(block.as_ptr().cast::<__m128i>()) };
        // Unsigned `v <= 0x1F` is `min(v, 0x1F) == v`.
        let control = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1F)), v);
        let escaped = _mm_or_si128(
            _mm_cmpeq_epi8(v, splat(b'\\')),
            _mm_cmpeq_epi8(v, splat(sep)),
        );
        let odd = _mm_or_si128(
            _mm_cmpeq_epi8(v, splat(0x7F)),
            _mm_cmpeq_epi8(v, splat(0xC2)),
        );
        let any = _mm_or_si128(control, _mm_or_si128(escaped, odd));
        _mm_movemask_epi8(any) as u32
    }

    #[target_feature(enable = "sse2")]
    fn splat(b: u8) -> __m128i {
        _mm_set1_epi8(i8::from_ne_bytes([b]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esc(field: Field, s: &str) -> String {
        let mut out = Vec::new();
        let mut w = BoundedWriter::new(&mut out, usize::MAX);
        assert_eq!(w.text(field, s), Ok(()));
        String::from_utf8(out).expect("escaped output is UTF-8")
    }

    fn esc_raw(field: Field, raw: &str, limit: usize) -> (String, Result<(), Full>) {
        let mut out = Vec::new();
        let mut w = BoundedWriter::new(&mut out, limit);
        let r = w.raw(field, RawStr::new(raw.as_bytes(), raw.contains('\\')));
        (String::from_utf8(out).expect("escaped output is UTF-8"), r)
    }

    #[test]
    fn append_copies_every_length_exactly() {
        let src: Vec<u8> = (0..80u8).collect();
        for start in 0..3 {
            for n in 0..=70 {
                let mut out = b"abc".to_vec();
                out.shrink_to_fit();
                append(&mut out, &src[start..start + n]);
                assert_eq!(&out[..3], b"abc");
                assert_eq!(&out[3..], &src[start..start + n], "n {n}");
            }
        }
    }

    #[test]
    fn header_rules() {
        assert_eq!(esc(Field::Header, r"a|b\c=d"), r"a\|b\\c=d");
        assert_eq!(esc(Field::Header, "l1\r\nl2\tx"), "l1  l2 x");
    }

    #[test]
    fn extension_rules() {
        assert_eq!(esc(Field::Extension, r"a|b\c=d"), r"a|b\\c\=d");
        assert_eq!(esc(Field::Extension, "l1\r\nl2\tx"), r"l1\r\nl2 x");
    }

    #[test]
    fn control_characters_become_spaces() {
        let s = "a\u{0}b\u{1b}c\u{7f}d\u{80}e\u{9f}f\u{a0}g©h";
        assert_eq!(esc(Field::Extension, s), "a b c d e f\u{a0}g©h");
        // Long enough to go through the word-at-a-time path.
        let long = "0123456789abcdef\u{85}0123456789abcdef|=\\";
        assert_eq!(
            esc(Field::Header, long),
            "0123456789abcdef 0123456789abcdef\\|=\\\\"
        );
    }

    #[test]
    fn json_escapes_are_decoded_then_escaped() {
        let (s, r) = esc_raw(Field::Extension, r"a\nb\\c\u003dd\u0007\ud83d\ude00", 100);
        assert_eq!(r, Ok(()));
        assert_eq!(s, "a\\nb\\\\c\\=d \u{1F600}");
    }

    #[test]
    fn cut_never_splits_an_escape_or_a_character() {
        // `é` is two bytes; a limit of 2 leaves room for `a` only.
        let (s, r) = esc_raw(Field::Extension, "aé", 2);
        assert_eq!((s.as_str(), r), ("a", Err(Full)));
        // `\n` needs two bytes; a limit of 2 leaves room for `a` only.
        let (s, r) = esc_raw(Field::Extension, r"a\nb", 2);
        assert_eq!((s.as_str(), r), ("a", Err(Full)));
    }

    #[test]
    fn pre_escaped_text_is_cut_before_a_dangling_backslash() {
        let mut out = Vec::new();
        let mut w = BoundedWriter::new(&mut out, 4);
        assert_eq!(w.escaped(br"ab\|cd"), Err(Full));
        assert_eq!(out, b"ab\\|");
        let mut out = Vec::new();
        let mut w = BoundedWriter::new(&mut out, 3);
        assert_eq!(w.escaped(br"ab\|cd"), Err(Full));
        assert_eq!(out, b"ab");
    }

    #[test]
    fn fast_scans_agree_with_the_table() {
        // Every byte value at every position of a 40-byte plain run, for both tables.
        let rules = [
            Rules::cef(Field::Header).clone(),
            Rules::cef(Field::Extension).clone(),
            Rules::json().clone(),
            Rules::leef_value(b'\t'),
            Rules::leef_value(b'^'),
            Rules::labelled(b','),
            Rules::labelled(b'#'),
        ];
        for Rules { table, sep } in &rules {
            let (table, sep) = (table, *sep);
            for special in 0..=255u8 {
                for pos in 0..40 {
                    let mut bytes = [b'a'; 40];
                    bytes[pos] = special;
                    let naive = bytes
                        .iter()
                        .position(|&b| table[usize::from(b)] != COPY)
                        .unwrap_or(bytes.len());
                    assert_eq!(find_special(table, sep, &bytes), naive);
                    assert_eq!(find_special_swar(table, sep, &bytes), naive);
                }
            }
        }
    }

    #[test]
    fn fast_scan_passes_candidates_the_table_copies() {
        // A copied candidate (a backslash in LEEF, 0xC2 everywhere) before a real special byte,
        // at every pair of positions of runs around the 16-byte block size.
        let rules = [
            Rules::leef_value(b'^'),
            Rules::cef(Field::Extension).clone(),
        ];
        for Rules { table, sep } in &rules {
            for len in [16, 17, 23, 31, 32, 33, 47] {
                for first in 0..len {
                    for second in first..len {
                        for special in [0x7F, 0xC2] {
                            let mut bytes = vec![b'a'; len];
                            bytes[first] = b'\\';
                            bytes[second] = special;
                            let naive = bytes
                                .iter()
                                .position(|&b| table[usize::from(b)] != COPY)
                                .unwrap_or(bytes.len());
                            let got = find_special(table, *sep, &bytes);
                            assert_eq!(got, naive, "{len} {first} {second}");
                        }
                    }
                }
            }
        }
    }

    fn esc_with(rules: &Rules, s: &str) -> String {
        let mut out = Vec::new();
        let mut w = BoundedWriter::new(&mut out, usize::MAX);
        assert_eq!(w.text_with(rules, s), Ok(()));
        String::from_utf8(out).expect("escaped output is UTF-8")
    }

    #[test]
    fn leef_values_replace_the_delimiter_and_controls() {
        let s = "a^b\tc\r\nd\u{0}e\u{7f}f\u{85}g|h=i\\j\u{a0}";
        assert_eq!(
            esc_with(&Rules::leef_value(b'^'), s),
            "a b c  d e f g|h=i\\j\u{a0}"
        );
        assert_eq!(esc_with(&Rules::leef_value(b'\t'), "a^b\tc"), "a^b c");
    }

    #[test]
    fn labelled_values_escape_the_key_backslash_and_line_breaks() {
        let s = "a, b; c\\d\te\r\nf\u{1}g\u{9f}h";
        let want = "a\\, b; c\\\\d\\te\\r\\nf g h";
        assert_eq!(esc_with(&Rules::labelled(b','), s), want);
        assert_eq!(esc_with(&Rules::labelled(b';'), "a, b; c"), "a, b\\; c");
    }

    #[test]
    fn json_strings_keep_every_character() {
        let s = "q\"b\\n\nr\rt\tz\u{0}e\u{1b}d\u{7f}c\u{85}\u{9f}x\u{a0}©/";
        let want = r#"q\"b\\n\nr\rt\tz\u0000e\u001bd\u007fc\u0085\u009fx\u{a0}©/"#
            .replace("\\u{a0}", "\u{a0}");
        assert_eq!(esc_with(Rules::json(), s), want);
    }

    #[test]
    fn json_cut_never_splits_a_hex_escape() {
        let mut out = Vec::new();
        let mut w = BoundedWriter::new(&mut out, 6);
        assert_eq!(w.text_with(Rules::json(), "ab\u{1}"), Err(Full));
        assert_eq!(out, b"ab");
    }

    #[test]
    fn pairs_separate_close_and_take_back() {
        let rules = Rules::json();
        let mut out = b"{".to_vec();
        let mut w = BoundedWriter::new(&mut out, 22);
        let pairs = Pairs::new(w.len(), b",");
        assert_eq!(pairs.whole(&mut w, b"\"a\":\"", b"1", b"\""), Ok(()));
        // Room for `,"b":"`, `xyz` and the closing quote, not for the `\u0001` after `xyz`.
        assert_eq!(
            pairs.text(&mut w, b"\"b\":\"", rules, "xyz\u{1}", b"\""),
            Err(Full)
        );
        assert_eq!(out, br#"{"a":"1","b":"xyz""#);

        // A key with no room for one value byte is taken back, separator and all.
        let mut out = b"{".to_vec();
        let mut w = BoundedWriter::new(&mut out, 14);
        let pairs = Pairs::new(w.len(), b",");
        assert_eq!(pairs.whole(&mut w, b"\"a\":\"", b"1", b"\""), Ok(()));
        assert_eq!(
            pairs.text(&mut w, b"\"b\":\"", rules, "xyz", b"\""),
            Err(Full)
        );
        assert_eq!(out, br#"{"a":"1""#);
    }

    #[test]
    fn whole_writes_nothing_when_it_does_not_fit() {
        let mut out = b"xy".to_vec();
        let mut w = BoundedWriter::new(&mut out, 3);
        assert_eq!(w.whole(b"abcd"), Err(Full));
        assert_eq!(w.whole(b"abc"), Ok(()));
        assert_eq!(out, b"xyabc");
    }
}
