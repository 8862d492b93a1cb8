//! Conversions between host tensors and frames.

use tiersplit_exec::{HostTensor, TensorData};
use tiersplit_graph::DType;
use tiersplit_net::{Frame, FrameKind, NetError};

/// Little-endian bytes of plain numbers: one bulk copy on little-endian machines (the wire
/// format is the memory layout there), a per-element conversion elsewhere.
fn le_bytes<T: bytemuck::Pod, const N: usize>(v: &[T], to_le: fn(&T) -> [u8; N]) -> Vec<u8> {
    if cfg!(target_endian = "little") {
        bytemuck::cast_slice(v).to_vec()
    } else {
        let mut out = Vec::with_capacity(v.len() * N);
        for x in v {
            out.extend_from_slice(&to_le(x));
        }
        out
    }
}

fn from_le<T: bytemuck::Pod, const N: usize>(b: &[u8], from: fn([u8; N]) -> T) -> Vec<T> {
    if cfg!(target_endian = "little") {
        // Copies into a fresh, aligned vector (the payload has no alignment guarantee).
        bytemuck::pod_collect_to_vec(b)
    } else {
        b.chunks_exact(N)
            .map(|c| from(c.try_into().expect("N bytes")))
            .collect()
    }
}

pub(crate) fn tensor_frame(frame: u64, name: &str, t: &HostTensor) -> Frame {
    let shape = t.shape.iter().map(|&d| d as u64).collect();
    match &t.data {
        TensorData::F32(v) => Frame::tensor(
            frame,
            name,
            DType::F32,
            shape,
            le_bytes(v, |x| x.to_le_bytes()),
        ),
        TensorData::I64(v) => Frame::tensor(
            frame,
            name,
            DType::I64,
            shape,
            le_bytes(v, |x| x.to_le_bytes()),
        ),
        TensorData::Bool(v) => Frame::tensor(
            frame,
            name,
            DType::Bool,
            shape,
            v.iter().map(|&b| u8::from(b)).collect(),
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
        DType::F32 => HostTensor::f32(shape, from_le(&f.payload, f32::from_le_bytes)).map_err(bad),
        DType::I64 => HostTensor::i64(shape, from_le(&f.payload, i64::from_le_bytes)).map_err(bad),
        // Any byte but 0 is true, as numpy reads them.
        DType::Bool => {
            HostTensor::bool(shape, f.payload.iter().map(|&b| b != 0).collect()).map_err(bad)
        }
        other => Err(NetError::Malformed(format!(
            "tensors of {other} are not supported"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tensor_type_round_trips_through_a_frame() {
        for t in [
            HostTensor::f32(vec![2, 2], vec![1.0, -2.5, 0.0, 3.25]).unwrap(),
            HostTensor::i64(vec![3], vec![i64::MIN, 0, i64::MAX]).unwrap(),
            HostTensor::bool(vec![1, 4], vec![true, false, false, true]).unwrap(),
        ] {
            let f = tensor_frame(7, "t", &t);
            assert_eq!(f.payload.len(), t.byte_len());
            assert_eq!(frame_tensor(&f).unwrap(), t);
        }
    }
}
