use crate::NetError;
use tiersplit_graph::DType;

/// Version of the frame format, written in every header; a receiver refuses frames of another
/// version with `NetError::Version`.
pub const PROTOCOL_VERSION: u16 = 2;
pub(crate) const MAGIC: [u8; 4] = *b"TSPL";
const MAX_NAME: usize = 4096;
const MAX_RANK: usize = 8;

/// What a frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// A named tensor of one frame of the stream.
    Tensor = 1,
    /// The sender failed on this frame; the payload is a UTF-8 message.
    Error = 2,
    /// Liveness and round-trip measurement; empty payload.
    Ping = 3,
    // Kinds 4 and 5 (control JSON and model blobs of the retired star mode) are refused:
    // models travel only over the gRPC control plane.
    /// Filler that measures a link's rate when it carries no tensors; the receiver drops it.
    Probe = 6,
}

impl FrameKind {
    fn from_u8(v: u8) -> Result<FrameKind, NetError> {
        Ok(match v {
            1 => FrameKind::Tensor,
            2 => FrameKind::Error,
            3 => FrameKind::Ping,
            6 => FrameKind::Probe,
            other => return Err(NetError::Malformed(format!("unknown frame kind {other}"))),
        })
    }
}

/// Limits a receiver enforces: sizes before allocating anything, and progress once a frame
/// has begun.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest payload accepted, in bytes (default [`MAX_PAYLOAD`]).
    pub max_payload: u64,
    /// Longest pause inside a frame once it has begun (default 30 s): a sender that stops in
    /// the middle is cut off, one that keeps sending, however slowly, is not.
    pub stall: std::time::Duration,
}

/// The default payload limit, 256 MiB: four times a float 3x2160x3840 (4K) input image, far
/// above any activation of the zoo's models, and a bound on what one frame makes a receiver hold.
pub const MAX_PAYLOAD: u64 = 256 << 20;

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_payload: MAX_PAYLOAD,
            stall: std::time::Duration::from_secs(30),
        }
    }
}

/// One message on the wire. For tensors, `payload` is the raw little-endian data of `shape`
/// elements of `dtype`.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// What the frame carries.
    pub kind: FrameKind,
    /// The session the frame belongs to (a device's run; 0 when none, as for pings): frame
    /// numbers count within a session, and receivers keep sessions apart by it.
    pub session: u128,
    /// Which frame of the input stream this belongs to.
    pub frame: u64,
    /// Tensor name for `Tensor` frames; for `Error` frames, who failed (the runtime sends its node
    /// name); empty for probes. At most 4096 bytes of UTF-8.
    pub name: String,
    /// Element type of the payload (`U8` for error and probe frames).
    pub dtype: DType,
    /// Tensor dimensions, at most 8; for error and probe frames, the payload length.
    pub shape: Vec<u64>,
    /// The data: tensor elements, an error message, or probe filler.
    pub payload: Vec<u8>,
}

impl Frame {
    /// A `Tensor` frame. `payload` must hold the little-endian elements of `shape` in `dtype`; the
    /// receiver refuses one that does not.
    pub fn tensor(
        frame: u64,
        name: &str,
        dtype: DType,
        shape: Vec<u64>,
        payload: Vec<u8>,
    ) -> Frame {
        Frame {
            kind: FrameKind::Tensor,
            session: 0,
            frame,
            name: name.into(),
            dtype,
            shape,
            payload,
        }
    }

    /// `bytes` of filler from node `sender` (its name travels as the frame's), to measure the
    /// link it crosses where it arrives.
    pub fn probe_from(sender: &str, bytes: usize) -> Frame {
        Frame {
            name: sender.to_string(),
            ..Frame::probe(bytes)
        }
    }

    /// `bytes` of anonymous filler, to measure the link it crosses.
    pub fn probe(bytes: usize) -> Frame {
        Frame {
            kind: FrameKind::Probe,
            session: 0,
            frame: 0,
            name: String::new(),
            dtype: DType::U8,
            shape: vec![bytes as u64],
            payload: vec![0; bytes],
        }
    }

