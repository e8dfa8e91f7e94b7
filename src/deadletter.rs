//! The dead-letter file: every rejected alert line, unchanged, with why and where it came from.
//!
//! Pipeline position: written by the pipeline thread (malformed alerts), by intake threads (lines
//! longer than a block) and at shutdown (messages that could not be delivered). All of these are
//! cold paths, so one mutex-guarded file is enough. The file is opened in append mode on the first
//! record, so a clean run leaves no empty file behind.
//!
//! Record layout, one per line:
//!
//! ```text
//! 2026-12-03T15:07:08Z reason=invalid_json source=file:alerts.jsonl line=17 detail="..."<TAB><raw>
//! ```
//!
//! The raw bytes follow the first TAB unchanged (they may be invalid UTF-8). A raw line never
//! contains LF, because LF ends an input line; UDP datagrams have their CR/LF turned into TAB at
//! intake (see `intake::net`).

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Where in its source a rejected record was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Location {
    /// 1-based line of a file or stdin.
    Line(u64),
    /// 1-based record of a network source (datagram or line across its clients).
    Record(u64),
    /// A message that was encoded but could not be delivered before shutdown.
    Undelivered,
}

impl Location {
    /// The `n`th line of a source that numbers lines (`by_line`: files, stdin), or the `n`th
    /// record of a network source.
    pub fn numbered(n: u64, by_line: bool) -> Location {
        if by_line {
            Location::Line(n)
        } else {
            Location::Record(n)
        }
    }
}

/// The shared dead-letter sink.
#[derive(Debug)]
pub struct DeadLetter {
    path: PathBuf,
    file: Mutex<Option<BufWriter<File>>>,
    written: std::sync::atomic::AtomicU64,
}

impl DeadLetter {
    /// A sink that writes to `path` once there is something to write.
    pub fn new(path: &Path) -> DeadLetter {
        DeadLetter {
            path: path.to_owned(),
            file: Mutex::new(None),
            written: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records written so far.
    pub fn written(&self) -> u64 {
        self.written.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Appends one record and flushes it, so that an operator sees it at once.
    ///
    /// # Errors
    ///
    /// Returns the I/O error when the file cannot be opened or written; the caller counts it and
    /// reports it in the summary, since the record is then only counted.
    pub fn write(
        &self,
        reason: &str,
        source: &str,
        location: Location,
        detail: &str,
        raw: &[u8],
    ) -> io::Result<()> {
        let mut guard = self
            .file
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if guard.is_none() {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
            *guard = Some(BufWriter::new(file));
        }
        let Some(out) = guard.as_mut() else {
            return Ok(());
        };

        let now = jiff::Timestamp::now();
        write!(out, "{now:.0} reason={reason} source={source} ")?;
        match location {
            Location::Line(n) => write!(out, "line={n}")?,
            Location::Record(n) => write!(out, "record={n}")?,
            Location::Undelivered => out.write_all(b"undelivered")?,
        }
        write!(out, " detail={detail:?}\t")?;
        out.write_all(raw)?;
        out.write_all(b"\n")?;
        out.flush()?;
        self.written
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_keep_raw_bytes() {
        let dir = std::env::temp_dir().join(format!("otrelay-dl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("dl.log");
        let _ = std::fs::remove_file(&path);
        let dl = DeadLetter::new(&path);
        assert!(!path.exists());
        dl.write(
            "not_utf8",
            "stdin",
            Location::Line(3),
            "invalid UTF-8 at byte 1",
            b"{\xff}",
        )
        .unwrap();
        let text = std::fs::read(&path).unwrap();
        let line = text.split(|&b| b == b'\n').next().unwrap();
        let tab = line.iter().position(|&b| b == b'\t').unwrap();
        assert_eq!(&line[tab + 1..], b"{\xff}");
        let head = std::str::from_utf8(&line[..tab]).unwrap();
        assert!(
            head.contains("reason=not_utf8 source=stdin line=3"),
            "{head}"
        );
        assert_eq!(dl.written(), 1);
    }
}
