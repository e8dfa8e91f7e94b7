//! The alert time as it appears inside a message: `MMM dd yyyy HH:mm:ss` in the action's zone.
//!
//! Pipeline position: each encoder owns one [`AlertClock`] for its action and calls
//! [`AlertClock::write`] on the pipeline thread for every alert. Time zones are resolved once, at
//! start-up, by [`parse_timezone`] from the tz database compiled into the binary, so otrelay
//! behaves the same on hosts without `/usr/share/zoneinfo`.
//!
//! What must hold: `write` appends exactly [`ALERT_TIME_LEN`] bytes and never allocates. Alerts
//! of a burst usually share their second, so the last rendering is cached and copied.
//!
//! The layout follows the only real sample of a sensor payload time (the LEEF `devTime`,
//! spec §3.2/§3.3): English month abbreviation, zero-padded day, four-digit year, 24-hour clock
//! (`Jul 15 2020 13:17:40`).

use std::fmt;

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::{TimeZone, TimeZoneDatabase};

/// Length of one rendered alert time.
pub const ALERT_TIME_LEN: usize = 20;

/// English month abbreviations, as syslog and CEF receivers expect them.
pub(crate) const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// Earliest second rendered: 0001-01-02T00:00:00Z. A day after jiff's own minimum so that no
/// zone offset can push the local year below 1 and the year always has four digits.
pub const MIN_SECOND: i64 = -62_135_510_400;

/// Latest second rendered: 9999-12-30T22:00:00Z, the latest instant jiff represents; it keeps
/// every zone's local date within year 9999.
pub const MAX_SECOND: i64 = 253_402_207_200;

/// A time zone name that the bundled database does not know.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeZoneError {
    /// No zone of that name (the name is kept for the message).
    Unknown(String),
}

impl fmt::Display for TimeZoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimeZoneError::Unknown(name) => write!(f, "unknown time zone `{name}`"),
        }
    }
}

impl std::error::Error for TimeZoneError {}

/// Resolves an IANA zone name (`Europe/Berlin`, `UTC`, case-insensitive) from the tz database
/// compiled into otrelay.
///
/// # Errors
///
/// [`TimeZoneError::Unknown`] when the database has no such zone.
pub fn parse_timezone(name: &str) -> Result<TimeZone, TimeZoneError> {
    if name.eq_ignore_ascii_case("UTC") {
        return Ok(TimeZone::UTC);
    }

    // `Etc/Unknown` is jiff's marker for "no zone"; a config naming it is a mistake.
    let unknown = || TimeZoneError::Unknown(name.to_owned());
    let tz = TimeZoneDatabase::bundled()
        .get(name)
        .map_err(|_| unknown())?;
    if tz.is_unknown() {
        return Err(unknown());
    }
    Ok(tz)
}

/// Renders alert times in one zone, caching the last second.
pub struct AlertClock {
    tz: TimeZone,
    cached_second: i64,
    cached: [u8; ALERT_TIME_LEN],
}

impl AlertClock {
    /// A clock for `tz` with an empty cache.
    pub fn new(tz: TimeZone) -> AlertClock {
        AlertClock {
            tz,
            cached_second: i64::MIN,
            cached: [b' '; ALERT_TIME_LEN],
        }
    }

    /// The zone this clock renders in.
    pub fn time_zone(&self) -> &TimeZone {
        &self.tz
    }

    /// Appends `time_ms` (milliseconds since the Unix epoch, UTC) as `Jul 15 2020 13:17:40`.
    ///
    /// Times outside [`MIN_SECOND`]..=[`MAX_SECOND`] are clamped to that range, so a corrupt
    /// alert time renders as a far date instead of failing.
    pub fn write(&mut self, time_ms: i64, out: &mut Vec<u8>) {
        let second = time_ms.div_euclid(1000).clamp(MIN_SECOND, MAX_SECOND);
        if second != self.cached_second {
            self.render(second);
        }
        super::escape::append(out, &self.cached);
    }

    /// Fills the cache for `second`, which is within the clamped range.
    fn render(&mut self, second: i64) {
        let ts = Timestamp::from_second(second).unwrap_or(Timestamp::UNIX_EPOCH);
        let dt = self.tz.to_datetime(ts);

        let c = &mut self.cached;
        c[..3].copy_from_slice(month(&dt));
        c[3] = b' ';
        put2(&mut c[4..6], dt.day());
        c[6] = b' ';
        put4(&mut c[7..11], dt.year());
        c[11] = b' ';
        put_clock(&mut c[12..20], &dt);
        self.cached_second = second;
    }
}

