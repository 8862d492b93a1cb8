use thiserror::Error;

/// Why a scenario, profile or problem could not be built.
#[derive(Debug, Error)]
pub enum CostError {
    /// The scenario is not valid TOML or does not match the scenario format.
    #[error("scenario is not valid TOML: {0}")]
    Toml(String),
    /// A scenario field has an invalid value.
    #[error("scenario field {field}: {msg}")]
    Field {
        /// Path of the field, such as `links[2].rtt_ms`.
        field: String,
        /// What is wrong with it.
        msg: String,
    },
    /// A profile is malformed, of another format, or does not match the model or scenario.
    #[error("profile: {0}")]
    Profile(String),
    /// Tiling geometry was given for a different number of layers than the problem has.
    #[error("tiling geometry: {0}")]
    Geometry(String),
    /// A problem file is not JSON.
    #[error("problem file is not valid JSON: {0}")]
    ProblemJson(String),
    /// A problem field is missing or has an invalid value.
    #[error("problem field {field}: {msg}")]
    ProblemField {
        /// Path of the field, such as `layers[3].time`.
        field: String,
        /// What is wrong with it.
        msg: String,
    },
    /// Two nodes are joined neither directly nor through one relay node.
    #[error("no route from node {from} to node {to}: add a link between them")]
    NoRoute {
        /// Name of the sending node.
        from: String,
        /// Name of the receiving node.
        to: String,
    },
}
