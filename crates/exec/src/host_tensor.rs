use crate::ExecError;

/// A dense tensor in host memory, in row-major order, independent of any engine.
#[derive(Debug, Clone, PartialEq)]
pub struct HostTensor {
    /// Dimensions, outermost first; the element count is their product (an empty shape is a
    /// scalar).
    pub shape: Vec<usize>,
    /// The elements in row-major order; the constructors check there are exactly as many as
    /// `shape` needs.
    pub data: TensorData,
}

/// The elements of a [`HostTensor`], by element type.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorData {
    /// 32-bit floats (activations, logits).
    F32(Vec<f32>),
    /// 64-bit integers (indices, shapes).
    I64(Vec<i64>),
    /// Booleans (masks, comparison results), one byte each on the wire.
    Bool(Vec<bool>),
}

impl HostTensor {
    /// An f32 tensor; fails with `ExecError::BadTensor` when `data.len()` is not the product of
    /// `shape`.
    pub fn f32(shape: Vec<usize>, data: Vec<f32>) -> Result<HostTensor, ExecError> {
        let expected: usize = shape.iter().product();
        if expected != data.len() {
            return Err(ExecError::BadTensor {
                shape,
                expected,
                got: data.len(),
            });
        }
        Ok(HostTensor {
            shape,
            data: TensorData::F32(data),
        })
    }

    /// An i64 tensor; fails with `ExecError::BadTensor` when `data.len()` is not the product of
    /// `shape`.
    pub fn i64(shape: Vec<usize>, data: Vec<i64>) -> Result<HostTensor, ExecError> {
        let expected: usize = shape.iter().product();
        if expected != data.len() {
            return Err(ExecError::BadTensor {
                shape,
                expected,
                got: data.len(),
            });
        }
        Ok(HostTensor {
            shape,
            data: TensorData::I64(data),
        })
    }

    /// A boolean tensor; fails with `ExecError::BadTensor` when `data.len()` is not the product
    /// of `shape`.
    pub fn bool(shape: Vec<usize>, data: Vec<bool>) -> Result<HostTensor, ExecError> {
        let expected: usize = shape.iter().product();
        if expected != data.len() {
            return Err(ExecError::BadTensor {
                shape,
                expected,
                got: data.len(),
            });
        }
        Ok(HostTensor {
            shape,
            data: TensorData::Bool(data),
        })
    }

    /// Number of elements (the product of `shape`).
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the tensor has no elements (some dimension is 0).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Size of the element data in bytes: 4 per f32, 8 per i64, 1 per bool.
    pub fn byte_len(&self) -> usize {
        match &self.data {
            TensorData::F32(v) => v.len() * 4,
            TensorData::I64(v) => v.len() * 8,
            TensorData::Bool(v) => v.len(),
        }
    }

    /// Values as f32 (integers converted), for comparisons and reports.
    pub fn to_f32(&self) -> Vec<f32> {
        match &self.data {
            TensorData::F32(v) => v.clone(),
            TensorData::I64(v) => v.iter().map(|&x| x as f32).collect(),
            TensorData::Bool(v) => v.iter().map(|&x| f32::from(u8::from(x))).collect(),
        }
    }

    /// The elements as an f32 slice, or `None` for another type (nothing is converted).
    pub fn as_f32(&self) -> Option<&[f32]> {
        match &self.data {
            TensorData::F32(v) => Some(v),
            TensorData::I64(_) | TensorData::Bool(_) => None,
        }
    }

    /// Index of the largest value (top-1 class of logits).
    pub fn argmax(&self) -> Option<usize> {
        let v = self.to_f32();
        (0..v.len()).max_by(|&a, &b| v[a].total_cmp(&v[b]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_length_and_finds_argmax() {
        assert!(HostTensor::f32(vec![2, 2], vec![1.0; 3]).is_err());
        let t = HostTensor::f32(vec![1, 4], vec![0.1, 3.0, -2.0, 2.9]).unwrap();
        assert_eq!(t.argmax(), Some(1));
        assert_eq!(t.byte_len(), 16);
    }
}
