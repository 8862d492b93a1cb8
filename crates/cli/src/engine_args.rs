//! Which engine a command runs models on, as command-line options.

use anyhow::Result;
use tiersplit_exec::{Accelerator, EngineKind, EngineSpec};

/// The engines the command line names.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum EngineChoice {
    /// ONNX Runtime when its library is found, tract otherwise.
    Auto,
    /// tract, pure Rust.
    Tract,
    /// ONNX Runtime (`scripts/install-ort` installs it).
    Ort,
}

/// `--engine`, `--threads` and `--accelerator`.
#[derive(clap::Args, Clone, Debug)]
pub struct EngineArgs {
    /// Inference engine.
    #[arg(long, value_enum, default_value = "tract")]
    pub engine: EngineChoice,
    /// Threads one model run may use.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Run ONNX Runtime on this accelerator (`cuda` needs a build with the `cuda` feature and
    /// the onnxruntime-gpu library).
    #[arg(long, value_enum, default_value = "cpu")]
    pub accelerator: AcceleratorChoice,
}

/// Where ONNX Runtime runs.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum AcceleratorChoice {
    /// The CPU.
    Cpu,
    /// NVIDIA GPUs through CUDA.
    Cuda,
}

impl EngineArgs {
    /// The engine asked for.
    pub fn spec(&self) -> Result<EngineSpec> {
        if self.threads == 0 || self.threads > 1024 {
            anyhow::bail!("--threads must be 1 to 1024");
        }
        let mut spec = match self.engine {
            EngineChoice::Auto => EngineSpec::best(self.threads),
            EngineChoice::Tract => EngineSpec::tract(self.threads),
            EngineChoice::Ort => EngineSpec::ort(self.threads),
        };
        if let AcceleratorChoice::Cuda = self.accelerator {
            if spec.kind == EngineKind::Tract {
                anyhow::bail!("--accelerator cuda needs --engine ort");
            }
            spec.accelerator = Accelerator::Cuda;
        }
        Ok(spec)
    }
}