    /// An `Error` frame: the sender failed on `frame`, and `message` travels as the UTF-8
    /// payload, cut to [`crate::MAX_ERROR_PAYLOAD`] bytes (what a receiver takes).
    pub fn error(frame: u64, name: &str, message: &str) -> Frame {
        let mut end = message.len().min(crate::MAX_ERROR_PAYLOAD as usize);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        let bytes = message.as_bytes()[..end].to_vec();
        Frame {
            kind: FrameKind::Error,
            session: 0,
            frame,
            name: name.into(),
            dtype: DType::U8,
            shape: vec![bytes.len() as u64],
            payload: bytes,
        }
    }

    /// The same frame, in session `session`.
    pub fn in_session(self, session: u128) -> Frame {
        Frame { session, ..self }
    }

    /// The header: magic, version, kind, dtype, session, frame, name length, rank, name,
    /// shape, payload length.
    pub(crate) fn header(&self) -> Result<Vec<u8>, NetError> {
        if self.name.len() > MAX_NAME {
            return Err(NetError::Malformed(format!(
                "name of {} bytes (limit {MAX_NAME})",
                self.name.len()
            )));
        }
        if self.shape.len() > MAX_RANK {
            return Err(NetError::Malformed(format!(
                "rank {} (limit {MAX_RANK})",
                self.shape.len()
            )));
        }
        let mut h = Vec::with_capacity(32 + self.name.len() + 8 * self.shape.len());
        h.extend_from_slice(&MAGIC);
        h.extend_from_slice(&PROTOCOL_VERSION.to_le_bytes());
        h.push(self.kind as u8);
        h.push(self.dtype.onnx_code() as u8);
        h.extend_from_slice(&self.session.to_le_bytes());
        h.extend_from_slice(&self.frame.to_le_bytes());
        h.extend_from_slice(&(self.name.len() as u16).to_le_bytes());
        h.push(self.shape.len() as u8);
        h.extend_from_slice(self.name.as_bytes());
        for d in &self.shape {
            h.extend_from_slice(&d.to_le_bytes());
        }
        h.extend_from_slice(&(self.payload.len() as u64).to_le_bytes());
        Ok(h)
    }
}

/// The fixed part of the header, before the name and shape.
pub(crate) const FIXED: usize = 4 + 2 + 1 + 1 + 16 + 8 + 2 + 1;

pub(crate) struct Fixed {
    pub kind: FrameKind,
    pub dtype: DType,
    pub session: u128,
    pub frame: u64,
    pub name_len: usize,
    pub rank: usize,
}

pub(crate) fn parse_fixed(b: &[u8; FIXED]) -> Result<Fixed, NetError> {
    let magic: [u8; 4] = b[0..4].try_into().expect("4 bytes");
    if magic != MAGIC {
        return Err(NetError::BadMagic(magic));
    }
    let version = u16::from_le_bytes([b[4], b[5]]);
    if version != PROTOCOL_VERSION {
        return Err(NetError::Version {
            peer: version,
            ours: PROTOCOL_VERSION,
        });
    }
    let kind = FrameKind::from_u8(b[6])?;
    let dtype = DType::from_onnx(b[7] as i32)
        .ok_or_else(|| NetError::Malformed(format!("unknown element type {}", b[7])))?;
    let session = u128::from_le_bytes(b[8..24].try_into().expect("16 bytes"));
    let frame = u64::from_le_bytes(b[24..32].try_into().expect("8 bytes"));
    let name_len = u16::from_le_bytes([b[32], b[33]]) as usize;
    let rank = b[34] as usize;
    if name_len > MAX_NAME || rank > MAX_RANK {
        return Err(NetError::Malformed(format!(
            "name length {name_len} or rank {rank} over the limits"
        )));
    }
    Ok(Fixed {
        kind,
        dtype,
        session,
        frame,
        name_len,
        rank,
    })
}

/// Checks that a tensor payload matches its shape and type.
pub(crate) fn check_payload(dtype: DType, shape: &[u64], len: u64) -> Result<(), NetError> {
    let elems = shape
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| NetError::Malformed(format!("shape {shape:?} overflows")))?;
    let expected = elems
        .checked_mul(dtype.size())
        .ok_or_else(|| NetError::Malformed(format!("shape {shape:?} overflows")))?;
    if expected != len {
        return Err(NetError::Malformed(format!(
            "payload of {len} bytes but shape {shape:?} of {dtype} needs {expected}"
        )));
    }
    Ok(())
}
