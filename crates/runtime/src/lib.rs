//! Running a plan on machines: every node a [`Worker`] process, the device a [`ClusterDriver`].
//!
//! The device sends each node, over the gRPC control plane (`proto/control.proto`: versioned
//! hello, chunked model uploads cached by content hash, deploy, statistics; optional TLS), the
//! whole [`Deployment`]: the parts (sub-models, tile models, stitchers) with their nodes and a
//! routing table. Tensors then move on the raw frame data plane (`tiersplit-net`) on the same
//! port, straight from the node that makes them to the nodes that read them, through relays
//! where the scenario has no direct link; each node runs a part when its inputs for a frame
//! have arrived, one at a time, off the async threads, so frames pipeline. Links and node
//! speeds can be emulated (token bucket and delay in the sender, compute stretched by a factor
//! of its CPU time). Every network wait is bounded by a timeout, so a node that dies or stops
//! answering becomes an error naming it, never a hang; a frame a node fails on is reported to
//! the device as an error for that frame.
//!
//! [`RemotePart`] is the older star mode of `tiersplit run-remote`: the device runs chained
//! partitions one at a time on workers.

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

pub use cluster::{ClientTls, ClusterDriver, RunReport, Switch};
pub use control_service::{pb as control_pb, CONTROL_VERSION, MAX_CONTROL_MESSAGE};
pub use deployment::{Deployment, Emulation, LinkShape, PartSpec, Route, Work};
pub use error::RuntimeError;
pub use link_shaper::LinkRecord;
pub use node::{FrameResult, NodeStats, PartRecord};
pub use protocol::content_hash;
pub use remote_part::RemotePart;
pub use worker::Worker;
