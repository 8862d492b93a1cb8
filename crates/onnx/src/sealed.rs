//! Models from outside, made safe to hand to an engine: an ONNX tensor may keep its data in an
//! external file, which an engine reads from the loading machine's disk (ONNX Runtime resolves
//! the path against its working directory), so a model uploaded to a node could read the
//! node's files, its private key included, and send them back as outputs.

use crate::error::{OnnxError, Result};
use crate::proto::{AttributeProto, GraphProto, ModelProto, TensorProto};
use prost::Message;

/// `bytes` decoded, refused if any tensor anywhere in it (initializers, `Constant` and other
/// tensor attributes, subgraphs) names external data, and encoded again with only the fields
/// tiersplit knows: what an engine then loads holds nothing that was not checked (sparse
/// initializers, functions and training information are dropped; tiersplit's own partitions
/// have none).
pub fn sealed_model(bytes: &[u8]) -> Result<Vec<u8>> {
    let model = ModelProto::decode(bytes)?;
    let graph = model.graph.as_ref().ok_or(OnnxError::NoGraph)?;
    check_graph(graph, 0)?;
    Ok(model.encode_to_vec())
}

/// Subgraphs nest at most this deep; deeper is refused rather than followed.
const MAX_DEPTH: usize = 64;

fn check_graph(g: &GraphProto, depth: usize) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(OnnxError::Tensor {
            name: g.name.clone(),
            msg: format!("subgraphs nested over {MAX_DEPTH} deep"),
        });
    }
    g.initializer.iter().try_for_each(check_tensor)?;
    g.node
        .iter()
        .flat_map(|n| &n.attribute)
        .try_for_each(|a| check_attribute(a, depth))
}

fn check_attribute(a: &AttributeProto, depth: usize) -> Result<()> {
    a.t.iter().chain(&a.tensors).try_for_each(check_tensor)?;
    a.g.iter()
        .chain(&a.graphs)
        .try_for_each(|g| check_graph(g, depth + 1))
}

fn check_tensor(t: &TensorProto) -> Result<()> {
    if t.data_location == 1 || !t.external_data.is_empty() {
        return Err(OnnxError::Tensor {
            name: t.name.clone(),
            msg: "keeps its data in an external file, which a node does not load".into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{NodeProto, StringStringEntryProto};

    fn model(g: GraphProto) -> Vec<u8> {
        ModelProto {
            graph: Some(g),
            ..Default::default()
        }
        .encode_to_vec()
    }

    fn external(name: &str) -> TensorProto {
        TensorProto {
            name: name.into(),
            data_location: 1,
            external_data: vec![StringStringEntryProto {
                key: "location".into(),
                value: "certs/edge0.key".into(),
            }],
            ..Default::default()
        }
    }

    #[test]
    fn external_data_anywhere_is_refused() {
        let initializer = GraphProto {
            initializer: vec![external("w")],
            ..Default::default()
        };
        assert!(sealed_model(&model(initializer)).is_err());
        let constant = |a: AttributeProto| GraphProto {
            node: vec![NodeProto {
                op_type: "Constant".into(),
                attribute: vec![a],
                ..Default::default()
            }],
            ..Default::default()
        };
        let in_attribute = AttributeProto {
            name: "value".into(),
            t: Some(external("c")),
            ..Default::default()
        };
        assert!(sealed_model(&model(constant(in_attribute.clone()))).is_err());
        let in_subgraph = AttributeProto {
            name: "then_branch".into(),
            g: Some(constant(in_attribute)),
            ..Default::default()
        };
        let e = sealed_model(&model(constant(in_subgraph))).unwrap_err();
        assert!(e.to_string().contains("external file"), "{e}");
        let clean = GraphProto {
            initializer: vec![TensorProto {
                name: "w".into(),
                dims: vec![1],
                data_type: 1,
                float_data: vec![1.0],
                ..Default::default()
            }],
            ..Default::default()
        };
        let sealed = sealed_model(&model(clean.clone())).unwrap();
        assert_eq!(
            ModelProto::decode(&sealed[..]).unwrap().graph.unwrap(),
            clean
        );
    }
}
