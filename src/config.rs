//! The TOML configuration: parsing, validation, and the validated [`Config`] the rest uses.
//!
//! Pipeline position: start-up only, on the main thread (and in `otrelay check`). Everything is
//! validated here, once, with errors that name the file, line, column and key; the runtime types
//! built from a [`Config`] never re-validate. Unknown keys are errors, so a typo cannot silently
//! turn a filter off.
//!
//! The raw `Raw*` structs mirror the file; `build` turns them into the public, validated types.
//! Values that need checks beyond their TOML type are `Spanned`, so the error can point at them.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::alert::{DetectionEngine, SensorIdentity, Severity};

/// Exit status of `otrelay check` and `otrelay run` for a bad config (`EX_CONFIG`).
pub const EXIT_CONFIG: i32 = 78;

/// A configuration problem, located in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file, or `<embedded>` for built-in configs.
    pub origin: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// The dotted key path, such as `rule[1].action[0].timezone`, when known.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.origin)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        f.write_str(": ")?;
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Where a source reads alerts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKind {
    /// Standard input, until end of file.
    Stdin,
    /// A file, read to its end; with `follow`, tailed like `tail -F`.
    File {
        /// Path of the file.
        path: PathBuf,
        /// Keep reading as the file grows (and reopen it when rotated).
        follow: bool,
    },
    /// A TCP listener; newline-delimited alerts from any number of clients.
    Tcp {
        /// Address to listen on.
        listen: SocketAddr,
    },
    /// A UDP listener; one alert per datagram.
    Udp {
        /// Address to listen on.
        listen: SocketAddr,
    },
}

/// One validated `[[source]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceConfig {
    /// Name used in the dead-letter file and the summary (`file:examples/alerts.jsonl`).
    pub name: String,
    /// What to read.
    pub kind: SourceKind,
}

/// The message format of an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionKind {
    /// Microsoft's documented CEF layout (sensor "Syslog server, CEF format").
    Cef,
    /// CEF for RSA NetWitness: CyberX header plus the standard keys NetWitness maps.
    NetWitness,
    /// LEEF 1.0 or 2.0 (sensor "Syslog server, LEEF format"; QRadar).
    Leef,
    /// Labelled text (sensor "Syslog server, text message").
    Text,
    /// Labelled object fields (sensor "Syslog server, object message").
    Object,
}

impl ActionKind {
    /// The config spelling.
    pub fn name(self) -> &'static str {
        match self {
            ActionKind::Cef => "cef",
            ActionKind::NetWitness => "netwitness",
            ActionKind::Leef => "leef",
            ActionKind::Text => "text",
            ActionKind::Object => "object",
        }
    }
}

/// Options of the formats that have more than the CEF header overrides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatOptions {
    /// CEF (either flavor): only the header overrides of [`ActionConfig`].
    Cef,
    /// LEEF version, delimiter and header strings.
    Leef(crate::encode::leef::LeefOptions),
    /// Text separator and label set.
    Text(crate::encode::text::TextOptions),
    /// Object style and separator.
    Object(crate::encode::object::ObjectOptions),
}

/// How an action reaches its receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportKind {
    /// One message per datagram.
    Udp,
    /// A stream, framed per [`FramingKind`].
    Tcp,
    /// TLS over TCP (RFC 5425), always octet-counted.
    Tls,
    /// Standard output, one message per line; for trying otrelay out.
    Stdout,
}

/// TCP framing (RFC 6587).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FramingKind {
    /// Each message ends with LF.
    Lf,
    /// Each message is preceded by its length and a space.
    OctetCounting,
}

/// Syslog header layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HeaderKind {
    /// `<PRI>Mmm dd HH:MM:SS host ` (the sensor's layout, the default).
    Rfc3164,
    /// `<PRI>1 YYYY-MM-DDTHH:MM:SSZ host app - - - `.
    Rfc5424,
}

/// One validated `[[rule.action]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionConfig {
    /// Message format.
    pub kind: ActionKind,
    /// Receiver host name or address.
    pub host: String,
    /// Receiver port.
    pub port: u16,
    /// Transport.
    pub transport: TransportKind,
    /// TCP framing.
    pub framing: FramingKind,
    /// IANA zone for the alert time inside the message.
    pub timezone: String,
    /// Syslog header layout.
    pub header: HeaderKind,
    /// Syslog facility (0..=23); the sensor uses 1 (user).
    pub facility: u8,
    /// Syslog severity (0..=7); the sensor uses 1 (alert).
    pub syslog_severity: u8,
    /// RFC 5424 APP-NAME.
    pub app_name: String,
    /// Header host name; defaults to `sensor.hostname`.
    pub hostname: Option<String>,
    /// Longest message in bytes, syslog header included; longer ones are truncated.
    pub max_message: usize,
    /// CEF Device Vendor override.
    pub vendor: Option<String>,
    /// CEF Device Product override.
    pub product: Option<String>,
    /// CEF Device Version override.
    pub version: Option<String>,
    /// CEF Device Event Class ID override.
    pub event_class: Option<String>,
    /// CEF: cut standard keys to the CEF standard's maximum lengths (default true).
    pub field_limits: bool,
    /// TLS settings, for `transport = "tls"`.
    pub tls: Option<crate::send::TlsOptions>,
    /// Format-specific options.
    pub format: FormatOptions,
}

impl ActionConfig {
    /// A short name for logs and the summary, such as `netwitness tcp://127.0.0.1:514`.
    pub fn describe(&self) -> String {
        let kind = self.kind.name();
        match self.transport {
            TransportKind::Stdout => format!("{kind} stdout"),
            TransportKind::Udp => format!("{kind} udp://{}:{}", self.host, self.port),
            TransportKind::Tcp => format!("{kind} tcp://{}:{}", self.host, self.port),
            TransportKind::Tls => format!("{kind} tls://{}:{}", self.host, self.port),
        }
    }
}

