//! Vertical separation in ONNX: a run of spatial layers written as one sub-model per tile,
//! each reading only its input region (halo included) and padding only at the true border.

use crate::attributes::Attributes;
use crate::error::{OnnxError, Result};
use crate::import::OnnxModel;
use crate::ops::{tiling, Tiling};
use crate::proto::{AttributeProto, GraphProto, ModelProto, NodeProto, ValueInfoProto};
use prost::Message;
use std::collections::HashSet;
use tiersplit_graph::{LayerId, TensorId};
use tiersplit_tile::{plan_tiles, AxisWindow, Grid, SpatialOp, TilePlan};

/// A run of layers cut into tiles: the geometry and one ONNX sub-model per tile, in the
/// order of `plan.tiles`.
#[derive(Debug, Clone)]
pub struct TiledRun {
    /// The run's layers, a chain in execution order.
    pub layers: Vec<LayerId>,
    /// The run's input and output activation tensors (NCHW).
    pub input: TensorId,
    /// The run's output activation tensor, which the stitched tile outputs reproduce.
    pub output: TensorId,
    /// The tile geometry: every tile's input and output regions and per-layer padding.
    pub plan: TilePlan,
    /// Encoded ONNX sub-model of each tile, in the order of `plan.tiles`: it reads the tile's
    /// input region and writes its output region.
    pub tile_models: Vec<Vec<u8>>,
}

fn ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: 7,
        ints: v.to_vec(),
        ..Default::default()
    }
}

