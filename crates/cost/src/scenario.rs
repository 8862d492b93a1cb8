use crate::{Bandwidth, CostError, Nanos};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a machine sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// The machine frames come from and results return to (exactly one per scenario).
    Device,
    /// A server near the device.
    Edge,
    /// A remote data-centre server (at most one per scenario).
    Cloud,
}

impl Tier {
    /// Whether a link between these tiers is an edge-cloud backbone link (either direction):
    /// the traffic D3 reduces.
    pub fn is_backbone(a: Tier, b: Tier) -> bool {
        matches!(
            (a, b),
            (Tier::Edge, Tier::Cloud) | (Tier::Cloud, Tier::Edge)
        )
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Tier::Device => "device",
            Tier::Edge => "edge",
            Tier::Cloud => "cloud",
        })
    }
}

/// An inference engine a node may run, as a scenario names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineName {
    /// tract, pure Rust.
    Tract,
    /// ONNX Runtime.
    Ort,
    /// ONNX Runtime when its library is found where the node runs, tract otherwise.
    Auto,
}

/// Where ONNX Runtime runs on a node, as a scenario names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AcceleratorName {
    /// The CPU.
    Cpu,
    /// NVIDIA GPUs through CUDA.
    Cuda,
}

/// One machine. Its layer times are the reference profile's divided by `speed`, unless the
/// planner is given a profile measured on this node itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// Unique name, used by links, traces and per-node profiles.
    pub name: String,
    /// Where the machine sits.
    pub tier: Tier,
    /// Compute speed relative to the machine the reference profile was taken on (2.0 = twice
    /// as fast).
    #[serde(default = "one")]
    pub speed: f64,
    /// Engine threads on this node (intra-op threads of one part's run).
    #[serde(default = "one_u32")]
    pub threads: u32,
    /// The engine the node runs its parts on; tract when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<EngineName>,
    /// Where ONNX Runtime runs on this node (`cpu` unless given; `cuda` needs a CUDA build).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accelerator: Option<AcceleratorName>,
    /// Where its worker listens, for real deployments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// A profile measured on this node itself (`tiersplit profile` run there), as a path
    /// relative to the scenario file; when given, `speed` is not applied to this node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Memory the node has for tiersplit's parts, MiB: the weights of the layers it runs and
    /// the activations live on it for a frame. No limit when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<f64>,
    /// Rate of the node's radio, Mbit/s: everything the node sends, over any of its links,
    /// shares it (a WiFi or cellular uplink), so transfers that overlap on it take turns, and
    /// no link from the node runs faster. Not shared when not given (a wired node: each link
    /// carries its own rate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uplink_mbps: Option<f64>,
}

/// A network link. Bidirectional links have the same rate both ways.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    /// Name of the sending node.
    pub from: String,
    /// Name of the receiving node.
    pub to: String,
    /// Rate of the link, Mbit/s (positive).
    pub bandwidth_mbps: f64,
    /// Round-trip time, milliseconds (0 when not given).
    #[serde(default)]
    pub rtt_ms: f64,
    /// Whether the link also runs `to -> from` at the same rate (true when not given).
    #[serde(default = "yes")]
    pub bidirectional: bool,
}

/// Machines, links and the frame rate: the world a plan must run in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Name of the scenario, used in reports.
    pub name: String,
    /// Free-text description (empty when not given).
    #[serde(default)]
    pub description: String,
    /// Frames per second the device produces (DADS's Q); the heavy-load threshold is 1/Q.
    pub frame_rate: f64,
    /// Fixed cost of every message besides bandwidth and half the round trip (serialisation,
    /// system calls), in milliseconds.
    #[serde(default = "default_overhead_ms")]
    pub message_overhead_ms: f64,
    /// The machines: exactly one device, at most one cloud node.
    pub nodes: Vec<NodeSpec>,
    /// The network links between the machines.
    pub links: Vec<LinkSpec>,
}

/// Most nodes a scenario may have: planners keep per-tensor tables over pairs of nodes.
pub const MAX_NODES: usize = 64;

fn one() -> f64 {
    1.0
}
fn one_u32() -> u32 {
    1
}
fn yes() -> bool {
    true
}
fn default_overhead_ms() -> f64 {
    0.1
}

fn field(field: impl Into<String>, msg: impl Into<String>) -> CostError {
    CostError::Field {
        field: field.into(),
        msg: msg.into(),
    }
}

impl Scenario {
    /// Parses and validates a scenario; errors name the offending field.
    pub fn from_toml(text: &str) -> Result<Scenario, CostError> {
        let s: Scenario = toml::from_str(text).map_err(|e| CostError::Toml(e.to_string()))?;
        s.validate()?;
        Ok(s)
    }

