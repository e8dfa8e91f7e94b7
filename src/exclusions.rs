//! Exclusion rules: alerts they match are suppressed before any forwarding rule sees them.
//!
//! Pipeline position: compiled at start-up from `[[exclusion]]`; [`Exclusions::first_match`]
//! runs on the pipeline thread for every parsed alert, before the rules. It allocates nothing:
//! addresses are parsed from a stack buffer, CIDR checks are integer masks, titles and sensor
//! names are looked up in case-insensitive hash tables built once.
//!
//! Semantics, as on the management console's Alert Exclusion page: an exclusion's conditions
//! (time window, device addresses, titles, sensor names) are ANDed, and an absent condition
//! matches every alert. Device addresses match by role: the source, the destination, or either.
//! Time windows are in the exclusion's own time zone: one-off (`start`..`end`) or daily
//! (`daily_start`..`daily_end`, which may wrap past midnight).

use std::net::IpAddr;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::alert::{Alert, RawStr};
use crate::config::{DeviceMatch, DeviceRole, ExclusionConfig, TimeWindow};
use crate::fold::FoldTable;

/// One compiled exclusion.
struct Exclusion {
    name: String,
    window: Option<CompiledWindow>,
    devices: Vec<DeviceMatch>,
    role: DeviceRole,
    titles: Option<FoldTable>,
    sensors: Option<FoldTable>,
}

enum CompiledWindow {
    /// Epoch milliseconds, end exclusive.
    Once { start: i64, end: i64 },
    /// Minutes after local midnight, end exclusive; `start > end` wraps past midnight.
    Daily { tz: TimeZone, start: u32, end: u32 },
}

/// Why an exclusion does or does not apply, for `otrelay explain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExclusionVerdict {
    /// Every condition matched: the alert is suppressed.
    Excludes,
    /// This condition did not match.
    NotMatched(&'static str),
}

/// The compiled exclusion rules, in config order.
pub struct Exclusions {
    list: Vec<Exclusion>,
}

impl Exclusions {
    /// Compiles the enabled exclusions.
    pub fn compile(configs: &[ExclusionConfig]) -> Exclusions {
        let list = configs
            .iter()
            .filter(|c| c.enabled)
            .map(|c| Exclusion {
                name: c.name.clone(),
                window: c.window.as_ref().map(|w| match w {
                    TimeWindow::Once { start_ms, end_ms } => CompiledWindow::Once {
                        start: *start_ms,
                        end: *end_ms,
                    },
                    TimeWindow::Daily {
                        timezone,
                        start_minute,
                        end_minute,
                    } => {
                        CompiledWindow::Daily {
                            // Validated by the config already; UTC only as a last resort.
                            tz: jiff::tz::db().get(timezone).unwrap_or(TimeZone::UTC),
                            start: *start_minute,
                            end: *end_minute,
                        }
                    }
                }),
                devices: c.devices.clone(),
                role: c.role,
                titles: c.titles.as_ref().map(|t| table(t)),
                sensors: c.sensors.as_ref().map(|s| table(s)),
            })
            .collect();
        Exclusions { list }
    }

    /// Whether there is no exclusion at all (the pipeline then skips the check).
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Number of compiled (enabled) exclusions.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// The index of the first exclusion that suppresses `alert`.
    #[inline]
    pub fn first_match(&self, alert: &Alert<'_>) -> Option<usize> {
        self.list
            .iter()
            .position(|e| e.verdict(alert) == ExclusionVerdict::Excludes)
    }

    /// Name of exclusion `i`.
    pub fn name(&self, i: usize) -> &str {
        &self.list[i].name
    }

    /// Each exclusion's name and verdict on `alert`, for `otrelay explain`.
    pub fn explain(&self, alert: &Alert<'_>) -> Vec<(&str, ExclusionVerdict)> {
        self.list
            .iter()
            .map(|e| (e.name.as_str(), e.verdict(alert)))
            .collect()
    }
}

fn table(names: &[String]) -> FoldTable {
    let mut t = FoldTable::new();
    for n in names {
        t.intern(n);
    }
    t
}

