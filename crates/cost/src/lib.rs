//! What planning needs to know about the world, as plain data.
//!
//! A [`Scenario`] describes the machines (a device, edge nodes, a cloud node, each with a speed
//! relative to a reference profile) and the links between them (bandwidth, round-trip time). A
//! [`Profile`] holds per-layer latencies measured on a reference machine. Together with a
//! [`tiersplit_graph::ModelGraph`] they build a [`Problem`]: per-layer time on every node, bytes
//! of every tensor, and the link cost model, the same for every planner and serialisable so any
//! plan can be checked independently.
//!
//! Pure: no I/O beyond parsing strings, no engine, no network.

#![deny(clippy::print_stdout, clippy::print_stderr)]
#![warn(missing_docs)]

mod error;
mod link_cost;
mod problem;
mod problem_file;
mod profile;
mod scenario;
mod survivors;
mod units;

pub use error::CostError;
pub use link_cost::LinkCost;
pub use problem::{NodeId, Problem, ProblemLayer, ProblemNode, ProblemTensor};
pub use problem_file::{PLANS_FORMAT, PROBLEM_FORMAT};
pub use profile::{LayerTime, Profile, PROFILE_FORMAT};
pub use scenario::{AcceleratorName, EngineName, LinkSpec, NodeSpec, Scenario, Tier, MAX_NODES};
pub use survivors::Survivors;
pub use units::{Bandwidth, Nanos};
