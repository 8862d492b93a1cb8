use thiserror::Error;

#[derive(Debug, Error)]
pub enum CostError {
    #[error("scenario is not valid TOML: {0}")]
    Toml(String),
    #[error("scenario field {field}: {msg}")]
    Field { field: String, msg: String },
    #[error("profile: {0}")]
    Profile(String),
    #[error("tiling geometry: {0}")]
    Geometry(String),
    #[error("no route from node {from} to node {to}: add a link between them")]
    NoRoute { from: String, to: String },
}
