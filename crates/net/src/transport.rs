use crate::frame::{check_payload, parse_fixed, FIXED, MAGIC};
use crate::{Frame, FrameKind, Limits, NetError};
use bytes::BufMut;
use std::io::IoSlice;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::timeout;

/// Writes one frame (header and payload in one vectored write). `limit` bounds every wait for
/// the peer to take more bytes, not the whole frame: a slow link that keeps moving is never cut.
pub async fn write_frame<W: AsyncWrite + Unpin>(
    w: &mut W,
    frame: &Frame,
    limit: Duration,
) -> Result<(), NetError> {
    let header = frame.header()?;
    let mut bufs = [IoSlice::new(&header), IoSlice::new(&frame.payload)];
    write_within(w, &mut bufs, limit).await
}

/// Writes all of `bufs` (vectored), each wait for the peer to take more within `limit`, then
/// flushes.
async fn write_within<W: AsyncWrite + Unpin>(
    w: &mut W,
    bufs: &mut [IoSlice<'_>],
    limit: Duration,
) -> Result<(), NetError> {
    let late = || NetError::Timeout(limit, "the peer to accept more of a frame");
    let mut slices = bufs;
    // Empty slices are nothing to write: a write of only those would return 0, read as closed.
    while slices.iter().any(|s| !s.is_empty()) {
        let n = timeout(limit, w.write_vectored(slices))
            .await
            .map_err(|_| late())??;
        if n == 0 {
            return Err(NetError::Closed("while sending"));
        }
        IoSlice::advance_slices(&mut slices, n);
    }
    timeout(limit, w.flush()).await.map_err(|_| late())??;
    Ok(())
}

/// Writes a frame's header alone: its payload follows in pieces ([`write_payload`]), as a
/// paced sender releases them, so a paced link's last bytes leave when its pace says rather
/// than a whole frame's write later. `limit` bounds every wait, as in [`write_frame`].
pub async fn write_header<W: AsyncWrite + Unpin>(
    w: &mut W,
    frame: &Frame,
    limit: Duration,
) -> Result<(), NetError> {
    write_within(w, &mut [IoSlice::new(&frame.header()?)], limit).await
}

/// Writes the next piece of the payload of the frame whose header [`write_header`] wrote; the
/// pieces must add up to the payload the header announced.
pub async fn write_payload<W: AsyncWrite + Unpin>(
    w: &mut W,
    piece: &[u8],
    limit: Duration,
) -> Result<(), NetError> {
    write_within(w, &mut [IoSlice::new(piece)], limit).await
}

/// Fills `buf`, each read within `stall`.
async fn read_exact_or_closed<R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut [u8],
    stall: Duration,
    what: &'static str,
) -> Result<(), NetError> {
    let mut got = 0;
    while got < buf.len() {
        let n = timeout(stall, r.read(&mut buf[got..]))
            .await
            .map_err(|_| NetError::Timeout(stall, "the rest of a frame"))??;
        if n == 0 {
            return Err(NetError::Closed(what));
        }
        got += n;
    }
    Ok(())
}

/// Largest error message a frame carries (a node's reason for failing a frame, logged and
/// passed on to the device).
pub const MAX_ERROR_PAYLOAD: u64 = 64 << 10;

/// What a payload may take before its sender has sent it: a frame that claims more gets the
/// rest of its buffer only once this much has arrived, so half-sent frames that claim large
/// payloads cost their receiver what they sent, not what they claimed.
const FIRST_PAYLOAD_CHUNK: usize = 4 << 20;

/// Reads a payload of `len` bytes into memory taken as the data arrives: the first
/// [`FIRST_PAYLOAD_CHUNK`], then the rest at once (one reallocation, and no zeroing). Each read's
/// byte count goes to `arrived` as it lands.
async fn read_payload<R: AsyncRead + Unpin>(
    r: &mut R,
    len: usize,
    stall: Duration,
    arrived: &mut (dyn FnMut(usize) + Send),
) -> Result<Vec<u8>, NetError> {
    let mut payload = Vec::with_capacity(len.min(FIRST_PAYLOAD_CHUNK));
    while payload.len() < len {
        if payload.len() == payload.capacity() {
            // Fallible: a claim the machine cannot hold fails this connection, not the node.
            payload
                .try_reserve_exact(len - payload.len())
                .map_err(|_| {
                    NetError::Malformed(format!("no memory for a payload of {len} bytes"))
                })?;
        }
        let want = len - payload.len();
        let n = timeout(stall, r.read_buf(&mut (&mut payload).limit(want)))
            .await
            .map_err(|_| NetError::Timeout(stall, "the rest of a frame"))??;
        if n == 0 {
            return Err(NetError::Closed("in the middle of a frame payload"));
        }
        arrived(n);
    }
    Ok(payload)
}