    /// Checks the values (frame rate, overhead, node names and tiers, speeds, threads, link
    /// ends, rates, round trips); errors name the offending field. `from_toml` runs it.
    pub fn validate(&self) -> Result<(), CostError> {
        if !(self.frame_rate.is_finite() && self.frame_rate > 0.0) {
            return Err(field(
                "frame_rate",
                format!("must be a positive number, got {}", self.frame_rate),
            ));
        }
        if !(self.message_overhead_ms.is_finite() && self.message_overhead_ms >= 0.0) {
            return Err(field("message_overhead_ms", "must be zero or positive"));
        }
        if self.nodes.len() < 2 {
            return Err(field("nodes", "needs a device and at least one other node"));
        }
        if self.nodes.len() > MAX_NODES {
            return Err(field(
                "nodes",
                format!("at most {MAX_NODES} nodes, got {}", self.nodes.len()),
            ));
        }
        let devices = self.nodes.iter().filter(|n| n.tier == Tier::Device).count();
        if devices != 1 {
            return Err(field(
                "nodes",
                format!("needs exactly one node with tier = \"device\", found {devices}"),
            ));
        }
        if self.nodes.iter().filter(|n| n.tier == Tier::Cloud).count() > 1 {
            return Err(field("nodes", "at most one cloud node"));
        }
        for (i, n) in self.nodes.iter().enumerate() {
            if n.name.is_empty() {
                return Err(field(format!("nodes[{i}].name"), "must not be empty"));
            }
            if self.nodes[..i].iter().any(|m| m.name == n.name) {
                return Err(field(
                    format!("nodes[{i}].name"),
                    format!("'{}' is used twice", n.name),
                ));
            }
            if !(n.speed.is_finite() && n.speed > 0.0) {
                return Err(field(
                    format!("nodes[{i}].speed"),
                    format!("must be positive, got {}", n.speed),
                ));
            }
            if n.memory_mb.is_some_and(|m| !(m.is_finite() && m > 0.0)) {
                return Err(field(format!("nodes[{i}].memory_mb"), "must be positive"));
            }
            if n.uplink_mbps.is_some_and(|m| !(m.is_finite() && m > 0.0)) {
                return Err(field(format!("nodes[{i}].uplink_mbps"), "must be positive"));
            }
            if n.threads == 0 || n.threads > 1024 {
                return Err(field(format!("nodes[{i}].threads"), "must be 1 to 1024"));
            }
            if n.accelerator == Some(AcceleratorName::Cuda) && n.engine == Some(EngineName::Tract) {
                return Err(field(
                    format!("nodes[{i}].accelerator"),
                    "cuda needs engine = \"ort\" (tract runs on the CPU only)",
                ));
            }
        }
        for (i, l) in self.links.iter().enumerate() {
            for (end, name) in [("from", &l.from), ("to", &l.to)] {
                if !self.nodes.iter().any(|n| &n.name == name) {
                    return Err(field(
                        format!("links[{i}].{end}"),
                        format!("no node named '{name}'"),
                    ));
                }
            }
            if l.from == l.to {
                return Err(field(
                    format!("links[{i}]"),
                    "a link must join two different nodes",
                ));
            }
            if !(l.bandwidth_mbps.is_finite() && l.bandwidth_mbps > 0.0) {
                return Err(field(
                    format!("links[{i}].bandwidth_mbps"),
                    format!("must be positive, got {}", l.bandwidth_mbps),
                ));
            }
            if !(l.rtt_ms.is_finite() && l.rtt_ms >= 0.0) {
                return Err(field(
                    format!("links[{i}].rtt_ms"),
                    format!("must be zero or positive, got {}", l.rtt_ms),
                ));
            }
        }
        Ok(())
    }

    /// The device node. Panics when the scenario has none (it was not validated).
    pub fn device(&self) -> &NodeSpec {
        self.nodes
            .iter()
            .find(|n| n.tier == Tier::Device)
            .expect("validated")
    }

    /// Time between two frames: 1 / `frame_rate`.
    pub fn frame_interval(&self) -> Nanos {
        Nanos::from_secs_f64(1.0 / self.frame_rate)
    }

    /// The speed of the fastest node (the one an emulated cluster runs at this machine's own).
    pub fn fastest_speed(&self) -> f64 {
        self.nodes.iter().map(|n| n.speed).fold(f64::MIN, f64::max)
    }

    /// The link's own rate as a [`Bandwidth`] (its sender's radio may be slower: see
    /// [`NodeSpec::uplink_mbps`]).
    pub fn link_bandwidth(l: &LinkSpec) -> Bandwidth {
        Bandwidth::from_mbps(l.bandwidth_mbps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = r#"
name = "t"
frame_rate = 20
[[nodes]]
name = "pi"
tier = "device"
speed = 0.1
[[nodes]]
name = "dc"
tier = "cloud"
speed = 4
[[links]]
from = "pi"
to = "dc"
bandwidth_mbps = 5.85
rtt_ms = 20
"#;

    #[test]
    fn parses_and_defaults() {
        let s = Scenario::from_toml(OK).unwrap();
        assert_eq!(s.device().name, "pi");
        assert_eq!(s.nodes[1].threads, 1);
        assert!(s.links[0].bidirectional);
        assert_eq!(s.frame_interval(), Nanos(50_000_000));
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (
                OK.replace("speed = 4", "speed = -4"),
                "nodes[1].speed: must be positive, got -4",
            ),
            (
                OK.replace("to = \"dc\"", "to = \"moon\""),
                "links[0].to: no node named 'moon'",
            ),
            (
                OK.replace("bandwidth_mbps = 5.85", "bandwidth_mbps = 0"),
                "links[0].bandwidth_mbps: must be positive",
            ),
            (
                OK.replace("frame_rate = 20", "frame_rate = 0"),
                "frame_rate: must be a positive number",
            ),
            (
                OK.replace("tier = \"cloud\"", "tier = \"device\""),
                "exactly one node with tier = \"device\", found 2",
            ),
            (
                OK.replace("rtt_ms = 20", "rtt_ms = 20\nlatency = 3"),
                "unknown field `latency`",
            ),
            (
                OK.replace("tier = \"cloud\"", "tier = \"fog\""),
                "unknown variant `fog`",
            ),
            (
                OK.replace("speed = 0.1", "speed = 0.1\nuplink_mbps = -2"),
                "nodes[0].uplink_mbps: must be positive",
            ),
        ];
        for (text, expect) in cases {
            let e = Scenario::from_toml(&text).unwrap_err().to_string();
            assert!(e.contains(expect), "{e}\n  expected: {expect}");
        }
    }
}
