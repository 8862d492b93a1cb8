use crate::net::{Net, NetBuilder};
use crate::{Plan, PlanError};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use tiersplit_cost::{Nanos, NodeId, Problem};
use tiersplit_graph::Bytes;
use tiersplit_tile::{plan_tiles, Grid, SpatialOp, TilePlan};

/// A chain of spatial layers run as tiles on several nodes (D3's vertical separation): tile `i`
/// of the grid (row-major) runs on `nodes[i]`, which receives its input region with the halo
/// and sends its output region to `nodes[0]`, where the whole output is gathered. The plan
/// places the stage's layers on `nodes[0]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TiledStage {
    /// Layer indices of the chain, in order.
    pub layers: Vec<usize>,
    /// Node of each tile, in the grid's row-major order; `nodes[0]` gathers the output.
    pub nodes: Vec<NodeId>,
    /// How the stage's output map is cut into tiles.
    pub grid: Grid,
}

/// Maximal chains of layers that can run tiled: each has window geometry, reads one NCHW map
/// and writes one, and each reads only the previous one's output, which nobody else reads.
/// In layer order.
pub fn tileable_runs(p: &Problem) -> Vec<Vec<usize>> {
    let (inputs, outputs) = p.layer_io();
    let tileable = |l: usize| {
        p.layers[l].spatial.is_some()
            && inputs[l].len() == 1
            && outputs[l].len() == 1
            && p.tensors[inputs[l][0]].hw.is_some()
            && p.tensors[outputs[l][0]].hw.is_some()
    };
    let mut used = vec![false; p.layers.len()];
    let mut runs = Vec::new();
    for l in 0..p.layers.len() {
        if used[l] || !tileable(l) {
            continue;
        }
        let mut run = vec![l];
        let mut cur = l;
        loop {
            let out = &p.tensors[outputs[cur][0]];
            if out.consumers.len() != 1 || out.graph_output || !tileable(out.consumers[0]) {
                break;
            }
            cur = out.consumers[0];
            run.push(cur);
        }
        for &r in &run {
            used[r] = true;
        }
        runs.push(run);
    }
    runs
}

impl TiledStage {
    /// The stage's tile geometry, after checking it is a tileable chain with one tile per node.
    pub fn geometry(&self, p: &Problem) -> Result<TilePlan, PlanError> {
        self.geometry_in(p, &Net::of(p))
    }

    /// [`TiledStage::geometry`] with the problem's net already built.
    pub(crate) fn geometry_in(&self, p: &Problem, net: &Net) -> Result<TilePlan, PlanError> {
        let bad = |msg: String| PlanError::BadTiledStage(msg);
        let (inputs, outputs) = (&net.inputs, &net.outputs);
        let first = *self.layers.first().ok_or(bad("no layers".into()))?;
        let mut ops: Vec<SpatialOp> = Vec::with_capacity(self.layers.len());
        for (k, &l) in self.layers.iter().enumerate() {
            let layer = p
                .layers
                .get(l)
                .ok_or_else(|| bad(format!("layer index {l} out of range")))?;
            let op = layer
                .spatial
                .ok_or_else(|| bad(format!("layer '{}' cannot be tiled", layer.name)))?;
            if inputs.row(l).len() != 1 || outputs.row(l).len() != 1 {
                return Err(bad(format!(
                    "layer '{}' must read and write one feature map",
                    layer.name
                )));
            }
            if k > 0 {
                let prev = outputs.row(self.layers[k - 1])[0];
                if inputs.row(l)[0] != prev
                    || net.consumers.row(prev).len() != 1
                    || net.graph_output[prev]
                {
                    return Err(bad(format!(
                        "layer '{}' does not read only its predecessor's output",
                        layer.name
                    )));
                }
            }
            ops.push(op);
        }
        if self.nodes.is_empty()
            || self.nodes.iter().any(|n| n.0 >= p.nodes.len())
            || self.nodes.iter().collect::<HashSet<_>>().len() != self.nodes.len()
        {
            return Err(bad(format!(
                "nodes {:?} must be distinct nodes of the scenario",
                self.nodes
            )));
        }
        if self.grid.tiles() != self.nodes.len() {
            return Err(bad(format!(
                "{} tiles for {} nodes",
                self.grid.tiles(),
                self.nodes.len()
            )));
        }
        let hw = net.hw[inputs.row(first)[0]]
            .ok_or_else(|| bad("the stage input is not a feature map".into()))?;
        plan_tiles(&ops, hw, &self.grid).map_err(|e| bad(e.to_string()))
    }
}

