//! Planners against brute force on random small DAGs: the exact planners reach the optimum of
//! their objective every time, DSH stays within its proven factor of 3, every plan is valid.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use tiersplit_cost::{
    Bandwidth, LinkCost, Nanos, NodeId, Problem, ProblemLayer, ProblemNode, ProblemTensor, Tier,
};
use tiersplit_graph::Bytes;
use tiersplit_plan::{all_planners, evaluate, oracle, Dsh, Dsl, ExactThreeTier, Planner};

/// A random DAG problem: layer i reads one or two earlier outputs (or the input); sinks are
/// graph outputs. Device slow, edge medium, cloud fast, with noise; links device-edge and
/// edge-cloud only (no direct device-cloud link), or device-cloud only when `two_tier`.
fn arb_problem(two_tier: bool) -> impl Strategy<Value = Problem> {
    let layer = (
        any::<prop::sample::Index>(),
        any::<prop::sample::Index>(),
        any::<bool>(),
        1u64..50,
        1u64..40,
        1u64..20,
        1u64..400_000,
    );
    (
        prop::collection::vec(layer, 1..9),
        1u64..2_000_000,
        0.5f64..40.0,
        5.0f64..200.0,
        0u64..5,
    )
        .prop_map(
            move |(spec, input_bytes, up_mbps, backbone_mbps, latency_ms)| {
                let n = spec.len();
                let mut tensors = vec![ProblemTensor {
                    name: "x".into(),
                    bytes: Bytes(input_bytes),
                    producer: None,
                    consumers: vec![],
                    graph_output: false,
                    hw: None,
                }];
                let mut layers = Vec::new();
                for (i, (a, b, two, td, te, tc, out)) in spec.into_iter().enumerate() {
                    let first = a.index(tensors.len());
                    tensors[first].consumers.push(i);
                    if two {
                        let second = b.index(tensors.len());
                        if second != first {
                            tensors[second].consumers.push(i);
                        }
                    }
                    let ms = |v: u64| Nanos(v * 1_000_000);
                    let time = if two_tier {
                        vec![ms(td), ms(tc)]
                    } else {
                        vec![ms(td), ms(te), ms(tc)]
                    };
                    layers.push(ProblemLayer {
                        name: format!("l{i}"),
                        op: "Conv".into(),
                        time,
                        weights: Bytes(0),
                        spatial: None,
                    });
                    tensors.push(ProblemTensor {
                        name: format!("t{i}"),
                        bytes: Bytes(out),
                        producer: Some(i),
                        consumers: vec![],
                        graph_output: false,
                        hw: None,
                    });
                }
                for t in tensors.iter_mut().skip(1) {
                    t.graph_output = t.consumers.is_empty();
                }
                assert!(n >= 1);
                let latency = Nanos(latency_ms * 1_000_000);
                let link = |from, to, mbps| LinkCost {
                    from: NodeId(from),
                    to: NodeId(to),
                    bandwidth: Bandwidth::from_mbps(mbps),
                    latency,
                };
                let (nodes, links) = if two_tier {
                    (
                        vec![
                            ProblemNode {
                                name: "device".into(),
                                tier: Tier::Device,
                                memory: None,
                                uplink: None,
                            },
                            ProblemNode {
                                name: "cloud".into(),
                                tier: Tier::Cloud,
                                memory: None,
                                uplink: None,
                            },
                        ],
                        vec![link(0, 1, up_mbps), link(1, 0, up_mbps)],
                    )
                } else {
                    (
                        vec![
                            ProblemNode {
                                name: "device".into(),
                                tier: Tier::Device,
                                memory: None,
                                uplink: None,
                            },
                            ProblemNode {
                                name: "edge".into(),
                                tier: Tier::Edge,
                                memory: None,
                                uplink: None,
                            },
                            ProblemNode {
                                name: "cloud".into(),
                                tier: Tier::Cloud,
                                memory: None,
                                uplink: None,
                            },
                        ],
                        vec![
                            link(0, 1, up_mbps),
                            link(1, 0, up_mbps),
                            link(1, 2, backbone_mbps),
                            link(2, 1, backbone_mbps),
                        ],
                    )
                };
                Problem {
                    model: "random".into(),
                    scenario: "random".into(),
                    nodes,
                    device: NodeId(0),
                    layers,
                    tensors,
                    links,
                    frame_rate: 10.0,
                }
            },
        )
}

