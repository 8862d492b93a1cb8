//! ONNX Runtime, loaded at run time from its shared library (the `ort` crate's `load-dynamic`):
//! nothing to link at build time, nothing downloaded, and a clear error when the library is not
//! there. The library comes from the `onnxruntime` wheel of the Python package registry, which
//! `scripts/install-ort` installs (and `scripts/test` with it); see [`ort_library`].

use crate::{ExecError, Executor, HostTensor, LoadedModel, TensorData};
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::{DynValue, Tensor};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// Where inference runs under ONNX Runtime.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Accelerator {
    /// The CPU execution provider.
    #[default]
    Cpu,
    /// NVIDIA GPUs through the CUDA execution provider (the `cuda` feature, and an ONNX
    /// Runtime build with CUDA: the `onnxruntime-gpu` wheel).
    Cuda,
}

/// The fast engine: ONNX Runtime on `threads` intra-op threads.
#[derive(Debug, Clone, Copy)]
pub struct OrtExecutor {
    threads: usize,
    accelerator: Accelerator,
}

fn load_err(e: impl std::fmt::Display) -> ExecError {
    ExecError::Load {
        backend: "ort",
        msg: e.to_string(),
    }
}

fn run_err(e: impl std::fmt::Display) -> ExecError {
    ExecError::Run {
        backend: "ort",
        msg: e.to_string(),
    }
}

/// The runtime environment, made once per process from the library [`ort_library`] finds.
fn environment() -> Result<&'static ort::environment::Environment, ExecError> {
    static ENV: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();
    ENV.get_or_init(|| {
        let lib = ort_library().ok_or_else(|| {
            "ONNX Runtime's library was not found: run scripts/install-ort, or set \
             ORT_DYLIB_PATH to libonnxruntime.so"
                .to_string()
        })?;
        let built = ort::init_from(&lib)
            .map_err(|e| format!("{}: {e}", lib.display()))?
            .with_name("tiersplit")
            .build()
            .map_err(|e| format!("{}: {e}", lib.display()));
        tracing::info!(library = %lib.display(), "ONNX Runtime loaded");
        built
    })
    .as_ref()
    .map_err(|e| load_err(e.clone()))
}

impl OrtExecutor {
    /// ONNX Runtime on `threads` intra-op threads (at least 1) on `accelerator`; fails when the
    /// library cannot be found or loaded, or the accelerator was not built in.
    pub fn new(threads: usize, accelerator: Accelerator) -> Result<OrtExecutor, ExecError> {
        environment()?;
        if accelerator == Accelerator::Cuda && !cfg!(feature = "cuda") {
            return Err(load_err(
                "this build has no CUDA support (build tiersplit-exec with the `cuda` feature)",
            ));
        }
        Ok(OrtExecutor {
            threads: threads.max(1),
            accelerator,
        })
    }

    /// Whether ONNX Runtime can be loaded in this process (its library found and opened).
    pub fn available() -> bool {
        environment().is_ok()
    }

    fn builder(&self) -> Result<ort::session::builder::SessionBuilder, ExecError> {
        let b = Session::builder(environment()?)
            .map_err(load_err)?
            .with_optimization_level(GraphOptimizationLevel::All)
            .map_err(load_err)?
            .with_intra_threads(self.threads)
            .map_err(load_err)?
            .with_inter_threads(1)
            .map_err(load_err)?;
        // ONNX Runtime's threads spin briefly between operators, as it does by default: without,
        // two threads gained 1.06x on MobileNetV2 here against 1.7x with. One thread has no
        // pool, so nodes of a one-machine cluster (one thread each) spin nothing.
        self.with_accelerator(b)
    }

    #[cfg(feature = "cuda")]
    fn with_accelerator(
        &self,
        b: ort::session::builder::SessionBuilder,
    ) -> Result<ort::session::builder::SessionBuilder, ExecError> {
        match self.accelerator {
            Accelerator::Cpu => Ok(b),
            Accelerator::Cuda => b
                .with_execution_providers([ort::ep::CUDA::default().build().error_on_failure()])
                .map_err(load_err),
        }
    }

    #[cfg(not(feature = "cuda"))]
    fn with_accelerator(
        &self,
        b: ort::session::builder::SessionBuilder,
    ) -> Result<ort::session::builder::SessionBuilder, ExecError> {
        match self.accelerator {
            Accelerator::Cpu => Ok(b),
            Accelerator::Cuda => Err(load_err("this build has no CUDA support")),
        }
    }
}

impl Executor for OrtExecutor {
    fn name(&self) -> &'static str {
        "ort"
    }

    fn threads(&self) -> usize {
        self.threads
    }

    fn load(
        &self,
        onnx: &[u8],
        input_shapes: &[(String, Vec<usize>)],
    ) -> Result<Box<dyn LoadedModel>, ExecError> {
        let mut b = self.builder()?;
        let session = b.commit_from_memory(onnx).map_err(load_err)?;
        let inputs: Vec<String> = session
            .inputs()
            .iter()
            .map(|i| i.name().to_string())
            .collect();
        let outputs: Vec<String> = session
            .outputs()
            .iter()
            .map(|o| o.name().to_string())
            .collect();
        // Symbolic dimensions are resolved by ONNX Runtime from the tensors of each run; a
        // fixed shape only has to name an input.
        for (name, _) in input_shapes {
            if !inputs.contains(name) {
                return Err(ExecError::Input {
                    name: name.clone(),
                    msg: format!("no such input (inputs: {})", inputs.join(", ")),
                });
            }
        }
        Ok(Box::new(OrtModel {
            session: Mutex::new(session),
            inputs,
            outputs,
        }))
    }
}

