use thiserror::Error;

#[derive(Debug, Error)]
pub enum RuntimeError {
    #[error("worker {worker}: {source}")]
    Net {
        worker: String,
        source: tiersplit_net::NetError,
    },
    #[error("worker {worker} reported: {message}")]
    Remote { worker: String, message: String },
    #[error("worker {worker} closed the connection")]
    Closed { worker: String },
    #[error("worker {worker} broke the protocol: {message}")]
    Protocol { worker: String, message: String },
    #[error("cannot reach worker {worker}: {message}")]
    Connect { worker: String, message: String },
    #[error("frame {frame} not answered within {timeout:?}{}", if dead.is_empty() { String::new() } else { format!("; not answering a ping: {}", dead.join(", ")) })]
    Unanswered {
        frame: u64,
        timeout: std::time::Duration,
        dead: Vec<String>,
    },
    #[error(transparent)]
    Exec(#[from] tiersplit_exec::ExecError),
}