/// [`arb_problem`]'s three tiers with a direct device-cloud link too, at any rate: quicker or
/// slower than through the edge.
fn arb_problem_direct() -> impl Strategy<Value = Problem> {
    (arb_problem(false), 0.5f64..500.0, 0u64..30).prop_map(|(mut p, mbps, ms)| {
        for (from, to) in [(0, 2), (2, 0)] {
            p.links.push(LinkCost {
                from: NodeId(from),
                to: NodeId(to),
                bandwidth: Bandwidth::from_mbps(mbps),
                latency: Nanos(ms * 1_000_000),
            });
        }
        p
    })
}

/// [`arb_problem`]'s three tiers with weights on every layer and a memory limit on every node,
/// from a twentieth of everything to more than all of it.
fn arb_problem_memory() -> impl Strategy<Value = Problem> {
    (
        arb_problem(false),
        prop::collection::vec(1u64..200_000, 9),
        prop::collection::vec(0.05f64..1.5, 3),
    )
        .prop_map(|(mut p, weights, share)| {
            for (l, w) in p.layers.iter_mut().zip(weights) {
                l.weights = Bytes(w);
            }
            let all: u64 = p.layers.iter().map(|l| l.weights.0).sum::<u64>()
                + p.tensors.iter().map(|t| t.bytes.0).sum::<u64>();
            for (n, f) in p.nodes.iter_mut().zip(share) {
                n.memory = Some(Bytes(((all as f64 * f) as u64).max(1)));
            }
            p
        })
}

/// [`arb_problem`]'s three tiers with a shared radio on some nodes.
fn arb_problem_radio() -> impl Strategy<Value = Problem> {
    (
        arb_problem(false),
        prop::collection::vec(prop::option::of(0.5f64..100.0), 3),
    )
        .prop_map(|(mut p, radios)| {
            for (i, r) in radios.into_iter().enumerate() {
                if let Some(mbps) = r {
                    p.set_uplink(NodeId(i), Bandwidth::from_mbps(mbps));
                }
            }
            p
        })
}

/// [`arb_problem`]'s three tiers (at most 6 layers) and a second edge node, every pair of nodes
/// linked at rates from 0.01 to 1,000 Mbit/s: tensors sent to several nodes can reach one over
/// a chain of relays that no single route takes.
fn arb_problem_four() -> impl Strategy<Value = Problem> {
    (
        arb_problem(false).prop_filter("small enough to enumerate", |p| p.layers.len() <= 6),
        prop::collection::vec(1u64..40, 6),
        prop::collection::vec(-2.0f64..3.0, 12),
    )
        .prop_map(|(mut p, edge_ms, log_mbps)| {
            p.nodes.push(ProblemNode {
                name: "edge2".into(),
                tier: Tier::Edge,
                memory: None,
                uplink: None,
            });
            for (l, ms) in p.layers.iter_mut().zip(edge_ms) {
                l.time.push(Nanos(ms * 1_000_000));
            }
            p.links.clear();
            let pairs = (0..4).flat_map(|a| (0..4).filter(move |&b| b != a).map(move |b| (a, b)));
            for ((a, b), lm) in pairs.zip(log_mbps) {
                p.links.push(LinkCost {
                    from: NodeId(a),
                    to: NodeId(b),
                    bandwidth: Bandwidth::from_mbps(10f64.powf(lm)),
                    latency: Nanos(((a + b) as u64) * 100_000),
                });
            }
            p
        })
}