/// One validated `[[rule]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleConfig {
    /// Unique rule name.
    pub name: String,
    /// Minimal alert level.
    pub min_level: Severity,
    /// Accepted protocols, compared ignoring ASCII case; `None` = any protocol.
    pub protocols: Option<Vec<String>>,
    /// Accepted engines; `None` = any engine.
    pub engines: Option<Vec<DetectionEngine>>,
    /// Alerts raised before this instant (epoch ms) are not forwarded.
    pub created_at_ms: Option<i64>,
    /// Disabled rules are validated but never match.
    pub enabled: bool,
    /// Forward engine alerts (default true).
    pub alert_notifications: bool,
    /// Forward system notifications such as a disconnected sensor (default false).
    pub system_notifications: bool,
    /// Where matching alerts go.
    pub actions: Vec<ActionConfig>,
}

/// Which end of an alert a device condition looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceRole {
    /// The source address or MAC.
    Source,
    /// The destination address or MAC.
    Destination,
    /// Either end (the default).
    Either,
}

/// One device condition of an exclusion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceMatch {
    /// One IP address.
    Ip(std::net::IpAddr),
    /// A subnet: network address and prefix length.
    Cidr(std::net::IpAddr, u8),
    /// One MAC address.
    Mac([u8; 6]),
}

/// The time condition of an exclusion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeWindow {
    /// From `start_ms` (inclusive) to `end_ms` (exclusive), epoch milliseconds.
    Once {
        /// Start, epoch ms.
        start_ms: i64,
        /// End, epoch ms.
        end_ms: i64,
    },
    /// Every day between two local times of `timezone`; wraps past midnight when start > end.
    Daily {
        /// IANA zone of the local times.
        timezone: String,
        /// Minutes after midnight, inclusive.
        start_minute: u32,
        /// Minutes after midnight, exclusive.
        end_minute: u32,
    },
}

/// One validated `[[exclusion]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExclusionConfig {
    /// Unique name.
    pub name: String,
    /// Time condition; `None` = any time.
    pub window: Option<TimeWindow>,
    /// Device conditions (any of them); empty = any device.
    pub devices: Vec<DeviceMatch>,
    /// Which end the device conditions look at.
    pub role: DeviceRole,
    /// Alert titles (ignoring case); `None` = any title.
    pub titles: Option<Vec<String>>,
    /// Sensor names (ignoring case); `None` = any sensor.
    pub sensors: Option<Vec<String>>,
    /// Disabled exclusions are validated but never apply.
    pub enabled: bool,
}

/// Pipeline sizing and threading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineConfig {
    /// Longest accepted alert line in bytes; longer lines go to the dead-letter file.
    pub max_line: usize,
    /// Size of one intake block; at least `max_line + 1`.
    pub block_size: usize,
    /// Intake blocks per source: the intake ring's depth.
    pub blocks: usize,
    /// Output batch flush threshold in bytes.
    pub batch_bytes: usize,
    /// Output batches per destination: the send queue's bound.
    pub batches: usize,
    /// Pipeline worker threads (parse, rules, encode). One keeps every destination's messages
    /// in input order; more spread the work over more cores, and order holds only within a
    /// block of lines.
    pub workers: usize,
    /// With several workers: give each worker a sender thread and connections of its own, so
    /// that the kernel's per-message send work runs on several CPUs. Each worker then opens its
    /// own connection to every TCP or TLS destination.
    pub sender_per_worker: bool,
    /// Pin threads to CPUs when the machine has enough of them.
    pub pin: bool,
    /// How long shutdown may take to deliver what is queued.
    pub drain_timeout: Duration,
    /// TCP reconnect back-off, first step.
    pub backoff_min: Duration,
    /// TCP reconnect back-off, cap.
    pub backoff_max: Duration,
    /// Bytes resent beyond the unacknowledged ones after a TCP reconnect.
    pub replay_overlap: usize,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            max_line: 64 * 1024,
            block_size: 1024 * 1024,
            blocks: 8,
            batch_bytes: 64 * 1024,
            batches: 64,
            workers: 1,
            sender_per_worker: false,
            pin: true,
            drain_timeout: Duration::from_secs(5),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(30),
            replay_overlap: 64 * 1024,
        }
    }
}

/// A validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Where rejected lines are written, with their reason and source; by default
    /// `otrelay-dead-letter.log` in the working directory.
    pub dead_letter: PathBuf,
    /// The sensor identity for headers.
    pub sensor: SensorIdentity,
    /// Sizing and threading.
    pub pipeline: PipelineConfig,
    /// Alert sources.
    pub sources: Vec<SourceConfig>,
    /// Exclusion rules, in file order.
    pub exclusions: Vec<ExclusionConfig>,
    /// Forwarding rules, in file order.
    pub rules: Vec<RuleConfig>,
}

impl Config {
    /// Reads and validates a config file.
    ///
    /// # Errors
    ///
    /// Returns a [`ConfigError`] naming the file, line and key of the first problem.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            origin: origin.clone(),
            line: None,
            column: None,
            key: None,
            message: format!("cannot read: {e}"),
        })?;
        Config::parse(&text, &origin)
    }

    /// Parses and validates config text; `origin` names it in errors.
    ///
    /// # Errors
    ///
    /// Returns a [`ConfigError`] naming the line and key of the first problem.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let (line, column) = match e.span() {
                Some(span) => line_col(text, span.start),
                None => (None, None),
            };
            ConfigError {
                origin: origin.to_owned(),
                line,
                column,
                key: None,
                message: e.message().trim_end().to_owned(),
            }
        })?;
        let cx = Cx { text, origin };
        raw.build(&cx)
    }
}

/// Error-building context: the text, for turning spans into lines.
struct Cx<'t> {
    text: &'t str,
    origin: &'t str,
}

