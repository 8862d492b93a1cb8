//! Where layer times come from, as command-line options.

use crate::progress_bar::Bar;
use anyhow::Result;
use std::path::PathBuf;
use tiersplit_cost::Profile;
use tiersplit_exec::EngineSpec;
use tiersplit_onnx::OnnxModel;
use tiersplit_session::{ModelSource, ProfileSource};

#[derive(clap::Args, Clone)]
pub struct ProfileArgs {
    /// Reference profile from `tiersplit profile`; without it the model is profiled now.
    #[arg(long, conflicts_with = "estimate_gflops")]
    pub profile: Option<PathBuf>,
    /// Skip measuring: estimate layer times from FLOPs at this many GFLOP/s (labelled as such).
    #[arg(long)]
    pub estimate_gflops: Option<f64>,
}

impl ProfileArgs {
    fn source(&self, engine: EngineSpec) -> ProfileSource {
        match (&self.profile, self.estimate_gflops) {
            (Some(path), _) => ProfileSource::File(path.clone()),
            (None, Some(gflops)) => ProfileSource::Estimate { gflops },
            (None, None) => ProfileSource::Measure {
                repeats: 3,
                segments: 8,
                engine,
            },
        }
    }

    /// The reference profile of `model`, measured now on `engine` (with a progress bar) when
    /// no file or estimate is given.
    pub fn resolve(
        &self,
        source: &ModelSource,
        model: &OnnxModel,
        engine: EngineSpec,
    ) -> Result<Profile> {
        Ok(self
            .source(engine)
            .resolve(source, model, &mut Bar::new())?)
    }
}
