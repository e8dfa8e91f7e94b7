//! otrelay forwards Microsoft Defender for IoT OT-sensor alerts to SIEMs at line rate.
//!
//! TODO: the pipeline overview is written once the stages are in place.
#![deny(unsafe_op_in_unsafe_fn)]

pub mod alert;
pub mod config;
pub mod deadletter;
pub mod encode;
pub mod intake;
pub mod parse;
pub mod rules;
pub mod send;
