//! Operators beyond the model zoo's, in a model generated with the onnx package
//! (`scripts/make_op_models.py`): comparisons, logic and selection on activations (boolean
//! tensors crossing cuts), Tile and Expand of activations, and export-time shape arithmetic
//! (Shape, Equal, ConstantOfShape, Where, Range) that folds away at import. The model imports
//! with every shape static, random legal partitions chained on tract equal the unsplit run, and
//! its parts pass the ONNX checker and chain exactly in ONNX Runtime.

mod common;

use common::{stderr, stdout, tiersplit};
use std::path::{Path, PathBuf};
use std::process::Command;

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scripts")
        .join(name)
}

#[test]
fn comparison_logic_and_generator_ops_import_split_and_run_exactly() {
    let Ok(python) = std::env::var("TIERSPLIT_PYTHON") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must set TIERSPLIT_PYTHON (scripts/test does)"
        );
        eprintln!("TIERSPLIT_PYTHON unset: the onnx package is needed to make the model");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let made = Command::new(&python)
        .arg(script("make_op_models.py"))
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", stderr(&made));
    let model = dir.path().join("logic_generate.onnx");
    let m = model.to_str().unwrap();

    // The shape arithmetic folded away: no Shape, Equal, ConstantOfShape or Range layer.
    let o = tiersplit(&["inspect", m]);
    let listing = stdout(&o);
    assert!(o.status.success(), "{}", stderr(&o));
    for op in [
        "Greater", "Not", "Where", "Mod", "Floor", "Tile", "Expand", "Softsign", "Sign",
    ] {
        assert!(listing.contains(op), "{op} missing:\n{listing}");
    }
    for folded in [" Shape ", " Equal ", " ConstantOfShape ", " Range "] {
        assert!(!listing.contains(folded), "{folded} not folded:\n{listing}");
    }
    assert!(listing.contains("18 layers"), "{listing}");

    // Random legal partitions (boolean tensors among the cut ones) chained on tract.
    let o = tiersplit(&["verify", m, "--partitions", "5", "--seed", "3"]);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("PASS"), "{}", stdout(&o));
    // The first part ends at Greater: its boolean mask crosses the cut.
    assert!(stdout(&o).contains("part 0:    4 layers"), "{}", stdout(&o));

    // The parts in ONNX Runtime: checker, load, chained equals unsplit.
    let parts = dir.path().join("parts");
    let o = tiersplit(&[
        "split",
        m,
        "--random",
        "5",
        "--seed",
        "3",
        "-o",
        parts.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let x = dir.path().join("x.npy");
    let o = Command::new(&python)
        .args([
            "-c",
            "import numpy as np, sys; np.save(sys.argv[1], np.random.default_rng(1).standard_normal((1, 3, 8, 8)).astype(np.float32))",
        ])
        .arg(&x)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let o = Command::new(&python)
        .arg(script("ort_check.py"))
        .args([&model, &parts, &x])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("5 parts pass the ONNX checker"),
        "{}",
        stdout(&o)
    );
}