impl Cx<'_> {
    fn err(&self, span: std::ops::Range<usize>, key: String, message: String) -> ConfigError {
        let (line, column) = line_col(self.text, span.start);
        ConfigError {
            origin: self.origin.to_owned(),
            line,
            column,
            key: Some(key),
            message,
        }
    }

    fn err_nospan(&self, key: String, message: String) -> ConfigError {
        ConfigError {
            origin: self.origin.to_owned(),
            line: None,
            column: None,
            key: Some(key),
            message,
        }
    }
}

impl Cx<'_> {
    /// One of a fixed set of spellings, or an error that lists them.
    fn pick<T: Copy>(
        &self,
        value: &Spanned<String>,
        key: String,
        what: &str,
        options: &[(&str, T)],
    ) -> Result<T, ConfigError> {
        if let Some((_, v)) = options.iter().find(|(name, _)| *name == value.get_ref()) {
            return Ok(*v);
        }
        let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
        let expected = match names.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
            _ => names.join(""),
        };
        let msg = format!("unknown {what} {:?}; expected {expected}", value.get_ref());
        Err(self.err(value.span(), key, msg))
    }

    /// An IANA time zone name that the bundled database knows; UTC when absent.
    fn timezone(
        &self,
        value: &Option<Spanned<String>>,
        key: String,
    ) -> Result<String, ConfigError> {
        let Some(tz) = value else {
            return Ok("UTC".to_owned());
        };
        if jiff::tz::db().get(tz.get_ref()).is_err() {
            let msg = format!("unknown time zone {:?} (use an IANA name)", tz.get_ref());
            return Err(self.err(tz.span(), key, msg));
        }
        Ok(tz.get_ref().clone())
    }

    /// A rule or exclusion name: non-empty, without `"` (the console's rule).
    fn name(
        &self,
        value: &Spanned<String>,
        key: String,
        what: &str,
    ) -> Result<String, ConfigError> {
        let name = value.get_ref().trim().to_owned();
        if name.is_empty() || name.contains('"') {
            let msg = format!("{what} names must be non-empty and contain no `\"`");
            return Err(self.err(value.span(), key, msg));
        }
        Ok(name)
    }
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (Option<usize>, Option<usize>) {
    let offset = offset.min(text.len());
    let before = &text.as_bytes()[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    (Some(line), Some(offset - line_start + 1))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    dead_letter: Option<String>,
    #[serde(default)]
    sensor: RawSensor,
    #[serde(default)]
    pipeline: RawPipeline,
    #[serde(default, rename = "source")]
    sources: Vec<Spanned<RawSource>>,
    #[serde(default, rename = "rule")]
    rules: Vec<Spanned<RawRule>>,
    #[serde(default, rename = "exclusion")]
    exclusions: Vec<Spanned<RawExclusion>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExclusion {
    name: Spanned<String>,
    timezone: Option<Spanned<String>>,
    start: Option<Spanned<String>>,
    end: Option<Spanned<String>>,
    daily_start: Option<Spanned<String>>,
    daily_end: Option<Spanned<String>>,
    devices: Option<Vec<Spanned<String>>>,
    device_role: Option<Spanned<String>>,
    titles: Option<Vec<String>>,
    sensors: Option<Vec<String>>,
    enabled: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSensor {
    name: Option<String>,
    hostname: Option<String>,
    version: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPipeline {
    max_line: Option<Spanned<u64>>,
    block_size: Option<Spanned<u64>>,
    blocks: Option<Spanned<u64>>,
    batch_bytes: Option<Spanned<u64>>,
    batches: Option<Spanned<u64>>,
    workers: Option<Spanned<u64>>,
    sender_per_worker: Option<bool>,
    pin: Option<bool>,
    drain_timeout_ms: Option<u64>,
    backoff_min_ms: Option<Spanned<u64>>,
    backoff_max_ms: Option<Spanned<u64>>,
    replay_overlap: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    kind: Spanned<String>,
    path: Option<String>,
    follow: Option<bool>,
    listen: Option<Spanned<String>>,
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Spanned<String>,
    min_level: Option<Spanned<String>>,
    protocols: Option<Vec<Spanned<String>>>,
    engines: Option<Vec<Spanned<String>>>,
    created_at: Option<Spanned<String>>,
    enabled: Option<bool>,
    alert_notifications: Option<bool>,
    system_notifications: Option<bool>,
    #[serde(default, rename = "action")]
    actions: Vec<Spanned<RawAction>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAction {
    kind: Spanned<String>,
    host: Option<Spanned<String>>,
    port: Option<Spanned<i64>>,
    transport: Option<Spanned<String>>,
    framing: Option<Spanned<String>>,
    timezone: Option<Spanned<String>>,
    header: Option<Spanned<String>>,
    facility: Option<Spanned<i64>>,
    severity: Option<Spanned<i64>>,
    app_name: Option<Spanned<String>>,
    hostname: Option<Spanned<String>>,
    max_message: Option<Spanned<i64>>,
    vendor: Option<String>,
    product: Option<String>,
    version: Option<String>,
    event_class: Option<String>,
    ca: Option<Spanned<String>>,
    client_cert: Option<String>,
    client_key: Option<String>,
    key_passphrase_env: Option<String>,
    key_passphrase_file: Option<String>,
    verify: Option<Spanned<String>>,
    server_name: Option<String>,
    leef_version: Option<Spanned<String>>,
    delimiter: Option<Spanned<String>>,
    separator: Option<Spanned<String>>,
    legacy_labels: Option<bool>,
    style: Option<Spanned<String>>,
    field_limits: Option<bool>,
}

impl RawConfig {
    fn build(self, cx: &Cx<'_>) -> Result<Config, ConfigError> {
        let defaults = SensorIdentity::default();
        let name = self.sensor.name.unwrap_or(defaults.name);
        let sensor = SensorIdentity {
            hostname: self.sensor.hostname.unwrap_or_else(|| name.clone()),
            name,
            version: self.sensor.version.unwrap_or(defaults.version),
        };
        let pipeline = self.pipeline.build(cx)?;

        let mut sources = Vec::with_capacity(self.sources.len());
        for (i, source) in self.sources.into_iter().enumerate() {
            sources.push(source.into_inner().build(cx, i)?);
        }

        let mut rules: Vec<RuleConfig> = Vec::with_capacity(self.rules.len());
        for (i, rule) in self.rules.into_iter().enumerate() {
            let span = rule.span();
            let rule = rule.into_inner().build(cx, i)?;
            if rules.iter().any(|r| r.name == rule.name) {
                let msg = format!("duplicate rule name {:?}", rule.name);
                return Err(cx.err(span, format!("rule[{i}].name"), msg));
            }
            rules.push(rule);
        }

        let mut exclusions: Vec<ExclusionConfig> = Vec::with_capacity(self.exclusions.len());
        for (i, ex) in self.exclusions.into_iter().enumerate() {
            let span = ex.span();
            let ex = ex.into_inner().build(cx, i)?;
            if exclusions.iter().any(|e| e.name == ex.name) {
                let msg = format!("duplicate exclusion name {:?}", ex.name);
                return Err(cx.err(span, format!("exclusion[{i}].name"), msg));
            }
            exclusions.push(ex);
        }

        let dead_letter = PathBuf::from(
            self.dead_letter
                .unwrap_or_else(|| "otrelay-dead-letter.log".to_owned()),
        );
        Ok(Config {
            dead_letter,
            sensor,
            pipeline,
            sources,
            exclusions,
            rules,
        })
    }
}

/// Reads an optional spanned integer within `range`.
fn int_in(
    cx: &Cx<'_>,
    value: Option<Spanned<u64>>,
    key: &str,
    range: std::ops::RangeInclusive<u64>,
    default: u64,
) -> Result<u64, ConfigError> {
    let Some(value) = value else {
        return Ok(default);
    };
    let v = *value.get_ref();
    if !range.contains(&v) {
        let msg = format!("{v} is out of range {}..={}", range.start(), range.end());
        return Err(cx.err(value.span(), key.to_owned(), msg));
    }
    Ok(v)
}

impl RawExclusion {
    fn build(self, cx: &Cx<'_>, i: usize) -> Result<ExclusionConfig, ConfigError> {
        let key = |k: &str| format!("exclusion[{i}].{k}");
        let name = cx.name(&self.name, key("name"), "exclusion")?;

        let timezone = cx.timezone(&self.timezone, key("timezone"))?;

        let window = match (&self.start, &self.end, &self.daily_start, &self.daily_end) {
            (None, None, None, None) => None,
            (Some(start), Some(end), None, None) => {
                let start_ms = instant(cx, start, &timezone, &key("start"))?;
                let end_ms = instant(cx, end, &timezone, &key("end"))?;
                if end_ms <= start_ms {
                    let msg = "end must be after start".to_owned();
                    return Err(cx.err(end.span(), key("end"), msg));
                }
                Some(TimeWindow::Once { start_ms, end_ms })
            }
            (None, None, Some(start), Some(end)) => {
                let start_minute = clock(cx, start, &key("daily_start"))?;
                let end_minute = clock(cx, end, &key("daily_end"))?;
                Some(TimeWindow::Daily {
                    timezone,
                    start_minute,
                    end_minute,
                })
            }
            _ => {
                let msg = "give either `start` and `end`, or `daily_start` and `daily_end`";
                return Err(cx.err(self.name.span(), key("start"), msg.to_owned()));
            }
        };

        let mut devices = Vec::new();
        for d in self.devices.iter().flatten() {
            let parsed = device(d.get_ref()).ok_or_else(|| {
                let msg = format!(
                    "{:?} is not an IP address, a CIDR subnet or a MAC",
                    d.get_ref()
                );
                cx.err(d.span(), key("devices"), msg)
            })?;
            devices.push(parsed);
        }

        let roles = [
            ("source", DeviceRole::Source),
            ("destination", DeviceRole::Destination),
            ("either", DeviceRole::Either),
        ];
        let role = match &self.device_role {
            None => DeviceRole::Either,
            Some(r) => cx.pick(r, key("device_role"), "role", &roles)?,
        };

        Ok(ExclusionConfig {
            name,
            window,
            devices,
            role,
            titles: self.titles,
            sensors: self.sensors,
            enabled: self.enabled.unwrap_or(true),
        })
    }
}

/// An instant: RFC 3339 with an offset, or a civil date-time in `timezone`.
fn instant(
    cx: &Cx<'_>,
    value: &Spanned<String>,
    timezone: &str,
    key: &str,
) -> Result<i64, ConfigError> {
    let text = value.get_ref();
    if let Ok(ts) = text.parse::<jiff::Timestamp>() {
        return Ok(ts.as_millisecond());
    }
    let civil: Result<jiff::civil::DateTime, _> = text.parse();
    civil
        .and_then(|dt| dt.in_tz(timezone))
        .map(|z| z.timestamp().as_millisecond())
        .map_err(|e| {
            let msg = format!("{text:?} is not a date-time (2026-12-24T18:00:00): {e}");
            cx.err(value.span(), key.to_owned(), msg)
        })
}

/// A LEEF 2.0 delimiter: one ASCII character, or TAB spelled `x09`, `0x09` or `tab`.
fn leef_delimiter(text: &str) -> Option<u8> {
    match text {
        "x09" | "0x09" | "tab" | "\t" => Some(b'\t'),
        _ if text.len() == 1 && text.is_ascii() => text.bytes().next(),
        _ => None,
    }
}

/// `HH:MM` as minutes after midnight.
fn clock(cx: &Cx<'_>, value: &Spanned<String>, key: &str) -> Result<u32, ConfigError> {
    let text = value.get_ref();
    let parsed = text.split_once(':').and_then(|(h, m)| {
        let (h, m) = (h.parse::<u32>().ok()?, m.parse::<u32>().ok()?);
        (h < 24 && m < 60 && text.len() == 5).then_some(h * 60 + m)
    });
    parsed.ok_or_else(|| {
        cx.err(
            value.span(),
            key.to_owned(),
            format!("{text:?} is not HH:MM"),
        )
    })
}

/// An IP, a CIDR subnet or a MAC.
fn device(text: &str) -> Option<DeviceMatch> {
    let text = text.trim();
    if let Some((net, prefix)) = text.split_once('/') {
        let net: std::net::IpAddr = net.parse().ok()?;
        let prefix: u8 = prefix.parse().ok()?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        return (prefix <= max).then_some(DeviceMatch::Cidr(net, prefix));
    }
    if let Ok(ip) = text.parse() {
        return Some(DeviceMatch::Ip(ip));
    }
    crate::exclusions::parse_mac(text).map(DeviceMatch::Mac)
}

impl RawPipeline {
    fn build(self, cx: &Cx<'_>) -> Result<PipelineConfig, ConfigError> {
        let d = PipelineConfig::default();
        let max_line = int_in(
            cx,
            self.max_line,
            "pipeline.max_line",
            64..=(16 << 20),
            64 << 10,
        )?;
        let block_span = self.block_size.as_ref().map(|b| b.span());
        let block_size = int_in(
            cx,
            self.block_size,
            "pipeline.block_size",
            4096..=(64 << 20),
            1 << 20,
        )?;
        if block_size <= max_line {
            let msg = format!("block_size ({block_size}) must exceed max_line ({max_line})");
            return Err(match block_span {
                Some(span) => cx.err(span, "pipeline.block_size".into(), msg),
                None => cx.err_nospan("pipeline.block_size".into(), msg),
            });
        }
        let blocks = int_in(cx, self.blocks, "pipeline.blocks", 2..=1024, 8)?;
        let batch_bytes = int_in(
            cx,
            self.batch_bytes,
            "pipeline.batch_bytes",
            512..=(16 << 20),
            64 << 10,
        )?;
        let batches = int_in(cx, self.batches, "pipeline.batches", 2..=65536, 64)?;
        let workers = int_in(cx, self.workers, "pipeline.workers", 1..=64, 1)?;
        let backoff_min = int_in(
            cx,
            self.backoff_min_ms,
            "pipeline.backoff_min_ms",
            1..=60_000,
            100,
        )?;
        let backoff_max = int_in(
            cx,
            self.backoff_max_ms,
            "pipeline.backoff_max_ms",
            1..=3_600_000,
            30_000,
        )?;

        Ok(PipelineConfig {
            max_line: max_line as usize,
            block_size: block_size as usize,
            blocks: blocks as usize,
            batch_bytes: batch_bytes as usize,
            batches: batches as usize,
            workers: workers as usize,
            sender_per_worker: self.sender_per_worker.unwrap_or(d.sender_per_worker),
            pin: self.pin.unwrap_or(d.pin),
            drain_timeout: self
                .drain_timeout_ms
                .map_or(d.drain_timeout, Duration::from_millis),
            backoff_min: Duration::from_millis(backoff_min),
            backoff_max: Duration::from_millis(backoff_max.max(backoff_min)),
            replay_overlap: self.replay_overlap.map_or(d.replay_overlap, |v| v as usize),
        })
    }
}

impl RawSource {
    fn build(self, cx: &Cx<'_>, i: usize) -> Result<SourceConfig, ConfigError> {
        let key = |k: &str| format!("source[{i}].{k}");
        let listen = |cx: &Cx<'_>, listen: Option<Spanned<String>>| {
            let Some(listen) = listen else {
                let msg = "missing `listen` (for example \"127.0.0.1:6000\")".to_owned();
                return Err(cx.err_nospan(key("listen"), msg));
            };
            listen.get_ref().parse::<SocketAddr>().map_err(|e| {
                cx.err(
                    listen.span(),
                    key("listen"),
                    format!("{:?}: {e}", listen.get_ref()),
                )
            })
        };

        let kind = match self.kind.get_ref().as_str() {
            "stdin" => SourceKind::Stdin,
            "file" => {
                let Some(path) = self.path else {
                    return Err(cx.err(self.kind.span(), key("path"), "missing `path`".into()));
                };
                SourceKind::File {
                    path: PathBuf::from(path),
                    follow: self.follow.unwrap_or(false),
                }
            }
            "tcp" => SourceKind::Tcp {
                listen: listen(cx, self.listen)?,
            },
            "udp" => SourceKind::Udp {
                listen: listen(cx, self.listen)?,
            },
            other => {
                let msg =
                    format!("unknown source kind {other:?}; expected stdin, file, tcp or udp");
                return Err(cx.err(self.kind.span(), key("kind"), msg));
            }
        };
        let name = self.name.unwrap_or_else(|| match &kind {
            SourceKind::Stdin => "stdin".to_owned(),
            SourceKind::File { path, .. } => format!("file:{}", path.display()),
            SourceKind::Tcp { listen } => format!("tcp:{listen}"),
            SourceKind::Udp { listen } => format!("udp:{listen}"),
        });
        Ok(SourceConfig { name, kind })
    }
}

impl RawRule {
    fn build(self, cx: &Cx<'_>, i: usize) -> Result<RuleConfig, ConfigError> {
        let key = |k: &str| format!("rule[{i}].{k}");
        let name = cx.name(&self.name, key("name"), "rule")?;

        let min_level = match &self.min_level {
            None => Severity::Warning,
            Some(level) => Severity::from_name(level.get_ref().as_bytes()).ok_or_else(|| {
                let msg = format!(
                    "unknown level {:?}; expected Warning, Minor, Major or Critical",
                    level.get_ref()
                );
                cx.err(level.span(), key("min_level"), msg)
            })?,
        };

        let protocols = match self.protocols {
            None => None,
            Some(list) => {
                let mut out = Vec::with_capacity(list.len());
                for p in list {
                    let v = p.get_ref().trim();
                    if v.is_empty() {
                        let msg = "empty protocol name".to_owned();
                        return Err(cx.err(p.span(), key("protocols"), msg));
                    }
                    out.push(v.to_owned());
                }
                Some(out)
            }
        };

        let engines = match self.engines {
            None => None,
            Some(list) => {
                let mut out = Vec::with_capacity(list.len());
                for e in list {
                    let engine = DetectionEngine::from_config_name(e.get_ref()).ok_or_else(|| {
                        let msg = format!(
                            "unknown engine {:?}; expected Policy Violation, Protocol Violation, \
                             Malware, Anomaly or Operational",
                            e.get_ref()
                        );
                        cx.err(e.span(), key("engines"), msg)
                    })?;
                    out.push(engine);
                }
                Some(out)
            }
        };

        let created_at_ms = match &self.created_at {
            None => None,
            Some(t) => {
                let ts: jiff::Timestamp = t.get_ref().parse().map_err(|e| {
                    let msg = format!("{:?} is not an RFC 3339 time: {e}", t.get_ref());
                    cx.err(t.span(), key("created_at"), msg)
                })?;
                Some(ts.as_millisecond())
            }
        };

        if self.actions.is_empty() {
            let msg = "a rule needs at least one [[rule.action]]".to_owned();
            return Err(cx.err(self.name.span(), key("action"), msg));
        }
        let mut actions = Vec::with_capacity(self.actions.len());
        for (j, action) in self.actions.into_iter().enumerate() {
            let span = action.span();
            let prefix = format!("rule[{i}].action[{j}]");
            actions.push(action.into_inner().build(cx, &prefix, span)?);
        }

        Ok(RuleConfig {
            name,
            min_level,
            protocols,
            engines,
            created_at_ms,
            enabled: self.enabled.unwrap_or(true),
            alert_notifications: self.alert_notifications.unwrap_or(true),
            system_notifications: self.system_notifications.unwrap_or(false),
            actions,
        })
    }
}

impl RawAction {
    fn build(
        self,
        cx: &Cx<'_>,
        prefix: &str,
        span: std::ops::Range<usize>,
    ) -> Result<ActionConfig, ConfigError> {
        let key = |k: &str| format!("{prefix}.{k}");

        let kinds = [
            ActionKind::Cef,
            ActionKind::NetWitness,
            ActionKind::Leef,
            ActionKind::Text,
            ActionKind::Object,
        ]
        .map(|k| (k.name(), k));
        let kind = cx.pick(&self.kind, key("kind"), "action kind", &kinds)?;

        let transports = [
            ("udp", TransportKind::Udp),
            ("tcp", TransportKind::Tcp),
            ("tls", TransportKind::Tls),
            ("stdout", TransportKind::Stdout),
        ];
        let transport = match &self.transport {
            None => TransportKind::Udp,
            Some(t) => cx.pick(t, key("transport"), "transport", &transports)?,
        };

        let framing = match &self.framing {
            None => FramingKind::Lf,
            Some(f) => {
                let framings = [
                    ("lf", FramingKind::Lf),
                    ("octet-counting", FramingKind::OctetCounting),
                ];
                let framing = cx.pick(f, key("framing"), "framing", &framings)?;
                if transport == TransportKind::Tls && framing != FramingKind::OctetCounting {
                    let msg = "TLS syslog (RFC 5425) is always octet-counted".to_owned();
                    return Err(cx.err(f.span(), key("framing"), msg));
                }
                if transport != TransportKind::Tcp && transport != TransportKind::Tls {
                    let msg = "framing applies to transport = \"tcp\" only".to_owned();
                    return Err(cx.err(f.span(), key("framing"), msg));
                }
                framing
            }
        };
        let framing = if transport == TransportKind::Tls {
            FramingKind::OctetCounting
        } else {
            framing
        };

        let headers = [
            ("rfc3164", HeaderKind::Rfc3164),
            ("rfc5424", HeaderKind::Rfc5424),
        ];
        let header = match &self.header {
            None => HeaderKind::Rfc3164,
            Some(h) => cx.pick(h, key("header"), "header", &headers)?,
        };

        let host = match (&self.host, transport) {
            (Some(h), _) if h.get_ref().trim().is_empty() => {
                return Err(cx.err(h.span(), key("host"), "empty host".into()));
            }
            (Some(h), _) => h.get_ref().trim().to_owned(),
            (None, TransportKind::Stdout) => String::new(),
            (None, _) => {
                let msg = "missing `host` (the receiver's name or address)".to_owned();
                return Err(cx.err(span, key("host"), msg));
            }
        };

        let port = match &self.port {
            None if transport == TransportKind::Stdout => 0,
            None if transport == TransportKind::Tls => 6514,
            None => 514,
            Some(p) => u16::try_from(*p.get_ref())
                .ok()
                .filter(|&p| p != 0)
                .ok_or_else(|| {
                    cx.err(
                        p.span(),
                        key("port"),
                        format!("{} is not a port", p.get_ref()),
                    )
                })?,
        };

        let timezone = cx.timezone(&self.timezone, key("timezone"))?;

        let small = |v: &Option<Spanned<i64>>, k: &str, max: i64, default: u8| match v {
            None => Ok(default),
            Some(x) if (0..=max).contains(x.get_ref()) => Ok(*x.get_ref() as u8),
            Some(x) => {
                let msg = format!("{} is out of range 0..={max}", x.get_ref());
                Err(cx.err(x.span(), key(k), msg))
            }
        };
        let facility = small(&self.facility, "facility", 23, 1)?;
        let syslog_severity = small(&self.severity, "severity", 7, 1)?;

        let app_name = match &self.app_name {
            None => "otrelay".to_owned(),
            Some(a) => {
                let v = a.get_ref();
                if v.is_empty() || v.len() > 48 || !v.bytes().all(|b| (33..=126).contains(&b)) {
                    let msg = "app_name must be 1..=48 printable ASCII characters".to_owned();
                    return Err(cx.err(a.span(), key("app_name"), msg));
                }
                v.clone()
            }
        };

        let hostname = match &self.hostname {
            None => None,
            Some(h) => {
                let v = h.get_ref();
                if v.is_empty() || v.len() > 255 || !v.bytes().all(|b| (32..=126).contains(&b)) {
                    let msg = "hostname must be 1..=255 printable ASCII characters".to_owned();
                    return Err(cx.err(h.span(), key("hostname"), msg));
                }
                Some(v.clone())
            }
        };

        let tls = self.tls(cx, &key, span.clone(), transport, &host)?;
        let format = self.format(cx, &key, kind)?;

        let default_max = match transport {
            TransportKind::Udp => 2048,
            TransportKind::Tcp | TransportKind::Tls | TransportKind::Stdout => 64 * 1024,
        };
        let max_message = match &self.max_message {
            None => default_max,
            Some(m) => {
                let limit = if transport == TransportKind::Udp {
                    65_507
                } else {
                    1 << 20
                };
                let v = *m.get_ref();
                if !(480..=limit).contains(&v) {
                    let msg = format!("{v} is out of range 480..={limit}");
                    return Err(cx.err(m.span(), key("max_message"), msg));
                }
                v as usize
            }
        };

        Ok(ActionConfig {
            kind,
            host,
            port,
            transport,
            framing,
            timezone,
            header,
            facility,
            syslog_severity,
            app_name,
            hostname,
            max_message,
            vendor: self.vendor,
            product: self.product,
            version: self.version,
            event_class: self.event_class,
            field_limits: self.field_limits.unwrap_or(true),
            tls,
            format,
        })
    }

    /// The format-specific keys, which only their format accepts.
    fn format(
        &self,
        cx: &Cx<'_>,
        key: &dyn Fn(&str) -> String,
        kind: ActionKind,
    ) -> Result<FormatOptions, ConfigError> {
        use crate::encode::leef::{LeefOptions, LeefVersion};
        use crate::encode::object::{ObjectOptions, ObjectStyle};
        use crate::encode::text::TextOptions;

        let misplaced = |name: &str, span: std::ops::Range<usize>, wants: &str| {
            let msg = format!("`{name}` applies to kind = {wants} only");
            Err(cx.err(span, key(name), msg))
        };
        let is = |k: &[ActionKind]| k.contains(&kind);
        if let (Some(v), false) = (&self.leef_version, is(&[ActionKind::Leef])) {
            return misplaced("leef_version", v.span(), "\"leef\"");
        }
        if let (Some(v), false) = (&self.delimiter, is(&[ActionKind::Leef])) {
            return misplaced("delimiter", v.span(), "\"leef\"");
        }
        if let (Some(v), false) = (&self.separator, is(&[ActionKind::Text, ActionKind::Object])) {
            return misplaced("separator", v.span(), "\"text\" or \"object\"");
        }
        if let (Some(v), false) = (&self.style, is(&[ActionKind::Object])) {
            return misplaced("style", v.span(), "\"object\"");
        }
        if self.field_limits.is_some() && !is(&[ActionKind::Cef, ActionKind::NetWitness]) {
            let msg = "`field_limits` applies to kind = \"cef\" or \"netwitness\" only";
            return Err(cx.err(self.kind.span(), key("field_limits"), msg.to_owned()));
        }
        if self.legacy_labels.is_some() && !is(&[ActionKind::Text]) {
            return Err(cx.err(
                self.kind.span(),
                key("legacy_labels"),
                "`legacy_labels` applies to kind = \"text\" only".into(),
            ));
        }
        let checked = |result: Result<(), String>, k: &str, span: std::ops::Range<usize>| {
            result.map_err(|m| cx.err(span, key(k), m))
        };

        let options = match kind {
            ActionKind::Cef | ActionKind::NetWitness => FormatOptions::Cef,
            ActionKind::Leef => {
                let version = match (&self.leef_version, &self.delimiter) {
                    (None, None) => LeefVersion::V1,
                    (Some(v), None) if v.get_ref() == "1.0" => LeefVersion::V1,
                    (Some(v), Some(d)) if v.get_ref() == "1.0" => {
                        let msg = "LEEF 1.0 always separates with TAB; use leef_version = \"2.0\"";
                        return Err(cx.err(d.span(), key("delimiter"), msg.to_owned()));
                    }
                    (Some(v), d) if v.get_ref() == "2.0" => {
                        let delimiter = match d {
                            None => b'\t',
                            Some(d) => leef_delimiter(d.get_ref()).ok_or_else(|| {
                                let msg = format!(
                                    "{:?} is not one character, `x09`/`0x09` or `tab`",
                                    d.get_ref()
                                );
                                cx.err(d.span(), key("delimiter"), msg)
                            })?,
                        };
                        LeefVersion::V2 { delimiter }
                    }
                    (Some(v), _) => {
                        let msg = format!(
                            "unknown LEEF version {:?}; expected 1.0 or 2.0",
                            v.get_ref()
                        );
                        return Err(cx.err(v.span(), key("leef_version"), msg));
                    }
                    (None, Some(d)) => {
                        let msg = "a delimiter needs leef_version = \"2.0\"".to_owned();
                        return Err(cx.err(d.span(), key("delimiter"), msg));
                    }
                };
                let options = LeefOptions {
                    version,
                    vendor: self.vendor.clone(),
                    product: self.product.clone(),
                    product_version: self.version.clone(),
                    event_id: self.event_class.clone(),
                };
                let span = self
                    .delimiter
                    .as_ref()
                    .map_or(self.kind.span(), |d| d.span());
                checked(options.validate(), "delimiter", span)?;
                FormatOptions::Leef(options)
            }
            ActionKind::Text => {
                let mut options = TextOptions::default();
                if let Some(sep) = &self.separator {
                    options.separator = sep.get_ref().clone();
                }
                options.legacy_labels = self.legacy_labels.unwrap_or(false);
                let span = self
                    .separator
                    .as_ref()
                    .map_or(self.kind.span(), |d| d.span());
                checked(options.validate(), "separator", span)?;
                FormatOptions::Text(options)
            }
            ActionKind::Object => {
                let mut options = ObjectOptions::default();
                if let Some(style) = &self.style {
                    let styles = [
                        ("key-value", ObjectStyle::KeyValue),
                        ("json", ObjectStyle::Json),
                    ];
                    options.style = cx.pick(style, key("style"), "style", &styles)?;
                }
                if let Some(sep) = &self.separator {
                    options.separator = sep.get_ref().clone();
                }
                let span = self
                    .separator
                    .as_ref()
                    .map_or(self.kind.span(), |d| d.span());
                checked(options.validate(), "separator", span)?;
                FormatOptions::Object(options)
            }
        };
        Ok(options)
    }

    /// The TLS settings, checked now (files readable, PEM valid, key decryptable) so that a bad
    /// certificate fails `otrelay check` rather than the first connection.
    fn tls(
        &self,
        cx: &Cx<'_>,
        key: &dyn Fn(&str) -> String,
        span: std::ops::Range<usize>,
        transport: TransportKind,
        host: &str,
    ) -> Result<Option<crate::send::TlsOptions>, ConfigError> {
        use crate::send::{CaSource, TlsOptions, Verify};

        let given = self.ca.is_some()
            || self.client_cert.is_some()
            || self.client_key.is_some()
            || self.key_passphrase_env.is_some()
            || self.key_passphrase_file.is_some()
            || self.verify.is_some()
            || self.server_name.is_some();
        if transport != TransportKind::Tls {
            if given {
                let msg = "TLS settings need transport = \"tls\"".to_owned();
                return Err(cx.err(span, key("transport"), msg));
            }
            return Ok(None);
        }

        let ca = match &self.ca {
            None => CaSource::System,
            Some(c) if c.get_ref() == "system" => CaSource::System,
            Some(c) => CaSource::File(PathBuf::from(c.get_ref())),
        };
        let modes = [
            ("full", Verify::Full),
            ("chain-only", Verify::ChainOnly),
            ("none", Verify::None),
        ];
        let verify = match &self.verify {
            None => Verify::Full,
            Some(v) => cx.pick(v, key("verify"), "verify", &modes)?,
        };
        let options = TlsOptions {
            ca,
            client_cert: self.client_cert.as_ref().map(PathBuf::from),
            client_key: self.client_key.as_ref().map(PathBuf::from),
            key_passphrase_env: self.key_passphrase_env.clone(),
            key_passphrase_file: self.key_passphrase_file.as_ref().map(PathBuf::from),
            verify,
            server_name: self.server_name.clone(),
        };
        options
            .build(host)
            .map_err(|e| cx.err(span, key("tls"), e.to_string()))?;
        Ok(Some(options))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
dead_letter = "dl.log"

[sensor]
name = "sensor-plant-01"
version = "24.1.5"

[[source]]
kind = "file"
path = "examples/alerts.jsonl"

[[rule]]
name = "netwitness"
min_level = "Minor"
protocols = ["Modbus", "DNP3"]
engines = ["Protocol Violation", "Malware"]
created_at = "2020-01-01T00:00:00Z"

[[rule.action]]
kind = "netwitness"
host = "127.0.0.1"
port = 514
transport = "udp"
timezone = "Europe/Berlin"
"#;

    #[test]
    fn parses_the_documented_shape() {
        let c = Config::parse(GOOD, "t.toml").unwrap();
        assert_eq!(c.sensor.hostname, "sensor-plant-01");
        assert_eq!(c.rules.len(), 1);
        let r = &c.rules[0];
        assert_eq!(r.min_level, Severity::Minor);
        assert_eq!(
            r.engines.as_deref(),
            Some(&[DetectionEngine::ProtocolViolation, DetectionEngine::Malware][..])
        );
        assert_eq!(r.created_at_ms, Some(1_577_836_800_000));
        assert_eq!(r.actions[0].kind, ActionKind::NetWitness);
        assert_eq!(r.actions[0].max_message, 2048);
        assert_eq!(c.sources[0].name, "file:examples/alerts.jsonl");
    }

    #[test]
    fn unknown_key_names_line() {
        let text = GOOD.replace("port = 514", "port = 514\nprot = 1");
        let e = Config::parse(&text, "t.toml").unwrap_err();
        assert_eq!(e.line, Some(23), "{e}");
        assert!(e.message.contains("prot"), "{e}");
    }

    #[test]
    fn bad_timezone_names_key_and_line() {
        let text = GOOD.replace("Europe/Berlin", "Mars/Olympus");
        let e = Config::parse(&text, "t.toml").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("rule[0].action[0].timezone"));
        assert_eq!(e.line, Some(24));
        assert!(e.to_string().starts_with("t.toml:24:"), "{e}");
    }

    #[test]
    fn bad_level_engine_and_duplicate_rule() {
        let e = Config::parse(&GOOD.replace("\"Minor\"", "\"High\""), "t").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("rule[0].min_level"));
        let e = Config::parse(&GOOD.replace("\"Malware\"", "\"Magic\""), "t").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("rule[0].engines"));
        let twice = format!("{GOOD}{}", &GOOD[GOOD.find("[[rule]]").unwrap()..]);
        let e = Config::parse(&twice, "t").unwrap_err();
        assert!(e.message.contains("duplicate rule name"), "{e}");
    }

    #[test]
    fn framing_requires_tcp() {
        let text = GOOD.replace(
            "transport = \"udp\"",
            "transport = \"udp\"\nframing = \"lf\"",
        );
        let e = Config::parse(&text, "t").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("rule[0].action[0].framing"));
    }

    #[test]
    fn block_must_exceed_line() {
        let text = format!("{GOOD}\n[pipeline]\nmax_line = 8192\nblock_size = 8192\n");
        let e = Config::parse(&text, "t").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("pipeline.block_size"));
        assert_eq!(e.line, Some(GOOD.lines().count() + 4));
    }
}
