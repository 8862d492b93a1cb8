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
//! of its CPU time), and the emulation changed while frames flow (a trace). Each node keeps a
//! numbered log of what it measured (part runs, transfers, probes of idle links) that the
//! device reads incrementally for run-time adaptation; a switch uploads the next plan's models
//! while frames keep flowing ([`Uploader`]) and then starts it for the next frame fed. Every
//! network wait is bounded by a timeout, so a node that dies or stops answering becomes an
//! error naming it, never a hang; a frame a node fails on is reported to the device as an
//! error for that frame.

#![deny(clippy::print_stdout, clippy::print_stderr)]
#![warn(missing_docs)]

mod arrival;
mod background;
mod cluster;
mod conn;
mod control_service;
mod deployment;
mod error;
mod health;
mod ids;
mod kept;
mod link_shaper;
mod link_watch;
mod model_cache;
mod node;
mod observation_log;
mod protocol;
mod session_table;
mod thread_cpu_time;
pub mod tls;
mod validate;
mod worker;

pub use arrival::{ArrivalRecord, ArrivalSample};
pub use background::in_background;
pub use cluster::{node_status, ClusterDriver, NodeStatus, Uploader};
pub use conn::Peer;
pub use control_service::{
    pb as control_pb, CONTROL_VERSION, MAX_CONCURRENT_UPLOADS, MAX_CONTROL_MESSAGE,
    MAX_MODEL_BYTES, MAX_PROBE_BYTES,
};
pub use deployment::{Deployment, Emulation, LinkShape, PartSpec, Route, Work};
pub use error::{NodeError, RuntimeError};
pub use health::{Beat, Beats, CutLink, HealthConfig, HealthWatch, LinkReports, NodeHealth};
pub use ids::{DeploymentId, InvalidModelHash, InvalidSessionId, ModelHash, SessionId};
pub use link_shaper::{LinkRecord, TransferSample};
pub use link_watch::{RoundTripSample, DEAD_AFTER, PING_EVERY};
pub use model_cache::MODEL_BUDGET;
pub use node::{FrameResult, NodeStats, PartRecord, MAX_WAITING};
pub use observation_log::{Observation, Observations};
pub use session_table::{DEFAULT_LEASE, MAX_LEASE, MAX_SESSIONS};
pub use validate::{
    MAX_DELAY_MS, MAX_PARTS, MAX_ROUTES, MAX_SLOWDOWN, MAX_STITCH_ELEMENTS, RATE_RANGE_MBPS,
};
pub use worker::{Worker, MAX_CONNECTIONS};
