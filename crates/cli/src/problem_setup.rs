//! Model + scenario + profile -> the planners' `Problem`: shared by `plan`, `run` and the demo.

use crate::commands::profile::measure;
use crate::model_source::ModelSource;
use anyhow::{Context, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tiersplit_cost::{Problem, Profile, Scenario};
use tiersplit_onnx::OnnxModel;

/// Where layer times come from.
#[derive(clap::Args, Clone)]
pub struct ProfileArgs {
    /// Reference profile from `tiersplit profile`; without it the model is profiled now.
    #[arg(long, conflicts_with = "estimate_gflops")]
    pub profile: Option<PathBuf>,
    /// Skip measuring: estimate layer times from FLOPs at this many GFLOP/s (labelled as such).
    #[arg(long)]
    pub estimate_gflops: Option<f64>,
}

pub fn read_scenario(path: &Path) -> Result<Scenario> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Scenario::from_toml(&text).with_context(|| format!("in {}", path.display()))
}

pub fn reference_profile(
    args: &ProfileArgs,
    source: &ModelSource,
    model: &OnnxModel,
) -> Result<Profile> {
    Ok(match (&args.profile, args.estimate_gflops) {
        (Some(path), _) => Profile::from_json(
            &std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?,
        )
        .with_context(|| format!("in {}", path.display()))?,
        (None, Some(gflops)) => Profile::estimate(&model.graph, gflops),
        (None, None) => measure(source, model, 3, 8)?,
    })
}

/// The problem for `model` on `scenario` (read from `scenario_path`, against which node
/// profile paths are resolved), with layer times from `profile` and each layer's tiling
/// geometry.
pub fn problem(
    model: &OnnxModel,
    scenario: &Scenario,
    scenario_path: &Path,
    profile: &Profile,
) -> Result<Problem> {
    let base = scenario_path.parent().unwrap_or(Path::new("."));
    let mut node_profiles = HashMap::new();
    for n in &scenario.nodes {
        if let Some(rel) = &n.profile {
            let path = base.join(rel);
            let text = std::fs::read_to_string(&path).with_context(|| {
                format!(
                    "reading the profile of node {} ({})",
                    n.name,
                    path.display()
                )
            })?;
            node_profiles.insert(
                n.name.clone(),
                Profile::from_json(&text).with_context(|| format!("in {}", path.display()))?,
            );
        }
    }
    let mut problem = Problem::with_node_profiles(&model.graph, scenario, profile, &node_profiles)?;
    problem.set_spatial(model.spatial_ops())?;
    Ok(problem)
}
