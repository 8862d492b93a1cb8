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
    /// A node does not hold models of the deployment it was asked to start (it evicted them
    /// from its cache, or restarted, after the upload): upload and deploy again.
    #[error("worker {worker} lacks models: {message}")]
    MissingModels {
        /// Name of the node.
        worker: String,
        /// Which models.
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

/// Why a node refused a request of the device (or of a caller claiming to be one).
#[derive(Debug, Clone, Error)]
pub enum NodeError {
    /// The request is malformed or inconsistent (a bad deployment, emulation or probe).
    #[error("{0}")]
    Invalid(String),
    /// The caller may not do this: it is not the session's device, or not a node of the
    /// deployment it sends for.
    #[error("{0}")]
    Denied(String),
    /// The session named is not one this node serves.
    #[error("{0}")]
    NoSession(String),
    /// A bound is reached (sessions, model cache budget, uploads at once); try later or less.
    #[error("{0}")]
    Busy(String),
    /// The deployment names models this node does not hold (never uploaded, or evicted from
    /// its cache since): upload them and deploy again.
    #[error("node {node} does not hold model(s) {}", hashes.iter().map(|h| h.as_str()).collect::<Vec<_>>().join(", "))]
    MissingModels {
        /// The node's name.
        node: String,
        /// The models it lacks.
        hashes: Vec<crate::ModelHash>,
    },
}