/// The tiled stage of every layer (`None` outside stages), checking each layer is in one stage
/// at most and placed on its stage's gathering node.
fn stage_membership(p: &Problem, plan: &Plan) -> Result<Vec<Option<usize>>, PlanError> {
    let mut stage_of: Vec<Option<usize>> = vec![None; p.layers.len()];
    for (s, stage) in plan.tiled.iter().enumerate() {
        for &l in &stage.layers {
            if l >= p.layers.len() {
                return Err(PlanError::BadTiledStage(format!(
                    "layer index {l} out of range"
                )));
            }
            if stage_of[l].replace(s).is_some() {
                return Err(PlanError::BadTiledStage(format!(
                    "layer '{}' is in two tiled stages",
                    p.layers[l].name
                )));
            }
            if plan.placement[l] != stage.nodes[0] {
                return Err(PlanError::BadTiledStage(format!(
                    "layer '{}' of a tiled stage is not placed on the stage's gathering node",
                    p.layers[l].name
                )));
            }
        }
    }
    Ok(stage_of)
}

/// Time of one tile of a stage on node `n`: each layer's time scaled by the tile's share of
/// that layer's output.
fn tile_time(net: &Net, stage: &TiledStage, g: &TilePlan, tile: usize, n: NodeId) -> Nanos {
    stage
        .layers
        .iter()
        .zip(&g.tiles[tile].layers)
        .enumerate()
        .map(|(k, (&sl, lt))| {
            let (h, w) = g.sizes[k + 1];
            let share = (lt.output_rows.len() * lt.output_cols.len()) as f64 / (h * w) as f64;
            Nanos((net.time(sl, n).0 as f64 * share).round() as u64)
        })
        .sum()
}

/// A tensor's share of its bytes for a tile of `rows` x `cols` of its map.
fn share(net: &Net, t: usize, rows: u64, cols: u64) -> Bytes {
    let (h, w) = net.hw[t].expect("checked: stage tensors are feature maps");
    Bytes((net.bytes[t].0 as f64 * (rows * cols) as f64 / (h * w) as f64).round() as u64)
}

/// The layers of the expanded net: kept layers as they are, each stage as one layer per tile
/// and a gather layer where its first layer was. Returns (new index of every kept layer, with a
/// stage's last layer mapped to its gather layer; (first tile layer, gather layer) per stage).
fn expand_layers(
    b: &mut NetBuilder,
    base: &Net,
    plan: &Plan,
    stage_of: &[Option<usize>],
    geometry: &[TilePlan],
    pinned: &mut Vec<Option<NodeId>>,
) -> (Vec<Option<usize>>, Vec<(usize, usize)>) {
    let mut new_index: Vec<Option<usize>> = vec![None; base.layers()];
    let mut stage_layers: Vec<(usize, usize)> = vec![(0, 0); plan.tiled.len()];
    let nodes = (0..base.nodes).map(NodeId);
    for l in 0..base.layers() {
        match stage_of[l] {
            None => {
                let time = nodes.clone().map(|n| base.time(l, n));
                new_index[l] = Some(b.layer(l, base.weights[l], time));
                pinned.push(None);
            }
            Some(s) if plan.tiled[s].layers[0] == l => {
                let stage = &plan.tiled[s];
                let g = &geometry[s];
                let mut first = usize::MAX;
                let weights = stage.layers.iter().map(|&sl| base.weights[sl]).sum();
                for i in 0..g.tiles.len() {
                    let time = nodes.clone().map(|n| tile_time(base, stage, g, i, n));
                    first = first.min(b.layer(l, weights, time));
                    pinned.push(Some(stage.nodes[i]));
                }
                let gather = b.layer(l, Bytes(0), nodes.clone().map(|_| Nanos(0)));
                pinned.push(Some(stage.nodes[0]));
                stage_layers[s] = (first, gather);
                new_index[*stage.layers.last().expect("checked")] = Some(gather);
            }
            Some(_) => {}
        }
    }
    (new_index, stage_layers)
}

