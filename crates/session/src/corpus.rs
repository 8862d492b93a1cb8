//! The real-model corpus: folders laid out by `scripts/make_corpus.py`, each a model as shipped
//! with its inputs and a reference answer (ONNX Runtime's, or the one a test ships).
//!
//! [`check_case`] imports a case, writes it back as one part and runs it, then cuts it at
//! random legal points and runs the parts chained, on one engine. The whole run must match the
//! reference within [`Difference::ENGINE_TOLERANCE`] (another engine's answer), and the cut
//! run the whole one within [`Difference::TOLERANCE`], and so must the run with its longest
//! tileable run cut into halo tiles. Every planner then plans it on a local
//! cluster and each plan is compiled into the parts a deployment would run. [`Expectations`]
//! lists the cases that may fail, each with its reason and stage, so that every other case
//! failing is a regression.

use crate::compile::compile;
use crate::engine::{load_chain_on, NamedTensor};
use crate::error::{read, Context, Result, SessionError};
use crate::npy::read_npy;
use crate::setup::Setting;
use crate::tiles::run_tiled;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tiersplit_cost::{Profile, Scenario};
use tiersplit_exec::{Difference, Executor, HostTensor};
use tiersplit_graph::{LayerId, Partitioning};
use tiersplit_onnx::{ImportOptions, OnnxModel};
use tiersplit_plan::all_planners;
use tiersplit_tile::Grid;

/// One case of the corpus, as `case.json` describes it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Case {
    /// The case's name, unique within its family.
    pub name: String,
    /// The family it is counted in (`torch-module`, `ocr`, ...).
    pub family: String,
    /// Where the model comes from (package and path inside it).
    pub source: String,
    /// The graph inputs, in order, with the shapes the inputs have.
    pub inputs: Vec<CaseInput>,
    /// The graph outputs' names, in the order of `output_K.npy`.
    pub outputs: Vec<String>,
    /// Where the reference answer comes from.
    #[serde(default)]
    pub reference: String,
    /// Why no inputs could be made for the model, when none could.
    #[serde(default)]
    pub input_error: Option<String>,
    /// Why ONNX Runtime could not run the model, when it could not.
    #[serde(default)]
    pub ort_error: Option<String>,
    /// The case's folder.
    #[serde(skip)]
    pub dir: PathBuf,
    /// Why `case.json` could not be read, when it could not: the case then fails.
    #[serde(skip)]
    pub broken: Option<String>,
}

/// A graph input of a case.
#[derive(Debug, Clone, Deserialize)]
pub struct CaseInput {
    /// The input's name in the graph.
    pub name: String,
    /// The shape of the value given.
    pub shape: Vec<u64>,
}

impl Case {
    /// Reads `dir/case.json`; a file that cannot be read or parsed makes a broken case, named
    /// by its folders, that fails saying why.
    pub fn read(dir: &Path) -> Case {
        let path = dir.join("case.json");
        let parsed = read(&path).and_then(|bytes| {
            serde_json::from_slice::<Case>(&bytes)
                .map_err(|e| SessionError::invalid(format!("{}: {e}", path.display())))
        });
        let mut case = parsed.unwrap_or_else(|e| {
            let folder = |p: Option<&Path>| {
                p.and_then(Path::file_name)
                    .map_or(String::new(), |n| n.to_string_lossy().into_owned())
            };
            Case {
                name: folder(Some(dir)),
                family: folder(dir.parent()),
                broken: Some(e.to_string()),
                ..Case::default()
            }
        });
        case.dir = dir.to_path_buf();
        case
    }

    /// `family/name`, the case's id in reports and in the expectations.
    pub fn id(&self) -> String {
        format!("{}/{}", self.family, self.name)
    }

    fn tensors(&self, stem: &str, count: usize) -> Result<Vec<HostTensor>> {
        (0..count)
            .map(|k| read_npy(&self.dir.join(format!("{stem}_{k}.npy"))))
            .collect()
    }
}

