//! The problem left after losing nodes: what a device re-plans on when an edge node dies or
//! its link is cut. Pure, so fail-over decisions are tested without a cluster.

use crate::problem::{NodeId, Problem};

/// A problem on the nodes that survive, with the way back to the full problem's node ids.
#[derive(Debug, Clone, PartialEq)]
pub struct Survivors {
    /// The problem on the surviving nodes only (node ids renumbered from 0).
    pub problem: Problem,
    /// For each node of `problem`, its id in the full problem.
    pub kept: Vec<NodeId>,
    /// Nodes of the full problem left out: the lost ones and those no longer reachable.
    pub dropped: Vec<NodeId>,
}

impl Problem {
    /// The problem without the nodes of `lost` and their links, and without any node that no
    /// longer has a route to or from every other surviving node (a cloud reached only through
    /// a lost edge node). The device always survives: a lost device ends the run, so it is
    /// ignored in `lost`. Never fails: the device alone is always a problem.
    pub fn surviving(&self, lost: &[NodeId]) -> Survivors {
        let mut alive: Vec<bool> = self
            .node_ids()
            .map(|n| n == self.device || !lost.contains(&n))
            .collect();
        while let Some(n) = self.worst_unroutable(&alive) {
            alive[n.0] = false;
        }
        self.restricted(&alive)
    }

    /// This problem with every link to or from a node of `lost` removed, node ids kept: what
    /// plans made on the survivors are compiled and predicted on, so their tensors are never
    /// routed through a lost node. (Its routes between lost nodes may then be missing.)
    pub fn without_links_of(&self, lost: &[NodeId]) -> Problem {
        let mut p = self.clone();
        p.links
            .retain(|l| !lost.contains(&l.from) && !lost.contains(&l.to));
        p
    }

    /// This problem without the directed links `cut` (from, to), node ids kept: what is left
    /// when links stop carrying. [`Problem::surviving`] then drops any node they cut off.
    pub fn without_links(&self, cut: &[(NodeId, NodeId)]) -> Problem {
        let mut p = self.clone();
        p.links.retain(|l| !cut.contains(&(l.from, l.to)));
        p
    }

    /// The surviving node (never the device) with the most other survivors it cannot reach
    /// or be reached from, if any pair of survivors lacks a route.
    fn worst_unroutable(&self, alive: &[bool]) -> Option<NodeId> {
        let up = |n: &NodeId| alive[n.0];
        let missing = |a: NodeId| {
            self.node_ids()
                .filter(up)
                .filter(|&b| b != a)
                .filter(|&b| !self.routes_within(a, b, alive) || !self.routes_within(b, a, alive))
                .count()
        };
        self.node_ids()
            .filter(up)
            .filter(|&n| n != self.device)
            .map(|n| (missing(n), n))
            .filter(|&(m, _)| m > 0)
            // Most missing routes first; among equals the later node (the scenario lists the
            // device's side first, so the far end of a broken path goes).
            .max()
            .map(|(_, n)| n)
    }

    /// Whether `from` reaches `to` directly or through one relay, using surviving nodes only.
    fn routes_within(&self, from: NodeId, to: NodeId, alive: &[bool]) -> bool {
        self.link(from, to).is_some()
            || self
                .node_ids()
                .filter(|&m| alive[m.0] && m != from && m != to)
                .any(|m| self.link(from, m).is_some() && self.link(m, to).is_some())
    }