impl Exclusion {
    fn verdict(&self, alert: &Alert<'_>) -> ExclusionVerdict {
        if let Some(w) = &self.window {
            if !w.contains(alert.time_ms) {
                return ExclusionVerdict::NotMatched("alert time is outside the time window");
            }
        }
        if let Some(titles) = &self.titles {
            if titles.lookup(&alert.title).is_none() {
                return ExclusionVerdict::NotMatched("title is not listed");
            }
        }
        if let Some(sensors) = &self.sensors {
            if alert
                .sensor_name
                .is_none_or(|s| sensors.lookup(&s).is_none())
            {
                return ExclusionVerdict::NotMatched("sensor name is not listed");
            }
        }
        if !self.devices.is_empty() && !self.device_matches(alert) {
            return ExclusionVerdict::NotMatched("no device address matches");
        }
        ExclusionVerdict::Excludes
    }

    fn device_matches(&self, alert: &Alert<'_>) -> bool {
        let source = [alert.source_address, alert.source_mac];
        let destination = [alert.destination_address, alert.destination_mac];
        let fields: &[Option<RawStr<'_>>] = match self.role {
            DeviceRole::Source => &source,
            DeviceRole::Destination => &destination,
            DeviceRole::Either => &[source[0], source[1], destination[0], destination[1]],
        };
        fields.iter().flatten().any(|field| {
            // No address is longer than this buffer.
            let mut buf = [0u8; 64];
            let decoded = field.decode_to(&mut buf);
            let Some(text) = decoded.and_then(|b| std::str::from_utf8(b).ok()) else {
                return false;
            };
            let address = Address::parse(text);
            self.devices.iter().any(|d| address.matches(d))
        })
    }
}

impl CompiledWindow {
    fn contains(&self, time_ms: i64) -> bool {
        match self {
            CompiledWindow::Once { start, end } => (*start..*end).contains(&time_ms),
            CompiledWindow::Daily { tz, start, end } => {
                let Ok(ts) = Timestamp::from_millisecond(time_ms) else {
                    return false;
                };
                let local = time_ms.div_euclid(1000) + i64::from(tz.to_offset(ts).seconds());
                let minute = (local.rem_euclid(86_400) / 60) as u32;
                if start <= end {
                    (*start..*end).contains(&minute)
                } else {
                    minute >= *start || minute < *end
                }
            }
        }
    }
}

/// An alert's address, classified.
enum Address {
    Ip(IpAddr),
    Mac([u8; 6]),
    Other,
}

impl Address {
    fn parse(text: &str) -> Address {
        let text = text.trim();
        if let Ok(ip) = text.parse::<IpAddr>() {
            return Address::Ip(ip);
        }
        parse_mac(text).map_or(Address::Other, Address::Mac)
    }

    fn matches(&self, device: &DeviceMatch) -> bool {
        match (self, device) {
            (Address::Ip(a), DeviceMatch::Ip(b)) => a == b,
            (Address::Ip(a), DeviceMatch::Cidr(net, prefix)) => in_cidr(*a, *net, *prefix),
            (Address::Mac(a), DeviceMatch::Mac(b)) => a == b,
            _ => false,
        }
    }
}

/// Parses `00:1D:9C:C7:B0:70` or `00-1d-9c-c7-b0-70`.
pub(crate) fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let bytes = text.as_bytes();
    if bytes.len() != 17 {
        return None;
    }
    let sep = bytes[2];
    if sep != b':' && sep != b'-' {
        return None;
    }
    let mut mac = [0u8; 6];
    for (i, octet) in mac.iter_mut().enumerate() {
        let part = &text[i * 3..i * 3 + 2];
        if i > 0 && bytes[i * 3 - 1] != sep {
            return None;
        }
        *octet = u8::from_str_radix(part, 16).ok()?;
    }
    Some(mac)
}

