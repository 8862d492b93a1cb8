//! `.npy` tensors in and out: the format numpy and most tools exchange arrays in.

use crate::error::{read, Result, SessionError};
use npyz::WriterBuilder;
use std::path::Path;
use tiersplit_exec::{HostTensor, TensorData};

/// Reads a little-endian `.npy` array: float32 (float64 is narrowed to it), int64 (int32 is
/// widened to it) or bool, the element types tensors take in tiersplit.
pub fn read_npy(path: &Path) -> Result<HostTensor> {
    let bytes = read(path)?;
    let invalid = |msg: String| SessionError::invalid(format!("{}: {msg}", path.display()));
    let header = Header::read(&bytes).map_err(invalid)?;
    let bad = |e: std::io::Error| SessionError::io(path, e);
    let npy = npyz::NpyFile::new(&bytes[..]).map_err(bad)?;
    let shape = header.shape;
    let code = match npy.dtype() {
        npyz::DType::Plain(t) => t.to_string(),
        other => {
            return Err(SessionError::invalid(format!(
                "{}: unsupported .npy dtype {other:?}",
                path.display()
            )))
        }
    };
    let code = code.trim_start_matches(['<', '|', '=']);
    let item = match code {
        "f8" | "i8" => 8,
        "f4" | "i4" => 4,
        _ => 1,
    };
    if header
        .count
        .checked_mul(item)
        .is_none_or(|n| n > header.data_bytes)
    {
        return Err(invalid(format!(
            "the header's shape {shape:?} of '{code}' needs more than the {} data bytes the file holds",
            header.data_bytes
        )));
    }
    let tensor = match code {
        "f4" => HostTensor::f32(shape, npy.into_vec::<f32>().map_err(bad)?),
        "f8" => {
            let v = npy.into_vec::<f64>().map_err(bad)?;
            HostTensor::f32(shape, v.into_iter().map(|x| x as f32).collect())
        }
        "i8" => HostTensor::i64(shape, npy.into_vec::<i64>().map_err(bad)?),
        "i4" => {
            let v = npy.into_vec::<i32>().map_err(bad)?;
            HostTensor::i64(shape, v.into_iter().map(i64::from).collect())
        }
        "b1" => {
            let v = npy.into_vec::<bool>().map_err(bad)?;
            HostTensor::bool(shape, v)
        }
        other => {
            return Err(SessionError::invalid(format!(
                "{}: unsupported .npy dtype '{other}' (float32, float64, int64, int32 or bool)",
                path.display()
            )))
        }
    };
    Ok(tensor?)
}

/// What tiersplit needs of a `.npy` header, read before npyz sees the file: npyz multiplies
/// the dimensions unchecked (a panic on an overflowing shape) and sizes its vector from them
/// (an allocation as large as a hostile header says, whatever the file holds).
struct Header {
    shape: Vec<usize>,
    /// Elements: the product of `shape`, checked.
    count: usize,
    /// Bytes after the header.
    data_bytes: usize,
}

impl Header {
    fn read(bytes: &[u8]) -> std::result::Result<Header, String> {
        if bytes.get(..6) != Some(b"\x93NUMPY".as_slice()) {
            return Err("not a .npy file (no \\x93NUMPY magic)".into());
        }
        let le = |r: std::ops::Range<usize>| {
            bytes
                .get(r)
                .map(|b| b.iter().rev().fold(0usize, |n, &x| n << 8 | usize::from(x)))
        };
        let (len, start) = match bytes.get(6) {
            Some(1) => (le(8..10), 10),
            Some(2 | 3) => (le(8..12), 12),
            v => return Err(format!(".npy format version {v:?} (1 to 3 are read)")),
        };
        let end = len
            .and_then(|l| l.checked_add(start))
            .filter(|&e| e <= bytes.len())
            .ok_or("the .npy header runs past the end of the file")?;
        let text = String::from_utf8_lossy(&bytes[start..end]);
        // npyz reads the last of repeated keys, in either quotes: a header must say each once.
        for key in ["shape", "fortran_order", "descr"] {
            if text.matches(key).count() > 1 {
                return Err(format!("the .npy header names '{key}' more than once"));
            }
        }
        if value_of(&text, "fortran_order").is_some_and(|v| v.starts_with("True")) {
            return Err(
                "the array is in Fortran order; save it in C order (numpy.ascontiguousarray)"
                    .into(),
            );
        }
        let shape = value_of(&text, "shape")
            .and_then(|v| v.strip_prefix('('))
            .and_then(|v| v.split_once(')'))
            .ok_or("the .npy header has no shape tuple")?
            .0;
        let shape = shape
            .split(',')
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(|d| {
                d.trim_end_matches('L')
                    .parse::<usize>()
                    .map_err(|_| format!("shape dimension '{d}' is not a size"))
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        if shape.len() > 32 {
            return Err(format!(
                "the shape has {} dimensions (at most 32)",
                shape.len()
            ));
        }
        // Empty dimensions make the count 0 whatever the others say; npyz multiplies them all.
        let count = shape
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d.max(1)))
            .ok_or_else(|| format!("the shape {shape:?} has more elements than memory can hold"))?;
        let count = if shape.contains(&0) { 0 } else { count };
        Ok(Header {
            shape,
            count,
            data_bytes: bytes.len() - end,
        })
    }
}