fn cloud(p: &Problem) -> NodeId {
    NodeId(p.nodes.len() - 1)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn dsl_is_optimal_two_tier(p in arb_problem(true)) {
        let plan = Dsl.plan(&p).unwrap();
        plan.validate(&p).unwrap();
        let (_, best) = oracle::best_by(&p, &[p.device, cloud(&p)], |pr| pr.latency_sum).unwrap();
        prop_assert_eq!(evaluate(&p, &plan).latency_sum, best.latency_sum);
    }

    #[test]
    fn dsl_is_optimal_across_a_relay(p in arb_problem(false)) {
        let plan = Dsl.plan(&p).unwrap();
        let (_, best) = oracle::best_by(&p, &[p.device, cloud(&p)], |pr| pr.latency_sum).unwrap();
        prop_assert_eq!(evaluate(&p, &plan).latency_sum, best.latency_sum);
    }

    #[test]
    fn exact_three_tier_is_optimal(p in arb_problem(false)) {
        let plan = ExactThreeTier.plan(&p).unwrap();
        plan.validate(&p).unwrap();
        prop_assert!(plan.notes.is_empty(), "{:?}", plan.notes);
        let all: Vec<NodeId> = p.node_ids().collect();
        let (_, best) = oracle::best_by(&p, &all, |pr| pr.latency_sum).unwrap();
        prop_assert_eq!(evaluate(&p, &plan).latency_sum, best.latency_sum);
    }

    /// With a direct device-cloud link the cut's bound holds, a plan that meets it is the
    /// optimum, and no two-tier cut is better.
    #[test]
    fn exact_three_tier_is_bounded_on_any_topology(p in arb_problem_direct()) {
        let cut = ExactThreeTier::solve(&p).unwrap();
        cut.plan.validate(&p).unwrap();
        let all: Vec<NodeId> = p.node_ids().collect();
        let (_, best) = oracle::best_by(&p, &all, |pr| pr.latency_sum).unwrap();
        prop_assert_eq!(evaluate(&p, &cut.plan).latency_sum, cut.latency_sum);
        prop_assert!(cut.lower_bound <= best.latency_sum, "bound {} above the optimum {}", cut.lower_bound, best.latency_sum);
        prop_assert!(best.latency_sum <= cut.latency_sum);
        prop_assert_eq!(cut.proven, cut.plan.notes.is_empty());
        if cut.proven {
            prop_assert_eq!(cut.latency_sum, best.latency_sum);
        }
        for two_tier in [&Dsl as &dyn Planner, &tiersplit_plan::Neurosurgeon] {
            let t = evaluate(&p, &two_tier.plan(&p).unwrap()).latency_sum;
            prop_assert!(cut.latency_sum <= t, "{} beat exact-3tier: {} < {}", two_tier.name(), t, cut.latency_sum);
        }
    }

    /// With memory limits, every planner's plan fits or is refused as not fitting; the chain
    /// and cut planners' plans fit whenever a chain split over their nodes does; `best`'s
    /// always fits, and `best` has one whenever another planner's fits.
    #[test]
    fn plans_respect_memory_or_say_they_do_not_fit(p in arb_problem_memory()) {
        let n = p.layers.len();
        let chain_fits = |tiers: &[usize]| (0..=n).any(|i| (i..=n).any(|j| {
            let at = |l: usize| if l < i { 0 } else if l < j { 1 } else { 2 };
            let placement = (0..n).map(|l| NodeId(tiers[at(l)])).collect();
            tiersplit_plan::Plan::new("chain", placement).validate(&p).is_ok()
        }));
        let (two, three) = (chain_fits(&[0, 2, 2]), chain_fits(&[0, 1, 2]));
        let mut any_fits = false;
        for planner in tiersplit_plan::all_baseline_planners() {
            let plan = planner.plan(&p).unwrap();
            let must_fit = match planner.name() {
                "neurosurgeon" | "dads-dsl" | "dads-dsh" | "dads" => two,
                "neurosurgeon-3tier" | "hpa" | "hpa-vsm" | "exact-3tier" => three,
                _ => false,
            };
            match plan.validate(&p) {
                Ok(()) => any_fits = true,
                Err(e) => {
                    prop_assert!(!must_fit, "{}: a chain split fits, its plan does not: {e}", planner.name());
                    prop_assert!(
                        matches!(e, tiersplit_plan::PlanError::OutOfMemory { .. }),
                        "{}: {e}",
                        planner.name()
                    )
                }
            }
        }
        for best in [tiersplit_plan::Best::latency(), tiersplit_plan::Best::throughput()] {
            match best.plan(&p) {
                Ok(plan) => prop_assert!(plan.validate(&p).is_ok(), "{:?}", plan.validate(&p)),
                Err(e) => prop_assert!(!any_fits, "best found nothing that fits: {e}"),
            }
        }
    }

    #[test]
    fn dsh_is_within_three_of_the_best_period(p in arb_problem(true)) {
        let plan = Dsh::default().plan(&p).unwrap();
        let (_, best) = oracle::best_by(&p, &[p.device, cloud(&p)], |pr| pr.period).unwrap();
        let got = evaluate(&p, &plan).period;
        prop_assert!(got.0 <= 3 * best.period.0, "DSH {} vs optimal {}", got, best.period);
    }

    #[test]
    fn every_plan_is_valid_and_consistent(p in arb_problem(false)) {
        for planner in all_planners() {
            let plan = planner.plan(&p).unwrap();
            plan.validate(&p).unwrap();
            let pred = evaluate(&p, &plan);
            prop_assert!(pred.makespan <= pred.latency_sum, "{}: makespan {} > sum {}", planner.name(), pred.makespan, pred.latency_sum);
            prop_assert!(pred.period <= pred.latency_sum);
        }
    }
}