impl OnnxModel {
    /// The geometry of a layer if it can be tiled: 2-D Conv, MaxPool, AveragePool on NCHW,
    /// or a per-element layer.
    pub fn spatial_op(&self, layer: LayerId) -> Result<SpatialOp> {
        let l = self.graph.layer(layer);
        let node = &self.proto.graph.as_ref().expect("imported").node[layer.index()];
        let a = Attributes::of(node);
        let window = match tiling(&l.op) {
            Tiling::Elementwise => false,
            Tiling::Window => true,
            Tiling::None => {
                return Err(
                    a.error("only Conv, MaxPool, AveragePool and per-element layers can be tiled")
                )
            }
        };
        let input = self.graph.tensor(l.inputs[0]);
        let output = self.graph.tensor(l.outputs[0]);
        // Tiles are rows and columns of feature maps: a per-element layer on a sequence (a
        // transformer's Gelu) has none.
        if input.shape.len() != 4 || output.shape.len() != 4 {
            return Err(a.error(format!(
                "tiling needs NCHW tensors, input is {:?}",
                input.shape
            )));
        }
        if !window {
            return Ok(SpatialOp::Elementwise);
        }
        let kernel = match a.ints("kernel_shape") {
            Some(k) => k,
            None => {
                let w = node
                    .input
                    .get(1)
                    .and_then(|w| self.initializers.get(w))
                    .ok_or_else(|| a.error("kernel shape unknown"))?;
                w.dims[2..].to_vec()
            }
        };
        let strides = a.ints("strides").unwrap_or_else(|| vec![1, 1]);
        let dil = a.ints("dilations").unwrap_or_else(|| vec![1, 1]);
        let ceil = a.int("ceil_mode", 0) != 0;
        let auto_pad = a.string("auto_pad").unwrap_or_default();
        let mut pads = a.ints("pads").unwrap_or_else(|| vec![0; 4]);
        if auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER" {
            for axis in 0..2 {
                let e = (kernel[axis] - 1) * dil[axis] + 1;
                let total = ((output.shape[2 + axis] as i64 - 1) * strides[axis] + e
                    - input.shape[2 + axis] as i64)
                    .max(0);
                let small = total / 2;
                let (b, en) = if auto_pad == "SAME_UPPER" {
                    (small, total - small)
                } else {
                    (total - small, small)
                };
                pads[axis] = b;
                pads[axis + 2] = en;
            }
        } else if auto_pad == "VALID" {
            pads = vec![0; 4];
        }
        if kernel.len() != 2 || strides.len() != 2 || dil.len() != 2 || pads.len() != 4 {
            return Err(a.error("only 2-D windows can be tiled"));
        }
        let window = |axis: usize| AxisWindow {
            kernel: kernel[axis] as u64,
            stride: strides[axis] as u64,
            dilation: dil[axis] as u64,
            pad_begin: pads[axis] as u64,
            pad_end: pads[axis + 2] as u64,
        };
        let (h, w) = (window(0), window(1));
        Ok(match l.op.as_str() {
            "Conv" => SpatialOp::Conv { h, w },
            "MaxPool" => SpatialOp::MaxPool { h, w, ceil },
            _ => {
                if a.int("count_include_pad", 0) != 0 && ceil {
                    return Err(a.error(
                        "AveragePool with count_include_pad and ceil_mode cannot be tiled",
                    ));
                }
                SpatialOp::AvgPool { h, w, ceil }
            }
        })
    }

    /// Every layer's tiling geometry, `None` where it cannot be tiled: what
    /// `Problem::set_spatial` takes.
    pub fn spatial_ops(&self) -> Vec<Option<SpatialOp>> {
        self.graph
            .layers
            .iter()
            .map(|l| self.spatial_op(l.id).ok())
            .collect()
    }

    /// Maximal chains of tileable layers: each reads only the previous layer's output, and every
    /// output inside the chain has no other reader. Longest first.
    pub fn tileable_runs(&self) -> Vec<Vec<LayerId>> {
        let g = &self.graph;
        let mut runs: Vec<Vec<LayerId>> = Vec::new();
        let mut used = HashSet::new();
        for l in &g.layers {
            if used.contains(&l.id)
                || self.spatial_op(l.id).is_err()
                || l.inputs.len() != 1
                || l.outputs.len() != 1
            {
                continue;
            }
            let mut run = vec![l.id];
            let mut cur = l.id;
            loop {
                let out = g.tensor(g.layer(cur).outputs[0]);
                if out.consumers.len() != 1 || g.outputs.contains(&out.id) {
                    break;
                }
                let next = out.consumers[0];
                let nl = g.layer(next);
                if nl.inputs.len() != 1 || nl.outputs.len() != 1 || self.spatial_op(next).is_err() {
                    break;
                }
                run.push(next);
                cur = next;
            }
            used.extend(run.iter().copied());
            runs.push(run);
        }
        runs.sort_by_key(|r| std::cmp::Reverse(r.len()));
        runs
    }

    /// Cuts `run` (a chain, see [`OnnxModel::tileable_runs`]) into tiles on `grid` and writes
    /// each tile's sub-model: input = the tile's region of the run input, output = its region
    /// of the run output, every layer with the tile's border-aware padding.
    pub fn tiled_run(&self, run: &[LayerId], grid: &Grid) -> Result<TiledRun> {
        let g = &self.graph;
        let first = run.first().ok_or(OnnxError::Tensor {
            name: "run".into(),
            msg: "is empty".into(),
        })?;
        for w in run.windows(2) {
            let out = g.layer(w[0]).outputs[0];
            if g.layer(w[1]).inputs != [out] || g.tensor(out).consumers.len() != 1 {
                return Err(OnnxError::Node {
                    node: g.layer(w[1]).name.clone(),
                    op: g.layer(w[1]).op.clone(),
                    msg: "a tiled run must be a chain where each layer reads only the previous one"
                        .into(),
                });
            }
        }
        let ops: Vec<SpatialOp> = run
            .iter()
            .map(|&l| self.spatial_op(l))
            .collect::<Result<_>>()?;
        let input = g.layer(*first).inputs[0];
        let output = g.layer(*run.last().expect("non-empty")).outputs[0];
        let shape = &g.tensor(input).shape;
        let plan = plan_tiles(&ops, (shape[2], shape[3]), grid).map_err(|e| OnnxError::Tensor {
            name: g.tensor(input).name.clone(),
            msg: e.to_string(),
        })?;
        let full = self.proto.graph.as_ref().expect("imported");
        let mut tile_models = Vec::with_capacity(plan.tiles.len());
        for tile in &plan.tiles {
            let mut nodes = Vec::with_capacity(run.len());
            let mut value_info: Vec<ValueInfoProto> = Vec::new();
            for (k, (&l, lt)) in run.iter().zip(&tile.layers).enumerate() {
                let mut node: NodeProto = full.node[l.index()].clone();
                if !matches!(ops[k], SpatialOp::Elementwise) {
                    node.attribute
                        .retain(|a| !matches!(a.name.as_str(), "pads" | "auto_pad" | "ceil_mode"));
                    let [t, lf, b, r] = lt.pads.map(|p| p as i64);
                    node.attribute.push(ints("pads", &[t, lf, b, r]));
                }
                let out = g.tensor(g.layer(l).outputs[0]);
                let tile_shape = [
                    out.shape[0],
                    out.shape[1],
                    lt.output_rows.len(),
                    lt.output_cols.len(),
                ];
                value_info.push(crate::import::value_info_of(
                    &out.name,
                    out.dtype,
                    &tile_shape,
                ));
                nodes.push(node);
            }
            let out_vi = value_info.pop().expect("non-empty");
            let inp = g.tensor(input);
            let (rows, cols) = tile.input();
            let in_vi = crate::import::value_info_of(
                &inp.name,
                inp.dtype,
                &[inp.shape[0], inp.shape[1], rows.len(), cols.len()],
            );
            let mut seen = HashSet::new();
            let initializer = nodes
                .iter()
                .flat_map(|n| n.input.iter())
                .filter(|i| self.initializers.contains_key(*i) && seen.insert(i.to_string()))
                .map(|i| self.initializers[i].clone())
                .collect();
            let m = ModelProto {
                graph: Some(GraphProto {
                    name: format!("{} tile ({}, {})", g.name, tile.row, tile.col),
                    node: nodes,
                    initializer,
                    input: vec![in_vi],
                    output: vec![out_vi],
                    value_info,
                    doc_string: "tile written by tiersplit".into(),
                }),
                producer_name: "tiersplit".into(),
                ir_version: self.proto.ir_version,
                opset_import: self.proto.opset_import.clone(),
                ..Default::default()
            };
            tile_models.push(m.encode_to_vec());
        }
        Ok(TiledRun {
            layers: run.to_vec(),
            input,
            output,
            plan,
            tile_models,
        })
    }
}
