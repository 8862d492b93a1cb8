//! The engines side by side: a model's unsplit time on each engine and thread count, against
//! ONNX Runtime used directly; and the split overhead, a model run whole against the same
//! model run as K chained partitions, on each engine.

use crate::engine::{load_chain_on, load_unsplit_on, model_inputs, run_named, InputChoice};
use crate::error::{Result, SessionError};
use crate::median::quietest_median;
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
    /// Unsplit time, median of the quietest block (ms).
    pub unsplit_ms: f64,
    /// Time (median of the quietest block) over unsplit time, per configuration: the
    /// imported model as one part, then K random legal parts for each K, then K FLOP-balanced
    /// parts for each K.
    pub ratios: Vec<f64>,
    /// With a Python that has `onnxruntime` and an ONNX Runtime engine: per K, the same K
    /// balanced parts chained in ONNX Runtime used directly (each part's outputs written into
    /// preallocated values bound as the next parts' inputs: no copies, no per-run work), over
    /// the folded whole run the same way. What ONNX Runtime itself pays for the cuts (its
    /// blocked layout converted at every boundary, fusions across it lost), so that the rest
    /// of a ratio is tiersplit's. Empty otherwise.
    pub direct_ratios: Vec<f64>,
}

/// Measures `source` whole and in every configuration on `engine`: [`SPEED_BLOCKS`] blocks of
/// `rounds` interleaved rounds after a warm-up run of each. With `python` (see
/// [`ort_python`]) and an ONNX Runtime engine, also [`EngineRow::direct_ratios`].
pub fn split_overhead(
    source: &ModelSource,
    engine: &EngineSpec,
    rounds: usize,
    splits: &[usize],
    seed: u64,
    python: Option<&Path>,
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
    // Interleaved: each round times the unsplit model and then every configuration, so they
    // share the machine's moments; each is then the median of its quietest block of rounds.
    let mut base = Vec::new();
    let mut times: Vec<Vec<Vec<f64>>> = vec![Vec::new(); chains.len()];
    for _ in 0..SPEED_BLOCKS {
        let mut block = Vec::new();
        let mut chain_blocks = vec![Vec::new(); chains.len()];
        for _ in 0..rounds.max(1) {
            let t = Instant::now();
            run_named(unsplit.as_ref(), &inputs)?;
            block.push(t.elapsed().as_secs_f64() * 1e3);
            for (c, out) in chains.iter().zip(chain_blocks.iter_mut()) {
                let ins = inputs.clone();
                let t = Instant::now();
                c.run(ins)?;
                out.push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
        base.push(block);
        for (all, b) in times.iter_mut().zip(chain_blocks) {
            all.push(b);
        }
    }
    drop(chains);
    let unsplit_ms = quietest_median(base);
    let direct_ratios = match python.filter(|_| engine.kind == EngineKind::Ort) {
        Some(python) => {
            let balanced = &configs[1 + splits.len()..];
            direct_split_overhead(python, &model, balanced, engine.threads, rounds)?
        }
        None => Vec::new(),
    };
    Ok(EngineRow {
        layers: g.layers.len(),
        unsplit_ms,
        ratios: times
            .into_iter()
            .map(|t| quietest_median(t) / unsplit_ms)
            .collect(),
        direct_ratios,
    })
}

/// Per partitioning, its parts chained in ONNX Runtime used directly from Python, over the
/// folded whole model there, both through bindings made once: [`SPEED_BLOCKS`] blocks of
/// `rounds` runs, alternating.
fn direct_split_overhead(
    python: &Path,
    model: &tiersplit_onnx::OnnxModel,
    partitionings: &[Partitioning],
    threads: usize,
    rounds: usize,
) -> Result<Vec<f64>> {
    // The folded whole, as the parts are cut from it (and as ONNX Runtime loads it: an
    // opset-6 file it would not).
    let whole = tempfile_for(&model.to_bytes())?;
    let mut unsplit = DirectOrt::start(python, "bind", &[&whole.0], threads)?;
    let mut ratios = Vec::with_capacity(partitionings.len());
    for p in partitionings {
        let files = p
            .parts
            .iter()
            .map(|part| tempfile_for(&model.sub_model_bytes(part)?))
            .collect::<Result<Vec<_>>>()?;
        let paths: Vec<&Path> = files.iter().map(|f| f.0.as_path()).collect();
        let mut chain = DirectOrt::start(python, "bind", &paths, threads)?;
        let (mut base, mut cut) = (Vec::new(), Vec::new());
        for _ in 0..SPEED_BLOCKS {
            base.push(unsplit.times(rounds.max(1))?);
            cut.push(chain.times(rounds.max(1))?);
        }
        ratios.push(quietest_median(cut) / quietest_median(base));
    }
    Ok(ratios)
}

/// One model's unsplit time on each engine asked for, and under ONNX Runtime used directly
/// from Python (the reference a user would pick) when a Python with `onnxruntime` is at hand.
#[derive(Debug, Clone)]
pub struct EngineSpeeds {
    /// Unsplit time per engine (median of the quietest block), in the order asked (ms).
    pub engines: Vec<(EngineSpec, f64)>,
    /// Median time of ONNX Runtime used directly, per thread count of the ONNX Runtime engines
    /// asked (ms); empty without a Python to run it.
    pub direct: Vec<(usize, f64)>,
}

/// Blocks of runs per measurement (alternating with ONNX Runtime used directly, or of
/// interleaved rounds): each figure is the median of its quietest block
/// ([`quietest_median`]), so a neighbour's burst on a shared machine does not decide a ratio.
pub const SPEED_BLOCKS: usize = 5;

/// Measures `source` unsplit on every engine of `specs` in [`SPEED_BLOCKS`] blocks of
/// `rounds` runs after a warm-up (each figure the median of its quietest block); with
/// `python`, ONNX Runtime used directly (from a Python process) runs a block of its own after
/// each block of an ONNX Runtime engine, at its threads, so the two compared share the
/// machine's moments. (Blocks, not
/// interleaved runs: ONNX Runtime's threads spin for a while after a run and would slow
/// whatever ran next.)
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
        let reference = match (python, &file, spec.kind) {
            (Some(python), Some(file), EngineKind::Ort) => Some((python, &file.0)),
            _ => None,
        };
        let (mut times, mut direct_times) = (Vec::new(), Vec::new());
        let load = || -> Result<_> {
            let m = load_unsplit_on(spec.executor()?.as_ref(), source, &model)?;
            run_named(m.as_ref(), &inputs)?;
            Ok(m)
        };
        let mut kept = None;
        for _ in 0..SPEED_BLOCKS {
            // Next to ONNX Runtime used directly, loaded for the block alone: the idle threads
            // of one must not share the cores with the other's block.
            let m = match kept.take() {
                Some(m) => m,
                None => load()?,
            };
            let mut block = Vec::new();
            for _ in 0..rounds.max(1) {
                let start = Instant::now();
                run_named(m.as_ref(), &inputs)?;
                block.push(start.elapsed().as_secs_f64() * 1e3);
            }
            times.push(block);
            if reference.is_none() {
                kept = Some(m);
            } else {
                drop(m);
            }
            if let Some((python, file)) = reference {
                let mut direct = DirectOrt::start(python, "run", &[file.as_path()], spec.threads)?;
                direct_times.push(direct.times(rounds.max(1))?);
            }
        }
        engines.push((*spec, quietest_median(times)));
        if reference.is_some() {
            direct.push((spec.threads, quietest_median(direct_times)));
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
    // The counter tells apart two files of the same bytes alive at once.
    static MADE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let path = std::env::temp_dir().join(format!(
        "tiersplit-bench-{}-{}-{}.onnx",
        std::process::id(),
        MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
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

/// The Python program that times ONNX Runtime used directly. Mode `run`: one model through
/// `InferenceSession.run`, as a user would call it. Mode `bind`: a model, or the parts of one
/// chained in order, through I/O bindings made once, every output preallocated and bound as
/// the input of the parts that read it (no copies, no per-run binding work: ONNX Runtime's
/// own cost alone). It opens the sessions, runs once, says `ready`, then for every count N
/// read from its input runs N times and prints their times (ms) as a JSON list.
const ORT_DIRECT: &str = r#"
import json, sys, time
import numpy as np, onnxruntime as ort
mode, threads, paths = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
o = ort.SessionOptions()
o.intra_op_num_threads = threads
o.inter_op_num_threads = 1
parts = [ort.InferenceSession(p, o, providers=["CPUExecutionProvider"]) for p in paths]
made = {x.name for s in parts for x in s.get_outputs()}
rng = np.random.default_rng(0)
def concrete(shape):
    return [d if isinstance(d, int) and d > 0 else 1 for d in shape]
def dtype(t):
    return np.int64 if "int64" in t else np.bool_ if "bool" in t else np.float32
feeds = {}
for s in parts:
    for i in s.get_inputs():
        if i.name not in made and i.name not in feeds:
            feeds[i.name] = rng.uniform(-1, 1, concrete(i.shape)).astype(dtype(i.type))
if mode == "run":
    def run():
        parts[0].run(None, feeds)
else:
    values = {k: ort.OrtValue.ortvalue_from_numpy(v) for k, v in feeds.items()}
    bound = []
    for s in parts:
        b = s.io_binding()
        for i in s.get_inputs():
            b.bind_ortvalue_input(i.name, values[i.name])
        for x in s.get_outputs():
            if x.name not in values:
                values[x.name] = ort.OrtValue.ortvalue_from_shape_and_type(concrete(x.shape), dtype(x.type))
            b.bind_ortvalue_output(x.name, values[x.name])
        bound.append((s, b))
    def run():
        for s, b in bound:
            s.run_with_iobinding(b)
run()
print("ready", flush=True)
for line in sys.stdin:
    times = []
    for _ in range(int(line)):
        t = time.perf_counter()
        run()
        times.append((time.perf_counter() - t) * 1e3)
    print(json.dumps(times), flush=True)
"#;

/// ONNX Runtime used from Python on one model, its session open. The process is killed when
/// dropped.
struct DirectOrt {
    child: std::process::Child,
    to: std::process::ChildStdin,
    from: std::io::BufReader<std::process::ChildStdout>,
}

impl DirectOrt {
    /// Starts Python on `models` (one model, or in `bind` mode the parts of one in run
    /// order) at `threads`, `mode` as [`ORT_DIRECT`] says, and waits until it has run them
    /// once.
    fn start(python: &Path, mode: &str, models: &[&Path], threads: usize) -> Result<DirectOrt> {
        use std::process::{Command, Stdio};
        let mut child = Command::new(python)
            .arg("-c")
            .arg(ORT_DIRECT)
            .arg(mode)
            .arg(threads.to_string())
            .args(models)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| SessionError::io(python, e))?;
        let (Some(to), Some(from)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(SessionError::invalid("ONNX Runtime from Python: no pipes"));
        };
        let mut d = DirectOrt {
            child,
            to,
            from: std::io::BufReader::new(from),
        };
        let said = d.line()?;
        if said.trim() != "ready" {
            return Err(direct_err(format!("said {said:?} instead of ready")));
        }
        Ok(d)
    }

    /// The times (ms) of `n` runs.
    fn times(&mut self, n: usize) -> Result<Vec<f64>> {
        use std::io::Write;
        writeln!(self.to, "{n}")
            .and_then(|_| self.to.flush())
            .map_err(|e| direct_err(e.to_string()))?;
        let line = self.line()?;
        let times: Vec<f64> =
            serde_json::from_str(&line).map_err(|e| direct_err(format!("said {line:?}: {e}")))?;
        if times.len() != n {
            return Err(direct_err(format!(
                "gave {} times for {n} runs",
                times.len()
            )));
        }
        Ok(times)
    }

    /// One line of its output; its end (the program failed, its error on our stderr) is an
    /// error.
    fn line(&mut self) -> Result<String> {
        use std::io::BufRead;
        let mut line = String::new();
        match self.from.read_line(&mut line) {
            Ok(0) => Err(direct_err("ended (its error is above)".into())),
            Ok(_) => Ok(line),
            Err(e) => Err(direct_err(e.to_string())),
        }
    }
}

impl Drop for DirectOrt {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn direct_err(msg: String) -> SessionError {
    SessionError::invalid(format!("ONNX Runtime from Python {msg}"))
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