#[test]
fn exact_three_tier_beats_or_ties_every_planner_on_summed_latency() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    for _ in 0..100 {
        let p = arb_problem(false).new_tree(&mut runner).unwrap().current();
        let exact = evaluate(&p, &ExactThreeTier.plan(&p).unwrap()).latency_sum;
        for planner in all_planners() {
            let t = evaluate(&p, &planner.plan(&p).unwrap()).latency_sum;
            assert!(exact <= t, "{} beat exact: {t} < {exact}", planner.name());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

    /// Neurosurgeon's incremental sweep finds the best chain split(s) a full evaluation of
    /// every candidate finds.
    #[test]
    fn neurosurgeon_finds_the_best_chain_splits(p in arb_problem(false)) {
        use tiersplit_plan::{Neurosurgeon, Neurosurgeon3, Plan};
        let n = p.layers.len();
        let (d, e, c) = (p.device, NodeId(1), NodeId(2));
        let best2 = (0..=n).map(|k| evaluate(&p, &Plan::new("x", (0..n).map(|l| if l < k { d } else { c }).collect())).latency_sum).min().unwrap();
        let best3 = (0..=n).flat_map(|i| (i..=n).map(move |j| (i, j))).map(|(i, j)| {
            evaluate(&p, &Plan::new("x", (0..n).map(|l| if l < i { d } else if l < j { e } else { c }).collect())).latency_sum
        }).min().unwrap();
        prop_assert_eq!(evaluate(&p, &Neurosurgeon.plan(&p).unwrap()).latency_sum, best2);
        prop_assert_eq!(evaluate(&p, &Neurosurgeon3.plan(&p).unwrap()).latency_sum, best3);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 150, failure_persistence: None, ..ProptestConfig::default() })]

    /// The combined planner is never behind any other planner on its objective.
    #[test]
    fn best_is_never_behind(p in arb_problem(false)) {
        use tiersplit_plan::Best;
        let best = evaluate(&p, &Best::latency().plan(&p).unwrap()).makespan;
        let best_period = evaluate(&p, &Best::throughput().plan(&p).unwrap()).period;
        for planner in all_planners() {
            let pred = evaluate(&p, &planner.plan(&p).unwrap());
            if planner.name() != "best-throughput" {
                prop_assert!(best <= pred.makespan, "{} has makespan {} < best {}", planner.name(), pred.makespan, best);
            }
            prop_assert!(best_period <= pred.period, "{} has period {} < best-throughput {}", planner.name(), pred.period, best_period);
        }
    }
}

