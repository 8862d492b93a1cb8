//! The engines side by side: a model's unsplit time on each engine and thread count, against
//! ONNX Runtime used directly; and the split overhead, a model run whole against the same
//! model run as K chained partitions, on each engine.

use crate::engine::{load_chain_on, load_unsplit_on, model_inputs, run_named, InputChoice};
use crate::error::{Result, SessionError};
use crate::median::median;
use crate::source::ModelSource;
use std::path::Path;
use std::time::Instant;
use tiersplit_exec::{EngineKind, EngineSpec};
use tiersplit_graph::Partitioning;
use tiersplit_onnx::ImportOptions;

/// One model's split overhead.
#[derive(Debug, Clone)]
pub struct EngineRow {
    /// Layers in the imported model.
    pub layers: usize,
    /// Median unsplit time (ms).
    pub unsplit_ms: f64,
    /// Median time over unsplit time, per configuration: the imported model as one part,
    /// then K random legal parts for each K, then K FLOP-balanced parts for each K.
    pub ratios: Vec<f64>,
}

/// Measures `source` whole and in every configuration on `engine`, `rounds` interleaved
/// rounds after a warm-up run of each.
pub fn split_overhead(
    source: &ModelSource,
    engine: &EngineSpec,
    rounds: usize,
    splits: &[usize],
    seed: u64,
) -> Result<EngineRow> {
    let model = source.import(&ImportOptions::default())?;
    let g = &model.graph;
    let inputs = model_inputs(&model, &InputChoice::random(seed))?;
    let executor = engine.executor()?;
    let unsplit = load_unsplit_on(executor.as_ref(), source, &model)?;
    let mut configs = vec![Partitioning::random(g, 1, seed)?];
    for &k in splits {
        configs.push(Partitioning::random(g, k.min(g.layers.len()), seed)?);
    }
    for &k in splits {
        configs.push(
            Partitioning::balanced(g, k)
                .or_else(|_| Partitioning::random(g, k.min(g.layers.len()), seed))?,
        );
    }
    let chains = configs
        .iter()
        .map(|p| load_chain_on(executor.as_ref(), &model, p))
        .collect::<Result<Vec<_>>>()?;
    run_named(unsplit.as_ref(), &inputs)?;
    for c in &chains {
        c.run(inputs.clone())?;
    }
    // Paired measurement: each round times the unsplit model and then every configuration,
    // and the ratio is taken within the round, so slow drifts of a shared machine cancel.
    let mut base = Vec::new();
    let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); chains.len()];
    for _ in 0..rounds.max(1) {
        let t = Instant::now();
        run_named(unsplit.as_ref(), &inputs)?;
        let b = t.elapsed().as_secs_f64() * 1e3;
        base.push(b);
        for (i, c) in chains.iter().enumerate() {
            let ins = inputs.clone();
            let t = Instant::now();
            c.run(ins)?;
            ratios[i].push(t.elapsed().as_secs_f64() * 1e3 / b);
        }
    }
    Ok(EngineRow {
        layers: g.layers.len(),
        unsplit_ms: median(base),
        ratios: ratios.into_iter().map(median).collect(),
    })
}

/// One model's unsplit time on each engine asked for, and under ONNX Runtime used directly
/// from Python (the reference a user would pick) when a Python with `onnxruntime` is at hand.
#[derive(Debug, Clone)]
pub struct EngineSpeeds {
    /// Median unsplit time per engine, in the order asked (ms).
    pub engines: Vec<(EngineSpec, f64)>,
    /// Median time of ONNX Runtime used directly, per thread count of the ONNX Runtime engines
    /// asked (ms); empty without a Python to run it.
    pub direct: Vec<(usize, f64)>,
}

