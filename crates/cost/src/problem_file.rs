//! Problems read and written as JSON, so planners can be compared on cost graphs made
//! elsewhere: the schema `tiersplit plan --json` writes (`docs/problem.md`), versioned, every
//! value checked with errors that name the field.

use crate::{CostError, Problem, Tier, MAX_NODES};
use serde_json::Value;
use tiersplit_graph::Bytes;

/// The format tag of a problem file.
pub const PROBLEM_FORMAT: &str = "tiersplit-problem/1";
/// The format tag of what `tiersplit plan --json` writes: a problem with every plan of it.
pub const PLANS_FORMAT: &str = "tiersplit-plan/1";

/// Largest layer time or link latency a problem may give, in nanoseconds (about 11.6 days):
/// sums of thousands of them stay far from the cut solver's infinity.
const MAX_NANOS: u64 = 1_000_000_000_000_000;
/// Largest tensor or layer weights a problem may give, in bytes (1 PiB): with times capped
/// too, the sums the planners form stay far from overflowing.
const MAX_BYTES: u64 = 1 << 50;
/// Largest kernel, stride, dilation, padding or map side a problem may give.
const MAX_GEOMETRY: u64 = 1 << 20;

fn field(field: impl Into<String>, msg: impl Into<String>) -> CostError {
    CostError::ProblemField {
        field: field.into(),
        msg: msg.into(),
    }
}

impl Problem {
    /// Reads a problem file, or the problem inside what `tiersplit plan --json` wrote; checks
    /// every value ([`Problem::validate`]).
    pub fn from_json(text: &str) -> Result<Problem, CostError> {
        let mut doc: Value =
            serde_json::from_str(text).map_err(|e| CostError::ProblemJson(e.to_string()))?;
        let format = doc
            .get("format")
            .and_then(Value::as_str)
            .map(str::to_string);
        let (body, prefix) = match format.as_deref() {
            Some(PROBLEM_FORMAT) => {
                doc.as_object_mut().map(|o| o.remove("format"));
                (doc, "")
            }
            Some(PLANS_FORMAT) => match doc.get_mut("problem") {
                Some(p) => (p.take(), "problem."),
                None => return Err(field("problem", "missing")),
            },
            Some(other) => {
                return Err(field(
                    "format",
                    format!("'{other}' is not '{PROBLEM_FORMAT}' or '{PLANS_FORMAT}'"),
                ))
            }
            None => {
                return Err(field(
                    "format",
                    format!("missing: say \"{PROBLEM_FORMAT}\""),
                ))
            }
        };
        let problem: Problem = serde_path_to_error::deserialize(body).map_err(|e| {
            let path = e.path().to_string();
            field(format!("{prefix}{path}"), e.into_inner().to_string())
        })?;
        problem.validate().map_err(|e| match e {
            CostError::ProblemField { field, msg } => CostError::ProblemField {
                field: format!("{prefix}{field}"),
                msg,
            },
            other => other,
        })?;
        Ok(problem)
    }

    /// The problem as a problem file (what [`Problem::from_json`] reads).
    pub fn to_json(&self) -> Value {
        let mut v = serde_json::to_value(self).expect("a problem serialises");
        if let Some(o) = v.as_object_mut() {
            o.insert("format".into(), Value::String(PROBLEM_FORMAT.into()));
        }
        v
    }

