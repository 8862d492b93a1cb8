use crate::{CostError, Nanos};
use serde::{Deserialize, Serialize};
use tiersplit_graph::ModelGraph;

/// Latency of one layer on the reference machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerTime {
    /// The layer's name in the model graph, which [`Profile::times_for`] checks.
    pub name: String,
    /// Median time of the layer run on its own.
    pub measured_ms: f64,
    /// The measured time scaled so that layers of each calibration segment add up to the
    /// segment's measured time: what planners use.
    pub ms: f64,
}

/// Per-layer latencies of one model on one machine and engine.
///
/// Layer times measured one by one do not add up to the time of the layers run together (the
/// engine fuses operators and keeps data in cache across them), so a profile also measures whole
/// segments and rescales the layers of each segment to match it (the calibration QDMP argues
/// for).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// Format tag: [`PROFILE_FORMAT`].
    pub format: String,
    /// Name of the model profiled.
    pub model: String,
    /// Host name and CPU model of the machine measured, or "estimate".
    pub machine: String,
    /// Engine and version that ran the layers (`none` for an estimate).
    pub engine: String,
    /// Engine threads used while measuring.
    pub threads: u32,
    /// Timed runs per measurement, after a warm-up (0 for an estimate).
    pub repeats: u32,
    /// Median time of the unsplit model run whole, in milliseconds.
    pub whole_model_ms: f64,
    /// Per-layer times, in graph order.
    pub layers: Vec<LayerTime>,
}

/// Format tag of the profile JSON this version reads and writes.
pub const PROFILE_FORMAT: &str = "tiersplit-profile/1";

impl Profile {
    /// A stand-in when nothing was measured: time proportional to FLOPs at `gflops` GFLOP/s,
    /// plus 10 us per layer. Clearly labelled as an estimate in `machine`.
    pub fn estimate(graph: &ModelGraph, gflops: f64) -> Profile {
        let layers: Vec<LayerTime> = graph
            .layers
            .iter()
            .map(|l| {
                let ms = l.flops.0 as f64 / (gflops * 1e6) + 0.01;
                LayerTime {
                    name: l.name.clone(),
                    measured_ms: ms,
                    ms,
                }
            })
            .collect();
        Profile {
            format: PROFILE_FORMAT.into(),
            model: graph.name.clone(),
            machine: format!("estimate ({gflops} GFLOP/s)"),
            engine: "none".into(),
            threads: 1,
            repeats: 0,
            whole_model_ms: layers.iter().map(|l| l.ms).sum(),
            layers,
        }
    }

    /// The same profile on a machine `factor` times slower (every time multiplied).
    pub fn scaled(&self, factor: f64) -> Profile {
        let mut p = self.clone();
        p.whole_model_ms *= factor;
        for l in &mut p.layers {
            l.ms *= factor;
            l.measured_ms *= factor;
        }
        p
    }

    /// Parses a profile from JSON; fails when its `format` is not [`PROFILE_FORMAT`].
    pub fn from_json(text: &str) -> Result<Profile, CostError> {
        let p: Profile =
            serde_json::from_str(text).map_err(|e| CostError::Profile(e.to_string()))?;
        if p.format != PROFILE_FORMAT {
            return Err(CostError::Profile(format!(
                "format '{}' is not {PROFILE_FORMAT}",
                p.format
            )));
        }
        Ok(p)
    }

    /// Layer times in graph order; every layer of `graph` must be in the profile.
    pub fn times_for(&self, graph: &ModelGraph) -> Result<Vec<Nanos>, CostError> {
        if self.layers.len() != graph.layers.len() {
            return Err(CostError::Profile(format!(
                "profile of '{}' has {} layers, the model has {}: profile this model",
                self.model,
                self.layers.len(),
                graph.layers.len()
            )));
        }
        graph
            .layers
            .iter()
            .zip(&self.layers)
            .map(|(l, t)| {
                if l.name != t.name {
                    return Err(CostError::Profile(format!(
                        "layer {} is '{}' in the model but '{}' in the profile",
                        l.id, l.name, t.name
                    )));
                }
                if !(t.ms.is_finite() && t.ms >= 0.0) {
                    return Err(CostError::Profile(format!(
                        "layer '{}' has time {}",
                        t.name, t.ms
                    )));
                }
                Ok(Nanos::from_millis_f64(t.ms))
            })
            .collect()
    }
}
