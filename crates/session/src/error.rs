use std::path::PathBuf;
use thiserror::Error;

/// Everything that can go wrong setting up, compiling or running a session, with the layer
/// it came from.
#[derive(Debug, Error)]
pub enum SessionError {
    /// Reading or writing a file failed. The message carries the cause, which is not also
    /// the error's `source` (an error chain would print it twice).
    #[error("{}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system reported.
        error: std::io::Error,
    },
    /// Importing the ONNX model failed.
    #[error(transparent)]
    Onnx(#[from] tiersplit_onnx::OnnxError),
    /// An unknown zoo model was named.
    #[error(transparent)]
    Zoo(#[from] tiersplit_zoo::ZooError),
    /// The model graph or a partitioning of it is not valid.
    #[error(transparent)]
    Graph(#[from] tiersplit_graph::GraphError),
    /// The scenario, a profile or the tiling geometry is not valid.
    #[error(transparent)]
    Cost(#[from] tiersplit_cost::CostError),
    /// Planning failed, or a plan is not valid for the problem.
    #[error(transparent)]
    Plan(#[from] tiersplit_plan::PlanError),
    /// The trace is not valid or does not fit the scenario.
    #[error(transparent)]
    Trace(#[from] tiersplit_adapt::TraceError),
    /// Loading or running a model on the engine failed.
    #[error(transparent)]
    Exec(#[from] tiersplit_exec::ExecError),
    /// The cluster failed: a worker unreachable, failing or not answering in time.
    #[error(transparent)]
    Runtime(#[from] tiersplit_runtime::RuntimeError),
    /// Making, reading or using certificates failed.
    #[error(transparent)]
    Tls(#[from] tiersplit_runtime::tls::TlsError),
    /// Reading or writing JSON failed.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// A request that cannot be honoured, said in words (a bad argument, a missing input).
    #[error("{0}")]
    Invalid(String),
    /// Background work (planning, compiling) that died.
    #[error("background task failed: {0}")]
    Task(String),
    /// A run of frames ended early on `cause`. Its report holds every frame it fed, answered
    /// or failed: those still in flight failed with the cause.
    #[error("{cause}")]
    RunEnded {
        /// Why the run ended.
        cause: Box<SessionError>,
        /// What the run did until then.
        report: Box<crate::LoopReport>,
    },
    /// A measured run ([`crate::run_plan`]) ended early on `cause`, with what it measured
    /// until then (every frame fed answered or failed).
    #[error("{cause}")]
    MeasuredRunEnded {
        /// Why the run ended.
        cause: Box<SessionError>,
        /// The measurements of the frames until then.
        measured: Box<crate::Measured>,
    },
    /// What was being done when `cause` happened. The message carries the cause, so that
    /// every way of printing it (`to_string`, reports, JSON) is whole; it is not also given as
    /// the error's `source`, which would print it twice in an error chain.
    #[error("{context}: {cause}")]
    Context {
        /// What was being done.
        context: String,
        /// The error that happened meanwhile.
        cause: Box<SessionError>,
    },
}

/// The library's result.
pub type Result<T, E = SessionError> = std::result::Result<T, E>;

impl SessionError {
    /// A request that cannot be honoured.
    pub fn invalid(message: impl Into<String>) -> SessionError {
        SessionError::Invalid(message.into())
    }

    /// What a measured run that ended early had measured, however deep in context.
    pub fn partial_measured(&self) -> Option<&crate::Measured> {
        match self {
            SessionError::MeasuredRunEnded { measured, .. } => Some(measured),
            SessionError::Context { cause, .. } => cause.partial_measured(),
            _ => None,
        }
    }

    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, error: std::io::Error) -> SessionError {
        SessionError::Io {
            path: path.into(),
            error,
        }
    }
}

/// Says what was being done when an error happened, as `anyhow`'s `context` does, keeping
/// the typed cause.
pub trait Context<T> {
    /// On error, says it happened while doing `what`.
    fn context(self, what: impl Into<String>) -> Result<T>;
    /// As [`Context::context`], with `what` made only on error.
    fn with_context<S: Into<String>>(self, what: impl FnOnce() -> S) -> Result<T>;
}

impl<T, E: Into<SessionError>> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl Into<String>) -> Result<T> {
        self.map_err(|e| SessionError::Context {
            context: what.into(),
            cause: Box::new(e.into()),
        })
    }

    fn with_context<S: Into<String>>(self, what: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|e| SessionError::Context {
            context: what().into(),
            cause: Box::new(e.into()),
        })
    }
}

/// Reads a file, naming it on failure.
pub fn read(path: &std::path::Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| SessionError::io(path, e))
}

/// Reads a UTF-8 file, naming it on failure.
pub fn read_to_string(path: &std::path::Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| SessionError::io(path, e))
}
