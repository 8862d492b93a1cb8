//! Re-planning around lost nodes: the run's planner on what survives, or the device alone
//! when that planner cannot plan there (an edge-only planner with no edge node left).

use crate::{Plan, Planner, SingleNode};
use tiersplit_cost::{NodeId, Problem, Tier};

/// A plan for `problem` that uses none of the `lost` nodes nor any node they cut off: the
/// plan of `planner` on the surviving problem, its node ids those of `problem`; the device
/// alone when that planner fails there or its plan does not fit the survivors' memory (the
/// device alone is always a plan, though it may not fit either). Returns the plan and the
/// nodes left out.
pub fn plan_surviving(
    planner: &dyn Planner,
    problem: &Problem,
    lost: &[NodeId],
) -> (Plan, Vec<NodeId>) {
    let s = problem.surviving(lost);
    let planned = planner
        .plan(&s.problem)
        .and_then(|plan| plan.validate(&s.problem).map(|()| plan));
    let plan = planned.unwrap_or_else(|e| {
        let mut p = SingleNode(Tier::Device)
            .plan(&s.problem)
            .expect("the device is always there");
        p.notes.push(format!(
            "{} cannot plan on the surviving nodes: {e}",
            planner.name()
        ));
        p
    });
    (plan.on_nodes(&s.kept), s.dropped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{evaluate, planner_by_name};
    use tiersplit_cost::{Bandwidth, LinkCost, Nanos, ProblemLayer, ProblemNode, ProblemTensor};
    use tiersplit_graph::Bytes;

    /// A chain of three layers on device, edge0, edge1, cloud (no device-cloud link).
    fn cluster() -> Problem {
        let node = |name: &str, tier| ProblemNode {
            name: name.into(),
            tier,
            memory: None,
            uplink: None,
        };
        let mut links = Vec::new();
        for (a, b) in [(0, 1), (0, 2), (1, 2), (1, 3), (2, 3)] {
            for (from, to) in [(a, b), (b, a)] {
                links.push(LinkCost {
                    from: NodeId(from),
                    to: NodeId(to),
                    bandwidth: Bandwidth::from_mbps(100.0),
                    latency: Nanos(1_000_000),
                });
            }
        }
        let layer = |i: usize| ProblemLayer {
            name: format!("l{i}"),
            op: "Conv".into(),
            time: vec![
                Nanos(80_000_000),
                Nanos(10_000_000),
                Nanos(12_000_000),
                Nanos(2_000_000),
            ],
            weights: Bytes(0),
            spatial: None,
        };
        let tensor = |i: usize, producer: Option<usize>| ProblemTensor {
            name: format!("t{i}"),
            bytes: Bytes(10_000),
            producer,
            consumers: if i < 3 { vec![i] } else { vec![] },
            graph_output: i == 3,
            hw: None,
        };
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
            layers: (0..3).map(layer).collect(),
            tensors: (0..4).map(|i| tensor(i, i.checked_sub(1))).collect(),
            links,
            frame_rate: 5.0,
        }
    }

    #[test]
    fn every_planner_plans_around_a_lost_edge_node() {
        let p = cluster();
        for name in [
            "edge-only",
            "best",
            "hpa",
            "exact-3tier",
            "cloud-only",
            "dads",
        ] {
            let planner = planner_by_name(name).unwrap();
            let (plan, dropped) = plan_surviving(planner.as_ref(), &p, &[NodeId(1)]);
            assert_eq!(dropped, [NodeId(1)], "{name}");
            assert!(!plan.uses_any(&[NodeId(1)]), "{name}: {plan:?}");
            plan.validate(&p).unwrap();
            assert!(evaluate(&p, &plan).makespan.0 > 0);
        }
    }

    #[test]
    fn with_every_edge_lost_the_device_alone_answers() {
        let p = cluster();
        let planner = planner_by_name("edge-only").unwrap();
        let (plan, dropped) = plan_surviving(planner.as_ref(), &p, &[NodeId(1), NodeId(2)]);
        assert_eq!(dropped, [NodeId(1), NodeId(2), NodeId(3)]);
        assert!(plan.placement.iter().all(|&n| n == NodeId(0)));
        assert!(
            plan.notes[0].contains("edge-only cannot plan"),
            "{:?}",
            plan.notes
        );
    }
}
