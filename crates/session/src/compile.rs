//! A plan made executable: sub-models per node, tile models and stitchers for tiled stages,
//! and the routing table that sends every tensor from where it is made to where it is read,
//! hop by hop along the scenario's links. Pure: it needs no cluster, node addresses are bound
//! when the driver deploys, and emulation belongs to the session.

use crate::error::{Context, Result, SessionError};
use std::collections::{BTreeSet, HashMap};
use tiersplit_cost::{Nanos, NodeId, Problem};
use tiersplit_graph::{LayerId, ModelGraph, TensorId};
use tiersplit_onnx::OnnxModel;
use tiersplit_plan::{Plan, TiledStage};
use tiersplit_runtime::{Deployment, DeploymentId, ModelHash, PartSpec, Route, Work};
use tiersplit_tile::Span;

/// What a part's predicted time is made of: its node, its layers, and the share of their work
/// it does (a tile's output area over the whole map's; 1 for a plain part).
#[derive(Debug, Clone, PartialEq)]
pub struct PartWork {
    /// The node the part runs on.
    pub node: NodeId,
    /// Indices of the problem's layers it runs.
    pub layers: Vec<usize>,
    /// The share of those layers' work it does (1 for a plain part).
    pub share: f64,
}

/// A plan compiled into a deployment, with the model bytes it needs (by content hash).
#[derive(Debug, Clone)]
pub struct Compiled {
    /// What the driver deploys: parts, routes, graph inputs and outputs.
    pub deployment: Deployment,
    /// The ONNX bytes of every model the parts load, by content hash.
    pub models: HashMap<ModelHash, Vec<u8>>,
    /// Per part id, the work its predicted time is made of (for estimating node speeds from
    /// part runs).
    pub part_work: HashMap<String, PartWork>,
}

impl Compiled {
    /// Predicted time of each part on `p`'s costs, by part id.
    pub fn predicted(&self, p: &Problem) -> HashMap<String, (NodeId, Nanos)> {
        self.part_work
            .iter()
            .map(|(id, w)| {
                let ns: u64 = w.layers.iter().map(|&l| p.layers[l].time[w.node.0].0).sum();
                (id.clone(), (w.node, Nanos((ns as f64 * w.share) as u64)))
            })
            .collect()
    }
}

/// The parts being built and the tensors that must reach a node cut to a tile's region.
#[derive(Default)]
struct Builder {
    parts: Vec<PartSpec>,
    models: HashMap<ModelHash, Vec<u8>>,
    part_work: HashMap<String, PartWork>,
    crops: Vec<Crop>,
}

/// A tensor that must reach `node` as the piece `region` of it, under the name `deliver_as`.
struct Crop {
    tensor: String,
    node: NodeId,
    region: [usize; 4],
    deliver_as: String,
}

/// Compiles `plan` for `model` on `problem`: parts on each node (the node-affine topological
/// order cut into convex runs, each tiled stage as tile models and a stitcher) and the routes
/// between them. The deployment is named after the plan's algorithm.
pub fn compile(model: &OnnxModel, problem: &Problem, plan: &Plan) -> Result<Compiled> {
    plan.validate(problem).context("the plan is not valid")?;
    let g = &model.graph;
    let mut b = Builder::default();
    for (i, (node, layers)) in node_runs(g, plan, problem.device).into_iter().enumerate() {
        b.chain_part(model, problem, i, node, layers)?;
    }
    for (s, stage) in plan.tiled.iter().enumerate() {
        b.tiled_stage(model, problem, s, stage)?;
    }
    let routes = routes(g, problem, &b.parts, &b.crops)?;
    let deployment = Deployment {
        id: DeploymentId::new(plan.algorithm.clone()),
        session: Default::default(),
        first_frame: 0,
        nodes: Default::default(),
        parts: b.parts,
        routes,
        sink: problem.nodes[problem.device.0].name.clone(),
        inputs: tensor_names(g, &g.inputs),
        outputs: tensor_names(g, &g.outputs),
        watch: Vec::new(),
    };
    Ok(Compiled {
        deployment,
        models: b.models,
        part_work: b.part_work,
    })
}

fn tensor_names(g: &ModelGraph, ts: &[TensorId]) -> Vec<String> {
    ts.iter().map(|&t| g.tensor(t).name.clone()).collect()
}

