//! The syslog envelope in front of every message: PRI, send time in UTC, host, and for RFC 5424
//! the app name and nil fields.
//!
//! Pipeline position: each syslog action owns one [`SyslogHeader`]; the pipeline thread calls
//! [`SyslogHeader::write`] before encoding the message body into the batch. Framing (octet
//! counting or LF) belongs to the sender, not here.
//!
//! What must hold: `write` never allocates and always appends exactly [`SyslogHeader::max_len`]
//! bytes, which contain only printable ASCII and spaces. Everything but the timestamp is fixed
//! when the header is built, and the timestamp has second resolution, so the whole prefix is
//! rendered once per second and copied from a cache in between.
//!
//! Layouts (spec §3.1, §5.3):
//! - RFC 3164 (default): `<9>Jul  5 10:17:41 host `, day padded with a space;
//! - RFC 5424: `<9>1 2020-07-05T10:17:41Z host app - - - ` (no PROCID, MSGID or structured
//!   data).

use std::fmt;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::time::{MAX_SECOND, MIN_SECOND, month, put_clock, put2, put4};

/// Which syslog header layout to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum HeaderStyle {
    /// BSD syslog, what the sensor sends and NetWitness' header patterns expect.
    #[default]
    Rfc3164,
    /// IETF syslog with version, full date and app name.
    Rfc5424,
}

/// Configured header fields, validated by [`SyslogHeader::new`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderOptions {
    /// Header layout.
    pub style: HeaderStyle,
    /// Facility, 0..=23 (`user` = 1 as the sensor sends).
    pub facility: u8,
    /// Syslog severity, 0..=7 (`alert` = 1 as the sensor sends).
    pub severity: u8,
    /// Host field; spaces become `_`, at most 255 bytes of printable ASCII.
    pub hostname: String,
    /// RFC 5424 APP-NAME; spaces become `_`, at most 48 bytes; empty writes `-`.
    pub app_name: String,
}

impl Default for HeaderOptions {
    fn default() -> Self {
        HeaderOptions {
            style: HeaderStyle::Rfc3164,
            facility: 1,
            severity: 1,
            hostname: "sensor".to_owned(),
            app_name: "otrelay".to_owned(),
        }
    }
}

/// A header option that cannot be put on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderError {
    /// Facility above 23.
    Facility(u8),
    /// Severity above 7.
    Severity(u8),
    /// Empty host name.
    EmptyHostname,
    /// Host name longer than 255 bytes.
    HostnameLength(usize),
    /// Host name with a byte outside printable ASCII.
    HostnameCharacter(char),
    /// App name longer than 48 bytes.
    AppNameLength(usize),
    /// App name with a byte outside printable ASCII.
    AppNameCharacter(char),
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderError::Facility(v) => write!(f, "syslog facility {v} is not in 0..=23"),
            HeaderError::Severity(v) => write!(f, "syslog severity {v} is not in 0..=7"),
            HeaderError::EmptyHostname => f.write_str("syslog host name is empty"),
            HeaderError::HostnameLength(n) => {
                write!(
                    f,
                    "syslog host name is {n} bytes long, at most 255 are allowed"
                )
            }
            HeaderError::HostnameCharacter(c) => {
                write!(
                    f,
                    "syslog host name contains {c:?}, only printable ASCII is allowed"
                )
            }
            HeaderError::AppNameLength(n) => {
                write!(
                    f,
                    "syslog app name is {n} bytes long, at most 48 are allowed"
                )
            }
            HeaderError::AppNameCharacter(c) => {
                write!(
                    f,
                    "syslog app name contains {c:?}, only printable ASCII is allowed"
                )
            }
        }
    }
}

impl std::error::Error for HeaderError {}

/// Writes the syslog header of one action, cached per second.
pub struct SyslogHeader {
    style: HeaderStyle,
    /// `<PRI>` or `<PRI>1 `.
    lead: Vec<u8>,
    /// ` host ` or ` host app - - - `.
    tail: Vec<u8>,
    /// The full header for `cached_second`.
    cache: Vec<u8>,
    cached_second: i64,
}