/// How close the combined planner gets to the true minimum makespan on small DAGs (printed;
/// the figures are in the README).
#[test]
fn best_against_the_makespan_oracle() {
    use tiersplit_plan::Best;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let (mut hits, mut worst, cases) = (0, 1.0f64, 200);
    for _ in 0..cases {
        let p = arb_problem(false).new_tree(&mut runner).unwrap().current();
        let got = evaluate(&p, &Best::latency().plan(&p).unwrap()).makespan;
        let all: Vec<NodeId> = p.node_ids().collect();
        let (_, opt) = oracle::best_by(&p, &all, |pr| pr.makespan).unwrap();
        assert!(got >= opt.makespan, "beat the oracle: impossible");
        if got == opt.makespan {
            hits += 1;
        }
        worst = worst.max(got.0 as f64 / opt.makespan.0.max(1) as f64);
    }
    println!(
        "best vs makespan oracle: optimal in {hits}/{cases} random DAGs, worst ratio {worst:.3}"
    );
    assert!(hits * 2 >= cases, "optimal in only {hits}/{cases}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 150, failure_persistence: None, ..ProptestConfig::default() })]

    /// After a change of link speed, HPA's local re-adjustment reaches a plan no worse than
    /// where it started, and HPA's full solve equals the best pair of chain split points.
    #[test]
    fn hpa_readjusts_locally(p in arb_problem(false), factor in 0.05f64..20.0) {
        use tiersplit_plan::{Hpa, Neurosurgeon3, Plan};
        let start = Hpa::solve(&p).unwrap();
        prop_assert_eq!(
            evaluate(&p, &Plan::new("hpa", Hpa::placement(&p, start).unwrap())).latency_sum,
            evaluate(&p, &Neurosurgeon3.plan(&p).unwrap()).latency_sum
        );
        let mut changed = p.clone();
        for l in &mut changed.links {
            l.bandwidth = tiersplit_cost::Bandwidth(l.bandwidth.0 * factor);
        }
        let (after, report) = Hpa::readjust(&changed, start).unwrap();
        let cost = |s| evaluate(&changed, &Plan::new("hpa", Hpa::placement(&changed, s).unwrap())).latency_sum;
        prop_assert!(cost(after) <= cost(start));
        prop_assert!(report.evaluations >= 1);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 150, failure_persistence: None, ..ProptestConfig::default() })]

    /// A radio caps its node's links, which the cut planners price exactly (summed latency
    /// does not see turns taken), so they stay optimal; `best` stays ahead of every planner.
    #[test]
    fn planners_hold_with_radios(p in arb_problem_radio()) {
        use tiersplit_plan::Best;
        let all: Vec<NodeId> = p.node_ids().collect();
        let (_, opt) = oracle::best_by(&p, &all, |pr| pr.latency_sum).unwrap();
        let exact = ExactThreeTier.plan(&p).unwrap();
        prop_assert_eq!(evaluate(&p, &exact).latency_sum, opt.latency_sum);
        let best = evaluate(&p, &Best::latency().plan(&p).unwrap()).makespan;
        let best_period = evaluate(&p, &Best::throughput().plan(&p).unwrap()).period;
        for planner in all_planners() {
            let plan = planner.plan(&p).unwrap();
            plan.validate(&p).unwrap();
            let pred = evaluate(&p, &plan);
            if planner.name() != "best-throughput" {
                prop_assert!(best <= pred.makespan, "{} has makespan {} < best {}", planner.name(), pred.makespan, best);
            }
            prop_assert!(best_period <= pred.period, "{} has period {} < best-throughput {}", planner.name(), pred.period, best_period);
        }
    }

    /// A radio only makes transfers from its node take turns: against the same links without
    /// it, no placement is quicker, the summed latency is the same, the radio is busy for what
    /// its node's links carry at its rate, and the period covers it.
    #[test]
    fn a_radio_makes_transfers_take_turns(p in arb_problem_radio(), placement in prop::collection::vec(0usize..3, 9)) {
        let plan = tiersplit_plan::Plan::new("x", placement[..p.layers.len()].iter().map(|&n| NodeId(n)).collect());
        prop_assume!(plan.validate(&p).is_ok());
        let mut free = p.clone();
        for n in &mut free.nodes {
            n.uplink = None;
        }
        let (shared, own) = (evaluate(&p, &plan), evaluate(&free, &plan));
        prop_assert!(shared.makespan >= own.makespan);
        prop_assert!(shared.period >= own.period);
        prop_assert_eq!(shared.latency_sum, own.latency_sum);
        for node in p.node_ids() {
            let from = || shared.links.iter().filter(|l| l.from == node);
            let busy: Nanos = from().map(|l| l.busy).sum();
            let bytes = Bytes(from().map(|l| l.bytes.0).sum());
            let messages = from().map(|l| l.messages).sum::<usize>() as i128;
            let radio = shared.radio_busy.get(node.0).copied().unwrap_or(Nanos(0));
            match p.nodes[node.0].uplink {
                // Every byte it sends, at the radio's rate (rounded per message).
                Some(rate) => {
                    prop_assert!((rate.time_for(bytes).0 as i128 - radio.0 as i128).abs() <= messages);
                    prop_assert!(radio <= busy);
                }
                None => prop_assert_eq!(radio, Nanos(0)),
            }
            prop_assert!(shared.period >= radio);
        }
    }
}

