//! The real-model corpus: folders laid out by `scripts/make_corpus.py`, each a model as shipped
//! with its inputs and a reference answer (ONNX Runtime's, or the one a test ships).
//!
//! [`check_case`] imports a case, writes it back as one part and runs it, then cuts it at
//! random legal points and runs the parts chained, on one engine. The whole run must match the
//! reference within [`Difference::ENGINE_TOLERANCE`] (another engine's answer), and the cut
//! run the whole one within [`Difference::TOLERANCE`]. [`Expectations`] lists the cases that are out of scope,
//! each with its reason, so that every other case failing is a regression.

use crate::engine::{load_chain_on, NamedTensor};
use crate::error::{read, Result, SessionError};
use crate::npy::read_npy;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tiersplit_exec::{Difference, Executor, HostTensor};
use tiersplit_graph::Partitioning;
use tiersplit_onnx::{ImportOptions, OnnxModel};

/// One case of the corpus, as `case.json` describes it.
#[derive(Debug, Clone, Deserialize)]
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
    /// Why ONNX Runtime could not run the model, when it could not.
    #[serde(default)]
    pub ort_error: Option<String>,
    /// The case's folder.
    #[serde(skip)]
    pub dir: PathBuf,
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
    /// Reads `dir/case.json`.
    pub fn read(dir: &Path) -> Result<Case> {
        let path = dir.join("case.json");
        let text = String::from_utf8_lossy(&read(&path)?).into_owned();
        let mut case: Case = serde_json::from_str(&text)
            .map_err(|e| SessionError::invalid(format!("{}: {e}", path.display())))?;
        case.dir = dir.to_path_buf();
        Ok(case)
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
                cases.push(Case::read(&dir)?);
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            partitions: 3,
            seed: 0,
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
    if let Some(e) = &case.ort_error {
        if case.reference != "shipped with the test" {
            return Err(fail(Stage::Reference)(SessionError::invalid(format!(
                "ONNX Runtime cannot run it: {e}"
            ))));
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
        .and_then(|out| within(&out, &reference, Difference::ENGINE_TOLERANCE, "whole"))
        .map_err(fail(Stage::Unsplit))?;
    report.unsplit_rel = Some(whole.1);
    let parts = options.partitions.min(layers);
    if parts >= 2 {
        let (_, rel) = run_parts(&model, executor, parts, options.seed, &inputs)
            .and_then(|out| within(&out, &whole.0, Difference::TOLERANCE, "cut"))
            .map_err(fail(Stage::Split))?;
        report.split = Some((parts, rel));
    }
    Ok(())
}

/// `outputs` and their largest relative difference from `reference`, or an error naming the
/// run when it is above `tolerance`.
fn within(
    outputs: &[HostTensor],
    reference: &[HostTensor],
    tolerance: f64,
    run: &str,
) -> Result<(Vec<HostTensor>, f64)> {
    let diff = Difference::between(outputs, reference);
    if diff.max_rel > tolerance {
        return Err(SessionError::invalid(format!(
            "{run}: {diff}, above the tolerance {tolerance:.0e}"
        )));
    }
    Ok((outputs.to_vec(), diff.max_rel))
}

fn read_values(case: &Case) -> Result<(Vec<NamedTensor>, Vec<HostTensor>)> {
    let inputs = case.tensors("input", case.inputs.len())?;
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
    };
    Ok(OnnxModel::from_bytes(&bytes, &options)?)
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
pub struct Excused {
    /// `family/name`, or a prefix ending in `*` that covers every case it begins.
    pub case: String,
    /// Why.
    pub reason: String,
    /// The engine it may fail on (`tract`, `ort`); every engine when absent.
    #[serde(default)]
    pub engine: Option<String>,
}

impl Excused {
    fn covers(&self, id: &str, engine: &str) -> bool {
        let case = match self.case.strip_suffix('*') {
            Some(prefix) => id.starts_with(prefix),
            None => id == self.case,
        };
        case && self.engine.as_ref().is_none_or(|e| e == engine)
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

fn find_excuse<'a>(
    list: &'a [Excused],
    id: &str,
    engine: &str,
    kind: Excuse,
) -> Option<(Excuse, &'a str)> {
    list.iter()
        .find(|e| e.covers(id, engine))
        .map(|e| (kind, e.reason.as_str()))
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

    /// Why `id` may fail on `engine`, if it may.
    pub fn excuse(&self, id: &str, engine: &str) -> Option<(Excuse, &str)> {
        find_excuse(&self.out_of_scope, id, engine, Excuse::OutOfScope)
            .or_else(|| find_excuse(&self.not_yet, id, engine, Excuse::NotYet))
    }

    /// Tallies `reports`, made on `engine`, per family and finds regressions.
    pub fn judge(&self, reports: &[CaseReport], engine: &str) -> Verdict {
        let mut v = Verdict::default();
        for r in reports {
            let tally = v.families.entry(r.family.clone()).or_default();
            tally.total += 1;
            let excuse = self.excuse(&r.id, engine).map(|(kind, _)| kind);
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
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(id: &str, passed: bool) -> CaseReport {
        CaseReport {
            id: id.into(),
            family: id.split('/').next().unwrap().into(),
            source: "test".into(),
            layers: Some(1),
            import_ms: Some(1.0),
            unsplit_rel: Some(0.0),
            split: None,
            failure: (!passed).then(|| Failure {
                stage: Stage::Import,
                reason: "x".into(),
            }),
        }
    }

    #[test]
    fn failures_out_of_scope_are_excused_and_others_are_regressions() {
        let e = Expectations::from_toml(
            r#"
            [[out_of_scope]]
            case = "simple/test_strnorm_*"
            reason = "string tensors"
            [[not_yet]]
            case = "simple/test_gradient"
            reason = "training"
            [[not_yet]]
            case = "simple/test_lp_pool"
            reason = "tract lacks it"
            engine = "tract"
            "#,
        )
        .unwrap();
        assert_eq!(
            e.excuse("simple/test_strnorm_lower", "ort"),
            Some((Excuse::OutOfScope, "string tensors"))
        );
        assert_eq!(
            e.excuse("simple/test_gradient", "tract"),
            Some((Excuse::NotYet, "training"))
        );
        assert_eq!(e.excuse("simple/test_gradient_of_add", "tract"), None);
        assert!(e.excuse("simple/test_lp_pool", "tract").is_some());
        assert_eq!(e.excuse("simple/test_lp_pool", "ort"), None);
        let v = e.judge(
            &[
                report("simple/test_strnorm_lower", false),
                report("simple/test_gradient", true),
                report("simple/test_relu", true),
                report("simple/test_strnorm_upper", false),
                report("torch/test_conv", false),
                report("simple/test_lp_pool", false),
            ],
            "ort",
        );
        assert_eq!(v.regressions, ["torch/test_conv", "simple/test_lp_pool"]);
        assert_eq!(v.now_passing, ["simple/test_gradient"]);
        let simple = &v.families["simple"];
        assert_eq!(
            (simple.passed, simple.total, simple.out_of_scope),
            (2, 5, 2)
        );
        assert!(!v.ok());
        assert!(e.judge(&[report("simple/test_relu", true)], "tract").ok());
        assert!(e
            .judge(&[report("simple/test_lp_pool", false)], "tract")
            .ok());
    }
}
