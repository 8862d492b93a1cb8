//! A plan made executable: sub-models per node, tile models and stitchers for tiled stages,
//! and the routing table that sends every tensor from where it is made to where it is read,
//! hop by hop along the scenario's links.

use anyhow::{bail, Context, Result};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use tiersplit_cost::{NodeId, Problem, Scenario};
use tiersplit_graph::{LayerId, ModelGraph};
use tiersplit_onnx::OnnxModel;
use tiersplit_plan::Plan;
use tiersplit_runtime::{content_hash, Deployment, Emulation, LinkShape, PartSpec, Route, Work};
use tiersplit_tile::Span;

/// A deployment and the model bytes it needs (by content hash).
pub struct Built {
    pub deployment: Deployment,
    pub models: HashMap<String, Vec<u8>>,
    /// Per model part: its node, its layers, and the share of their work it does (a tile's
    /// output area over the whole map's; 1 for a plain part). What a part's predicted time is
    /// made of, for estimating node speeds from part runs.
    pub part_work: HashMap<String, (NodeId, Vec<usize>, f64)>,
}

impl Built {
    /// Predicted time of each model part on `p`'s costs.
    pub fn predicted(&self, p: &Problem) -> HashMap<String, (NodeId, tiersplit_cost::Nanos)> {
        self.part_work
            .iter()
            .map(|(id, (node, layers, share))| {
                let ns: u64 = layers.iter().map(|&l| p.layers[l].time[node.0].0).sum();
                (
                    id.clone(),
                    (*node, tiersplit_cost::Nanos((ns as f64 * share) as u64)),
                )
            })
            .collect()
    }
}

/// Layers in a topological order that keeps each node's layers together where the DAG allows
/// (among the ready layers, one on the node of the last one goes first): fewer, larger parts.
fn node_affine_order(g: &ModelGraph, node_of: &[Option<NodeId>]) -> Vec<LayerId> {
    let n = g.layers.len();
    let mut missing: Vec<usize> = g
        .layers
        .iter()
        .map(|l| {
            l.inputs
                .iter()
                .filter(|&&t| g.tensor(t).producer.is_some())
                .count()
        })
        .collect();
    let mut ready: BTreeSet<usize> = (0..n).filter(|&l| missing[l] == 0).collect();
    let mut order = Vec::with_capacity(n);
    let mut last: Option<NodeId> = None;
    while let Some(&first) = ready.iter().next() {
        let pick = ready
            .iter()
            .copied()
            .find(|&l| node_of[l].is_some() && node_of[l] == last)
            .unwrap_or(first);
        ready.remove(&pick);
        last = node_of[pick];
        order.push(LayerId(pick as u32));
        for &t in &g.layers[pick].outputs {
            for &c in &g.tensor(t).consumers {
                missing[c.index()] -= 1;
                if missing[c.index()] == 0 {
                    ready.insert(c.index());
                }
            }
        }
    }
    order
}

/// Scenario speeds as emulation: links shaped at their rate with half their round trip as
/// one-way delay; compute slowed relative to the fastest node, which runs at this machine's
/// own speed (so predictions use the profile scaled by that node's speed). With
/// `delays_only`, just the one-way delays (the testbed shapes rates and compute in the kernel).
pub fn emulation_of(scenario: &Scenario, delays_only: bool) -> Emulation {
    emulation_at_speed(scenario, delays_only, scenario.fastest_speed())
}

/// [`emulation_of`] with the speed that runs at this machine's own given: a trace that slows
/// the fastest node must not speed the others up.
pub fn emulation_at_speed(scenario: &Scenario, delays_only: bool, fastest: f64) -> Emulation {
    let mut links = Vec::new();
    for l in &scenario.links {
        let shape = |from: &str, to: &str| LinkShape {
            from: from.into(),
            to: to.into(),
            mbps: (!delays_only).then_some(l.bandwidth_mbps),
            delay_ms: l.rtt_ms / 2.0,
        };
        links.push(shape(&l.from, &l.to));
        if l.bidirectional {
            links.push(shape(&l.to, &l.from));
        }
    }
    Emulation {
        links,
        slowdown: if delays_only {
            Default::default()
        } else {
            scenario
                .nodes
                .iter()
                .map(|n| (n.name.clone(), (fastest / n.speed).max(1.0)))
                .collect()
        },
    }
}

