use crate::error::{OnnxError, Result};
use crate::proto::TensorProto;
use tiersplit_graph::DType;

/// A small constant decoded to numbers, for shape computations and folding. Integer types are
/// widened to i64 and floating types to f32 in `data`; `dtype` remembers the declared type.
#[derive(Debug, Clone, PartialEq)]
pub struct ConstTensor {
    /// Declared element type; [`ConstTensor::to_proto`] writes the values back in this type.
    pub dtype: DType,
    /// Dimensions, outermost first; the number of values is their product.
    pub shape: Vec<u64>,
    /// The values in row-major order, widened: integer and boolean types to i64, floating types to
    /// f32.
    pub data: ConstData,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ConstData {
    F32(Vec<f32>),
    I64(Vec<i64>),
}

fn tensor_err(t: &TensorProto, msg: impl Into<String>) -> OnnxError {
    OnnxError::Tensor {
        name: t.name.clone(),
        msg: msg.into(),
    }
}

/// Most elements any tensor of an imported model may have (2^40): shapes past it are refused
/// before any size computed from them can overflow.
pub const MAX_ELEMENTS: u64 = 1 << 40;

/// Most elements an operator's output may have to be folded into a constant at import
/// (generated masks and index tables; larger ones stay layers).
pub const MAX_FOLDED: u64 = 1 << 16;

/// The number of elements of `shape`, if it is at most [`MAX_ELEMENTS`].
pub fn element_count(shape: &[u64]) -> Option<u64> {
    shape
        .iter()
        .try_fold(1u64, |n, &d| n.checked_mul(d))
        .filter(|&n| n <= MAX_ELEMENTS)
}

/// How many values `t` stores, in its raw bytes or its typed field.
fn stored_values(t: &TensorProto, dtype: DType) -> u64 {
    if !t.raw_data.is_empty() {
        return t.raw_data.len() as u64 / dtype.size().max(1);
    }
    (match dtype {
        DType::F32 => t.float_data.len(),
        DType::F64 => t.double_data.len(),
        DType::I64 => t.int64_data.len(),
        _ => t.int32_data.len(),
    }) as u64
}

/// Declared type and shape of an initializer or constant, checked against the data it holds
/// (without decoding it).
pub fn proto_type(t: &TensorProto) -> Result<(DType, Vec<u64>)> {
    let dtype = DType::from_onnx(t.data_type)
        .ok_or_else(|| tensor_err(t, format!("unsupported data type code {}", t.data_type)))?;
    if t.data_location == 1 || !t.external_data.is_empty() {
        return Err(tensor_err(
            t,
            "weights stored in an external data file are not supported",
        ));
    }
    let shape = t
        .dims
        .iter()
        .map(|&d| u64::try_from(d).map_err(|_| tensor_err(t, format!("negative dimension {d}"))))
        .collect::<Result<Vec<u64>>>()?;
    let n = element_count(&shape).ok_or_else(|| {
        tensor_err(
            t,
            format!("shape {shape:?} has over {MAX_ELEMENTS} elements"),
        )
    })?;
    let stored = stored_values(t, dtype);
    let whole =
        t.raw_data.is_empty() || (t.raw_data.len() as u64).is_multiple_of(dtype.size().max(1));
    if stored != n || !whole {
        return Err(tensor_err(
            t,
            format!("holds {stored} values but its shape needs {n}"),
        ));
    }
    Ok((dtype, shape))
}

impl ConstTensor {
    /// An f32 constant of `shape`; `data` should hold its elements (the count is not checked).
    pub fn from_f32(shape: Vec<u64>, data: Vec<f32>) -> ConstTensor {
        ConstTensor {
            dtype: DType::F32,
            shape,
            data: ConstData::F32(data),
        }
    }

    /// An i64 constant of `shape`; `data` should hold its elements (the count is not checked).
    pub fn from_i64(shape: Vec<u64>, data: Vec<i64>) -> ConstTensor {
        ConstTensor {
            dtype: DType::I64,
            shape,
            data: ConstData::I64(data),
        }
    }

    /// Number of values held.
    pub fn len(&self) -> usize {
        match &self.data {
            ConstData::F32(v) => v.len(),
            ConstData::I64(v) => v.len(),
        }
    }

    /// Whether no values are held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values as i64 (floats truncated toward zero).
    pub fn as_i64(&self) -> Vec<i64> {
        match &self.data {
            ConstData::F32(v) => v.iter().map(|&x| x as i64).collect(),
            ConstData::I64(v) => v.clone(),
        }
    }

