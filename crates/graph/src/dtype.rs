use serde::{Deserialize, Serialize};
use std::fmt;

/// Element type of a tensor, with the ONNX `TensorProto.DataType` codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    /// 32-bit IEEE float (ONNX code 1).
    F32,
    /// Unsigned 8-bit integer (ONNX code 2).
    U8,
    /// Signed 8-bit integer (ONNX code 3).
    I8,
    /// Signed 32-bit integer (ONNX code 6).
    I32,
    /// Signed 64-bit integer (ONNX code 7).
    I64,
    /// Boolean, one byte per element (ONNX code 9).
    Bool,
    /// 16-bit IEEE half-precision float (ONNX code 10).
    F16,
    /// 64-bit IEEE float (ONNX code 11).
    F64,
}

impl DType {
    /// The ONNX `TensorProto.DataType` code, or `None` for codes tiersplit does not handle.
    pub fn from_onnx(code: i32) -> Option<DType> {
        Some(match code {
            1 => DType::F32,
            2 => DType::U8,
            3 => DType::I8,
            6 => DType::I32,
            7 => DType::I64,
            9 => DType::Bool,
            10 => DType::F16,
            11 => DType::F64,
            _ => return None,
        })
    }

    /// The ONNX `TensorProto.DataType` code of this type (the inverse of [`DType::from_onnx`]).
    pub fn onnx_code(self) -> i32 {
        match self {
            DType::F32 => 1,
            DType::U8 => 2,
            DType::I8 => 3,
            DType::I32 => 6,
            DType::I64 => 7,
            DType::Bool => 9,
            DType::F16 => 10,
            DType::F64 => 11,
        }
    }

    /// Bytes per element (`Bool` takes one byte).
    pub fn size(self) -> u64 {
        match self {
            DType::U8 | DType::I8 | DType::Bool => 1,
            DType::F16 => 2,
            DType::F32 | DType::I32 => 4,
            DType::I64 | DType::F64 => 8,
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DType::F32 => "f32",
            DType::U8 => "u8",
            DType::I8 => "i8",
            DType::I32 => "i32",
            DType::I64 => "i64",
            DType::Bool => "bool",
            DType::F16 => "f16",
            DType::F64 => "f64",
        })
    }
}