/// Measures `source` unsplit on every engine of `specs`, each in a block of `rounds` runs
/// after a warm-up; with `python`, ONNX Runtime used directly is measured the same way right
/// after each ONNX Runtime engine, at its threads, so the two compared are close in time.
/// (Blocks, not interleaved rounds: ONNX Runtime's threads spin for a while after a run and
/// would slow whatever ran next.)
pub fn engine_speeds(
    source: &ModelSource,
    specs: &[EngineSpec],
    rounds: usize,
    python: Option<&Path>,
) -> Result<EngineSpeeds> {
    let model = source.import(&ImportOptions::default())?;
    let inputs = model_inputs(&model, &InputChoice::random(0))?;
    let file = python.map(|_| tempfile_for(&source.bytes)).transpose()?;
    let mut engines = Vec::new();
    let mut direct = Vec::new();
    for spec in specs {
        let m = load_unsplit_on(spec.executor()?.as_ref(), source, &model)?;
        let mut times = Vec::new();
        for round in 0..=rounds.max(1) {
            let start = Instant::now();
            run_named(m.as_ref(), &inputs)?;
            if round > 0 {
                times.push(start.elapsed().as_secs_f64() * 1e3);
            }
        }
        drop(m);
        engines.push((*spec, median(times)));
        if let (Some(python), Some(file), EngineKind::Ort) = (python, &file, spec.kind) {
            let ms = ort_direct(python, &file.0, spec.threads, rounds)?;
            direct.push((spec.threads, ms));
        }
    }
    Ok(EngineSpeeds { engines, direct })
}

/// A model's bytes in a file of its own, removed when dropped.
struct TempModel(std::path::PathBuf);

impl Drop for TempModel {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn tempfile_for(bytes: &[u8]) -> Result<TempModel> {
    let path = std::env::temp_dir().join(format!(
        "tiersplit-bench-{}-{}.onnx",
        std::process::id(),
        tiersplit_runtime::ModelHash::of(bytes)
            .as_str()
            .trim_start_matches("sha256:")
    ));
    // A new file, never one someone put there (or a link to elsewhere) under the same name.
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| SessionError::io(&path, e))?;
    std::io::Write::write_all(&mut f, bytes).map_err(|e| SessionError::io(&path, e))?;
    Ok(TempModel(path))
}

/// The Python script that times ONNX Runtime used directly.
const ORT_DIRECT: &str = r#"
import json, statistics, sys, time
import numpy as np, onnxruntime as ort
path, threads, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
o = ort.SessionOptions()
o.intra_op_num_threads = threads
o.inter_op_num_threads = 1
s = ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])
rng = np.random.default_rng(0)
feeds = {}
for i in s.get_inputs():
    shape = [d if isinstance(d, int) and d > 0 else 1 for d in i.shape]
    dtype = np.int64 if "int64" in i.type else np.float32
    feeds[i.name] = rng.uniform(-1, 1, shape).astype(dtype)
s.run(None, feeds)
times = []
for _ in range(rounds):
    t = time.perf_counter()
    s.run(None, feeds)
    times.append((time.perf_counter() - t) * 1e3)
print(json.dumps({"median_ms": statistics.median(times)}))
"#;

/// ONNX Runtime from Python on `model`: its median time over `rounds` runs after a warm-up.
fn ort_direct(python: &Path, model: &Path, threads: usize, rounds: usize) -> Result<f64> {
    let out = std::process::Command::new(python)
        .arg("-c")
        .arg(ORT_DIRECT)
        .arg(model)
        .arg(threads.to_string())
        .arg(rounds.max(1).to_string())
        .output()
        .map_err(|e| SessionError::io(python, e))?;
    if !out.status.success() {
        return Err(SessionError::invalid(format!(
            "ONNX Runtime from Python failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| SessionError::invalid(format!("ONNX Runtime from Python said: {e}")))?;
    v["median_ms"]
        .as_f64()
        .ok_or_else(|| SessionError::invalid("ONNX Runtime from Python gave no time"))
}

/// A Python with `onnxruntime`: `TIERSPLIT_PYTHON`, or the one `scripts/install-ort` made in a
/// `pyenv` in a folder above the running program.
pub fn ort_python() -> Option<std::path::PathBuf> {
    if let Some(p) = std::env::var_os("TIERSPLIT_PYTHON") {
        return Some(p.into());
    }
    let exe = std::env::current_exe().ok();
    exe.iter()
        .flat_map(|p| p.ancestors())
        .flat_map(|d| {
            [
                d.join("pyenv/bin/python"),
                d.join("target/pyenv/bin/python"),
            ]
        })
        .find(|p| p.is_file())
}