    /// Checks every value of a problem made elsewhere: nodes and the device, layer times for
    /// every node, tensors whose producer comes before its readers (layers in topological
    /// order), links between known nodes at positive rates, a route between every two nodes.
    pub fn validate(&self) -> Result<(), CostError> {
        self.validate_nodes()?;
        if !(self.frame_rate.is_finite() && self.frame_rate > 0.0) {
            return Err(field("frame_rate", "must be a positive number"));
        }
        for (i, l) in self.layers.iter().enumerate() {
            self.validate_layer(i, l)?;
        }
        for (i, t) in self.tensors.iter().enumerate() {
            self.validate_tensor(i, t)?;
        }
        let largest = Bytes(self.tensors.iter().map(|t| t.bytes.0).max().unwrap_or(0));
        for (i, n) in self.nodes.iter().enumerate() {
            if n.uplink.is_some_and(|r| r.time_for(largest).0 > MAX_NANOS) {
                return Err(field(
                    format!("nodes[{i}].uplink"),
                    "so slow that the largest tensor would take over 10^15 ns",
                ));
            }
        }
        for (i, l) in self.links.iter().enumerate() {
            for (end, n) in [("from", l.from), ("to", l.to)] {
                if n.0 >= self.nodes.len() {
                    return Err(field(format!("links[{i}].{end}"), "no such node"));
                }
            }
            if l.from == l.to {
                return Err(field(format!("links[{i}]"), "joins a node to itself"));
            }
            let bps = l.bandwidth.as_mbps();
            if !(bps.is_finite() && bps > 0.0) {
                return Err(field(format!("links[{i}].bandwidth"), "must be positive"));
            }
            if l.latency.0 > MAX_NANOS {
                return Err(field(format!("links[{i}].latency"), "is over 10^15 ns"));
            }
            if l.bandwidth.time_for(largest).0 > MAX_NANOS {
                return Err(field(
                    format!("links[{i}].bandwidth"),
                    "so slow that the largest tensor would take over 10^15 ns",
                ));
            }
            let sender = &self.nodes[l.from.0];
            if sender.capped(l.bandwidth) != l.bandwidth {
                return Err(field(
                    format!("links[{i}].bandwidth"),
                    format!(
                        "{} is faster than the uplink of node {} ({}), which everything it sends shares",
                        l.bandwidth, sender.name, sender.capped(l.bandwidth)
                    ),
                ));
            }
        }
        self.check_routes()
    }

    fn validate_nodes(&self) -> Result<(), CostError> {
        if self.nodes.len() < 2 || self.nodes.len() > MAX_NODES {
            return Err(field("nodes", format!("needs 2 to {MAX_NODES} nodes")));
        }
        for (i, n) in self.nodes.iter().enumerate() {
            if n.name.is_empty() || self.nodes[..i].iter().any(|m| m.name == n.name) {
                return Err(field(format!("nodes[{i}].name"), "empty or used twice"));
            }
            if n.memory == Some(Bytes(0)) {
                return Err(field(format!("nodes[{i}].memory"), "must be positive"));
            }
            let radio = n.uplink.map_or(1.0, |b| b.as_mbps());
            if !(radio.is_finite() && radio > 0.0) {
                return Err(field(format!("nodes[{i}].uplink"), "must be positive"));
            }
        }
        let devices = self.nodes_of(Tier::Device);
        if devices != [self.device] {
            return Err(field(
                "device",
                "must be the index of the only node with tier \"device\"",
            ));
        }
        if self.nodes_of(Tier::Cloud).len() > 1 {
            return Err(field("nodes", "at most one cloud node"));
        }
        Ok(())
    }

    fn validate_layer(&self, i: usize, l: &crate::ProblemLayer) -> Result<(), CostError> {
        if l.time.len() != self.nodes.len() {
            return Err(field(
                format!("layers[{i}].time"),
                format!("{} entries for {} nodes", l.time.len(), self.nodes.len()),
            ));
        }
        if let Some(k) = l.time.iter().position(|t| t.0 > MAX_NANOS) {
            return Err(field(format!("layers[{i}].time[{k}]"), "is over 10^15 ns"));
        }
        if l.weights.0 > MAX_BYTES {
            return Err(field(format!("layers[{i}].weights"), "is over 2^50 bytes"));
        }
        if let Some(op) = &l.spatial {
            let (h, w) = op.windows();
            for a in [h, w] {
                let values = [a.kernel, a.stride, a.dilation, a.pad_begin, a.pad_end];
                if a.kernel == 0 || a.stride == 0 || a.dilation == 0 {
                    return Err(field(
                        format!("layers[{i}].spatial"),
                        "kernel, stride and dilation must be positive",
                    ));
                }
                if values.iter().any(|&v| v > MAX_GEOMETRY) {
                    return Err(field(format!("layers[{i}].spatial"), "a value over 2^20"));
                }
            }
        }
        Ok(())
    }

