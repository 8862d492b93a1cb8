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
    #[error(transparent)]
    Exec(#[from] tiersplit_exec::ExecError),
}
