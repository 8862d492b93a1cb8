//! Zoo architectures equal the reference ones: parameter counts as published (torchvision),
//! counted by importing the generated ONNX, so generator and importer are checked together.

use tiersplit_onnx::{ImportOptions, OnnxModel};

fn params(name: &str) -> u64 {
    let bytes = tiersplit_zoo::build_bytes(name, 7).unwrap();
    OnnxModel::from_bytes(&bytes, &ImportOptions::default())
        .unwrap()
        .graph
        .total_params()
}

#[test]
fn reference_parameter_counts() {
    assert_eq!(params("alexnet"), 61_100_840);
    // Krizhevsky et al.'s two towers: 34,944 + 307,456 + 885,120 + 663,936 + 442,624 in the
    // convolutions, 58,631,144 in the classifier ("60 million parameters").
    assert_eq!(params("alexnet-towers"), 60_965_224);
    assert_eq!(params("vgg16"), 138_357_544);
    assert_eq!(params("resnet18"), 11_689_512);
    assert_eq!(params("resnet50"), 25_557_032);
    assert_eq!(params("googlenet"), 6_624_904);
    assert_eq!(params("mobilenetv2"), 3_504_872);
    // timm's vit_base_patch16_224 (class token and position embeddings included).
    assert_eq!(params("vit-b16"), 86_567_656);
    // milesial/Pytorch-UNet, UNet(n_channels=3, n_classes=2), transposed convolutions.
    assert_eq!(params("unet"), 31_037_698);
}

#[test]
fn other_zoo_models_have_expected_shapes() {
    let m = OnnxModel::from_bytes(
        &tiersplit_zoo::build_bytes("tinyyolov2", 1).unwrap(),
        &ImportOptions::default(),
    )
    .unwrap();
    assert_eq!(
        m.graph.tensor(m.graph.outputs[0]).shape,
        vec![1, 125, 13, 13]
    );
    let m = OnnxModel::from_bytes(
        &tiersplit_zoo::build_bytes("nin", 1).unwrap(),
        &ImportOptions::default(),
    )
    .unwrap();
    assert_eq!(m.graph.tensor(m.graph.outputs[0]).shape, vec![1, 1000]);
    assert_eq!(m.graph.total_params(), 7_439_608);
}

#[test]
fn weights_are_deterministic_per_seed() {
    assert_eq!(
        tiersplit_zoo::build_bytes("resnet18", 3).unwrap(),
        tiersplit_zoo::build_bytes("resnet18", 3).unwrap()
    );
    assert_ne!(
        tiersplit_zoo::build_bytes("resnet18", 3).unwrap(),
        tiersplit_zoo::build_bytes("resnet18", 4).unwrap()
    );
    assert!(tiersplit_zoo::build("lenet", 0)
        .unwrap_err()
        .to_string()
        .contains("unknown zoo model 'lenet'"));
}
