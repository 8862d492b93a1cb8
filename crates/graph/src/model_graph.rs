use crate::{Bytes, DType, Flops, GraphError, LayerId, TensorId};
use serde::{Deserialize, Serialize};

/// One computing node of the model (an ONNX node that reads activations).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Layer {
    /// Index of the layer in [`ModelGraph::layers`], which is a topological order.
    pub id: LayerId,
    /// Node name; the ONNX importer makes names unique (unnamed or repeated nodes become
    /// `<op>_<index>`), so layers can be found by it.
    pub name: String,
    /// ONNX operator type, such as `Conv` or `Relu`.
    pub op: String,
    /// Activation tensors read (weights and folded constants are not listed here).
    pub inputs: Vec<TensorId>,
    /// Activation tensors the layer produces.
    pub outputs: Vec<TensorId>,
    /// Floating-point operations of one run of the layer at the graph's static shapes (batch
    /// included).
    pub flops: Flops,
    /// Learnable parameters (elements): BatchNormalization running statistics are buffers and
    /// not counted, so totals match the usual framework parameter counts.
    pub params: u64,
    /// Bytes of every constant the layer reads (weights, biases, statistics, shape operands).
    pub param_bytes: Bytes,
}

impl Layer {
    /// Elementwise layers (BatchNormalization, activations, binary arithmetic) that inference
    /// engines fold into the epilogue of the convolution or matrix product feeding them.
    pub fn fuses_into_producer(&self) -> bool {
        matches!(
            self.op.as_str(),
            "BatchNormalization"
                | "Relu"
                | "LeakyRelu"
                | "Clip"
                | "Sigmoid"
                | "HardSigmoid"
                | "HardSwish"
                | "Tanh"
                | "Elu"
                | "Selu"
                | "PRelu"
                | "Add"
                | "Sub"
                | "Mul"
                | "Div"
        )
    }
}

/// An activation tensor: a graph input or the output of a layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TensorInfo {
    /// Index of the tensor in [`ModelGraph::tensors`].
    pub id: TensorId,
    /// Value name from the model; tensors are looked up, and sent between nodes, by this name.
    pub name: String,
    /// Element type.
    pub dtype: DType,
    /// Static shape, outermost dimension first (symbolic dimensions are fixed at import).
    pub shape: Vec<u64>,
    /// `None` for graph inputs.
    pub producer: Option<LayerId>,
    /// Layers that read the tensor, each listed once.
    pub consumers: Vec<LayerId>,
}

impl TensorInfo {
    /// Number of elements (the product of `shape`; 1 for a scalar).
    pub fn elements(&self) -> u64 {
        self.shape.iter().product()
    }

    /// Size of the tensor's data: its elements times the element size.
    pub fn bytes(&self) -> Bytes {
        Bytes(self.elements() * self.dtype.size())
    }
}

/// A data dependency between two layers, carrying one tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Edge {
    /// The layer that produces the tensor.
    pub from: LayerId,
    /// The layer that reads it.
    pub to: LayerId,
    /// The tensor carried.
    pub tensor: TensorId,
    /// Size of the tensor: what a cut across this edge has to transfer.
    pub bytes: Bytes,
}

/// The layer DAG of a model with static shapes. Layers are kept in topological order, so
/// `LayerId(i)` only depends on layers with smaller ids.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelGraph {
    /// Model name: the ONNX graph name, or `model` when the file has none.
    pub name: String,
    /// All layers in topological order; `layers[i].id` is `LayerId(i)`.
    pub layers: Vec<Layer>,
    /// All activation tensors (graph inputs and layer outputs; weights are not tensors here);
    /// `tensors[i].id` is `TensorId(i)`.
    pub tensors: Vec<TensorInfo>,
    /// The graph input tensors (they have no producer), in the model's declared order.
    pub inputs: Vec<TensorId>,
    /// The graph output tensors, each produced by a layer, in the model's declared order.
    pub outputs: Vec<TensorId>,
}

impl ModelGraph {
    /// The layer with id `id`; panics if the id is out of range.
    pub fn layer(&self, id: LayerId) -> &Layer {
        &self.layers[id.index()]
    }

    /// The tensor with id `id`; panics if the id is out of range.
    pub fn tensor(&self, id: TensorId) -> &TensorInfo {
        &self.tensors[id.index()]
    }

