use std::time::Duration;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum NetError {
    #[error("timed out after {0:?} waiting for {1}")]
    Timeout(Duration, &'static str),
    #[error("peer closed the connection {0}")]
    Closed(&'static str),
    #[error("not a tiersplit frame (bad magic {0:02x?}): the peer speaks another protocol or sent garbage")]
    BadMagic([u8; 4]),
    #[error("peer speaks protocol version {peer}, this node speaks {ours}")]
    Version { peer: u16, ours: u16 },
    #[error("frame of {bytes} bytes exceeds the limit of {limit} bytes")]
    TooLarge { bytes: u64, limit: u64 },
    #[error("malformed frame: {0}")]
    Malformed(String),
    #[error("i/o error")]
    Io(#[from] std::io::Error),
}
