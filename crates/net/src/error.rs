use std::time::Duration;
use thiserror::Error;

/// Why a frame could not be sent or received; each variant says which case it was.
#[derive(Debug, Error)]
pub enum NetError {
    /// A read or write did not finish in time. Carries the time limit and what was awaited.
    #[error("timed out after {0:?} waiting for {1}")]
    Timeout(Duration, &'static str),
    /// The peer closed the connection while a frame was being written or in the middle of a frame.
    /// Carries where.
    #[error("peer closed the connection {0}")]
    Closed(&'static str),
    /// The first four bytes are not the frame magic `TSPL`: the peer is not a tiersplit data-plane
    /// endpoint. Carries the bytes received.
    #[error("not a tiersplit frame (bad magic {0:02x?}): the peer speaks another protocol or sent garbage")]
    BadMagic([u8; 4]),
    /// The peer's frame header has another [`crate::PROTOCOL_VERSION`].
    #[error("peer speaks protocol version {peer}, this node speaks {ours}")]
    Version {
        /// Version in the received header.
        peer: u16,
        /// This build's `PROTOCOL_VERSION`.
        ours: u16,
    },
    /// The header announces a payload over `Limits::max_payload`; refused before allocating it.
    #[error("frame of {bytes} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Payload length the header announces, in bytes.
        bytes: u64,
        /// The receiver's `Limits::max_payload`, in bytes.
        limit: u64,
    },
    /// The frame is inconsistent: unknown kind or element type, name or rank over its limit, a
    /// name that is not UTF-8, or a tensor payload whose length does not match its shape and type.
    /// The string says which.
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// An I/O error on the connection.
    #[error("i/o error")]
    Io(#[from] std::io::Error),
}
