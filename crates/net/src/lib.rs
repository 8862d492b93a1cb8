//! Moving tensors between tiersplit nodes.
//!
//! The data plane is a plain length-prefixed binary frame over TCP ([`Frame`]): a fixed header
//! (magic, protocol version, kind, session, frame number, tensor name, element type, shape) followed by
//! the raw little-endian payload, written with one vectored write and read straight into its
//! final buffer. Every read and write is bounded by a timeout, and a frame that is malformed,
//! from another protocol version or larger than the configured limit is refused with an error
//! that says which, never a panic or a hang.
//!
//! Why not one gRPC message per tensor: measured on this project's machines, a single large
//! protobuf message crawls (about 250 MiB/s on loopback) and needs the default 4 MiB limit
//! raised, streaming 1 MiB chunks reaches about 1 GiB/s, and a raw length-prefixed stream about
//! 1.4 GiB/s. Tensors of a split DNN are megabytes each, so they take the raw stream; the control
//! plane (deployment, statistics) is gRPC, in `tiersplit-runtime`, on the same port.

#![deny(clippy::print_stdout, clippy::print_stderr)]
#![warn(missing_docs)]

mod error;
mod frame;
mod transport;

pub use error::NetError;
pub use frame::{Frame, FrameKind, Limits, MAX_PAYLOAD, PROTOCOL_VERSION};
pub use transport::{
    read_body, read_frame, read_head, write_frame, write_header, write_payload, Head,
    MAX_ERROR_PAYLOAD,
};