/// Runs of consecutive same-node layers in the node-affine order. A run also ends after a layer
/// whose output another node reads and before a layer that reads another node's output, so a
/// part's outputs leave as soon as they are made and its inputs from other nodes all feed its
/// first layer: parts of independent branches on different nodes overlap at run time as in
/// the evaluator's DAG schedule. A later layer of a run that does not depend on its first
/// still waits for the run's inputs (a part starts when all are in), which the schedule does
/// not charge. A tiled layer ends a run (a run is then contiguous in a topological order,
/// hence convex, and the parts form a DAG).
pub(crate) fn node_runs(
    g: &ModelGraph,
    plan: &Plan,
    device: NodeId,
) -> Vec<(NodeId, Vec<LayerId>)> {
    let node_of = untiled_nodes(plan);
    let mut runs: Vec<(NodeId, Vec<LayerId>)> = Vec::new();
    let mut broken = true;
    for l in node_affine_order(g, &node_of) {
        let Some(n) = node_of[l.index()] else {
            broken = true;
            continue;
        };
        let layer = &g.layers[l.index()];
        let reads_elsewhere = layer.inputs.iter().any(|&t| {
            g.tensor(t)
                .producer
                .map_or(n != device, |p| node_of[p.index()] != Some(n))
        });
        match runs.last_mut() {
            Some((m, run)) if *m == n && !broken && !reads_elsewhere => run.push(l),
            _ => runs.push((n, vec![l])),
        }
        broken = layer.outputs.iter().any(|&t| {
            (n != device && g.outputs.contains(&t))
                || g.tensor(t)
                    .consumers
                    .iter()
                    .any(|c| node_of[c.index()] != Some(n))
        });
    }
    runs
}