/// The month abbreviation of `dt`.
pub(crate) fn month(dt: &DateTime) -> &'static [u8; 3] {
    let index = usize::try_from(dt.month() - 1).unwrap_or(0);
    MONTHS[index.min(11)]
}

/// Writes `v` (0..=99) as two digits.
pub(crate) fn put2(out: &mut [u8], v: i8) {
    let v = v.clamp(0, 99).unsigned_abs();
    out[0] = b'0' + v / 10;
    out[1] = b'0' + v % 10;
}

/// Writes `v` (0..=9999) as four digits.
pub(crate) fn put4(out: &mut [u8], v: i16) {
    let v = v.clamp(0, 9999).unsigned_abs();
    out[0] = b'0' + (v / 1000) as u8;
    out[1] = b'0' + (v / 100 % 10) as u8;
    out[2] = b'0' + (v / 10 % 10) as u8;
    out[3] = b'0' + (v % 10) as u8;
}

/// Writes `HH:mm:ss` (8 bytes).
pub(crate) fn put_clock(out: &mut [u8], dt: &DateTime) {
    put2(&mut out[0..2], dt.hour());
    out[2] = b':';
    put2(&mut out[3..5], dt.minute());
    out[5] = b':';
    put2(&mut out[6..8], dt.second());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(zone: &str, ms: i64) -> String {
        let mut clock = AlertClock::new(parse_timezone(zone).expect("known zone"));
        let mut out = Vec::new();
        clock.write(ms, &mut out);
        assert_eq!(out.len(), ALERT_TIME_LEN);
        String::from_utf8(out).expect("ASCII")
    }

    #[test]
    fn utc_and_moscow() {
        assert_eq!(render("UTC", 1594808260000), "Jul 15 2020 10:17:40");
        assert_eq!(render("utc", 1594808260999), "Jul 15 2020 10:17:40");
        assert_eq!(
            render("Europe/Moscow", 1594808260000),
            "Jul 15 2020 13:17:40"
        );
    }

    #[test]
    fn berlin_summer_and_winter() {
        // 2021-07-01T12:00:00Z is CEST (+2), 2021-01-05T12:00:00Z is CET (+1).
        assert_eq!(
            render("Europe/Berlin", 1625140800000),
            "Jul 01 2021 14:00:00"
        );
        assert_eq!(
            render("Europe/Berlin", 1609848000000),
            "Jan 05 2021 13:00:00"
        );
    }

    #[test]
    fn new_york() {
        // EDT (-4) in summer, EST (-5) in winter.
        assert_eq!(
            render("America/New_York", 1625140800000),
            "Jul 01 2021 08:00:00"
        );
        assert_eq!(
            render("America/New_York", 1609848000000),
            "Jan 05 2021 07:00:00"
        );
    }

    #[test]
    fn invalid_zone_is_an_error() {
        let err = parse_timezone("Mars/Olympus_Mons").expect_err("no such zone");
        assert_eq!(err.to_string(), "unknown time zone `Mars/Olympus_Mons`");
        assert!(parse_timezone("Etc/Unknown").is_err());
    }

    #[test]
    fn extreme_times_are_clamped() {
        assert_eq!(render("UTC", i64::MIN), "Jan 02 0001 00:00:00");
        assert_eq!(render("UTC", i64::MAX), "Dec 30 9999 22:00:00");
        assert_eq!(
            render("Pacific/Kiritimati", i64::MAX),
            "Dec 31 9999 12:00:00"
        );
        assert_eq!(render("America/New_York", i64::MIN), "Jan 01 0001 19:03:58");
        assert_eq!(render("UTC", -1), "Dec 31 1969 23:59:59");
    }

    #[test]
    fn cache_follows_the_second() {
        let mut clock = AlertClock::new(TimeZone::UTC);
        let mut out = Vec::new();
        clock.write(1594808260000, &mut out);
        clock.write(1594808260500, &mut out);
        clock.write(1594808261000, &mut out);
        assert_eq!(
            out,
            b"Jul 15 2020 10:17:40Jul 15 2020 10:17:40Jul 15 2020 10:17:41".to_vec()
        );

        // Mark the cache: a reuse copies the mark, a render replaces it.
        clock.cached[0] = b'#';
        out.clear();
        clock.write(1594808261999, &mut out);
        clock.write(1594808262000, &mut out);
        assert_eq!(out, b"#ul 15 2020 10:17:41Jul 15 2020 10:17:42".to_vec());
    }
}
