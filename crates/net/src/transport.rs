use crate::frame::{check_payload, parse_fixed, FIXED};
use crate::{Frame, FrameKind, Limits, NetError};
use std::io::IoSlice;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::timeout;

/// Writes one frame (header and payload in one vectored write) within `limit`.
pub async fn write_frame<W: AsyncWrite + Unpin>(
    w: &mut W,
    frame: &Frame,
    limit: Duration,
) -> Result<(), NetError> {
    let header = frame.header()?;
    let write = async {
        let mut bufs = [IoSlice::new(&header), IoSlice::new(&frame.payload)];
        let mut slices: &mut [IoSlice<'_>] = &mut bufs;
        while !slices.is_empty() {
            let n = w.write_vectored(slices).await?;
            if n == 0 {
                return Err(NetError::Closed("while sending"));
            }
            IoSlice::advance_slices(&mut slices, n);
        }
        w.flush().await?;
        Ok(())
    };
    timeout(limit, write)
        .await
        .map_err(|_| NetError::Timeout(limit, "the peer to accept a frame"))?
}

async fn read_exact_or_closed<R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut [u8],
    what: &'static str,
) -> Result<(), NetError> {
    match r.read_exact(buf).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(NetError::Closed(what)),
        Err(e) => Err(e.into()),
    }
}

/// Reads one frame within `limit`, refusing malformed or oversized frames before allocating.
/// Returns `Ok(None)` when the peer closed the connection cleanly between frames.
pub async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
    limits: Limits,
    limit: Duration,
) -> Result<Option<Frame>, NetError> {
    let read = async {
        let mut fixed = [0u8; FIXED];
        let first = r.read(&mut fixed[..1]).await?;
        if first == 0 {
            return Ok(None);
        }
        read_exact_or_closed(r, &mut fixed[1..], "in the middle of a frame header").await?;
        let f = parse_fixed(&fixed)?;
        let mut rest = vec![0u8; f.name_len + 8 * f.rank + 8];
        read_exact_or_closed(r, &mut rest, "in the middle of a frame header").await?;
        let name = String::from_utf8(rest[..f.name_len].to_vec())
            .map_err(|_| NetError::Malformed("tensor name is not UTF-8".into()))?;
        let shape: Vec<u64> = rest[f.name_len..f.name_len + 8 * f.rank]
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect();
        let len = u64::from_le_bytes(rest[f.name_len + 8 * f.rank..].try_into().expect("8 bytes"));
        if len > limits.max_payload {
            return Err(NetError::TooLarge {
                bytes: len,
                limit: limits.max_payload,
            });
        }
        if f.kind == FrameKind::Tensor {
            check_payload(f.dtype, &shape, len)?;
        }
        let mut payload = vec![0u8; len as usize];
        read_exact_or_closed(r, &mut payload, "in the middle of a frame payload").await?;
        Ok(Some(Frame {
            kind: f.kind,
            frame: f.frame,
            name,
            dtype: f.dtype,
            shape,
            payload,
        }))
    };
    timeout(limit, read)
        .await
        .map_err(|_| NetError::Timeout(limit, "a frame from the peer"))?
}