/// Every case under `root` (`root/FAMILY/NAME/case.json`), sorted by id.
pub fn find_cases(root: &Path) -> Result<Vec<Case>> {
    let mut cases = Vec::new();
    for family in sorted_dirs(root)? {
        for dir in sorted_dirs(&family)? {
            if dir.join("case.json").is_file() {
                cases.push(Case::read(&dir));
            }
        }
    }
    if cases.is_empty() {
        return Err(SessionError::invalid(format!(
            "{}: no corpus cases (FAMILY/NAME/case.json); make them with scripts/make_corpus.py",
            root.display()
        )));
    }
    Ok(cases)
}

fn sorted_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| SessionError::io(dir, e))?;
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_dir()
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    dirs.sort();
    Ok(dirs)
}

/// The step at which a case failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// There is no reference answer (ONNX Runtime could not run the model).
    Reference,
    /// The inputs or reference outputs could not be read.
    Inputs,
    /// tiersplit could not import the model.
    Import,
    /// The model written back as one part did not load, run or match.
    Unsplit,
    /// The model cut into parts did not load, run or match.
    Split,
    /// The model with its longest tileable run cut into halo tiles did not run or match.
    Tile,
    /// A planner failed on the model, or its plan did not compile into parts.
    Plan,
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stage::Reference => "reference",
            Stage::Inputs => "inputs",
            Stage::Import => "import",
            Stage::Unsplit => "unsplit",
            Stage::Split => "split",
            Stage::Tile => "tile",
            Stage::Plan => "plan",
        })
    }
}

/// Why a case did not pass.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    /// Where it failed.
    pub stage: Stage,
    /// The error, or the difference found.
    pub reason: String,
}

/// What checking one case found.
#[derive(Debug, Clone, Serialize)]
pub struct CaseReport {
    /// `family/name`.
    pub id: String,
    /// The case's family.
    pub family: String,
    /// Where the model comes from.
    pub source: String,
    /// Layers after import.
    pub layers: Option<usize>,
    /// How long the import took, in milliseconds.
    pub import_ms: Option<f64>,
    /// Largest relative difference of the unsplit run from the reference.
    pub unsplit_rel: Option<f64>,
    /// Parts of the random legal partitioning, and its largest relative difference from the
    /// unsplit run.
    pub split: Option<(usize, f64)>,
    /// Layers of the run tiled and tiles, and the tiled run's largest relative difference
    /// from the unsplit run (None: nothing to tile).
    pub tiled: Option<(usize, usize, f64)>,
    /// Planners whose plans compiled into parts, and how long planning and compiling took
    /// in all, in milliseconds.
    pub planned: Option<(usize, f64)>,
    /// Why it did not pass, if it did not.
    pub failure: Option<Failure>,
}

impl CaseReport {
    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }
}

/// How cases are checked.
#[derive(Debug, Clone, Copy)]
pub struct CheckOptions {
    /// Parts of the random legal partitioning (fewer when the model has fewer layers).
    pub partitions: usize,
    /// Seed of the partitioning.
    pub seed: u64,
    /// Also run the model with its longest tileable run cut into two halo tiles and compare
    /// with the unsplit run.
    pub tile: bool,
    /// Also plan the model with every planner on the embedded local cluster (layer times
    /// estimated from FLOPs) and compile each plan into parts.
    pub plan: bool,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            partitions: 3,
            seed: 0,
            tile: true,
            plan: true,
        }
    }
}

/// Imports `case`, runs it whole and cut on `executor`, and compares with its reference.
pub fn check_case(case: &Case, executor: &dyn Executor, options: CheckOptions) -> CaseReport {
    let mut report = CaseReport {
        id: case.id(),
        family: case.family.clone(),
        source: case.source.clone(),
        layers: None,
        import_ms: None,
        unsplit_rel: None,
        split: None,
        tiled: None,
        planned: None,
        failure: None,
    };
    if let Err(failure) = check(case, executor, options, &mut report) {
        report.failure = Some(failure);
    }
    report
}

