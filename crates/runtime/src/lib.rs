//! Running partitions on other machines.
//!
//! A [`Worker`] is a long-running node: it accepts connections, receives partitions (ONNX
//! bytes, cached by content hash), and runs frames of named tensors through them on its engine,
//! off the async threads. A [`RemotePart`] is the device's handle on one partition deployed on
//! one worker. Every network wait is bounded by a timeout, so a worker that dies or stops
//! answering becomes an error naming it, never a hang.
//!
//! This first step runs partitions one after another through the device (a star); forwarding
//! between workers, pipelining and link emulation build on the same protocol.

mod cluster;
mod control_service;
mod deployment;
mod error;
mod link_shaper;
mod node;
mod protocol;
mod remote_part;
mod thread_cpu_time;
mod worker;

pub use cluster::{ClusterDriver, RunReport};
pub use control_service::{pb as control_pb, CONTROL_VERSION, MAX_CONTROL_MESSAGE};
pub use deployment::{Deployment, Emulation, LinkShape, PartSpec, Route, Work};
pub use error::RuntimeError;
pub use link_shaper::LinkRecord;
pub use node::{FrameResult, NodeStats, PartRecord};
pub use protocol::content_hash;
pub use remote_part::RemotePart;
pub use worker::Worker;