/// Parts of the hand-made problems below: a node without limits, a tensor (graph outputs are
/// the ones a layer makes), a layer with its time on each node, a link without latency.
fn node(name: &str, tier: Tier) -> ProblemNode {
    ProblemNode {
        name: name.into(),
        tier,
        memory: None,
        uplink: None,
    }
}

fn tensor(name: &str, bytes: u64, producer: Option<usize>, consumers: Vec<usize>) -> ProblemTensor {
    ProblemTensor {
        name: name.into(),
        bytes: Bytes(bytes),
        producer,
        consumers,
        graph_output: producer.is_some(),
        hw: None,
    }
}

fn layer(name: &str, secs: &[f64]) -> ProblemLayer {
    ProblemLayer {
        name: name.into(),
        op: "Conv".into(),
        time: secs.iter().map(|&s| Nanos((s * 1e9) as u64)).collect(),
        weights: Bytes(0),
        spatial: None,
    }
}

fn link(from: usize, to: usize, mbps: f64) -> LinkCost {
    LinkCost {
        from: NodeId(from),
        to: NodeId(to),
        bandwidth: Bandwidth::from_mbps(mbps),
        latency: Nanos(0),
    }
}

/// An input sent to two edge nodes over one radio: the second copy waits for the first, so
/// the frame takes one upload longer and the period is both uploads.
#[test]
fn a_radio_serialises_a_scatter() {
    let mut p = Problem {
        model: "scatter".into(),
        scenario: "radio".into(),
        nodes: vec![
            node("device", Tier::Device),
            node("e1", Tier::Edge),
            node("e2", Tier::Edge),
        ],
        device: NodeId(0),
        layers: vec![layer("a", &[5.0, 1.0, 1.0]), layer("b", &[5.0, 1.0, 1.0])],
        tensors: vec![
            tensor("x", 1_000_000, None, vec![0, 1]),
            tensor("ya", 1_000, Some(0), vec![]),
            tensor("yb", 1_000, Some(1), vec![]),
        ],
        links: [(0, 1), (1, 0), (0, 2), (2, 0), (1, 2), (2, 1)]
            .map(|(a, b)| link(a, b, 8.0))
            .to_vec(),
        frame_rate: 1.0,
    };
    let plan = tiersplit_plan::Plan::new("x", vec![NodeId(1), NodeId(2)]);
    let own = evaluate(&p, &plan);
    assert_eq!(own.makespan, Nanos(2_001_000_000));
    assert_eq!(own.period, Nanos(1_000_000_000));
    p.set_uplink(NodeId(0), Bandwidth::from_mbps(8.0));
    let shared = evaluate(&p, &plan);
    assert_eq!(shared.makespan, Nanos(3_001_000_000));
    assert_eq!(shared.period, Nanos(2_000_000_000));
    assert_eq!(
        shared.radio_busy,
        vec![Nanos(2_000_000_000), Nanos(0), Nanos(0)]
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

    /// Branch and bound reaches the brute-force minimum makespan and proves it, on relay and
    /// direct topologies, with radios and with memory limits; cut short, its bound is still
    /// below the minimum.
    #[test]
    fn the_reference_optimum_is_the_true_minimum(
        p in prop_oneof![arb_problem(false), arb_problem_direct(), arb_problem_radio(), arb_problem_memory()],
        from_planners in any::<bool>(),
    ) {
        use tiersplit_plan::{reference_optimum, Plan};
        // From the planners' plans, or from nothing, so no incumbent hides a bound too high.
        let starts: Vec<Plan> = match from_planners {
            true => all_planners().iter().filter_map(|pl| pl.plan(&p).ok()).collect(),
            false => vec![],
        };
        let all: Vec<NodeId> = p.node_ids().collect();
        let got = reference_optimum(&p, &starts, 10_000_000);
        let Some((_, opt)) = oracle::best_by(&p, &all, |pr| pr.makespan) else {
            prop_assert!(got.is_none());
            return Ok(());
        };
        let got = got.expect("a placement fits");
        prop_assert!(got.proven(), "bound {} under {}", got.lower_bound, got.makespan);
        prop_assert_eq!(got.makespan, opt.makespan);
        got.plan.validate(&p).unwrap();
        prop_assert_eq!(evaluate(&p, &got.plan).makespan, got.makespan);
        // Cut short it may find nothing that fits memory, which no planner's plan does.
        if let Some(short) = reference_optimum(&p, &starts, 2) {
            prop_assert!(short.lower_bound <= opt.makespan && opt.makespan <= short.makespan);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    /// On fully linked four-node meshes, where a tensor sent to several nodes can reach one
    /// over a chain of relays that no single route takes, branch and bound from no plan at all
    /// still finds and proves the brute-force minimum.
    #[test]
    fn the_reference_optimum_holds_on_meshes(p in arb_problem_four()) {
        let all: Vec<NodeId> = p.node_ids().collect();
        let (_, opt) = oracle::best_by(&p, &all, |pr| pr.makespan).unwrap();
        let got = tiersplit_plan::reference_optimum(&p, &[], 10_000_000).unwrap();
        prop_assert!(got.proven());
        prop_assert_eq!(got.makespan, opt.makespan);
    }
}

/// The input reaches the cloud fastest as device -> edge X -> edge A -> cloud: no single route
/// takes that path (the route to the cloud goes over the slow device -> A link), but the union
/// of the routes to A and to the cloud does, and the evaluator forwards along it. The search's
/// bound must allow for it, or it proves the wrong plan optimal.
#[test]
fn the_reference_optimum_sees_paths_no_single_route_takes() {
    let s = |secs: f64| Nanos((secs * 1e9) as u64);
    // device, edge A, cloud, edge X
    let p = Problem {
        model: "relays".into(),
        scenario: "mesh".into(),
        nodes: vec![
            node("device", Tier::Device),
            node("a", Tier::Edge),
            node("cloud", Tier::Cloud),
            node("x", Tier::Edge),
        ],
        device: NodeId(0),
        layers: vec![
            layer("on_a", &[10.0, 0.001, 10.0, 10.0]),
            layer("on_cloud", &[10.0, 2.5, 0.001, 2.5]),
        ],
        tensors: vec![
            tensor("x", 1_000_000, None, vec![0, 1]),
            tensor("y0", 1_000, Some(0), vec![]),
            tensor("y1", 1_000, Some(1), vec![]),
        ],
        links: vec![
            link(0, 1, 1.0),
            link(0, 3, 100.0),
            link(3, 1, 100.0),
            link(1, 2, 100.0),
            link(3, 2, 0.5),
            link(1, 0, 100.0),
            link(3, 0, 100.0),
            link(2, 1, 100.0),
            link(1, 3, 100.0),
            link(2, 3, 100.0),
        ],
        frame_rate: 1.0,
    };
    let all: Vec<NodeId> = p.node_ids().collect();
    let (plan, opt) = oracle::best_by(&p, &all, |pr| pr.makespan).unwrap();
    assert_eq!(plan.placement, [NodeId(1), NodeId(2)]);
    assert!(opt.makespan < s(0.5), "{}", opt.makespan);
    let got = tiersplit_plan::reference_optimum(&p, &[], 1_000).unwrap();
    assert!(got.proven());
    assert_eq!(got.makespan, opt.makespan);
}