fn check(
    case: &Case,
    executor: &dyn Executor,
    options: CheckOptions,
    report: &mut CaseReport,
) -> std::result::Result<(), Failure> {
    let fail = |stage| {
        move |e: SessionError| Failure {
            stage,
            reason: e.to_string(),
        }
    };
    let invalid = |msg: String| SessionError::invalid(msg);
    if let Some(e) = &case.broken {
        return Err(fail(Stage::Inputs)(invalid(e.clone())));
    }
    if let Some(e) = &case.input_error {
        return Err(fail(Stage::Inputs)(invalid(format!(
            "no inputs were made: {e}"
        ))));
    }
    if let Some(e) = &case.ort_error {
        if !case.dir.join("output_0.npy").is_file() {
            let msg = format!("no reference: ONNX Runtime cannot run it: {e}");
            return Err(fail(Stage::Reference)(invalid(msg)));
        }
    }
    let (inputs, reference) = read_values(case).map_err(fail(Stage::Inputs))?;
    let started = Instant::now();
    let model = import(case).map_err(fail(Stage::Import))?;
    report.import_ms = Some(started.elapsed().as_secs_f64() * 1e3);
    let layers = model.graph.layers.len();
    report.layers = Some(layers);
    let reference = in_graph_order(&model, case, reference).map_err(fail(Stage::Inputs))?;
    let whole = run_parts(&model, executor, 1, options.seed, &inputs)
        .and_then(|out| within(out, &reference, Difference::ENGINE_TOLERANCE, "whole"))
        .map_err(fail(Stage::Unsplit))?;
    report.unsplit_rel = Some(whole.1);
    let parts = options.partitions.min(layers);
    if parts >= 2 {
        let (_, rel) = run_parts(&model, executor, parts, options.seed, &inputs)
            .and_then(|out| within(out, &whole.0, Difference::TOLERANCE, "cut"))
            .map_err(fail(Stage::Split))?;
        report.split = Some((parts, rel));
    }
    if options.tile {
        report.tiled =
            tile_check(&model, executor, &inputs, &whole.0).map_err(fail(Stage::Tile))?;
    }
    if options.plan {
        let started = Instant::now();
        let plans = plan_all(&model).map_err(fail(Stage::Plan))?;
        report.planned = Some((plans, started.elapsed().as_secs_f64() * 1e3));
    }
    Ok(())
}

/// Runs `model` with its longest tileable run cut into two halo tiles (rows, or columns on a
/// map one row high), every piece on `executor`, against the unsplit run's outputs `whole`: the run's
/// layers, its tiles and the largest relative difference. None when no run has a map of two
/// pixels or more.
fn tile_check(
    model: &OnnxModel,
    executor: &dyn Executor,
    inputs: &[NamedTensor],
    whole: &[HostTensor],
) -> Result<Option<(usize, usize, f64)>> {
    let g = &model.graph;
    let map = |run: &Vec<LayerId>| {
        let last = g.layer(*run.last()?);
        match g.tensor(last.outputs[0]).shape[..] {
            [_, _, h, w] if h * w >= 2 => Some((h, w)),
            _ => None,
        }
    };
    let Some((run, (h, w))) = model
        .tileable_runs()
        .into_iter()
        .find_map(|r| map(&r).map(|m| (r, m)))
    else {
        return Ok(None);
    };
    // Two tiles: one seam tests the halos, and each tile is a model to load.
    let (rows, cols) = if h >= 2 { (2, 1) } else { (1, 2) };
    let grid = Grid::even(h, w, rows, cols)
        .map_err(|e| SessionError::invalid(format!("no grid on the {h}x{w} map: {e}")))?;
    let tiled = model.tiled_run(&run, &grid)?;
    let tiles = tiled.plan.tiles.len();
    let out = run_tiled(model, &tiled, inputs, executor)?;
    let (_, rel) = within(out, whole, Difference::TOLERANCE, "tiled")?;
    Ok(Some((run.len(), tiles, rel)))
}