struct OrtModel {
    /// Running needs the session exclusively; a node runs one part at a time anyway.
    session: Mutex<Session>,
    inputs: Vec<String>,
    outputs: Vec<String>,
}

fn to_ort(t: HostTensor) -> Result<DynValue, ExecError> {
    let shape = t.shape.clone();
    Ok(match t.data {
        TensorData::F32(v) => Tensor::from_array((shape, v)).map_err(run_err)?.into_dyn(),
        TensorData::I64(v) => Tensor::from_array((shape, v)).map_err(run_err)?.into_dyn(),
        TensorData::Bool(v) => Tensor::from_array((shape, v)).map_err(run_err)?.into_dyn(),
    })
}

fn from_ort(v: &DynValue) -> Result<HostTensor, ExecError> {
    let dims = |s: &[i64]| s.iter().map(|&d| d as usize).collect::<Vec<_>>();
    if let Ok((shape, data)) = v.try_extract_tensor::<f32>() {
        return HostTensor::f32(dims(shape), data.to_vec());
    }
    if let Ok((shape, data)) = v.try_extract_tensor::<i64>() {
        return HostTensor::i64(dims(shape), data.to_vec());
    }
    if let Ok((shape, data)) = v.try_extract_tensor::<bool>() {
        return HostTensor::bool(dims(shape), data.to_vec());
    }
    Err(ExecError::DType(format!("{:?}", v.dtype())))
}

impl LoadedModel for OrtModel {
    fn input_names(&self) -> &[String] {
        &self.inputs
    }

    fn output_names(&self) -> &[String] {
        &self.outputs
    }

    fn run(&self, inputs: Vec<HostTensor>) -> Result<Vec<HostTensor>, ExecError> {
        crate::executor::check_input_count("ort", &self.inputs, &inputs)?;
        let values: Vec<(String, DynValue)> = self
            .inputs
            .iter()
            .cloned()
            .zip(
                inputs
                    .into_iter()
                    .map(to_ort)
                    .collect::<Result<Vec<_>, _>>()?,
            )
            .collect();
        let mut session = self.session.lock().expect("not poisoned");
        let out = session.run(values).map_err(run_err)?;
        self.outputs
            .iter()
            .map(|name| from_ort(&out[name.as_str()]))
            .collect()
    }
}

/// ONNX Runtime's shared library: `ORT_DYLIB_PATH` if set; else the `onnxruntime` wheel in a
/// `pyenv` virtual environment in a folder above the running program (where
/// `scripts/install-ort` puts it: `target/pyenv`, as the binaries are in `target/*/`); else
/// the wheel the Python of `TIERSPLIT_PYTHON` or `python3` imports (in isolated mode, so a file
/// in the current directory cannot stand in for the package). `None` when none is found.
pub fn ort_library() -> Option<PathBuf> {
    static FOUND: OnceLock<Option<PathBuf>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            if let Some(p) = std::env::var_os("ORT_DYLIB_PATH") {
                return Some(PathBuf::from(p));
            }
            let exe = std::env::current_exe().ok();
            let near = exe.iter().flat_map(|p| p.ancestors()).find_map(|dir| {
                in_venv(&dir.join("pyenv")).or_else(|| in_venv(&dir.join("target/pyenv")))
            });
            near.or_else(from_python)
        })
        .clone()
}

/// The library inside virtual environment `venv`, if its `onnxruntime` package has one.
fn in_venv(venv: &Path) -> Option<PathBuf> {
    let lib = std::fs::read_dir(venv.join("lib")).ok()?;
    lib.flatten()
        .map(|e| e.path().join("site-packages/onnxruntime/capi"))
        .find_map(|capi| in_capi(&capi))
}

/// `libonnxruntime.so.*` (or `.dylib`) in the package's `capi` folder.
fn in_capi(capi: &Path) -> Option<PathBuf> {
    std::fs::read_dir(capi)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.starts_with("libonnxruntime.so")
                    || n.starts_with("libonnxruntime.") && n.ends_with(".dylib")
            })
        })
}

/// The library of the `onnxruntime` package the project's or the system's Python imports.
fn from_python() -> Option<PathBuf> {
    let python = std::env::var_os("TIERSPLIT_PYTHON").unwrap_or_else(|| "python3".into());
    let out = std::process::Command::new(python)
        .args([
            "-I",
            "-c",
            "import onnxruntime, os; print(os.path.dirname(onnxruntime.__file__))",
        ])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let dir = String::from_utf8(out.stdout).ok()?;
    in_capi(&Path::new(dir.trim()).join("capi"))
}