/// The text after `'key':` in a header dictionary, spaces trimmed.
fn value_of<'a>(dict: &'a str, key: &str) -> Option<&'a str> {
    let at = dict.find(&format!("'{key}'"))? + key.len() + 2;
    dict[at..]
        .trim_start()
        .strip_prefix(':')
        .map(str::trim_start)
}

/// Writes `t` as a `.npy` array.
pub fn write_npy(path: &Path, t: &HostTensor) -> Result<()> {
    let io = |e: std::io::Error| SessionError::io(path, e);
    let file = std::fs::File::create(path).map_err(io)?;
    let shape: Vec<u64> = t.shape.iter().map(|&d| d as u64).collect();
    let w = std::io::BufWriter::new(file);
    match &t.data {
        TensorData::F32(v) => {
            let options = npyz::WriteOptions::new().default_dtype().shape(&shape);
            let mut out = options.writer(w).begin_nd().map_err(io)?;
            out.extend(v.iter().copied()).map_err(io)?;
            out.finish().map_err(io)
        }
        TensorData::I64(v) => {
            let options = npyz::WriteOptions::new().default_dtype().shape(&shape);
            let mut out = options.writer(w).begin_nd().map_err(io)?;
            out.extend(v.iter().copied()).map_err(io)?;
            out.finish().map_err(io)
        }
        TensorData::Bool(v) => {
            let options = npyz::WriteOptions::new().default_dtype().shape(&shape);
            let mut out = options.writer(w).begin_nd().map_err(io)?;
            out.extend(v.iter().copied()).map_err(io)?;
            out.finish().map_err(io)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_element_type_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let tensors = [
            HostTensor::f32(vec![2, 2], vec![1.5, -2.0, 0.0, 3.25]).unwrap(),
            HostTensor::i64(vec![3], vec![-7, 0, 1 << 40]).unwrap(),
            HostTensor::bool(vec![1, 3], vec![true, false, true]).unwrap(),
        ];
        for (k, t) in tensors.iter().enumerate() {
            let path = dir.path().join(format!("{k}.npy"));
            write_npy(&path, t).unwrap();
            assert_eq!(&read_npy(&path).unwrap(), t);
        }
    }

    #[test]
    fn other_element_types_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u2.npy");
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        let header = "{'descr': '<u2', 'fortran_order': False, 'shape': (1,), }";
        let header = format!("{header:<117}\n");
        bytes.extend((header.len() as u16).to_le_bytes());
        bytes.extend(header.as_bytes());
        bytes.extend([1, 0]);
        std::fs::write(&path, bytes).unwrap();
        let e = read_npy(&path).unwrap_err().to_string();
        assert!(e.contains("'u2'"), "{e}");
    }

    /// A version-1 file with `header` (a dictionary) and `data`.
    fn npy_bytes(header: &str, data: &[u8]) -> Vec<u8> {
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        let header = format!("{header:<117}\n");
        bytes.extend((header.len() as u16).to_le_bytes());
        bytes.extend(header.as_bytes());
        bytes.extend(data);
        bytes
    }

    #[test]
    fn hostile_headers_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.npy");
        let cases = [
            (
                "(4294967296, 4294967296, 4294967296)",
                "more elements than memory",
            ),
            ("(1000000000000,)", "needs more than the 16 data bytes"),
            ("(2, -1)", "'-1' is not a size"),
            ("(5,)", "needs more than the 16 data bytes"),
            (
                "(0, 4294967296, 4294967296, 4294967296)",
                "more elements than memory",
            ),
            (
                "(1,), 'shape': (4294967296, 4294967296, 4294967296)",
                "more than once",
            ),
        ];
        for (shape, says) in cases {
            let h = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}");
            std::fs::write(&path, npy_bytes(&h, &[0; 16])).unwrap();
            let e = read_npy(&path).unwrap_err().to_string();
            assert!(e.contains(says), "{shape}: {e}");
        }
        let h = "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }";
        std::fs::write(&path, npy_bytes(h, &[0; 16])).unwrap();
        let e = read_npy(&path).unwrap_err().to_string();
        assert!(e.contains("Fortran order"), "{e}");
        std::fs::write(&path, &npy_bytes(h, &[])[..20]).unwrap();
        let e = read_npy(&path).unwrap_err().to_string();
        assert!(e.contains("runs past the end"), "{e}");
        std::fs::write(&path, b"PK\x03\x04").unwrap();
        assert!(read_npy(&path).unwrap_err().to_string().contains("magic"));
        let h = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }";
        std::fs::write(&path, npy_bytes(h, &[0; 16])).unwrap();
        assert_eq!(read_npy(&path).unwrap().shape, [2, 2]);
    }
}