/// Whether `addr` lies in `net/prefix` (same address family only).
fn in_cidr(addr: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (addr, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Severity;
    use crate::config::Config;

    fn compile(body: &str) -> Exclusions {
        let text = format!(
            "{body}\n[[rule]]\nname = \"r\"\n[[rule.action]]\nkind = \"cef\"\ntransport = \"stdout\"\n"
        );
        Exclusions::compile(&Config::parse(&text, "t").unwrap().exclusions)
    }

    fn alert<'a>(src: Option<&'a str>, title: &'a str, time_ms: i64) -> Alert<'a> {
        Alert {
            time_ms,
            title: RawStr::literal(title),
            severity: Severity::Major,
            source_address: src.map(RawStr::literal),
            destination_mac: Some(RawStr::literal("00:80:F4:0A:0B:0C")),
            sensor_name: Some(RawStr::literal("sensor-plant-01")),
            ..Alert::default()
        }
    }

    #[test]
    fn conditions_are_anded_and_absent_means_all() {
        let ex = compile(
            "[[exclusion]]\nname = \"scan\"\ntitles = [\"address scan detected\"]\n\
             devices = [\"10.1.0.0/16\"]\ndevice_role = \"source\"\n",
        );
        assert_eq!(
            ex.first_match(&alert(Some("10.1.2.3"), "Address Scan Detected", 0)),
            Some(0)
        );
        assert_eq!(
            ex.first_match(&alert(Some("10.2.2.3"), "Address Scan Detected", 0)),
            None
        );
        assert_eq!(ex.first_match(&alert(Some("10.1.2.3"), "Other", 0)), None);
        assert_eq!(
            ex.first_match(&alert(None, "Address Scan Detected", 0)),
            None
        );

        let all = compile("[[exclusion]]\nname = \"everything\"\n");
        assert_eq!(all.first_match(&alert(None, "x", 0)), Some(0));
    }

    #[test]
    fn roles_macs_and_sensors() {
        let ex = compile(
            "[[exclusion]]\nname = \"plc\"\ndevices = [\"00-80-f4-0a-0b-0c\"]\n\
             device_role = \"destination\"\nsensors = [\"SENSOR-PLANT-01\"]\n",
        );
        assert_eq!(ex.first_match(&alert(Some("10.0.0.1"), "x", 0)), Some(0));
        let ex = compile(
            "[[exclusion]]\nname = \"plc\"\ndevices = [\"00:80:F4:0A:0B:0C\"]\ndevice_role = \"source\"\n",
        );
        assert_eq!(ex.first_match(&alert(Some("10.0.0.1"), "x", 0)), None);
        let ex = compile("[[exclusion]]\nname = \"s\"\nsensors = [\"other\"]\n");
        assert_eq!(ex.first_match(&alert(None, "x", 0)), None);
    }

    #[test]
    fn one_off_and_daily_windows_in_their_zone() {
        let ex = compile(
            "[[exclusion]]\nname = \"once\"\ntimezone = \"Europe/Berlin\"\n\
             start = \"2023-11-14T23:00:00\"\nend = \"2023-11-15T00:00:00\"\n",
        );
        // 1_700_000_000_000 is 2023-11-14T22:13:20Z, 23:13:20 in Berlin.
        assert_eq!(
            ex.first_match(&alert(None, "x", 1_700_000_000_000)),
            Some(0)
        );
        assert_eq!(
            ex.first_match(&alert(None, "x", 1_700_000_000_000 - 3_600_000)),
            None
        );

        let ex = compile(
            "[[exclusion]]\nname = \"nightly\"\ntimezone = \"Europe/Berlin\"\n\
             daily_start = \"23:00\"\ndaily_end = \"01:30\"\n",
        );
        assert_eq!(
            ex.first_match(&alert(None, "x", 1_700_000_000_000)),
            Some(0)
        );
        assert_eq!(
            ex.first_match(&alert(None, "x", 1_700_000_000_000 + 2 * 3_600_000)),
            Some(0)
        );
        assert_eq!(
            ex.first_match(&alert(None, "x", 1_700_000_000_000 + 3 * 3_600_000)),
            None
        );
    }

    #[test]
    fn cidr_and_mac_parsing() {
        let v4 = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(in_cidr(v4("10.1.255.1"), v4("10.1.0.0"), 16));
        assert!(!in_cidr(v4("10.2.0.1"), v4("10.1.0.0"), 16));
        assert!(in_cidr(v4("1.2.3.4"), v4("0.0.0.0"), 0));
        assert!(in_cidr(v4("fe80::1"), v4("fe80::"), 10));
        assert!(!in_cidr(v4("fe80::1"), v4("10.0.0.0"), 8));
        assert_eq!(
            parse_mac("00:1D:9C:C7:B0:70"),
            Some([0, 0x1d, 0x9c, 0xc7, 0xb0, 0x70])
        );
        assert_eq!(parse_mac("00:1D-9C:C7:B0:70"), None);
        assert_eq!(parse_mac("00:1D:9C:C7:B0"), None);
    }
}