/// Each layer's node, or `None` for a tiled layer.
fn untiled_nodes(plan: &Plan) -> Vec<Option<NodeId>> {
    let mut node_of: Vec<Option<NodeId>> = plan.placement.iter().map(|&n| Some(n)).collect();
    for stage in &plan.tiled {
        for &l in &stage.layers {
            node_of[l] = None;
        }
    }
    node_of
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

/// The shape of a rank-4 (NCHW) tensor.
pub(crate) fn nchw_shape(g: &ModelGraph, t: TensorId) -> Option<[usize; 4]> {
    let dims: Vec<usize> = g.tensor(t).shape.iter().map(|&d| d as usize).collect();
    dims.try_into().ok()
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

impl Builder {
    /// A model's bytes, kept once, by content hash.
    fn add_model(&mut self, bytes: Vec<u8>) -> ModelHash {
        let hash = ModelHash::of(&bytes);
        self.models.insert(hash.clone(), bytes);
        hash
    }

    /// Part `i`: `layers` as one sub-model on `node`.
    fn chain_part(
        &mut self,
        model: &OnnxModel,
        problem: &Problem,
        i: usize,
        node: NodeId,
        layers: Vec<LayerId>,
    ) -> Result<()> {
        let g = &model.graph;
        let name = &problem.nodes[node.0].name;
        let bytes = model
            .sub_model_bytes(&layers)
            .with_context(|| format!("writing part {i} for node {name}"))?;
        let hash = self.add_model(bytes);
        let b = g.boundary(&layers)?;
        let same = |ts: &[TensorId]| -> Vec<(String, String)> {
            ts.iter()
                .map(|&t| (g.tensor(t).name.clone(), g.tensor(t).name.clone()))
                .collect()
        };
        let id = format!("part{i}@{name}");
        self.part_work.insert(
            id.clone(),
            PartWork {
                node,
                layers: layers.iter().map(|l| l.index()).collect(),
                share: 1.0,
            },
        );
        self.parts.push(PartSpec {
            id,
            node: name.clone(),
            work: Work::Model { hash },
            inputs: same(&b.inputs),
            outputs: same(&b.outputs),
        });
        Ok(())
    }

    /// Stage `s`: one tile model per tile node, fed its region of the stage's input, and a
    /// stitcher on the stage's first node that gathers the tiles' outputs.
    fn tiled_stage(
        &mut self,
        model: &OnnxModel,
        problem: &Problem,
        s: usize,
        stage: &TiledStage,
    ) -> Result<()> {
        let g = &model.graph;
        let name = |n: NodeId| problem.nodes[n.0].name.clone();
        let layers: Vec<LayerId> = stage.layers.iter().map(|&l| LayerId(l as u32)).collect();
        let run = model
            .tiled_run(&layers, &stage.grid)
            .with_context(|| format!("writing the tiles of stage {s}"))?;
        let input = g.tensor(run.input).name.clone();
        let output = g.tensor(run.output).name.clone();
        // A tile's share of the stage's work: its output positions, halos included, over the
        // unsplit run's.
        let full: u64 = run.plan.sizes[1..].iter().map(|(h, w)| h * w).sum();
        let mut regions = Vec::new();
        let mut gathered = Vec::new();
        for (i, (tile, bytes)) in run.plan.tiles.iter().zip(run.tile_models).enumerate() {
            let node = stage.nodes[i];
            let hash = self.add_model(bytes);
            let (rows, cols) = tile.input();
            let piece_in = format!("{input}#stage{s}tile{i}");
            let piece_out = format!("{output}#stage{s}tile{i}");
            self.crops.push(Crop {
                tensor: input.clone(),
                node,
                region: region(rows, cols),
                deliver_as: piece_in.clone(),
            });
            let id = format!("stage{s}/tile{i}@{}", name(node));
            self.parts.push(PartSpec {
                id: id.clone(),
                node: name(node),
                work: Work::Model { hash },
                inputs: vec![(piece_in, input.clone())],
                outputs: vec![(output.clone(), piece_out.clone())],
            });
            let mine: u64 = tile
                .layers
                .iter()
                .map(|l| l.output_rows.len() * l.output_cols.len())
                .sum();
            self.part_work.insert(
                id,
                PartWork {
                    node,
                    layers: stage.layers.clone(),
                    share: mine as f64 / full.max(1) as f64,
                },
            );
            let (orows, ocols) = tile.output();
            regions.push(region(orows, ocols));
            gathered.push((piece_out.clone(), piece_out));
        }
        let shape = nchw_shape(g, run.output)
            .ok_or_else(|| SessionError::invalid(format!("tiled output '{output}' is not NCHW")))?;
        let lead = stage.nodes[0];
        self.parts.push(PartSpec {
            id: format!("stage{s}/gather@{}", name(lead)),
            node: name(lead),
            work: Work::Stitch { shape, regions },
            inputs: gathered,
            outputs: vec![(output.clone(), output)],
        });
        Ok(())
    }
}

/// Plans routes: where each tensor is made, and the hops it takes to each node that needs it.
struct Router<'a> {
    g: &'a ModelGraph,
    problem: &'a Problem,
    made_on: HashMap<String, NodeId>,
    routes: Vec<Route>,
}

/// The routes that bring every part its inputs (whole or cut to a tile's region) and the
/// device the graph's outputs.
fn routes(
    g: &ModelGraph,
    problem: &Problem,
    parts: &[PartSpec],
    crops: &[Crop],
) -> Result<Vec<Route>> {
    let node_of = |p: &PartSpec| {
        problem
            .node_by_name(&p.node)
            .expect("parts are on the problem's nodes")
    };
    let mut made_on: HashMap<String, NodeId> = HashMap::new();
    for &t in &g.inputs {
        made_on.insert(g.tensor(t).name.clone(), problem.device);
    }
    for p in parts {
        for (_, t) in &p.outputs {
            made_on.insert(t.clone(), node_of(p));
        }
    }
    let mut r = Router {
        g,
        problem,
        made_on,
        routes: Vec::new(),
    };
    for p in parts {
        for (t, _) in &p.inputs {
            if !crops.iter().any(|c| &c.deliver_as == t) {
                r.route(t, node_of(p), None, t)?;
            }
        }
    }
    for &t in &g.outputs {
        let name = &g.tensor(t).name;
        r.route(name, problem.device, None, name)?;
    }
    for c in crops {
        r.route(&c.tensor, c.node, Some(c.region), &c.deliver_as)?;
    }
    Ok(r.routes)
}

impl Router<'_> {
    fn name(&self, n: NodeId) -> String {
        self.problem.nodes[n.0].name.clone()
    }

    /// Routes `tensor` (cut to `crop` on its first hop) to `to`, delivered as `deliver_as`.
    fn route(
        &mut self,
        tensor: &str,
        to: NodeId,
        crop: Option<[usize; 4]>,
        deliver_as: &str,
    ) -> Result<()> {
        let Some(&from) = self.made_on.get(tensor) else {
            return Err(SessionError::invalid(format!(
                "tensor '{tensor}' is needed on {} but made nowhere",
                self.name(to)
            )));
        };
        if from == to {
            // A piece cut on the node that has the whole tensor is a route to itself.
            if crop.is_some() {
                self.add(Route {
                    tensor: tensor.into(),
                    from: self.name(from),
                    to: self.name(to),
                    crop,
                    deliver_as: deliver_as.into(),
                });
            }
            return Ok(());
        }
        let bytes = self
            .g
            .tensor_by_name(tensor)
            .map_or(tiersplit_graph::Bytes(1), |t| t.bytes());
        let hops = self.problem.route(from, to, bytes).ok_or_else(|| {
            SessionError::invalid(format!(
                "no route from {} to {}",
                self.name(from),
                self.name(to)
            ))
        })?;
        let mut current = tensor.to_string();
        for (k, (a, b)) in hops.into_iter().enumerate() {
            self.add(Route {
                tensor: current,
                from: self.name(a),
                to: self.name(b),
                crop: if k == 0 { crop } else { None },
                deliver_as: deliver_as.into(),
            });
            current = deliver_as.to_string();
        }
        Ok(())
    }

    /// A hop shared by several destinations is sent once; a tile's cut-out piece travels
    /// beside the whole tensor, so the name it is delivered as is part of the key.
    fn add(&mut self, r: Route) {
        if !self.routes.iter().any(|o| {
            o.tensor == r.tensor && o.from == r.from && o.to == r.to && o.deliver_as == r.deliver_as
        }) {
            self.routes.push(r);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tiersplit_cost::{Profile, Scenario};
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
        let built = compile(&model, &problem, &plan).unwrap();
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

    #[test]
    fn parts_read_elsewhere_only_first_and_are_read_elsewhere_only_last() {
        // GoogLeNet under random placements over four nodes: every layer in exactly one run,
        // inputs from another node read only by a run's first layer, outputs read on another
        // node (or the device's graph outputs) made only by its last.
        let bytes = tiersplit_zoo::build_bytes("googlenet", 0).unwrap();
        let model = OnnxModel::from_bytes(&bytes, &ImportOptions::default()).unwrap();
        let g = &model.graph;
        let device = NodeId(0);
        let mut state = 7u64;
        for _ in 0..20 {
            let placement: Vec<NodeId> = (0..g.layers.len())
                .map(|_| {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    // Long same-node stretches, so runs have several layers.
                    NodeId(((state >> 60) as usize).min(3) * usize::from(state >> 59 & 1 == 0))
                })
                .collect();
            let plan = Plan::new("t", placement.clone());
            let runs = node_runs(g, &plan, device);
            let mut seen = vec![0; g.layers.len()];
            for (n, run) in &runs {
                for (i, &l) in run.iter().enumerate() {
                    seen[l.index()] += 1;
                    assert_eq!(placement[l.index()], *n);
                    let layer = g.layer(l);
                    let reads_elsewhere = layer.inputs.iter().any(|&t| {
                        g.tensor(t)
                            .producer
                            .map_or(*n != device, |p| placement[p.index()] != *n)
                    });
                    assert!(
                        i == 0 || !reads_elsewhere,
                        "{} mid-run reads elsewhere",
                        layer.name
                    );
                    let read_elsewhere = layer.outputs.iter().any(|&t| {
                        (*n != device && g.outputs.contains(&t))
                            || g.tensor(t)
                                .consumers
                                .iter()
                                .any(|c| placement[c.index()] != *n)
                    });
                    assert!(
                        i + 1 == run.len() || !read_elsewhere,
                        "{} mid-run is read elsewhere",
                        layer.name
                    );
                }
            }
            assert!(seen.iter().all(|&k| k == 1));
        }
    }

    #[test]
    fn branches_read_on_another_node_leave_the_device_one_by_one() {
        // Four branches begun on the device and finished on the cloud: each branch leaves the
        // device as it is made, so the cloud starts on one while the device makes the next.
        let bytes = tiersplit_zoo::build_bytes("googlenet", 0).unwrap();
        let model = OnnxModel::from_bytes(&bytes, &ImportOptions::default()).unwrap();
        let g = &model.graph;
        let (device, cloud) = (NodeId(0), NodeId(3));
        // The first Concat joins four branches; put the stem and the branches' first layers
        // on the device and everything after them on the cloud.
        let concat = g.layers.iter().find(|l| l.op == "Concat").unwrap().id;
        let branch_heads: Vec<LayerId> = g.predecessors(concat);
        let mut placement = vec![cloud; g.layers.len()];
        for l in g.layers.iter().filter(|l| l.id.index() < concat.index()) {
            if !branch_heads.contains(&l.id) {
                placement[l.id.index()] = device;
            }
        }
        let runs = node_runs(g, &Plan::new("t", placement), device);
        let device_runs = runs.iter().filter(|(n, _)| *n == device).count();
        assert!(device_runs >= 2, "{runs:?}");
    }
}
