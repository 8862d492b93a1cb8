//! Conversions between host tensors and frames, and the control messages.

use serde::{Deserialize, Serialize};
use tiersplit_exec::{HostTensor, TensorData};
use tiersplit_graph::DType;
use tiersplit_net::{Frame, FrameKind, NetError};

/// Device to worker, before `inputs` tensor frames of the same frame number.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct RunRequest {
    pub part: String,
    pub inputs: usize,
}

/// Device to node, on a control connection, for plan execution.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Command {
    /// Start this node's share of a deployment (models uploaded before as blobs).
    Deploy(Box<crate::Deployment>),
    /// Reply with the node's [`crate::NodeStats`].
    Stats,
}

/// Worker to device, after `outputs` tensor frames.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct RunDone {
    pub outputs: usize,
    pub compute_us: u64,
}

/// Worker to device after a deployment.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Deployed {
    pub part: String,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub cached: bool,
}

pub(crate) fn tensor_frame(frame: u64, name: &str, t: &HostTensor) -> Frame {
    let shape = t.shape.iter().map(|&d| d as u64).collect();
    match &t.data {
        TensorData::F32(v) => Frame::tensor(
            frame,
            name,
            DType::F32,
            shape,
            v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        ),
        TensorData::I64(v) => Frame::tensor(
            frame,
            name,
            DType::I64,
            shape,
            v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        ),
    }
}

pub(crate) fn frame_tensor(f: &Frame) -> Result<HostTensor, NetError> {
    if f.kind != FrameKind::Tensor {
        return Err(NetError::Malformed(format!(
            "expected a tensor frame, got {:?}",
            f.kind
        )));
    }
    let shape: Vec<usize> = f.shape.iter().map(|&d| d as usize).collect();
    let bad = |e: tiersplit_exec::ExecError| NetError::Malformed(e.to_string());
    match f.dtype {
        DType::F32 => HostTensor::f32(
            shape,
            f.payload
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
                .collect(),
        )
        .map_err(bad),
        DType::I64 => HostTensor::i64(
            shape,
            f.payload
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect(),
        )
        .map_err(bad),
        other => Err(NetError::Malformed(format!(
            "tensors of {other} are not supported"
        ))),
    }
}

/// FNV-1a: a stable content hash for caching deployed models (not for security).
pub fn content_hash(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}-{}", bytes.len())
}