    /// The tensor named `name`, or `None` if there is none.
    pub fn tensor_by_name(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// The layer named `name`, or `None` if there is none.
    pub fn layer_by_name(&self, name: &str) -> Option<&Layer> {
        self.layers.iter().find(|l| l.name == name)
    }

    /// FLOPs of the whole model: one inference, all layers.
    pub fn total_flops(&self) -> Flops {
        self.layers.iter().map(|l| l.flops).sum()
    }

    /// Learnable parameters (elements) of all layers.
    pub fn total_params(&self) -> u64 {
        self.layers.iter().map(|l| l.params).sum()
    }

    /// Bytes of the constants all layers read, summed per layer (a constant read by two layers
    /// counts twice).
    pub fn total_param_bytes(&self) -> Bytes {
        self.layers.iter().map(|l| l.param_bytes).sum()
    }

    /// Every producer-to-consumer dependency, one per (tensor, consumer) pair.
    pub fn edges(&self) -> Vec<Edge> {
        let mut edges = Vec::new();
        for t in &self.tensors {
            if let Some(from) = t.producer {
                for &to in &t.consumers {
                    edges.push(Edge {
                        from,
                        to,
                        tensor: t.id,
                        bytes: t.bytes(),
                    });
                }
            }
        }
        edges
    }

    /// Layers whose outputs `id` reads, deduplicated, ascending.
    pub fn predecessors(&self, id: LayerId) -> Vec<LayerId> {
        let mut p: Vec<LayerId> = self
            .layer(id)
            .inputs
            .iter()
            .filter_map(|&t| self.tensor(t).producer)
            .collect();
        p.sort();
        p.dedup();
        p
    }

    /// Layers that read an output of `id`, deduplicated, ascending.
    pub fn successors(&self, id: LayerId) -> Vec<LayerId> {
        let mut s: Vec<LayerId> = self
            .layer(id)
            .outputs
            .iter()
            .flat_map(|&t| self.tensor(t).consumers.iter().copied())
            .collect();
        s.sort();
        s.dedup();
        s
    }

    /// Checks the invariants every constructor must uphold: ids match positions, producers and
    /// consumers agree with the layers' lists, every tensor is produced or is an input, and
    /// layer order is topological.
    pub fn validate(&self) -> Result<(), GraphError> {
        for (i, l) in self.layers.iter().enumerate() {
            if l.id.index() != i {
                return Err(GraphError::NoSuchLayer(l.id, self.layers.len()));
            }
            for &t in &l.inputs {
                let info = self
                    .tensors
                    .get(t.index())
                    .ok_or(GraphError::DanglingTensor(t))?;
                match info.producer {
                    Some(p) if p >= l.id => return Err(GraphError::Cycle(l.id)),
                    None if !self.inputs.contains(&t) => return Err(GraphError::DanglingTensor(t)),
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds a graph from (name, inputs) pairs; each layer produces one tensor named after it,
    /// input "x" is the graph input, and layers nobody reads are graph outputs.
    pub fn graph(spec: &[(&str, &[&str])]) -> ModelGraph {
        let mut tensors = vec![TensorInfo {
            id: TensorId(0),
            name: "x".into(),
            dtype: DType::F32,
            shape: vec![1, 4],
            producer: None,
            consumers: vec![],
        }];
        let mut layers = Vec::new();
        for (i, (name, ins)) in spec.iter().enumerate() {
            let id = LayerId(i as u32);
            let out = TensorId(tensors.len() as u32);
            let inputs: Vec<TensorId> = ins
                .iter()
                .map(|n| {
                    tensors
                        .iter()
                        .find(|t| t.name == *n)
                        .expect("known input")
                        .id
                })
                .collect();
            for &t in &inputs {
                tensors[t.index()].consumers.push(id);
            }
            tensors.push(TensorInfo {
                id: out,
                name: name.to_string(),
                dtype: DType::F32,
                shape: vec![1, 4 + i as u64],
                producer: Some(id),
                consumers: vec![],
            });
            layers.push(Layer {
                id,
                name: name.to_string(),
                op: "Relu".into(),
                inputs,
                outputs: vec![out],
                flops: Flops(10),
                params: 0,
                param_bytes: Bytes(0),
            });
        }
        let outputs = tensors
            .iter()
            .filter(|t| t.consumers.is_empty() && t.producer.is_some())
            .map(|t| t.id)
            .collect();
        ModelGraph {
            name: "t".into(),
            layers,
            tensors,
            inputs: vec![TensorId(0)],
            outputs,
        }
    }

    #[test]
    fn edges_and_neighbours() {
        let g = graph(&[
            ("a", &["x"]),
            ("b", &["a"]),
            ("c", &["a"]),
            ("d", &["b", "c"]),
        ]);
        g.validate().unwrap();
        assert_eq!(g.edges().len(), 4);
        assert_eq!(g.successors(LayerId(0)), vec![LayerId(1), LayerId(2)]);
        assert_eq!(g.predecessors(LayerId(3)), vec![LayerId(1), LayerId(2)]);
        assert_eq!(g.edges()[0].bytes, Bytes(4 * 4));
    }
}