/// A frame's header, read and checked, its payload still on the wire: what a receiver needs to
/// know before it reads the payload ([`read_body`]), such as which link it is arriving on.
#[derive(Debug, Clone, PartialEq)]
pub struct Head {
    /// What the frame carries.
    pub kind: FrameKind,
    /// The session the frame belongs to.
    pub session: u128,
    /// Number of the frame of the stream.
    pub frame: u64,
    /// Tensor name (a probe's: its sender).
    pub name: String,
    /// Element type of a tensor payload.
    pub dtype: tiersplit_graph::DType,
    /// Shape of a tensor payload.
    pub shape: Vec<u64>,
    /// Payload bytes that follow, within the limits the header was read with.
    pub len: u64,
}

/// Reads one frame, refusing malformed or oversized frames before allocating. `limit` bounds
/// the wait for a frame to begin; once it has, every pause is bounded by `limits.stall`.
/// Returns `Ok(None)` when the peer closed the connection cleanly between frames.
pub async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
    limits: Limits,
    limit: Duration,
) -> Result<Option<Frame>, NetError> {
    match read_head(r, limits, limit).await? {
        Some(head) => Ok(Some(read_body(r, head, limits.stall, &mut |_| {}).await?)),
        None => Ok(None),
    }
}

/// Reads and checks one frame's header, as [`read_frame`] does, leaving its payload to
/// [`read_body`]. Returns `Ok(None)` when the peer closed the connection cleanly between
/// frames.
pub async fn read_head<R: AsyncRead + Unpin>(
    r: &mut R,
    limits: Limits,
    limit: Duration,
) -> Result<Option<Head>, NetError> {
    let mut fixed = [0u8; FIXED];
    let first = timeout(limit, r.read(&mut fixed[..1]))
        .await
        .map_err(|_| NetError::Timeout(limit, "a frame from the peer"))??;
    if first == 0 {
        return Ok(None);
    }
    let stall = limits.stall;
    let header = "in the middle of a frame header";
    // The magic first, so a peer speaking something else is told so even when it sends less
    // than a header.
    read_exact_or_closed(r, &mut fixed[1..4], stall, header).await?;
    if fixed[..4] != MAGIC {
        return Err(NetError::BadMagic(fixed[..4].try_into().expect("4 bytes")));
    }
    read_exact_or_closed(r, &mut fixed[4..], stall, header).await?;
    let f = parse_fixed(&fixed)?;
    let mut rest = vec![0u8; f.name_len + 8 * f.rank + 8];
    read_exact_or_closed(r, &mut rest, stall, header).await?;
    let name = String::from_utf8(rest[..f.name_len].to_vec())
        .map_err(|_| NetError::Malformed("tensor name is not UTF-8".into()))?;
    let shape: Vec<u64> = rest[f.name_len..f.name_len + 8 * f.rank]
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect();
    let len = u64::from_le_bytes(rest[f.name_len + 8 * f.rank..].try_into().expect("8 bytes"));
    let limit = match f.kind {
        FrameKind::Error => MAX_ERROR_PAYLOAD.min(limits.max_payload),
        _ => limits.max_payload,
    };
    if len > limit {
        return Err(NetError::TooLarge { bytes: len, limit });
    }
    if f.kind == FrameKind::Tensor {
        check_payload(f.dtype, &shape, len)?;
    }
    Ok(Some(Head {
        kind: f.kind,
        session: f.session,
        frame: f.frame,
        name,
        dtype: f.dtype,
        shape,
        len,
    }))
}

/// Reads the payload `head` announced, each pause within `stall`, telling `arrived` the size
/// of every read as it lands (a receiver times the link by it), and returns the whole frame.
pub async fn read_body<R: AsyncRead + Unpin>(
    r: &mut R,
    head: Head,
    stall: Duration,
    arrived: &mut (dyn FnMut(usize) + Send),
) -> Result<Frame, NetError> {
    let payload = read_payload(r, head.len as usize, stall, arrived).await?;
    Ok(Frame {
        kind: head.kind,
        session: head.session,
        frame: head.frame,
        name: head.name,
        dtype: head.dtype,
        shape: head.shape,
        payload,
    })
}
