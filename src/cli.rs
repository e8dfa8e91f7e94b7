//! The subcommands other than `run`: `check`, `explain` and `test-message`.
//!
//! Pipeline position: none; these run on the main thread, once, and may allocate and print
//! freely. `test-message` uses the same action builders and encoders as the pipeline, so what
//! it sends is exactly what a real alert through that rule would look like, except for the
//! clearly marked content; `explain` likewise shows the exact bytes an action would send.

use std::fmt::Write as _;
use std::time::Duration;

use crate::alert::{Alert, AlertKind, DetectionEngine, RawStr};
use crate::config::{Config, RuleConfig};
use crate::pipeline::{build_action, build_actions};
use crate::send::send_once;

/// Title of the synthetic alert `test-message` sends.
pub const TEST_TITLE: &str = "otrelay test message";

/// Describes a valid config in a few lines, for `otrelay check`.
pub fn describe(config: &Config) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "config is valid: {} source(s), {} rule(s)",
        config.sources.len(),
        config.rules.len()
    );
    for rule in &config.rules {
        let state = if rule.enabled { "" } else { " (disabled)" };
        let _ = writeln!(
            out,
            "  rule {:?}{state}: min level {}, {} action(s)",
            rule.name,
            rule.min_level,
            rule.actions.len()
        );
        for action in &rule.actions {
            let _ = writeln!(
                out,
                "    -> {} (time zone {})",
                action.describe(),
                action.timezone
            );
        }
    }
    out
}

/// The outcome of one action of `test-message`.
pub struct TestResult {
    /// The action, described.
    pub action: String,
    /// `Ok(message bytes)` when it was sent, or the error.
    pub outcome: Result<Vec<u8>, String>,
}

/// Sends a clearly marked test alert through every action of `rule_name`.
///
/// # Errors
///
/// Returns a message when the rule does not exist or an action cannot be built.
pub fn test_message(config: &Config, rule_name: &str) -> Result<Vec<TestResult>, String> {
    let Some(rule) = config.rules.iter().find(|r| r.name == rule_name) else {
        let names: Vec<&str> = config.rules.iter().map(|r| r.name.as_str()).collect();
        return Err(format!("no rule named {rule_name:?}; rules: {names:?}"));
    };
    let dests = build_actions(config).map_err(|e| e.to_string())?.dests;

    let now_ms = jiff::Timestamp::now().as_millisecond();
    let uuid = format!("otrelay-test-{now_ms}");
    let message = format!(
        "Test message sent by otrelay to check the destinations of forwarding rule {rule_name}. \
         It is not an alert."
    );
    let alert = test_alert(rule, config, now_ms, &uuid, &message);

    let mut results = Vec::with_capacity(rule.actions.len());
    for ac in &rule.actions {
        let mut action = build_action(ac, &config.sensor, 0).map_err(|e| e.to_string())?;
        let mut bytes = Vec::with_capacity(ac.max_message);
        let _ = action.write(&alert, now_ms / 1000, &mut bytes);
        let dest = dests
            .iter()
            .find(|d| {
                d.host == ac.host && d.port == ac.port && d.name.starts_with(transport_prefix(ac))
            })
            .ok_or_else(|| format!("no destination for {}", ac.describe()))?;
        let outcome = send_once(dest, &bytes, Duration::from_secs(5))
            .map(|()| bytes)
            .map_err(|e| e.to_string());
        results.push(TestResult {
            action: ac.describe(),
            outcome,
        });
    }
    Ok(results)
}

fn transport_prefix(ac: &crate::config::ActionConfig) -> &'static str {
    match ac.transport {
        crate::config::TransportKind::Udp => "udp://",
        crate::config::TransportKind::Tcp => "tcp://",
        crate::config::TransportKind::Tls => "tls://",
        crate::config::TransportKind::Stdout => "stdout",
    }
}

/// An alert that passes the rule's own filters, so the test exercises the real path.
fn test_alert<'a>(
    rule: &'a RuleConfig,
    config: &'a Config,
    now_ms: i64,
    uuid: &'a str,
    message: &'a str,
) -> Alert<'a> {
    let engine = rule
        .engines
        .as_ref()
        .and_then(|e| e.first().copied())
        .unwrap_or(DetectionEngine::Operational);
    Alert {
        id: Some(0),
        time_ms: now_ms,
        title: RawStr::literal(TEST_TITLE),
        message: Some(RawStr::literal(message)),
        severity: rule.min_level.max(crate::alert::Severity::Warning),
        engine,
        engine_name: RawStr::literal(engine.name()),
        kind: if rule.alert_notifications {
            AlertKind::Alert
        } else {
            AlertKind::System
        },
        protocol: rule
            .protocols
            .as_ref()
            .and_then(|p| p.first())
            .map(|p| RawStr::literal(p)),
        category: Some(RawStr::literal("Test")),
        uuid: Some(RawStr::literal(uuid)),
        sensor_name: Some(RawStr::literal(&config.sensor.name)),
        ..Alert::default()
    }
}

