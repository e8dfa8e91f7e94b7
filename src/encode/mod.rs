//! Encoders: turn one matched alert into the bytes of one syslog message.
//!
//! Pipeline position: runs on the pipeline thread after the rule stage. For every action an
//! alert matched, the action's [`syslog::SyslogHeader`] and its body encoder
//! ([`cef::CefEncoder`], [`leef::LeefEncoder`], [`text::TextEncoder`] or
//! [`object::ObjectEncoder`]) append one message to the action's preallocated batch buffer; the
//! sender thread adds framing and puts the batch on the wire.
//!
//! What must hold here: no allocation, no logging and no string comparison per alert. All
//! configured strings are validated and escaped when an encoder is built; alert fields are
//! decoded and escaped in one pass ([`escape`]) straight into the batch, never past the
//! per-message limit; times are rendered from per-second caches ([`time`], [`syslog`]).

pub mod cef;
pub mod escape;
pub mod leef;
pub mod object;
pub mod syslog;
pub mod text;
pub mod time;

/// Whether a message was written in full or cut at the message limit.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoded {
    /// Every field made it.
    Complete,
    /// The limit was reached: the message is a clean prefix (no split character or escape) and
    /// the fields after the cut were dropped.
    Truncated,
}
