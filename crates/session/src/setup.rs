//! A model on a scenario, set up in one call: the `Problem` every planner solves, with each
//! node's own profile where the scenario names one and each layer's tiling geometry.

use crate::error::{read_to_string, Context, Result, SessionError};
use crate::profiler::{measure, Progress};
use crate::source::ModelSource;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tiersplit_cost::{Problem, Profile, Scenario, Tier};
use tiersplit_exec::EngineSpec;
use tiersplit_onnx::OnnxModel;

/// Reads a scenario TOML file.
pub fn read_scenario(path: &Path) -> Result<Scenario> {
    let text = read_to_string(path)?;
    Scenario::from_toml(&text).with_context(|| format!("in {}", path.display()))
}

/// Reads a profile JSON file (from `tiersplit profile` or [`measure`]).
pub fn read_profile(path: &Path) -> Result<Profile> {
    let text = read_to_string(path)?;
    Profile::from_json(&text).with_context(|| format!("in {}", path.display()))
}

/// The measured profiles of the scenario's nodes that name one (`profile = "..."`), by node.
#[derive(Debug, Clone, Default)]
pub struct NodeProfiles(pub HashMap<String, Profile>);

impl NodeProfiles {
    /// Reads the profiles `scenario` names, relative to `base` (the scenario file's folder).
    pub fn read(scenario: &Scenario, base: &Path) -> Result<NodeProfiles> {
        let mut out = HashMap::new();
        for n in &scenario.nodes {
            if let Some(rel) = &n.profile {
                let path = base.join(rel);
                let p = read_profile(&path)
                    .with_context(|| format!("the profile of node {}", n.name))?;
                out.insert(n.name.clone(), p);
            }
        }
        Ok(NodeProfiles(out))
    }
}

/// A scenario and the node profiles it names: what a model is planned on.
#[derive(Debug, Clone)]
pub struct Setting {
    /// The nodes, their tiers and speeds, and the links between them.
    pub scenario: Scenario,
    /// The measured profiles the scenario's nodes name.
    pub node_profiles: NodeProfiles,
}

impl Setting {
    /// Reads a scenario file and the node profiles it names.
    pub fn read(path: &Path) -> Result<Setting> {
        let scenario = read_scenario(path)?;
        let base = path.parent().unwrap_or(Path::new("."));
        let node_profiles = NodeProfiles::read(&scenario, base)?;
        Ok(Setting {
            scenario,
            node_profiles,
        })
    }

    /// A scenario given as TOML text, whose nodes name no profile files.
    pub fn from_toml(text: &str) -> Result<Setting> {
        Ok(Setting::of(Scenario::from_toml(text)?))
    }

    /// A scenario without node profiles.
    pub fn of(scenario: Scenario) -> Setting {
        Setting {
            scenario,
            node_profiles: NodeProfiles::default(),
        }
    }

    /// The same node profiles on another scenario of the same nodes (a trace's phase).
    pub fn with_scenario(&self, scenario: Scenario) -> Setting {
        Setting {
            scenario,
            node_profiles: self.node_profiles.clone(),
        }
    }

    /// The name of the scenario's device node (the process that feeds frames).
    pub fn device_name(&self) -> Result<&str> {
        self.scenario
            .nodes
            .iter()
            .find(|n| n.tier == Tier::Device)
            .map(|n| n.name.as_str())
            .ok_or_else(|| SessionError::invalid("the scenario has no device"))
    }

    /// The problem of `model` here, with layer times from the reference `profile` (scaled by
    /// each node's speed, or the node's own profile) and each layer's tiling geometry.
    pub fn problem(&self, model: &OnnxModel, profile: &Profile) -> Result<Problem> {
        let mut problem = Problem::with_node_profiles(
            &model.graph,
            &self.scenario,
            profile,
            &self.node_profiles.0,
        )?;
        problem.set_spatial(model.spatial_ops())?;
        Ok(problem)
    }
}

/// Where the reference layer times come from.
#[derive(Debug, Clone)]
pub enum ProfileSource {
    /// A profile file (from `tiersplit profile`).
    File(PathBuf),
    /// Estimated from FLOPs at this many GFLOP/s (labelled as an estimate).
    Estimate {
        /// The speed assumed for every layer (GFLOP/s).
        gflops: f64,
    },
    /// Measured here now on the real engine.
    Measure {
        /// Measured runs per layer and per segment, after a warm-up run.
        repeats: usize,
        /// Calibration segments (FLOP-balanced runs of layers measured whole).
        segments: usize,
        /// The engine to measure on (the device's, for a cluster on this machine).
        engine: EngineSpec,
    },
}

impl ProfileSource {
    /// The reference profile of `model`.
    pub fn resolve(
        &self,
        source: &ModelSource,
        model: &OnnxModel,
        progress: &mut dyn Progress,
    ) -> Result<Profile> {
        match self {
            ProfileSource::File(path) => read_profile(path),
            ProfileSource::Estimate { gflops } => Ok(Profile::estimate(&model.graph, *gflops)),
            ProfileSource::Measure {
                repeats,
                segments,
                engine,
            } => measure(source, model, *repeats, *segments, engine, progress),
        }
    }
}
