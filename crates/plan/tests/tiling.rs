//! Tiled stages in plans (D3's vertical separation): a one-tile stage scores exactly like the
//! untiled plan, tiles on several nodes cut the stage's time, HPA-VSM is never behind HPA and
//! `best` never behind HPA-VSM, and every plan they return is valid.

use proptest::prelude::*;
use tiersplit_cost::{
    Bandwidth, LinkCost, Nanos, NodeId, Problem, ProblemLayer, ProblemNode, ProblemTensor, Tier,
};
use tiersplit_graph::Bytes;
use tiersplit_plan::{evaluate, tileable_runs, Best, Hpa, HpaVsm, Plan, Planner, TiledStage};
use tiersplit_tile::{AxisWindow, Grid, SpatialOp};

fn window(kernel: u64, stride: u64, pad: u64) -> AxisWindow {
    AxisWindow {
        kernel,
        stride,
        dilation: 1,
        pad_begin: pad,
        pad_end: pad,
    }
}

/// A CNN-shaped problem: a chain of spatial layers on a `size` x `size` map with `channels`
/// channels, then a non-spatial head. Device slow, `edges` equal edge nodes, cloud fast.
fn arb_cnn() -> impl Strategy<Value = Problem> {
    (
        prop::collection::vec((0u8..3, 1u64..30), 1..7),
        24u64..96,
        1u64..32,
        2usize..4,
        1.0f64..100.0,
        5.0f64..50.0,
    )
        .prop_map(|(spec, size, channels, edges, up_mbps, backbone_mbps)| {
            let mut layers = Vec::new();
            let mut tensors = vec![ProblemTensor {
                name: "x".into(),
                bytes: Bytes(4 * channels * size * size),
                producer: None,
                consumers: vec![],
                graph_output: false,
                hw: Some((size, size)),
            }];
            let n_nodes = edges + 2;
            let times = |ms: u64| {
                (0..n_nodes)
                    .map(|n| {
                        let speed = match n {
                            0 => 0.1,
                            n if n == n_nodes - 1 => 4.0,
                            _ => 1.0,
                        };
                        Nanos((ms as f64 * 1e6 / speed) as u64)
                    })
                    .collect::<Vec<_>>()
            };
            let mut hw = (size, size);
            for (i, (kind, ms)) in spec.into_iter().enumerate() {
                let op = match kind {
                    0 => SpatialOp::Conv {
                        h: window(3, 1, 1),
                        w: window(3, 1, 1),
                    },
                    1 if hw.0 >= 8 => SpatialOp::MaxPool {
                        h: window(2, 2, 0),
                        w: window(2, 2, 0),
                        ceil: false,
                    },
                    _ => SpatialOp::Elementwise,
                };
                hw = op.output_size(hw);
                let prev = tensors.len() - 1;
                tensors[prev].consumers.push(i);
                layers.push(ProblemLayer {
                    name: format!("l{i}"),
                    op: "Conv".into(),
                    time: times(ms),
                    weights: Bytes(0),
                    spatial: Some(op),
                });
                tensors.push(ProblemTensor {
                    name: format!("t{i}"),
                    bytes: Bytes(4 * channels * hw.0 * hw.1),
                    producer: Some(i),
                    consumers: vec![],
                    graph_output: false,
                    hw: Some(hw),
                });
            }
            let head = layers.len();
            let prev = tensors.len() - 1;
            tensors[prev].consumers.push(head);
            layers.push(ProblemLayer {
                name: "head".into(),
                op: "Gemm".into(),
                time: times(2),
                weights: Bytes(0),
                spatial: None,
            });
            tensors.push(ProblemTensor {
                name: "y".into(),
                bytes: Bytes(4000),
                producer: Some(head),
                consumers: vec![],
                graph_output: true,
                hw: None,
            });
            let mut nodes = vec![ProblemNode {
                name: "device".into(),
                tier: Tier::Device,
                memory: None,
                uplink: None,
            }];
            for e in 0..edges {
                nodes.push(ProblemNode {
                    name: format!("edge{e}"),
                    tier: Tier::Edge,
                    memory: None,
                    uplink: None,
                });
            }
            nodes.push(ProblemNode {
                name: "cloud".into(),
                tier: Tier::Cloud,
                memory: None,
                uplink: None,
            });
            let link = |from: usize, to: usize, mbps: f64, ms: f64| LinkCost {
                from: NodeId(from),
                to: NodeId(to),
                bandwidth: Bandwidth::from_mbps(mbps),
                latency: Nanos::from_millis_f64(ms),
            };
            let mut links = Vec::new();
            for e in 1..=edges {
                links.push(link(0, e, up_mbps, 2.0));
                links.push(link(e, 0, up_mbps, 2.0));
                links.push(link(e, n_nodes - 1, backbone_mbps, 20.0));
                links.push(link(n_nodes - 1, e, backbone_mbps, 20.0));
                for f in 1..=edges {
                    if f != e {
                        links.push(link(e, f, 1000.0, 0.25));
                    }
                }
            }
            Problem {
                model: "cnn".into(),
                scenario: "random".into(),
                nodes,
                device: NodeId(0),
                layers,
                tensors,
                links,
                frame_rate: 10.0,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(150))]

    #[test]
    fn one_tile_scores_like_no_tiling(p in arb_cnn(), node in 1usize..3) {
        let run = &tileable_runs(&p)[0];
        let mut placement = vec![NodeId(node); p.layers.len()];
        *placement.last_mut().unwrap() = NodeId(p.nodes.len() - 1);
        let plain = Plan::new("t", placement.clone());
        let hw = p.tensors.iter().find(|t| t.producer == Some(*run.last().unwrap())).unwrap().hw.unwrap();
        let mut tiled = plain.clone();
        tiled.tiled.push(TiledStage { layers: run.clone(), nodes: vec![NodeId(node)], grid: Grid::even(hw.0, hw.1, 1, 1).unwrap() });
        tiled.validate(&p).unwrap();
        let (a, b) = (evaluate(&p, &plain), evaluate(&p, &tiled));
        prop_assert_eq!(a.backbone_bytes, b.backbone_bytes);
        // A tile reads and computes only the rows and columns its output needs: strided
        // windows may skip the last ones, so one tile can be cheaper than the whole map,
        // never dearer.
        for (x, y) in a.compute.iter().zip(&b.compute) {
            prop_assert!(y <= x);
        }
        prop_assert!(b.makespan <= a.makespan);
        prop_assert!(b.period <= a.period);
        if !p.layers.iter().any(|l| matches!(l.spatial, Some(SpatialOp::MaxPool { .. }))) {
            // Same-size convolutions read every pixel: identical scores.
            prop_assert_eq!(&a.compute, &b.compute);
            prop_assert_eq!(a.makespan, b.makespan);
            prop_assert_eq!(a.period, b.period);
        }
        let rows_read = |plan: &Plan| evaluate(&p, plan).links.iter().map(|l| l.bytes.0).sum::<u64>();
        prop_assert!(rows_read(&tiled) <= rows_read(&plain));
    }

    #[test]
    fn tiles_share_the_work_and_pay_for_halos(p in arb_cnn()) {
        let run = &tileable_runs(&p)[0];
        let hw = p.tensors.iter().find(|t| t.producer == Some(*run.last().unwrap())).unwrap().hw.unwrap();
        prop_assume!(hw.0 >= 2);
        let edges = p.nodes_of(Tier::Edge);
        let placement = vec![edges[0]; p.layers.len()];
        let plain = Plan::new("t", placement.clone());
        let mut tiled = plain.clone();
        tiled.tiled.push(TiledStage { layers: run.clone(), nodes: edges[..2].to_vec(), grid: Grid::even(hw.0, hw.1, 2, 1).unwrap() });
        tiled.validate(&p).unwrap();
        let (a, b) = (evaluate(&p, &plain), evaluate(&p, &tiled));
        let total = |x: &[Nanos]| x.iter().map(|n| n.0).sum::<u64>();
        // Each tile does at most the whole stage's work; the lead node does less than alone.
        prop_assert!(total(&b.compute) <= 2 * total(&a.compute));
        prop_assert!(b.compute[edges[0].0] < a.compute[edges[0].0]);
        prop_assert!(b.compute[edges[1].0] > Nanos(0));
        // The second tile's input and output cross the edge LAN.
        prop_assert!(b.links.iter().any(|l| l.to == edges[1]));
    }

    /// With or without a radio the device's uploads to the edges share.
    #[test]
    fn hpa_vsm_and_best_are_valid_and_never_behind(mut p in arb_cnn(), radio in prop::option::of(1.0f64..100.0)) {
        if let Some(mbps) = radio {
            p.set_uplink(p.device, Bandwidth::from_mbps(mbps));
        }
        let hpa = Hpa.plan(&p).unwrap();
        let vsm = HpaVsm.plan(&p).unwrap();
        let best = Best::latency().plan(&p).unwrap();
        for plan in [&hpa, &vsm, &best] {
            plan.validate(&p).unwrap();
        }
        let m = |plan: &Plan| evaluate(&p, plan).makespan;
        prop_assert!(m(&vsm) <= m(&hpa));
        prop_assert!(m(&best) <= m(&vsm));
        // `best` says which plan it took: a planner's, the list schedule, or its own tiling.
        prop_assert_eq!(best.notes.len(), 1, "{:?}", best.notes);
        let said = &best.notes[0];
        prop_assert!(said.starts_with("took ") || said.starts_with("started from "), "{}", said);
        if !best.tiled.is_empty() {
            prop_assert!(said.contains("tiled plan") || said.contains("own tiling"), "{}", said);
        }
    }
}

#[test]
fn invalid_stages_are_refused_with_the_reason() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let p = proptest::strategy::ValueTree::current(&arb_cnn().new_tree(&mut runner).unwrap());
    let run = tileable_runs(&p)[0].clone();
    let edges = p.nodes_of(Tier::Edge);
    let hw = p
        .tensors
        .iter()
        .find(|t| t.producer == Some(*run.last().unwrap()))
        .unwrap()
        .hw
        .unwrap();
    let base = Plan::new("t", vec![edges[0]; p.layers.len()]);
    let stage = |layers: Vec<usize>, nodes: Vec<NodeId>, rows: usize| {
        let mut plan = base.clone();
        plan.tiled.push(TiledStage {
            layers,
            nodes,
            grid: Grid::even(hw.0, hw.1, rows, 1).unwrap(),
        });
        plan.validate(&p).unwrap_err().to_string()
    };
    let head = p.layers.len() - 1;
    assert!(stage(vec![head], vec![edges[0]], 1).contains("cannot be tiled"));
    assert!(stage(run.clone(), vec![edges[0], edges[1]], 1).contains("1 tiles for 2 nodes"));
    assert!(stage(run.clone(), vec![edges[0], edges[0]], 2).contains("distinct"));
    assert!(stage(run.clone(), vec![edges[1], edges[0]], 2).contains("gathering node"));
    // Tiles may not run on the device when the input already left it.
    let mut plan = Plan::new("t", vec![edges[0]; p.layers.len()]);
    plan.placement[head] = edges[0];
    if run.len() >= 2 {
        plan.tiled.push(TiledStage {
            layers: run[1..].to_vec(),
            nodes: vec![edges[0], p.device],
            grid: Grid::even(hw.0, hw.1, 2.min(hw.0 as usize), 1).unwrap(),
        });
        if plan.tiled[0].grid.tiles() == 2 {
            assert!(plan.validate(&p).is_err());
        }
    }
}