/// Rewrites a plan with tiled stages as an equivalent placement without them on a derived
/// net, which depends on the stages only: returned with the node of each tile and gather
/// layer (`None` for the layers the plan's placement places; see [`expanded_placement`]).
/// Each stage becomes one layer per tile (its share of every layer's time, by output
/// area) reading its input region and writing its output region, plus a zero-time gather
/// layer on the stage's first node. The evaluator then prices halos, scatter, gather and
/// parallel tiles with the same schedule as everything else.
pub(crate) fn expand(
    p: &Problem,
    base: &Net,
    plan: &Plan,
) -> Result<(Net, Vec<Option<NodeId>>), PlanError> {
    let stage_of = stage_membership(p, plan)?;
    let geometry = plan
        .tiled
        .iter()
        .map(|stage| stage.geometry_in(p, base))
        .collect::<Result<Vec<_>, _>>()?;
    let mut b = NetBuilder::new(p);
    let mut pinned = Vec::with_capacity(base.layers() + plan.tiled.len() * 8);
    let (new_index, stage_layers) =
        expand_layers(&mut b, base, plan, &stage_of, &geometry, &mut pinned);
    let mut readers = Vec::new();
    for t in 0..base.tensors() {
        let producer_stage = base.producer[t].and_then(|u| stage_of[u]);
        let internal = producer_stage.is_some_and(|s| {
            base.producer[t] != plan.tiled[s].layers.last().copied() // an intermediate of the chain
        });
        if internal {
            continue;
        }
        let producer = base.producer[t].map(|u| new_index[u].expect("kept or gathered"));
        let origin = base.tensor_origin[t];
        readers.clear();
        readers.extend(
            base.consumers
                .row(t)
                .iter()
                .filter(|&&c| stage_of[c].is_none())
                .map(|&c| new_index[c].expect("kept")),
        );
        b.tensor(
            origin,
            base.bytes[t],
            producer,
            base.graph_output[t],
            base.hw[t],
            &readers,
        );
        // Scatter: this tensor feeds a stage.
        for &c in base.consumers.row(t) {
            if let Some(s) = stage_of[c] {
                debug_assert_eq!(base.inputs.row(c), &[t]);
                let (first, _) = stage_layers[s];
                for (i, tile) in geometry[s].tiles.iter().enumerate() {
                    let (rows, cols) = tile.input();
                    let (r, c) = (rows.len(), cols.len());
                    b.tensor(
                        origin,
                        share(base, t, r, c),
                        producer,
                        false,
                        Some((r, c)),
                        &[first + i],
                    );
                }
            }
        }
        // Gather: this tensor is a stage's output, assembled from the tiles' outputs.
        if let Some(s) = producer_stage {
            let (first, gather) = stage_layers[s];
            for (i, tile) in geometry[s].tiles.iter().enumerate() {
                let (rows, cols) = tile.output();
                let (r, c) = (rows.len(), cols.len());
                b.tensor(
                    origin,
                    share(base, t, r, c),
                    Some(first + i),
                    false,
                    Some((r, c)),
                    &[gather],
                );
            }
        }
    }
    Ok((b.finish(), pinned))
}

/// The placement on an expanded net of a plan whose placement is `placement`.
pub(crate) fn expanded_placement<'a>(
    net: &'a Net,
    pinned: &'a [Option<NodeId>],
    placement: &'a [NodeId],
) -> impl Iterator<Item = NodeId> + 'a {
    pinned
        .iter()
        .zip(&net.layer_origin)
        .map(|(pin, &l)| pin.unwrap_or(placement[l]))
}
