//! A case-insensitive string table for matching alert fields against configured names.
//!
//! Pipeline position: built at start-up; looked up on the pipeline thread per alert (the
//! alert's protocol against the rules' protocol lists, its title and sensor name against the
//! exclusion rules). A lookup hashes the alert's still-JSON-escaped string as it streams and
//! confirms a hit with one case-insensitive comparison; it never allocates.

use crate::alert::{Chunk, RawStr};

/// A case-insensitive set of names, each with a dense index.
///
/// Open addressing over a power-of-two array of slots; the hash folds ASCII case so that the
/// lookup can stream the alert's (possibly JSON-escaped) protocol without decoding it first.
#[derive(Debug, Clone)]
pub struct FoldTable {
    slots: Vec<Option<(u64, u32)>>,
    names: Vec<String>,
}

/// FNV-1a over ASCII-lowercased bytes.
fn fold_hash(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b.to_ascii_lowercase());
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn hash_raw(s: &RawStr<'_>) -> u64 {
    if !s.is_escaped() {
        return fold_hash(FNV_OFFSET, s.raw());
    }
    let mut h = FNV_OFFSET;
    let mut buf = [0u8; 4];
    for chunk in s.chunks() {
        h = match chunk {
            Chunk::Text(t) => fold_hash(h, t.as_bytes()),
            Chunk::Char(c) => fold_hash(h, c.encode_utf8(&mut buf).as_bytes()),
        };
    }
    h
}

impl Default for FoldTable {
    fn default() -> Self {
        FoldTable::new()
    }
}

impl FoldTable {
    /// An empty table.
    pub fn new() -> FoldTable {
        FoldTable {
            slots: vec![None; 16],
            names: Vec::new(),
        }
    }

    /// Returns the index of `name`, adding it if new.
    pub fn intern(&mut self, name: &str) -> usize {
        if let Some(i) = self.lookup(&RawStr::literal(name)) {
            return i;
        }
        if (self.names.len() + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let index = self.names.len();
        self.names.push(name.to_owned());
        self.insert(fold_hash(FNV_OFFSET, name.as_bytes()), index as u32);
        index
    }

    fn insert(&mut self, hash: u64, index: u32) {
        let mask = self.slots.len() - 1;
        let mut slot = hash as usize & mask;
        while self.slots[slot].is_some() {
            slot = (slot + 1) & mask;
        }
        self.slots[slot] = Some((hash, index));
    }

    fn grow(&mut self) {
        let doubled = vec![None; self.slots.len() * 2];
        let old = std::mem::replace(&mut self.slots, doubled);
        for (hash, index) in old.into_iter().flatten() {
            self.insert(hash, index);
        }
    }

    /// Number of distinct names.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Finds `name` ignoring ASCII case.
    pub fn lookup(&self, name: &RawStr<'_>) -> Option<usize> {
        let hash = hash_raw(name);
        let mask = self.slots.len() - 1;
        let mut slot = hash as usize & mask;
        while let Some((h, index)) = self.slots[slot] {
            let index = index as usize;
            if h == hash && name.eq_ignore_ascii_case(&self.names[index]) {
                return Some(index);
            }
            slot = (slot + 1) & mask;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interns_and_finds_ignoring_case_and_escapes() {
        let mut t = FoldTable::new();
        let names: Vec<String> = (0..100).map(|i| format!("Proto-{i}")).collect();
        for (i, n) in names.iter().enumerate() {
            assert_eq!(t.intern(n), i);
        }
        assert_eq!(t.intern("PROTO-7"), 7);
        assert_eq!(t.len(), 100);
        assert_eq!(t.lookup(&RawStr::literal("proto-42")), Some(42));
        assert_eq!(
            t.lookup(&RawStr::new(br"Proto-\u0034\u0032", true)),
            Some(42)
        );
        assert_eq!(t.lookup(&RawStr::literal("proto-420")), None);
    }
}