/// The cluster every case is planned on: the demo's device, two edges and a cloud.
const CLUSTER: &str = include_str!("../../../scenarios/local-cluster.toml");

/// Plans `model` with every planner on [`CLUSTER`] and compiles each plan into the parts a
/// deployment runs; the number of plans.
fn plan_all(model: &OnnxModel) -> Result<usize> {
    let setting = Setting::of(Scenario::from_toml(CLUSTER)?);
    let problem = setting.problem(model, &Profile::estimate(&model.graph, ESTIMATE_GFLOPS))?;
    let planners = all_planners();
    for planner in &planners {
        let plan = planner
            .plan(&problem)
            .with_context(|| format!("planner {}", planner.name()))?;
        compile(model, &problem, &plan)
            .with_context(|| format!("compiling the plan of {}", planner.name()))?;
    }
    Ok(planners.len())
}

/// The speed layer times are estimated at: only the plans' validity is checked, not their
/// worth.
const ESTIMATE_GFLOPS: f64 = 20.0;

/// `outputs` and their largest relative difference from `reference`, or an error naming the
/// run when it is above `tolerance`.
fn within(
    outputs: Vec<HostTensor>,
    reference: &[HostTensor],
    tolerance: f64,
    run: &str,
) -> Result<(Vec<HostTensor>, f64)> {
    let diff = Difference::between(&outputs, reference);
    if diff.max_rel > tolerance {
        return Err(SessionError::invalid(format!(
            "{run}: {diff}, above the tolerance {tolerance:.0e}"
        )));
    }
    Ok((outputs, diff.max_rel))
}

fn read_values(case: &Case) -> Result<(Vec<NamedTensor>, Vec<HostTensor>)> {
    let inputs = case.tensors("input", case.inputs.len())?;
    for (k, (t, declared)) in inputs.iter().zip(&case.inputs).enumerate() {
        if t.shape
            .iter()
            .map(|&d| d as u64)
            .ne(declared.shape.iter().copied())
        {
            return Err(SessionError::invalid(format!(
                "input_{k}.npy has shape {:?}, case.json says {:?}",
                t.shape, declared.shape
            )));
        }
    }
    let named = case
        .inputs
        .iter()
        .map(|i| i.name.clone())
        .zip(inputs)
        .collect();
    Ok((named, case.tensors("output", case.outputs.len())?))
}

fn import(case: &Case) -> Result<OnnxModel> {
    let bytes = read(&case.dir.join("model.onnx"))?;
    let options = ImportOptions {
        input_shapes: case
            .inputs
            .iter()
            .map(|i| (Some(i.name.clone()), i.shape.clone()))
            .collect(),
        evaluator: None,
    };
    Ok(OnnxModel::from_bytes(
        &bytes,
        &crate::folding::folding(&options),
    )?)
}

/// The reference outputs in the order of the imported graph's outputs.
fn in_graph_order(
    model: &OnnxModel,
    case: &Case,
    values: Vec<HostTensor>,
) -> Result<Vec<HostTensor>> {
    let by_name: BTreeMap<&str, HostTensor> = case
        .outputs
        .iter()
        .map(String::as_str)
        .zip(values)
        .collect();
    let g = &model.graph;
    g.outputs
        .iter()
        .map(|&t| {
            let name = &g.tensor(t).name;
            by_name.get(name.as_str()).cloned().ok_or_else(|| {
                SessionError::invalid(format!(
                    "the imported graph's output '{name}' has no reference"
                ))
            })
        })
        .collect()
}

/// Runs `model` cut into `parts` random legal parts, chained on `executor`.
fn run_parts(
    model: &OnnxModel,
    executor: &dyn Executor,
    parts: usize,
    seed: u64,
    inputs: &[NamedTensor],
) -> Result<Vec<HostTensor>> {
    let partitioning = Partitioning::random(&model.graph, parts, seed)?;
    let chain = load_chain_on(executor, model, &partitioning)?;
    Ok(chain.run(inputs.to_vec())?.0)
}

