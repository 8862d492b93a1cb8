//! Which engine a node runs its models on, and on how many threads: one value a scenario, a
//! worker's command line and a profile name, turned into an [`Executor`].

use crate::{Accelerator, ExecError, Executor, OrtExecutor, TractExecutor};
use std::fmt;
use std::sync::Arc;

/// An inference engine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum EngineKind {
    /// tract, pure Rust: needs nothing installed.
    #[default]
    Tract,
    /// ONNX Runtime, loaded from its shared library at run time.
    Ort,
}

impl EngineKind {
    /// The engine's name: `tract` or `ort`.
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Tract => "tract",
            EngineKind::Ort => "ort",
        }
    }

    /// The engine named `name` (`tract` or `ort`).
    pub fn parse(name: &str) -> Result<EngineKind, ExecError> {
        match name {
            "tract" => Ok(EngineKind::Tract),
            "ort" | "onnxruntime" => Ok(EngineKind::Ort),
            other => Err(ExecError::Load {
                backend: "engine",
                msg: format!("unknown engine '{other}' (tract or ort)"),
            }),
        }
    }
}

/// An engine on a number of threads and, for ONNX Runtime, an accelerator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineSpec {
    /// The engine.
    pub kind: EngineKind,
    /// Threads one model run may use (intra-op threads; at least 1).
    pub threads: usize,
    /// Where ONNX Runtime runs (tract runs on the CPU only).
    pub accelerator: Accelerator,
}

impl Default for EngineSpec {
    fn default() -> EngineSpec {
        EngineSpec::tract(1)
    }
}

impl EngineSpec {
    /// tract on `threads` threads.
    pub fn tract(threads: usize) -> EngineSpec {
        EngineSpec {
            kind: EngineKind::Tract,
            threads: threads.max(1),
            accelerator: Accelerator::Cpu,
        }
    }

    /// ONNX Runtime on the CPU on `threads` threads.
    pub fn ort(threads: usize) -> EngineSpec {
        EngineSpec {
            kind: EngineKind::Ort,
            ..EngineSpec::tract(threads)
        }
    }

    /// The fastest engine here: ONNX Runtime when its library loads, else tract.
    pub fn best(threads: usize) -> EngineSpec {
        if OrtExecutor::available() {
            EngineSpec::ort(threads)
        } else {
            EngineSpec::tract(threads)
        }
    }

    /// The executor, or why it cannot be made (ONNX Runtime not installed, say).
    pub fn executor(&self) -> Result<Arc<dyn Executor>, ExecError> {
        match self.kind {
            EngineKind::Tract => {
                if self.accelerator != Accelerator::Cpu {
                    return Err(ExecError::Load {
                        backend: "tract",
                        msg: "tract runs on the CPU only".into(),
                    });
                }
                Ok(Arc::new(TractExecutor::new(self.threads)))
            }
            EngineKind::Ort => Ok(Arc::new(OrtExecutor::new(self.threads, self.accelerator)?)),
        }
    }
}

impl fmt::Display for EngineSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} x{}", self.kind.name(), self.threads)?;
        if self.accelerator == Accelerator::Cuda {
            f.write_str(" cuda")?;
        }
        Ok(())
    }
}