/// `otrelay explain`: for each alert line of `input`, says which exclusion or rule decided its
/// fate and why, and shows the exact message each matching action would send.
///
/// Nothing is sent. Lines are numbered from 1; blank lines are skipped.
///
/// # Errors
///
/// Returns an error when the actions cannot be built, or reading or writing fails.
pub fn explain(
    config: &Config,
    input: impl std::io::BufRead,
    out: &mut impl std::io::Write,
) -> Result<(), String> {
    let mut plan = build_actions(config).map_err(|e| e.to_string())?;
    let rules = crate::rules::RuleSet::compile(&config.rules);
    let exclusions = crate::exclusions::Exclusions::compile(&config.exclusions);
    let io = |e: std::io::Error| e.to_string();

    for (i, line) in input.split(b'\n').enumerate() {
        let line = line.map_err(io)?;
        let line = line.strip_suffix(b"\r").unwrap_or(&line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let n = i + 1;
        let alert = match crate::parse::parse_alert(line) {
            Ok(a) => a,
            Err(e) => {
                writeln!(out, "line {n}: rejected ({}): {e}", e.reason.name()).map_err(io)?;
                continue;
            }
        };
        writeln!(out, "line {n}: {}", describe_alert(&alert)).map_err(io)?;

        let verdicts = exclusions.explain(&alert);
        let excluded = verdicts
            .iter()
            .find(|(_, v)| *v == crate::exclusions::ExclusionVerdict::Excludes);
        for (name, verdict) in &verdicts {
            match verdict {
                crate::exclusions::ExclusionVerdict::Excludes => {
                    writeln!(out, "  exclusion {name:?}: excludes it").map_err(io)?;
                    break;
                }
                crate::exclusions::ExclusionVerdict::NotMatched(why) => {
                    writeln!(out, "  exclusion {name:?}: does not apply: {why}").map_err(io)?;
                }
            }
        }
        if let Some((name, _)) = excluded {
            writeln!(out, "  => not forwarded: excluded by {name:?}").map_err(io)?;
            continue;
        }

        let mut actions: Vec<usize> = Vec::new();
        for (r, rule) in config.rules.iter().enumerate() {
            match rules.explain(r, &alert) {
                Some(why) => writeln!(out, "  rule {:?}: no: {why}", rule.name).map_err(io)?,
                None => {
                    writeln!(out, "  rule {:?}: matches", rule.name).map_err(io)?;
                    for &a in &plan.per_rule[r] {
                        if !actions.contains(&a) {
                            actions.push(a);
                        }
                    }
                }
            }
        }
        if actions.is_empty() {
            writeln!(out, "  => not forwarded: no rule matches").map_err(io)?;
            continue;
        }
        let now = jiff::Timestamp::now().as_second();
        for a in actions {
            let action = &mut plan.actions[a];
            let mut message = Vec::with_capacity(action.config.max_message);
            let cut = action.write(&alert, now, &mut message) == crate::encode::Encoded::Truncated;
            let note = if cut {
                " (truncated to max_message)"
            } else {
                ""
            };
            writeln!(
                out,
                "  => {}{note}: {}",
                action.config.describe(),
                String::from_utf8_lossy(&message)
            )
            .map_err(io)?;
        }
    }
    Ok(())
}

/// One line about an alert: title, level, engine, protocol, time, sensor.
fn describe_alert(alert: &Alert<'_>) -> String {
    let time = jiff::Timestamp::from_millisecond(alert.time_ms)
        .map_or_else(|_| alert.time_ms.to_string(), |t| t.to_string());
    let protocol = alert
        .protocol
        .map_or_else(|| "none".to_owned(), |p| p.to_string_lossy());
    let kind = match alert.kind {
        AlertKind::Alert => "alert",
        AlertKind::System => "system notification",
    };
    format!(
        "{kind} {:?}: level {}, engine {}, protocol {protocol}, raised {time}",
        alert.title.to_string_lossy(),
        alert.severity,
        alert.engine_name.to_string_lossy(),
    )
}