/// A tile's rows and columns as the deployment writes regions: [row start, row end, column
/// start, column end].
fn region(rows: Span, cols: Span) -> [usize; 4] {
    [
        rows.start as usize,
        rows.end as usize,
        cols.start as usize,
        cols.end as usize,
    ]
}

pub fn build(
    model: &OnnxModel,
    problem: &Problem,
    plan: &Plan,
    addresses: BTreeMap<String, String>,
    emulation: Emulation,
) -> Result<Built> {
    plan.validate(problem).context("the plan is not valid")?;
    let g = &model.graph;
    let name = |n: NodeId| problem.nodes[n.0].name.clone();
    let sink = name(problem.device);
    let mut node_of: Vec<Option<NodeId>> = plan.placement.iter().map(|&n| Some(n)).collect();
    for stage in &plan.tiled {
        for &l in &stage.layers {
            node_of[l] = None;
        }
    }
    let mut parts: Vec<PartSpec> = Vec::new();
    let mut models: HashMap<String, Vec<u8>> = HashMap::new();
    let mut part_work = HashMap::new();
    // Runs of consecutive same-node layers in the node-affine order; a tiled layer ends a run
    // (a run is then contiguous in a topological order, hence convex, and the parts form a DAG).
    let mut runs: Vec<(NodeId, Vec<LayerId>)> = Vec::new();
    let mut broken = true;
    for l in node_affine_order(g, &node_of) {
        match node_of[l.index()] {
            None => broken = true,
            Some(n) => match runs.last_mut() {
                Some((m, run)) if *m == n && !broken => run.push(l),
                _ => {
                    runs.push((n, vec![l]));
                    broken = false;
                }
            },
        }
    }
    for (i, (node, layers)) in runs.iter().enumerate() {
        let bytes = model
            .sub_model_bytes(layers)
            .with_context(|| format!("writing part {i} for node {}", name(*node)))?;
        let hash = content_hash(&bytes);
        models.insert(hash.clone(), bytes);
        let b = g.boundary(layers)?;
        let names = |ts: &[tiersplit_graph::TensorId]| -> Vec<(String, String)> {
            ts.iter()
                .map(|&t| (g.tensor(t).name.clone(), g.tensor(t).name.clone()))
                .collect()
        };
        let id = format!("part{i}@{}", name(*node));
        part_work.insert(
            id.clone(),
            (*node, layers.iter().map(|l| l.index()).collect(), 1.0),
        );
        parts.push(PartSpec {
            id,
            node: name(*node),
            work: Work::Model { hash },
            inputs: names(&b.inputs),
            outputs: names(&b.outputs),
        });
    }
    // Tensors that must reach a node in a cut-out piece: (tensor, node, region, delivered as).
    let mut crops: Vec<(String, NodeId, [usize; 4], String)> = Vec::new();
    for (s, stage) in plan.tiled.iter().enumerate() {
        let layers: Vec<LayerId> = stage.layers.iter().map(|&l| LayerId(l as u32)).collect();
        let run = model
            .tiled_run(&layers, &stage.grid)
            .with_context(|| format!("writing the tiles of stage {s}"))?;
        let input = g.tensor(run.input).name.clone();
        let output = g.tensor(run.output).name.clone();
        let lead = stage.nodes[0];
        let mut regions = Vec::new();
        let mut gathered = Vec::new();
        for (i, (tile, bytes)) in run.plan.tiles.iter().zip(run.tile_models).enumerate() {
            let hash = content_hash(&bytes);
            models.insert(hash.clone(), bytes);
            let (rows, cols) = tile.input();
            let piece_in = format!("{input}#stage{s}tile{i}");
            let piece_out = format!("{output}#stage{s}tile{i}");
            crops.push((
                input.clone(),
                stage.nodes[i],
                region(rows, cols),
                piece_in.clone(),
            ));
            let id = format!("stage{s}/tile{i}@{}", name(stage.nodes[i]));
            parts.push(PartSpec {
                id: id.clone(),
                node: name(stage.nodes[i]),
                work: Work::Model { hash },
                inputs: vec![(piece_in, input.clone())],
                outputs: vec![(output.clone(), piece_out.clone())],
            });
            let (orows, ocols) = tile.output();
            // The tile's share of the stage's work: its output positions, halos included,
            // over the unsplit run's.
            let full: u64 = run.plan.sizes[1..].iter().map(|(h, w)| h * w).sum();
            let mine: u64 = tile
                .layers
                .iter()
                .map(|l| l.output_rows.len() * l.output_cols.len())
                .sum();
            part_work.insert(
                id,
                (
                    stage.nodes[i],
                    stage.layers.clone(),
                    mine as f64 / full.max(1) as f64,
                ),
            );
            regions.push(region(orows, ocols));
            gathered.push((piece_out.clone(), piece_out));
        }
        let shape: [usize; 4] = g
            .tensor(run.output)
            .shape
            .iter()
            .map(|&d| d as usize)
            .collect::<Vec<_>>()
            .try_into()
            .map_err(|_| anyhow::anyhow!("tiled output '{output}' is not NCHW"))?;
        parts.push(PartSpec {
            id: format!("stage{s}/gather@{}", name(lead)),
            node: name(lead),
            work: Work::Stitch { shape, regions },
            inputs: gathered,
            outputs: vec![(output.clone(), output)],
        });
    }
    // Where each tensor is published, and where it is needed.
    let node_index: HashMap<String, NodeId> = problem
        .node_ids()
        .map(|n| (problem.nodes[n.0].name.clone(), n))
        .collect();
    let mut made_on: HashMap<String, NodeId> = HashMap::new();
    for &t in &g.inputs {
        made_on.insert(g.tensor(t).name.clone(), problem.device);
    }
    for p in &parts {
        for (_, t) in &p.outputs {
            made_on.insert(t.clone(), node_index[&p.node]);
        }
    }
    let mut wanted: Vec<(String, NodeId)> = Vec::new();
    for p in &parts {
        for (t, _) in &p.inputs {
            if !crops.iter().any(|c| &c.3 == t) {
                wanted.push((t.clone(), node_index[&p.node]));
            }
        }
    }
    for &t in &g.outputs {
        wanted.push((g.tensor(t).name.clone(), problem.device));
    }
    let bytes_of = |t: &str| {
        g.tensor_by_name(t)
            .map(|t| t.bytes())
            .unwrap_or(tiersplit_graph::Bytes(1))
    };
    let mut routes: Vec<Route> = Vec::new();
    // A hop shared by several destinations is sent once; a tile's cut-out piece travels
    // beside the whole tensor, so the name it is delivered as is part of the key.
    let mut add_route = |r: Route| {
        if !routes.iter().any(|o| {
            o.tensor == r.tensor && o.from == r.from && o.to == r.to && o.deliver_as == r.deliver_as
        }) {
            routes.push(r);
        }
    };
    let mut plan_route = |tensor: &str, to: NodeId, crop: Option<[usize; 4]>, as_: &str| {
        let Some(&from) = made_on.get(tensor) else {
            bail!(
                "tensor '{tensor}' is needed on {} but made nowhere",
                name(to)
            );
        };
        if from == to {
            if crop.is_some() {
                add_route(Route {
                    tensor: tensor.into(),
                    from: name(from),
                    to: name(to),
                    crop,
                    deliver_as: as_.into(),
                });
            }
            return Ok(());
        }
        let hops = problem
            .route(from, to, bytes_of(tensor))
            .with_context(|| format!("no route from {} to {}", name(from), name(to)))?;
        let mut current = tensor.to_string();
        for (k, (a, b)) in hops.into_iter().enumerate() {
            add_route(Route {
                tensor: current.clone(),
                from: name(a),
                to: name(b),
                crop: if k == 0 { crop } else { None },
                deliver_as: as_.into(),
            });
            current = as_.to_string();
        }
        Ok(())
    };
    for (t, to) in &wanted {
        plan_route(t, *to, None, t)?;
    }
    for (t, to, region, as_) in &crops {
        plan_route(t, *to, Some(*region), as_)?;
    }
    let deployment = Deployment {
        id: plan.algorithm.clone(),
        first_frame: 0,
        nodes: addresses,
        parts,
        routes,
        sink,
        inputs: g.inputs.iter().map(|&t| g.tensor(t).name.clone()).collect(),
        outputs: g
            .outputs
            .iter()
            .map(|&t| g.tensor(t).name.clone())
            .collect(),
        emulation,
    };
    deployment
        .check()
        .map_err(|e| anyhow::anyhow!("deployment: {e}"))?;
    Ok(Built {
        deployment,
        models,
        part_work,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tiersplit_cost::Profile;
    use tiersplit_onnx::ImportOptions;
    use tiersplit_plan::{tileable_runs, TiledStage};
    use tiersplit_tile::Grid;

    #[test]
    fn a_tile_piece_and_the_whole_tensor_both_reach_a_node_that_needs_both() {
        // ResNet-18: the tensor entering a residual block feeds a conv chain and the skip Add.
        // Tile the chain over edge0 and edge1 and put the Add on edge1: edge1 needs the whole
        // tensor and its tile's piece of it, over the same hop.
        let bytes = tiersplit_zoo::build_bytes("resnet18", 0).unwrap();
        let model = OnnxModel::from_bytes(&bytes, &ImportOptions::default()).unwrap();
        let scenario =
            Scenario::from_toml(include_str!("../../../scenarios/local-cluster.toml")).unwrap();
        let mut problem = Problem::new(
            &model.graph,
            &scenario,
            &Profile::estimate(&model.graph, 20.0),
        )
        .unwrap();
        problem.set_spatial(model.spatial_ops()).unwrap();
        let node = |n: &str| NodeId(scenario.nodes.iter().position(|x| x.name == n).unwrap());
        let (edge0, edge1) = (node("edge0"), node("edge1"));
        let g = &model.graph;
        let (chain, add) = tileable_runs(&problem)
            .into_iter()
            .find_map(|run| {
                let input = g.layer(LayerId(run[0] as u32)).inputs[0];
                let add = g
                    .tensor(input)
                    .consumers
                    .iter()
                    .find(|c| g.layer(**c).op == "Add")
                    .copied()?;
                Some((run, add))
            })
            .expect("a residual block");
        let mut plan = Plan::new("t", vec![edge0; g.layers.len()]);
        plan.placement[add.index()] = edge1;
        let out = problem
            .tensors
            .iter()
            .find(|t| t.producer == Some(*chain.last().unwrap()))
            .unwrap()
            .hw
            .unwrap();
        plan.tiled.push(TiledStage {
            layers: chain.clone(),
            nodes: vec![edge0, edge1],
            grid: Grid::even(out.0, out.1, 2, 1).unwrap(),
        });
        let names: BTreeMap<String, String> = scenario
            .nodes
            .iter()
            .map(|n| (n.name.clone(), "127.0.0.1:1".to_string()))
            .collect();
        let built = build(&model, &problem, &plan, names, Emulation::default()).unwrap();
        let input = &g.tensor(g.layer(LayerId(chain[0] as u32)).inputs[0]).name;
        let to_edge1: Vec<&str> = built
            .deployment
            .routes
            .iter()
            .filter(|r| &r.tensor == input && r.to == "edge1")
            .map(|r| r.deliver_as.as_str())
            .collect();
        assert!(to_edge1.contains(&input.as_str()), "{to_edge1:?}");
        assert!(
            to_edge1.contains(&format!("{input}#stage0tile1").as_str()),
            "{to_edge1:?}"
        );
    }
}