    fn validate_tensor(&self, i: usize, t: &crate::ProblemTensor) -> Result<(), CostError> {
        let layers = self.layers.len();
        if t.producer.is_some_and(|p| p >= layers) {
            return Err(field(format!("tensors[{i}].producer"), "no such layer"));
        }
        for (k, &c) in t.consumers.iter().enumerate() {
            let at = format!("tensors[{i}].consumers[{k}]");
            if c >= layers {
                return Err(field(at, "no such layer"));
            }
            if t.producer.is_some_and(|p| p >= c) {
                return Err(field(
                    at,
                    "reads a tensor made by a later layer: layers must be in topological order",
                ));
            }
        }
        if t.bytes.0 > MAX_BYTES {
            return Err(field(format!("tensors[{i}].bytes"), "is over 2^50 bytes"));
        }
        if let Some((h, w)) = t.hw {
            if h == 0 || w == 0 || h > MAX_GEOMETRY || w > MAX_GEOMETRY {
                return Err(field(format!("tensors[{i}].hw"), "sides must be 1 to 2^20"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Bandwidth, LinkCost, Nanos, NodeId, ProblemLayer, ProblemNode, ProblemTensor};

    fn small() -> Problem {
        let node = |name: &str, tier| ProblemNode {
            name: name.into(),
            tier,
            memory: None,
            uplink: None,
        };
        let link = |a, b| LinkCost {
            from: NodeId(a),
            to: NodeId(b),
            bandwidth: Bandwidth::from_mbps(10.0),
            latency: Nanos(1_000_000),
        };
        Problem {
            model: "m".into(),
            scenario: "s".into(),
            nodes: vec![node("d", Tier::Device), node("c", Tier::Cloud)],
            device: NodeId(0),
            layers: vec![ProblemLayer {
                name: "l0".into(),
                op: "Conv".into(),
                time: vec![Nanos(5_000_000), Nanos(1_000_000)],
                weights: Bytes(0),
                spatial: None,
            }],
            tensors: vec![
                ProblemTensor {
                    name: "x".into(),
                    bytes: Bytes(1000),
                    producer: None,
                    consumers: vec![0],
                    graph_output: false,
                    hw: None,
                },
                ProblemTensor {
                    name: "y".into(),
                    bytes: Bytes(10),
                    producer: Some(0),
                    consumers: vec![],
                    graph_output: true,
                    hw: None,
                },
            ],
            links: vec![link(0, 1), link(1, 0)],
            frame_rate: 10.0,
        }
    }

    #[test]
    fn round_trips() {
        let p = small();
        let text = p.to_json().to_string();
        assert_eq!(Problem::from_json(&text).unwrap(), p);
        let plans = serde_json::json!({"format": PLANS_FORMAT, "problem": p, "plans": []});
        assert_eq!(Problem::from_json(&plans.to_string()).unwrap(), p);
    }

    #[test]
    fn errors_name_the_field() {
        use serde_json::json;
        // (JSON pointer of the value to replace, the new value, what the error must say)
        let cases = [
            ("/format", json!("x/9"), "field format: 'x/9' is not"),
            (
                "/layers/0/time",
                json!([1]),
                "layers[0].time: 1 entries for 2 nodes",
            ),
            (
                "/layers/0/time/1",
                json!("fast"),
                "layers[0].time[1]: invalid type",
            ),
            (
                "/tensors/1/consumers",
                json!([0]),
                "tensors[1].consumers[0]: reads a tensor made by a later layer",
            ),
            (
                "/tensors/0/consumers",
                json!([7]),
                "tensors[0].consumers[0]: no such layer",
            ),
            ("/links/0/to", json!(5), "links[0].to: no such node"),
            ("/device", json!(1), "field device: must be"),
            (
                "/nodes/0/speed",
                json!(2),
                "nodes[0].speed: unknown field `speed`",
            ),
            ("/links", json!([]), "no route from node d to node c"),
            (
                "/nodes/0/uplink",
                json!(0.0),
                "nodes[0].uplink: must be positive",
            ),
            (
                "/nodes/0/uplink",
                json!(1e-9),
                "nodes[0].uplink: so slow that the largest tensor would take over 10^15 ns",
            ),
            (
                "/nodes/0/uplink",
                json!(125_000.0),
                "links[0].bandwidth: 10.00 Mbps is faster than the uplink of node d (1.00 Mbps)",
            ),
        ];
        for (pointer, value, expect) in cases {
            let mut v = small().to_json();
            let (parent, key) = pointer.rsplit_once('/').unwrap();
            match v.pointer_mut(parent).unwrap() {
                Value::Object(o) => {
                    o.insert(key.to_string(), value);
                }
                Value::Array(a) => a[key.parse::<usize>().unwrap()] = value,
                _ => unreachable!(),
            }
            let e = Problem::from_json(&v.to_string()).unwrap_err().to_string();
            assert!(e.contains(expect), "{e}\n  expected: {expect}");
        }
    }
}
