//! otrelay forwards Microsoft Defender for IoT OT-sensor alerts to SIEMs at line rate.
//!
//! An OT sensor raises alerts as JSON objects. otrelay applies the sensor's forwarding-rule
//! semantics to them (minimal alert level, protocols, engines, rule creation time) and delivers
//! the matching ones to each rule's actions as CEF inside syslog: RSA NetWitness first, and any
//! syslog receiver of CEF (QRadar, ArcSight, Sentinel, Splunk, rsyslog, syslog-ng).
//!
//! # The pipeline
//!
//! ```text
//!  source threads          pipeline thread (pinned)              sender thread (pinned)
//!  stdin/file/tcp/udp ──▶  parse ─▶ rules ─▶ encode  ──batches──▶  sendmmsg / TCP writes
//!        ▲   blocks of whole lines   │                    ▲            │
//!        └───────── recycled ────────┘                    └─ recycled ─┘
//! ```
//!
//! 1. [`intake`]: each source reads into fixed-size blocks that hold whole lines only, and
//!    hands them to the pipeline thread. Blocks come from a fixed pool per source; when it is
//!    empty the source stops reading (back-pressure).
//! 2. [`parse`]: each line is parsed in place into an [`Alert`] whose strings borrow the block.
//! 3. [`rules`]: the forwarding rules were compiled to bitmasks at start-up; an alert's matching
//!    rules are the AND of per-condition masks, remembered per alert key (level, engine,
//!    protocol, kind, creation-time window) together with the actions they lead to.
//! 4. [`encode`]: each matching action writes its syslog header and CEF body straight into a
//!    preallocated batch of its destination, decoding JSON escapes and applying CEF escapes in
//!    one pass.
//! 5. [`send`]: full batches go to the sender thread, which writes them with `sendmmsg` (UDP) or
//!    large nonblocking writes (TCP, with reconnects and replay), and returns them to the pool.
//!
//! Nothing is allocated, logged or locked per alert. Rejected lines go to a dead-letter file
//! ([`deadletter`]) with their reason and location, and every stage counts what it did
//! ([`stats`]).
//!
//! [`Engine`] embeds the pipeline in another program; `otrelay run` ([`run`]) drives it from
//! configured sources.
#![deny(unsafe_op_in_unsafe_fn)]

pub mod affinity;
pub mod alert;
pub mod cli;
pub mod config;
pub mod deadletter;
pub mod encode;
pub mod engine;
pub mod exclusions;
pub mod fold;
pub mod intake;
pub mod parse;
pub mod pipeline;
pub mod rules;
pub mod run;
pub mod send;
pub mod stats;

pub use alert::{Alert, DetectionEngine, RawStr, Severity};
pub use config::{Config, ConfigError};
pub use engine::Engine;
pub use pipeline::Processor;
