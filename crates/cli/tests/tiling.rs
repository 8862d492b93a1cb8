//! Tiled execution (D3's vertical separation) equals unsplit execution on zoo and real models,
//! over even, uneven and weighted grids.

mod common;

use common::{shared, shared_model, stderr, stdout, tiersplit};
use serde_json::Value;

fn tile(args: &[&str]) -> Value {
    let mut all = vec!["tile"];
    all.extend_from_slice(args);
    all.push("--json");
    let out = tiersplit(&all);
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        stdout(&out),
        stderr(&out)
    );
    serde_json::from_str(&stdout(&out)).unwrap()
}

#[test]
fn tiny_yolov3_at_416_tiles_exactly() {
    let m = shared_model("yolov3_tiny_coco.onnx");
    for grid in ["2x2", "3x1", "1x4", "3x3"] {
        let v = tile(&[m.to_str().unwrap(), "--grid", grid]);
        assert_eq!(v["pass"], true, "{grid}: {v}");
        assert_eq!(v["layers"].as_array().unwrap().len(), 19);
        assert!(v["flops_overhead"].as_f64().unwrap() > 1.0);
        assert!(v["input_bytes_overhead"].as_f64().unwrap() > 1.0);
    }
    let v = tile(&[m.to_str().unwrap(), "--weights", "1,2,3"]);
    assert_eq!(v["pass"], true);
    assert_eq!(v["grid"]["rows"], serde_json::json!([4, 9, 13]));
}

#[test]
fn zoo_and_real_models_tile_exactly() {
    let mobilenet = shared_model("mobilenet_v2_imagenet.onnx");
    let chelsea = shared().join("images/chelsea.png");
    for args in [
        vec!["zoo:vgg16", "--grid", "2x2", "--layers", "9"],
        vec!["zoo:alexnet", "--grid", "2x3"],
        vec!["zoo:resnet18", "--grid", "4x1"],
        vec!["zoo:resnet50", "--grid", "2x2", "--run", "1"],
        vec!["zoo:googlenet", "--grid", "2x2"],
        vec!["zoo:nin", "--grid", "3x2"],
        vec!["zoo:tinyyolov2", "--grid", "2x2", "--layers", "12"],
        vec!["zoo:mobilenetv2", "--grid", "2x2"],
        vec!["zoo:unet", "--grid", "2x2"],
        // Only the patch embedding is spatial: each 2x2 tile holds 7x7 whole patches.
        vec!["zoo:vit-b16", "--grid", "2x2"],
        vec![
            mobilenet.to_str().unwrap(),
            "--grid",
            "2x2",
            "--image",
            chelsea.to_str().unwrap(),
        ],
    ] {
        let v = tile(&args);
        assert_eq!(v["pass"], true, "{args:?}: {v}");
    }
}

#[test]
fn impossible_grids_are_refused() {
    let out = tiersplit(&["tile", "zoo:resnet18", "--grid", "100x1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("grid does not fit"),
        "{}",
        stderr(&out)
    );
    let out = tiersplit(&["tile", "zoo:resnet18", "--grid", "2by2"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("is not ROWSxCOLS"),
        "{}",
        stderr(&out)
    );
    let out = tiersplit(&["tile", "zoo:resnet18", "--run", "99"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("tileable runs"), "{}", stderr(&out));
}
