use crate::{Bandwidth, Nanos, NodeId};
use serde::{Deserialize, Serialize};
use tiersplit_graph::Bytes;

/// The cost model of one directed link: a message of `b` bytes takes
/// `latency + b / bandwidth`, where latency is half the round trip plus a per-message overhead.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkCost {
    /// Sending node.
    pub from: NodeId,
    /// Receiving node.
    pub to: NodeId,
    /// Rate of the link.
    pub bandwidth: Bandwidth,
    /// Fixed delay of every message: half the round trip plus the per-message overhead.
    pub latency: Nanos,
}

impl LinkCost {
    /// Time for a message of `bytes` to arrive: `latency + bytes / bandwidth`.
    pub fn time(&self, bytes: Bytes) -> Nanos {
        self.latency + self.bandwidth.time_for(bytes)
    }

    /// The time the link is busy with the message (what limits pipelined throughput).
    pub fn occupancy(&self, bytes: Bytes) -> Nanos {
        self.bandwidth.time_for(bytes)
    }
}