/// Passed and checked cases of one family.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Tally {
    /// Cases that passed.
    pub passed: usize,
    /// Cases checked.
    pub total: usize,
    /// Of those that did not pass, how many are out of scope.
    pub out_of_scope: usize,
    /// Of those that did not pass, how many wait for work still to do.
    pub not_yet: usize,
}

/// The cases that may fail, each with its reason (`corpus/expected.toml`). Every other case
/// must pass.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectations {
    /// Cases tiersplit does not take on.
    #[serde(default)]
    pub out_of_scope: Vec<Excused>,
    /// Cases that fail today and are meant to pass, with what they wait for.
    #[serde(default)]
    pub not_yet: Vec<Excused>,
}

/// A case, or cases, that may fail.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Excused {
    /// `family/name`, or a prefix ending in `*` that covers every case it begins.
    pub case: String,
    /// Why.
    pub reason: String,
    /// The engine it may fail on (`tract`, `ort`); every engine when absent.
    #[serde(default)]
    pub engine: Option<String>,
    /// The stage it may fail at; any when absent. A case failing elsewhere is a regression.
    #[serde(default)]
    pub stage: Option<Stage>,
}

impl Excused {
    /// Whether this covers case `id` on `engine`, failed at `stage` (`None` for a case that
    /// passed: then any stage matches).
    fn covers(&self, id: &str, engine: &str, stage: Option<Stage>) -> bool {
        let case = match self.case.strip_suffix('*') {
            Some(prefix) => id.starts_with(prefix),
            None => id == self.case,
        };
        case && self.engine.as_ref().is_none_or(|e| e == engine)
            && self.stage.zip(stage).is_none_or(|(want, got)| want == got)
    }
}

/// Why a case may fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Excuse {
    /// tiersplit does not take it on.
    OutOfScope,
    /// Meant to pass once the work named is done.
    NotYet,
}

/// How a corpus run compares with the expectations.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Verdict {
    /// Per family.
    pub families: BTreeMap<String, Tally>,
    /// Cases that must pass and did not.
    pub regressions: Vec<String>,
    /// Cases listed as allowed to fail that now pass: the list should lose them.
    pub now_passing: Vec<String>,
    /// Entries of the expectations that matched no case checked (worth a look after a full
    /// run: a renamed case, or one gone).
    pub unused: Vec<String>,
}

impl Verdict {
    /// No regression, and the expectations are up to date.
    pub fn ok(&self) -> bool {
        self.regressions.is_empty() && self.now_passing.is_empty()
    }
}

impl Expectations {
    /// Parses the TOML text of an expectations file.
    pub fn from_toml(text: &str) -> Result<Expectations> {
        toml::from_str(text).map_err(|e| SessionError::invalid(format!("expectations: {e}")))
    }

    /// Every entry, with its kind.
    fn entries(&self) -> impl Iterator<Item = (Excuse, &Excused)> {
        let kind = |k| move |e| (k, e);
        (self.out_of_scope.iter().map(kind(Excuse::OutOfScope)))
            .chain(self.not_yet.iter().map(kind(Excuse::NotYet)))
    }

    /// Why `report`, made on `engine`, may fail (or may have failed, if it passed).
    pub fn excuse(&self, report: &CaseReport, engine: &str) -> Option<(Excuse, &str)> {
        let stage = report.failure.as_ref().map(|f| f.stage);
        self.entries()
            .find(|(_, e)| e.covers(&report.id, engine, stage))
            .map(|(kind, e)| (kind, e.reason.as_str()))
    }

