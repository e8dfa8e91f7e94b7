//! Sealing an intake block: one pass that records where its lines end and tells whether its
//! bytes are all ASCII.
//!
//! Pipeline position: runs on each source's intake thread, once per block, right before the
//! block is shipped to the pipeline (see [`super::Block`]). The pipeline then cuts lines at the
//! recorded offsets and parses them as text without validating them again.
//!
//! What must hold: the offsets are exactly those of the `\n` bytes, ascending, and stop at the
//! capacity of the offset table without growing it (no allocation); the line count covers every
//! newline, recorded or not; `ascii` is true only when no byte has its high bit set, which makes
//! the block valid UTF-8 without a second look. A block with other bytes is validated by the
//! caller.
//
// Why one pass: the intake thread used to find newlines with `memchr_iter` and then validate
// the block with `simdutf8`, reading every byte twice. Sensor alerts are almost always ASCII, so
// OR-ing the same vectors that the newline search loads answers the UTF-8 question for free in
// the common case.

/// What [`scan`] found in a block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sealed {
    /// Number of `\n` bytes, including those past the capacity of the offset table.
    pub lines: u64,
    /// True when every byte is below 0x80.
    pub ascii: bool,
}

/// Appends the offset of every `\n` in `data` to `ends` while it has spare capacity, and counts
/// them all. `data` must be shorter than 4 GiB (intake blocks are capped far below that).
pub fn scan(data: &[u8], ends: &mut Vec<u32>) -> Sealed {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("popcnt")
            && std::arch::is_x86_feature_detected!("bmi1")
        {
            // SAFETY: the CPU supports AVX2, POPCNT and BMI1, checked just above.
            return unsafe { avx2::scan(data, ends) };
        }
    }
    scan_portable(data, ends)
}

/// [`scan`] without vector instructions of its own: memchr's search and a word-wise ASCII
/// check.
pub fn scan_portable(data: &[u8], ends: &mut Vec<u32>) -> Sealed {
    let mut lines = 0;
    for end in memchr::memchr_iter(b'\n', data) {
        record(ends, end);
        lines += 1;
    }
    Sealed {
        lines,
        ascii: data.is_ascii(),
    }
}

/// Records one line end when the table has room; the count is kept by the caller.
#[inline(always)]
fn record(ends: &mut Vec<u32>, end: usize) {
    if ends.len() < ends.capacity() {
        // Blocks are far smaller than 4 GiB (config caps `block_size`).
        ends.push(end as u32);
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::{
        __m256i, _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_movemask_epi8, _mm256_or_si256,
        _mm256_set1_epi8, _mm256_setzero_si256,
    };

    use super::{Sealed, record};

    /// 64 bytes per round: two loads, two compares, two masks; the loaded vectors are OR-ed
    /// into an accumulator whose high bits say whether any byte was non-ASCII.
    #[target_feature(enable = "avx2,popcnt,bmi1")]
    pub(super) unsafe fn scan(data: &[u8], ends: &mut Vec<u32>) -> Sealed {
        let newline = _mm256_set1_epi8(b'\n' as i8);
        let mut high = _mm256_setzero_si256();
        let mut lines = 0u64;
        let mut at = 0;

        while at + 64 <= data.len() {
            // SAFETY: `at + 64 <= data.len()`, so both unaligned 32-byte loads stay inside
            // `data`; AVX2 is enabled for this function and was detected by the caller.
            let (a, b) = unsafe {
                let p = data.as_ptr().add(at);
                (
                    _mm256_loadu_si256(p.cast::<__m256i>()),
                    _mm256_loadu_si256(p.add(32).cast::<__m256i>()),
                )
            };
            high = _mm256_or_si256(high, _mm256_or_si256(a, b));
            let lo = _mm256_movemask_epi8(_mm256_cmpeq_epi8(a, newline)) as u32;
            let hi = _mm256_movemask_epi8(_mm256_cmpeq_epi8(b, newline)) as u32;
            let mut mask = u64::from(lo) | u64::from(hi) << 32;
            // Most rounds hold no line end: alerts are several hundred bytes long.
            if mask != 0 {
                lines += u64::from(mask.count_ones());
                while mask != 0 {
                    record(ends, at + mask.trailing_zeros() as usize);
                    mask &= mask - 1;
                }
            }
            at += 64;
        }

        let mut ascii = _mm256_movemask_epi8(high) == 0;
        for (i, &byte) in data[at..].iter().enumerate() {
            if byte == b'\n' {
                record(ends, at + i);
                lines += 1;
            }
            ascii &= byte < 0x80;
        }
        Sealed { lines, ascii }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expected(data: &[u8], room: usize) -> (Vec<u32>, Sealed) {
        let all: Vec<u32> = memchr::memchr_iter(b'\n', data).map(|i| i as u32).collect();
        let sealed = Sealed {
            lines: all.len() as u64,
            ascii: data.is_ascii(),
        };
        (all.into_iter().take(room).collect(), sealed)
    }

    fn check(data: &[u8], room: usize) {
        for f in [scan, scan_portable] {
            let mut ends = Vec::with_capacity(room);
            let cap = ends.capacity();
            let got = f(data, &mut ends);
            let (want_ends, want) = expected(data, cap);
            assert_eq!(got, want, "len {}", data.len());
            assert_eq!(ends, want_ends, "len {}", data.len());
            assert_eq!(ends.capacity(), cap, "the table never grows");
        }
    }

    #[test]
    fn agrees_with_a_byte_by_byte_scan_at_every_position() {
        // Newlines and non-ASCII bytes at every offset of blocks around the 64-byte rounds.
        for len in 0..200 {
            let plain = vec![b'a'; len];
            check(&plain, 4);
            for at in 0..len {
                let mut d = plain.clone();
                d[at] = b'\n';
                check(&d, 4);
                d[len - 1 - at / 2] = 0xC3;
                check(&d, 4);
                let mut d = plain.clone();
                d[at] = 0x80;
                check(&d, 0);
            }
        }
    }

    #[test]
    fn stops_recording_at_capacity_but_counts_every_line() {
        let data = b"x\n".repeat(500);
        for room in [0, 1, 63, 64, 65, 499, 500, 600] {
            check(&data, room);
        }
    }

    #[test]
    fn pseudo_random_blocks() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for round in 0..300 {
            let len = (round * 37) % 3000;
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    match state % 50 {
                        0 => b'\n',
                        1 if round % 3 == 0 => 0xE2,
                        _ => b'a' + (state % 26) as u8,
                    }
                })
                .collect();
            check(&data, round % 40);
        }
    }
}
