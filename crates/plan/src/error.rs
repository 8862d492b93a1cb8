use thiserror::Error;

#[derive(Debug, Error, PartialEq)]
pub enum PlanError {
    #[error("{algorithm} needs a node of tier {tier}, and the scenario has none")]
    MissingTier {
        algorithm: &'static str,
        tier: &'static str,
    },
    #[error("plan places {placed} layers but the model has {layers}")]
    WrongLength { placed: usize, layers: usize },
    #[error("plan is invalid: layer '{consumer}' on {consumer_tier} reads '{tensor}' from {producer_tier}: data may not flow back toward the device")]
    Backward {
        tensor: String,
        consumer: String,
        consumer_tier: String,
        producer_tier: String,
    },
    #[error("tiled stage: {0}")]
    BadTiledStage(String),
    #[error("unknown algorithm '{0}' (known: {1})")]
    UnknownAlgorithm(String, String),
}