    /// Tallies `reports`, made on `engine`, per family and finds regressions.
    pub fn judge(&self, reports: &[CaseReport], engine: &str) -> Verdict {
        let mut v = Verdict::default();
        for r in reports {
            let tally = v.families.entry(r.family.clone()).or_default();
            tally.total += 1;
            let excuse = self.excuse(r, engine).map(|(kind, _)| kind);
            match (r.passed(), excuse) {
                (true, None) => tally.passed += 1,
                (true, Some(_)) => {
                    tally.passed += 1;
                    v.now_passing.push(r.id.clone());
                }
                (false, Some(Excuse::OutOfScope)) => tally.out_of_scope += 1,
                (false, Some(Excuse::NotYet)) => tally.not_yet += 1,
                (false, None) => v.regressions.push(r.id.clone()),
            }
        }
        v.unused = self
            .entries()
            .filter(|(_, e)| e.engine.as_ref().is_none_or(|x| x == engine))
            .filter(|(_, e)| !reports.iter().any(|r| e.covers(&r.id, engine, None)))
            .map(|(_, e)| e.case.clone())
            .collect();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report of case `id`: passed, or failed at `stage`.
    fn report(id: &str, failed_at: Option<Stage>) -> CaseReport {
        CaseReport {
            id: id.into(),
            family: id.split('/').next().unwrap().into(),
            source: "test".into(),
            layers: Some(1),
            import_ms: Some(1.0),
            unsplit_rel: Some(0.0),
            split: None,
            tiled: None,
            planned: None,
            failure: failed_at.map(|stage| Failure {
                stage,
                reason: "x".into(),
            }),
        }
    }

    const EXPECTED: &str = r#"
        [[out_of_scope]]
        case = "simple/test_strnorm_*"
        reason = "string tensors"
        [[not_yet]]
        case = "simple/test_gradient"
        reason = "training"
        stage = "import"
        [[not_yet]]
        case = "simple/test_lp_pool"
        reason = "tract lacks it"
        engine = "tract"
        [[not_yet]]
        case = "simple/test_gone"
        reason = "renamed since"
    "#;

    #[test]
    fn an_excuse_holds_for_its_cases_engine_and_stage_only() {
        let e = Expectations::from_toml(EXPECTED).unwrap();
        let import = Some(Stage::Import);
        let excuse = |id, engine, stage| e.excuse(&report(id, stage), engine);
        assert_eq!(
            excuse("simple/test_strnorm_lower", "ort", import),
            Some((Excuse::OutOfScope, "string tensors"))
        );
        assert_eq!(
            excuse("simple/test_gradient", "tract", import),
            Some((Excuse::NotYet, "training"))
        );
        assert_eq!(
            excuse("simple/test_gradient", "tract", Some(Stage::Split)),
            None
        );
        assert!(excuse("simple/test_gradient", "tract", None).is_some());
        assert_eq!(excuse("simple/test_gradient_of_add", "tract", import), None);
        assert!(excuse("simple/test_lp_pool", "tract", import).is_some());
        assert_eq!(excuse("simple/test_lp_pool", "ort", import), None);
        let bad = "[[not_yet]]\ncase = \"a/b\"\nreason = \"r\"\nstgae = \"import\"\n";
        assert!(Expectations::from_toml(bad).is_err());
    }

    #[test]
    fn failures_excused_are_tallied_and_others_are_regressions() {
        let e = Expectations::from_toml(EXPECTED).unwrap();
        let import = Some(Stage::Import);
        let v = e.judge(
            &[
                report("simple/test_strnorm_lower", import),
                report("simple/test_gradient", None),
                report("simple/test_relu", None),
                report("simple/test_strnorm_upper", Some(Stage::Unsplit)),
                report("torch/test_conv", import),
                report("simple/test_lp_pool", import),
            ],
            "ort",
        );
        assert_eq!(v.regressions, ["torch/test_conv", "simple/test_lp_pool"]);
        assert_eq!(v.now_passing, ["simple/test_gradient"]);
        assert_eq!(v.unused, ["simple/test_gone"]);
        let simple = &v.families["simple"];
        assert_eq!(
            (simple.passed, simple.total, simple.out_of_scope),
            (2, 5, 2)
        );
        assert!(!v.ok());
        assert!(e.judge(&[report("simple/test_relu", None)], "tract").ok());
        let lp_pool = [report("simple/test_lp_pool", import)];
        assert_eq!(e.judge(&lp_pool, "tract").families["simple"].not_yet, 1);
    }
}