impl SyslogHeader {
    /// Validates `opts` and prepares the fixed parts.
    ///
    /// # Errors
    ///
    /// A [`HeaderError`] naming the first option that is out of range.
    pub fn new(opts: &HeaderOptions) -> Result<SyslogHeader, HeaderError> {
        if opts.facility > 23 {
            return Err(HeaderError::Facility(opts.facility));
        }
        if opts.severity > 7 {
            return Err(HeaderError::Severity(opts.severity));
        }
        if opts.hostname.is_empty() {
            return Err(HeaderError::EmptyHostname);
        }
        let host = header_token(&opts.hostname, 255)
            .map_err(|e| e.either(HeaderError::HostnameLength, HeaderError::HostnameCharacter))?;
        let app = header_token(&opts.app_name, 48)
            .map_err(|e| e.either(HeaderError::AppNameLength, HeaderError::AppNameCharacter))?;

        let pri = u16::from(opts.facility) * 8 + u16::from(opts.severity);
        let mut lead = Vec::with_capacity(8);
        lead.push(b'<');
        lead.extend_from_slice(itoa::Buffer::new().format(pri).as_bytes());
        lead.push(b'>');

        let mut tail = Vec::with_capacity(host.len() + app.len() + 10);
        tail.push(b' ');
        tail.extend_from_slice(&host);
        tail.push(b' ');
        if opts.style == HeaderStyle::Rfc5424 {
            lead.extend_from_slice(b"1 ");
            tail.extend_from_slice(if app.is_empty() { b"-" } else { &app });
            tail.extend_from_slice(b" - - - ");
        }

        let mut header = SyslogHeader {
            style: opts.style,
            lead,
            tail,
            cache: Vec::new(),
            cached_second: i64::MIN,
        };
        header.cache.reserve_exact(header.max_len());
        Ok(header)
    }

    /// Appends the header for the send time `now_unix_secs` (UTC).
    ///
    /// Seconds outside year 1..=9999 are clamped, as for the alert time.
    pub fn write(&mut self, now_unix_secs: i64, out: &mut Vec<u8>) {
        let second = now_unix_secs.clamp(MIN_SECOND, MAX_SECOND);
        if second != self.cached_second {
            self.render(second);
        }
        super::escape::append(out, &self.cache);
    }

    /// Length of every header this writes (the timestamp has a fixed width).
    pub fn max_len(&self) -> usize {
        let stamp = match self.style {
            HeaderStyle::Rfc3164 => 15,
            HeaderStyle::Rfc5424 => 20,
        };
        self.lead.len() + stamp + self.tail.len()
    }

    /// Rebuilds the cached header for `second`; runs at most once per second.
    fn render(&mut self, second: i64) {
        let ts = Timestamp::from_second(second).unwrap_or(Timestamp::UNIX_EPOCH);
        let dt = TimeZone::UTC.to_datetime(ts);

        let mut stamp = [b' '; 20];
        let stamp: &[u8] = match self.style {
            HeaderStyle::Rfc3164 => {
                stamp[..3].copy_from_slice(month(&dt));
                put2(&mut stamp[4..6], dt.day());
                if stamp[4] == b'0' {
                    stamp[4] = b' ';
                }
                put_clock(&mut stamp[7..15], &dt);
                &stamp[..15]
            }
            HeaderStyle::Rfc5424 => {
                put4(&mut stamp[0..4], dt.year());
                stamp[4] = b'-';
                put2(&mut stamp[5..7], dt.month());
                stamp[7] = b'-';
                put2(&mut stamp[8..10], dt.day());
                stamp[10] = b'T';
                put_clock(&mut stamp[11..19], &dt);
                stamp[19] = b'Z';
                &stamp[..20]
            }
        };

        self.cache.clear();
        self.cache.extend_from_slice(&self.lead);
        self.cache.extend_from_slice(stamp);
        self.cache.extend_from_slice(&self.tail);
        self.cached_second = second;
    }
}

/// Why a header token was rejected.
enum TokenError {
    Length(usize),
    Character(char),
}