    /// The values as f32 (integers converted).
    pub fn as_f32(&self) -> Vec<f32> {
        match &self.data {
            ConstData::F32(v) => v.clone(),
            ConstData::I64(v) => v.iter().map(|&x| x as f32).collect(),
        }
    }

    /// Decodes an initializer or constant from its typed or raw little-endian data; fails on f16,
    /// external data, unsupported types and a value count that does not match the shape.
    pub fn decode(t: &TensorProto) -> Result<ConstTensor> {
        let (dtype, shape) = proto_type(t)?;
        let n: u64 = shape.iter().product();
        let raw = &t.raw_data;
        let data = match dtype {
            DType::F32 => ConstData::F32(if raw.is_empty() {
                t.float_data.clone()
            } else {
                raw.chunks_exact(4)
                    .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                    .collect()
            }),
            DType::F64 => ConstData::F32(if raw.is_empty() {
                t.double_data.iter().map(|&x| x as f32).collect()
            } else {
                raw.chunks_exact(8)
                    .map(|c| f64::from_le_bytes(c.try_into().unwrap()) as f32)
                    .collect()
            }),
            DType::I64 => ConstData::I64(if raw.is_empty() {
                t.int64_data.clone()
            } else {
                raw.chunks_exact(8)
                    .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
                    .collect()
            }),
            DType::I32 => ConstData::I64(if raw.is_empty() {
                t.int32_data.iter().map(|&x| x as i64).collect()
            } else {
                raw.chunks_exact(4)
                    .map(|c| i32::from_le_bytes(c.try_into().unwrap()) as i64)
                    .collect()
            }),
            DType::U8 | DType::Bool => ConstData::I64(if raw.is_empty() {
                t.int32_data.iter().map(|&x| x as i64).collect()
            } else {
                raw.iter().map(|&x| x as i64).collect()
            }),
            DType::I8 => ConstData::I64(if raw.is_empty() {
                t.int32_data.iter().map(|&x| x as i64).collect()
            } else {
                raw.iter().map(|&x| x as i8 as i64).collect()
            }),
            DType::F16 => return Err(tensor_err(t, "f16 constants are not supported")),
        };
        let c = ConstTensor { dtype, shape, data };
        if c.len() as u64 != n {
            return Err(tensor_err(
                t,
                format!("holds {} values but its shape needs {n}", c.len()),
            ));
        }
        Ok(c)
    }

    /// Encodes as an initializer named `name`, in the declared dtype.
    pub fn to_proto(&self, name: &str) -> TensorProto {
        let mut t = TensorProto {
            name: name.to_string(),
            dims: self.shape.iter().map(|&d| d as i64).collect(),
            data_type: self.dtype.onnx_code(),
            ..Default::default()
        };
        t.raw_data = match (&self.data, self.dtype) {
            (ConstData::F32(v), DType::F64) => {
                v.iter().flat_map(|&x| (x as f64).to_le_bytes()).collect()
            }
            (ConstData::F32(v), _) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            (ConstData::I64(v), DType::I32) => {
                v.iter().flat_map(|&x| (x as i32).to_le_bytes()).collect()
            }
            (ConstData::I64(v), DType::U8 | DType::Bool | DType::I8) => {
                v.iter().map(|&x| x as u8).collect()
            }
            (ConstData::I64(v), _) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        };
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_proto() {
        for c in [
            ConstTensor::from_f32(vec![2, 2], vec![1.0, -2.5, 3.0, 0.0]),
            ConstTensor::from_i64(vec![3], vec![1, -1, 7]),
            ConstTensor {
                dtype: DType::I32,
                shape: vec![2],
                data: ConstData::I64(vec![-4, 9]),
            },
        ] {
            assert_eq!(ConstTensor::decode(&c.to_proto("c")).unwrap(), c);
        }
    }

    #[test]
    fn rejects_wrong_length_and_external_data() {
        let mut t = ConstTensor::from_f32(vec![3], vec![1.0, 2.0, 3.0]).to_proto("w");
        t.dims = vec![4];
        assert!(ConstTensor::decode(&t)
            .unwrap_err()
            .to_string()
            .contains("holds 3 values"));
        t.data_location = 1;
        assert!(ConstTensor::decode(&t)
            .unwrap_err()
            .to_string()
            .contains("external data"));
    }
}
