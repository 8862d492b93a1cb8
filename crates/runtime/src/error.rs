use thiserror::Error;

/// Errors of running a deployment; each names the node it concerns, or is an engine error.
#[derive(Debug, Error)]
pub enum RuntimeError {
    /// A data-plane transfer with a node failed.
    #[error("worker {worker}: {source}")]
    Net {
        /// Name of the node.
        worker: String,
        /// The transport error.
        source: tiersplit_net::NetError,
    },
    /// A node reported an error: a control call it failed (the gRPC status) or a message it sent.
    #[error("worker {worker} reported: {message}")]
    Remote {
        /// Name of the node.
        worker: String,
        /// What it reported.
        message: String,
    },
    /// A node closed its connection.
    #[error("worker {worker} closed the connection")]
    Closed {
        /// Name of the node.
        worker: String,
    },
    /// A node or the deployment broke the protocol: a node calls itself by another name, sends
    /// statistics or observations that do not decode, a model has no bytes, or a deployment fails
    /// `Deployment::check`.
    #[error("worker {worker} broke the protocol: {message}")]
    Protocol {
        /// Name of the node concerned (the device's own for a deployment that fails its check).
        worker: String,
        /// What was wrong.
        message: String,
    },
    /// The device could not listen on its address or reach a node's control endpoint (bad address,
    /// TLS setup or connection failure).
    #[error("cannot reach worker {worker}: {message}")]
    Connect {
        /// Name of the node (the device's own when it cannot listen).
        worker: String,
        /// What failed.
        message: String,
    },
    /// A frame got no answer (outputs or failure) within the timeout.
    #[error("frame {frame} not answered within {timeout:?}{}", if dead.is_empty() { String::new() } else { format!("; not answering a ping: {}", dead.join(", ")) })]
    Unanswered {
        /// Number of the oldest frame still unanswered.
        frame: u64,
        /// The timeout the frame exceeded.
        timeout: std::time::Duration,
        /// Remote nodes that did not answer a hello within a second; empty when all did.
        dead: Vec<String>,
    },
    /// An inference engine error: loading or running a model, or cropping and stitching tensors.
    #[error(transparent)]
    Exec(#[from] tiersplit_exec::ExecError),
}
