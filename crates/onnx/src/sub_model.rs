use crate::error::Result;
use crate::import::{tensor_value_info, OnnxModel};
use crate::proto::{GraphProto, ModelProto};
use prost::Message;
use std::collections::HashSet;
use tiersplit_graph::LayerId;

impl OnnxModel {
    /// A standalone ONNX model computing `set` (which must be a legal, convex partition): its
    /// inputs are the tensors entering the set, its outputs the tensors leaving it (graph
    /// outputs included), and it carries only the initializers its nodes read.
    pub fn sub_model(&self, set: &[LayerId]) -> Result<ModelProto> {
        let graph = &self.graph;
        graph.check_convex(set)?;
        let boundary = graph.boundary(set)?;
        let mut sorted = set.to_vec();
        sorted.sort();
        let full = self
            .proto
            .graph
            .as_ref()
            .expect("imported models have a graph");
        let nodes: Vec<_> = sorted
            .iter()
            .map(|l| full.node[l.index()].clone())
            .collect();
        let mut seen = HashSet::new();
        let initializer = nodes
            .iter()
            .flat_map(|n| n.input.iter())
            .filter(|i| self.initializers.contains_key(*i) && seen.insert(i.as_str()))
            .map(|i| self.initializers[i].clone())
            .collect();
        let boundary_out: HashSet<_> = boundary.outputs.iter().copied().collect();
        let value_info = sorted
            .iter()
            .flat_map(|&l| graph.layer(l).outputs.iter())
            .filter(|t| !boundary_out.contains(t))
            .map(|&t| tensor_value_info(graph.tensor(t)))
            .collect();
        let first = graph.layer(sorted[0]).name.as_str();
        let last = graph
            .layer(*sorted.last().expect("non-empty"))
            .name
            .as_str();
        let sub = GraphProto {
            name: format!(
                "{} [{} layers: {first} .. {last}]",
                graph.name,
                sorted.len()
            ),
            node: nodes,
            initializer,
            input: boundary
                .inputs
                .iter()
                .map(|&t| tensor_value_info(graph.tensor(t)))
                .collect(),
            output: boundary
                .outputs
                .iter()
                .map(|&t| tensor_value_info(graph.tensor(t)))
                .collect(),
            value_info,
            doc_string: "partition written by tiersplit".into(),
        };
        Ok(ModelProto {
            graph: Some(sub),
            producer_name: "tiersplit".into(),
            producer_version: env!("CARGO_PKG_VERSION").into(),
            ..self.proto.clone_without_graph()
        })
    }

    /// [`OnnxModel::sub_model`] encoded as ONNX bytes.
    pub fn sub_model_bytes(&self, set: &[LayerId]) -> Result<Vec<u8>> {
        Ok(self.sub_model(set)?.encode_to_vec())
    }
}

impl ModelProto {
    fn clone_without_graph(&self) -> ModelProto {
        ModelProto {
            ir_version: self.ir_version,
            opset_import: self.opset_import.clone(),
            producer_name: self.producer_name.clone(),
            producer_version: self.producer_version.clone(),
            domain: self.domain.clone(),
            model_version: self.model_version,
            doc_string: self.doc_string.clone(),
            graph: None,
            metadata_props: self.metadata_props.clone(),
        }
    }
}