    /// This problem on the nodes marked alive.
    fn restricted(&self, alive: &[bool]) -> Survivors {
        let kept: Vec<NodeId> = self.node_ids().filter(|n| alive[n.0]).collect();
        let dropped = self.node_ids().filter(|n| !alive[n.0]).collect();
        let new_id = |old: NodeId| kept.iter().position(|&k| k == old).map(NodeId);
        let mut p = self.clone();
        p.nodes = kept.iter().map(|k| self.nodes[k.0].clone()).collect();
        p.device = new_id(self.device).expect("the device survives");
        for l in &mut p.layers {
            l.time = kept.iter().map(|k| l.time[k.0]).collect();
        }
        p.links = self
            .links
            .iter()
            .filter_map(|l| {
                let mut l = *l;
                l.from = new_id(l.from)?;
                l.to = new_id(l.to)?;
                Some(l)
            })
            .collect();
        Survivors {
            problem: p,
            kept,
            dropped,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Bandwidth, LinkCost, Nanos, ProblemLayer, ProblemNode, Tier};
    use tiersplit_graph::Bytes;

    /// device, edge0, edge1, cloud: the device reaches both edges, the edges reach each other
    /// and the cloud; no device-cloud link (the local-cluster shape).
    fn cluster() -> Problem {
        let node = |name: &str, tier| ProblemNode {
            name: name.into(),
            tier,
            memory: None,
            uplink: None,
        };
        let link = |from, to| LinkCost {
            from: NodeId(from),
            to: NodeId(to),
            bandwidth: Bandwidth::from_mbps(50.0),
            latency: Nanos(1_000_000),
        };
        let mut links = Vec::new();
        for (a, b) in [(0, 1), (0, 2), (1, 2), (1, 3), (2, 3)] {
            links.push(link(a, b));
            links.push(link(b, a));
        }
        Problem {
            model: "m".into(),
            scenario: "s".into(),
            nodes: vec![
                node("device", Tier::Device),
                node("edge0", Tier::Edge),
                node("edge1", Tier::Edge),
                node("cloud", Tier::Cloud),
            ],
            device: NodeId(0),
            layers: vec![ProblemLayer {
                name: "l0".into(),
                op: "Conv".into(),
                time: vec![Nanos(40), Nanos(10), Nanos(11), Nanos(1)],
                weights: Bytes(0),
                spatial: None,
            }],
            tensors: vec![],
            links,
            frame_rate: 5.0,
        }
    }

    fn names(s: &Survivors) -> Vec<&str> {
        s.problem.nodes.iter().map(|n| n.name.as_str()).collect()
    }

    #[test]
    fn losing_one_edge_keeps_the_cloud_through_the_other() {
        let p = cluster();
        let s = p.surviving(&[NodeId(1)]);
        assert_eq!(names(&s), ["device", "edge1", "cloud"]);
        assert_eq!(s.kept, [NodeId(0), NodeId(2), NodeId(3)]);
        assert_eq!(s.dropped, [NodeId(1)]);
        assert_eq!(s.problem.layers[0].time, [Nanos(40), Nanos(11), Nanos(1)]);
        // Only links among survivors, renumbered.
        assert_eq!(s.problem.links.len(), 4);
        assert!(s.problem.links.iter().all(|l| l.from.0 < 3 && l.to.0 < 3));
        assert!(s.problem.check_routes().is_ok());
    }

    #[test]
    fn a_cut_link_is_routed_around_and_what_it_isolates_is_dropped() {
        let p = cluster();
        let (e0, e1, cloud) = (NodeId(1), NodeId(2), NodeId(3));
        let q = p.without_links(&[(e0, cloud), (cloud, e0)]);
        assert_eq!(q.links.len(), p.links.len() - 2);
        // edge0 reaches the cloud through edge1 now; everyone survives.
        let hops = q.route(e0, cloud, tiersplit_graph::Bytes(1000)).unwrap();
        assert_eq!(hops, [(e0, e1), (e1, cloud)]);
        assert!(q.surviving(&[]).dropped.is_empty());
        // With both of the cloud's links cut it is cut off.
        let r = q.without_links(&[(e1, cloud), (cloud, e1)]);
        assert_eq!(r.surviving(&[]).dropped, [cloud]);
        // One direction alone cut off is enough: nothing comes back from the cloud.
        let one_way = p.without_links(&[(cloud, e0), (cloud, e1)]);
        assert_eq!(one_way.surviving(&[]).dropped, [cloud]);
    }

    #[test]
    fn routes_avoid_a_lost_relay() {
        // The cloud is reached through either edge; with edge0 lost, only through edge1.
        let p = cluster();
        let hops = |p: &Problem| p.route(NodeId(0), NodeId(3), tiersplit_graph::Bytes(1000));
        assert!(hops(&p).is_some());
        let q = p.without_links_of(&[NodeId(1)]);
        assert_eq!(q.nodes, p.nodes);
        assert_eq!(
            hops(&q).unwrap(),
            [(NodeId(0), NodeId(2)), (NodeId(2), NodeId(3))]
        );
    }

    #[test]
    fn losing_both_edges_drops_the_cloud_they_relayed_to() {
        let s = cluster().surviving(&[NodeId(1), NodeId(2)]);
        assert_eq!(names(&s), ["device"]);
        assert_eq!(s.dropped, [NodeId(1), NodeId(2), NodeId(3)]);
        assert_eq!(s.problem.device, NodeId(0));
    }

    #[test]
    fn the_device_is_never_lost_and_nothing_lost_changes_nothing() {
        let p = cluster();
        assert_eq!(p.surviving(&[NodeId(0)]).problem, p);
        let s = p.surviving(&[]);
        assert_eq!(s.problem, p);
        assert!(s.dropped.is_empty());
    }
}