impl TokenError {
    fn either(
        self,
        length: fn(usize) -> HeaderError,
        character: fn(char) -> HeaderError,
    ) -> HeaderError {
        match self {
            TokenError::Length(n) => length(n),
            TokenError::Character(c) => character(c),
        }
    }
}

/// Checks a header token and maps spaces to `_` (the sensor's own habit, spec §3.1).
fn header_token(s: &str, max: usize) -> Result<Vec<u8>, TokenError> {
    if s.len() > max {
        return Err(TokenError::Length(s.len()));
    }
    if let Some(c) = s.chars().find(|&c| c != ' ' && !c.is_ascii_graphic()) {
        return Err(TokenError::Character(c));
    }
    Ok(s.bytes()
        .map(|b| if b == b' ' { b'_' } else { b })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(style: HeaderStyle) -> HeaderOptions {
        HeaderOptions {
            style,
            hostname: "sensor-plant-01".to_owned(),
            ..HeaderOptions::default()
        }
    }

    #[test]
    fn options_are_validated() {
        let bad = |o: HeaderOptions| SyslogHeader::new(&o).err();
        let base = opts(HeaderStyle::Rfc3164);
        assert_eq!(
            bad(HeaderOptions {
                facility: 24,
                ..base.clone()
            }),
            Some(HeaderError::Facility(24))
        );
        assert_eq!(
            bad(HeaderOptions {
                severity: 8,
                ..base.clone()
            }),
            Some(HeaderError::Severity(8))
        );
        assert_eq!(
            bad(HeaderOptions {
                hostname: String::new(),
                ..base.clone()
            }),
            Some(HeaderError::EmptyHostname)
        );
        assert_eq!(
            bad(HeaderOptions {
                hostname: "h".repeat(256),
                ..base.clone()
            }),
            Some(HeaderError::HostnameLength(256))
        );
        assert_eq!(
            bad(HeaderOptions {
                hostname: "a\nb".to_owned(),
                ..base.clone()
            }),
            Some(HeaderError::HostnameCharacter('\n'))
        );
        assert_eq!(
            bad(HeaderOptions {
                app_name: "a".repeat(49),
                ..base.clone()
            }),
            Some(HeaderError::AppNameLength(49))
        );
        assert!(
            SyslogHeader::new(&HeaderOptions {
                hostname: "h".repeat(255),
                ..base
            })
            .is_ok()
        );
    }

    #[test]
    fn same_second_is_copied_from_the_cache() {
        let mut h = SyslogHeader::new(&opts(HeaderStyle::Rfc3164)).expect("valid");
        let mut out = Vec::new();
        h.write(1593944261, &mut out);

        // Mark the cache: a reuse copies the mark, a render replaces it.
        h.cache[0] = b'#';
        out.clear();
        h.write(1593944261, &mut out);
        assert_eq!(out, b"#9>Jul  5 10:17:41 sensor-plant-01 ".to_vec());
        out.clear();
        h.write(1593944262, &mut out);
        assert_eq!(out, b"<9>Jul  5 10:17:42 sensor-plant-01 ".to_vec());
    }

    #[test]
    fn pri_is_facility_times_eight_plus_severity() {
        let o = HeaderOptions {
            facility: 23,
            severity: 7,
            ..opts(HeaderStyle::Rfc3164)
        };
        let mut h = SyslogHeader::new(&o).expect("valid");
        let mut out = Vec::new();
        h.write(0, &mut out);
        assert_eq!(out, b"<191>Jan  1 00:00:00 sensor-plant-01 ".to_vec());
        assert_eq!(out.len(), h.max_len());
    }

    #[test]
    fn extreme_send_times_are_clamped() {
        let mut h = SyslogHeader::new(&opts(HeaderStyle::Rfc5424)).expect("valid");
        let mut out = Vec::new();
        h.write(i64::MIN, &mut out);
        h.write(i64::MAX, &mut out);
        let expected = "<9>1 0001-01-02T00:00:00Z sensor-plant-01 otrelay - - - \
                        <9>1 9999-12-30T22:00:00Z sensor-plant-01 otrelay - - - ";
        assert_eq!(String::from_utf8(out).expect("ASCII"), expected);
    }
}
