//! Operators beyond the model zoo's, in models generated with the onnx package
//! (`scripts/make_op_models.py`): comparisons, logic and selection on activations (boolean
//! tensors crossing cuts), Tile and Expand of activations, export-time shape arithmetic
//! (Shape, Equal, ConstantOfShape, Where, Range) that folds away at import; normalisations,
//! a transposed convolution, pixel shuffles, scans and index reductions (an int64 output).
//! Each model imports with every shape static, random legal partitions chained on tract equal
//! the unsplit run, and its parts pass the ONNX checker and chain exactly in ONNX Runtime. An
//! opset-6 model (which ONNX Runtime does not run) is read as opset 7 and answers as numpy
//! does.

mod common;

use common::{stderr, stdout, tiersplit};
use std::path::{Path, PathBuf};
use std::process::Command;

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scripts")
        .join(name)
}

/// The models made by `scripts/make_op_models.py` in `dir`, or `None` without Python.
fn make_models(dir: &Path) -> Option<String> {
    let Ok(python) = std::env::var("TIERSPLIT_PYTHON") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must set TIERSPLIT_PYTHON (scripts/test does)"
        );
        eprintln!("TIERSPLIT_PYTHON unset: the onnx package is needed to make the models");
        return None;
    };
    let made = Command::new(&python)
        .arg(script("make_op_models.py"))
        .arg(dir)
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", stderr(&made));
    Some(python)
}

/// 5 random legal parts (seed 3) of `model` chained on tract equal the unsplit run (`verify`,
/// whose output is returned), and the same parts written next to it by `split`.
fn verify_and_split(model: &Path) -> (String, PathBuf) {
    let m = model.to_str().unwrap();
    let o = tiersplit(&["verify", m, "--partitions", "5", "--seed", "3"]);
    let verified = stdout(&o);
    assert!(o.status.success(), "{verified}\n{}", stderr(&o));
    assert!(verified.contains("PASS"), "{verified}");
    let stem = model.file_stem().unwrap().to_str().unwrap();
    let parts = model.parent().unwrap().join(format!("{stem}-parts"));
    let out = parts.to_str().unwrap();
    let o = tiersplit(&["split", m, "--random", "5", "--seed", "3", "-o", out]);
    assert!(o.status.success(), "{}", stderr(&o));
    (verified, parts)
}

/// `model` imports with `ops` as layers and `layers` layers in all; 5 random legal parts
/// (seed 3) chained on tract equal the unsplit run, and pass the ONNX checker and chain
/// exactly in ONNX Runtime on an input of `shape`. Returns the `verify` output.
fn check(python: &str, model: &Path, ops: &[&str], layers: usize, shape: &str) -> String {
    let m = model.to_str().unwrap();
    let o = tiersplit(&["inspect", m]);
    let listing = stdout(&o);
    assert!(o.status.success(), "{}", stderr(&o));
    for op in ops {
        assert!(
            listing.contains(&format!(" {op} ")),
            "{op} missing:\n{listing}"
        );
    }
    assert!(listing.contains(&format!("{layers} layers")), "{listing}");
    let (verified, parts) = verify_and_split(model);
    let dir = model.parent().unwrap();
    let stem = model.file_stem().unwrap().to_str().unwrap();
    let x = dir.join(format!("{stem}-x.npy"));
    let o = Command::new(python)
        .args([
            "-c",
            &format!("import numpy as np, sys; np.save(sys.argv[1], np.random.default_rng(1).standard_normal(({shape})).astype(np.float32))"),
        ])
        .arg(&x)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let o = Command::new(python)
        .arg(script("ort_check.py"))
        .args([model, &parts, &x])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("5 parts pass the ONNX checker"),
        "{}",
        stdout(&o)
    );
    verified
}

#[test]
fn comparison_logic_and_generator_ops_import_split_and_run_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let Some(python) = make_models(dir.path()) else {
        return;
    };
    let model = dir.path().join("logic_generate.onnx");
    let ops = [
        "Greater", "Not", "Where", "Mod", "Floor", "Tile", "Expand", "Softsign", "Sign",
    ];
    let verified = check(&python, &model, &ops, 18, "1, 3, 8, 8");
    // The shape arithmetic folded away: 18 layers of the 24 nodes, none of them Shape, Equal,
    // ConstantOfShape or Range; and the first part ends at Greater, so its boolean mask
    // crosses the cut.
    let listing = stdout(&tiersplit(&["inspect", model.to_str().unwrap()]));
    for folded in [" Shape ", " Equal ", " ConstantOfShape ", " Range "] {
        assert!(!listing.contains(folded), "{folded} not folded:\n{listing}");
    }
    assert!(verified.contains("part 0:    4 layers"), "{verified}");
}

#[test]
fn normalisation_upsampling_and_index_ops_import_split_and_run_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let Some(python) = make_models(dir.path()) else {
        return;
    };
    let ops = [
        "InstanceNormalization",
        "ConvTranspose",
        "LayerNormalization",
        "SpaceToDepth",
        "DepthToSpace",
        "CumSum",
        "ReduceL2",
        "Hardmax",
        "ArgMax",
    ];
    let model = dir.path().join("norm_upsample.onnx");
    check(&python, &model, &ops, 12, "1, 4, 8, 8");
}

#[test]
fn index_selection_and_einsum_ops_import_split_and_run_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let Some(python) = make_models(dir.path()) else {
        return;
    };
    let ops = [
        "TopK",
        "GatherElements",
        "Einsum",
        "GatherND",
        "ScatterND",
        "ScatterElements",
    ];
    let model = dir.path().join("select_einsum.onnx");
    check(&python, &model, &ops, 9, "1, 4, 6");
}

#[test]
fn an_opset6_model_is_read_as_opset7_and_answers_as_numpy_does() {
    let dir = tempfile::tempdir().unwrap();
    let Some(python) = make_models(dir.path()) else {
        return;
    };
    let (model, x, y) = (
        dir.path().join("legacy6.onnx"),
        dir.path().join("legacy6-x.npy"),
        dir.path().join("legacy6-y.npy"),
    );
    let m = model.to_str().unwrap();
    // The whole model on tract equals numpy's answer.
    let out = dir.path().join("out.npy");
    let o = tiersplit(&[
        "infer",
        m,
        "--input",
        x.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = Command::new(&python)
        .args([
            "-c",
            "import numpy as np, sys; a, b = np.load(sys.argv[1]), np.load(sys.argv[2]); \
             d = float(np.abs(a - b).max() / np.abs(b).max()); print('rel', d); sys.exit(d > 1e-4)",
        ])
        .args([&out, &y])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    // Random partitions chain exactly on tract; in ONNX Runtime, as opset-7 parts, they
    // reproduce numpy's answer.
    let (_, parts) = verify_and_split(&model);
    let o = Command::new(&python)
        .arg(script("ort_check.py"))
        .args([&model, &parts, &x, &y])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("5 parts pass"), "{}", stdout(&o));
}
