use crate::{NetBuilder, Sym, ZooError};
use prost::Message;
use tiersplit_onnx::proto::ModelProto;

/// A model the zoo can generate.
#[derive(Debug, Clone, Copy)]
pub struct ZooEntry {
    /// Name to build it by, matched case-insensitively.
    pub name: &'static str,
    /// Architecture, graph shape and parameter count, in words.
    pub description: &'static str,
    /// Shape of the model's input, NCHW.
    pub input: [u64; 4],
    build: fn(u64) -> ModelProto,
}

/// Every model the zoo can generate, in the order listings show them.
pub const ZOO: &[ZooEntry] = &[
    ZooEntry {
        name: "alexnet",
        description: "AlexNet (torchvision), chain, 61.1 M parameters",
        input: [1, 3, 224, 224],
        build: alexnet,
    },
    ZooEntry {
        name: "vgg16",
        description: "VGG16 (torchvision), chain, 138.4 M parameters",
        input: [1, 3, 224, 224],
        build: vgg16,
    },
    ZooEntry {
        name: "resnet18",
        description: "ResNet-18 (torchvision), residual DAG, 11.7 M parameters",
        input: [1, 3, 224, 224],
        build: resnet18,
    },
    ZooEntry {
        name: "resnet50",
        description: "ResNet-50 (torchvision), bottleneck DAG, 25.6 M parameters",
        input: [1, 3, 224, 224],
        build: resnet50,
    },
    ZooEntry {
        name: "googlenet",
        description:
            "GoogLeNet / Inception v1 (torchvision, no aux heads), branchy DAG, 6.6 M parameters",
        input: [1, 3, 224, 224],
        build: googlenet,
    },
    ZooEntry {
        name: "mobilenetv2",
        description: "MobileNetV2 (torchvision), inverted residual DAG, 3.5 M parameters",
        input: [1, 3, 224, 224],
        build: mobilenet_v2,
    },
    ZooEntry {
        name: "nin",
        description: "Network in Network (ImageNet variant), chain, 7.4 M parameters",
        input: [1, 3, 224, 224],
        build: nin,
    },
    ZooEntry {
        name: "alexnet-towers",
        description: "AlexNet as first trained on two GPUs (Krizhevsky et al. 2012): two towers \
                      joined at conv3 and the classifier, written tower by tower; DAG, 61.0 M \
                      parameters",
        input: [1, 3, 224, 224],
        build: alexnet_towers,
    },
    ZooEntry {
        name: "tinyyolov2",
        description: "tiny YOLOv2 (Darknet tiny-yolo-voc), chain, 416x416, 15.9 M parameters",
        input: [1, 3, 416, 416],
        build: tiny_yolo_v2,
    },
    ZooEntry {
        name: "vit-b16",
        description: "ViT-B/16 (Dosovitskiy et al., timm's vit_base_patch16_224): 16x16 patch \
                      embedding, class token, 12 encoder blocks of 12-head attention (MatMul, \
                      Softmax) and a Gelu MLP with LayerNorm, chain of blocks with residuals; \
                      opset 20, 86.6 M parameters",
        input: [1, 3, 224, 224],
        build: vit_b16,
    },
    ZooEntry {
        name: "unet",
        description: "U-Net (Ronneberger et al., as milesial/Pytorch-UNet with transposed \
                      convolutions): 4 downsampling stages, a ConvTranspose decoder with skip \
                      concatenations, 2 classes, 128x128; DAG, 31.0 M parameters",
        input: [1, 3, 128, 128],
        build: unet,
    },
];

/// Generates a zoo model with weights drawn from `seed`.
pub fn build(name: &str, seed: u64) -> Result<ModelProto, ZooError> {
    let e = ZOO
        .iter()
        .find(|e| e.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| {
            ZooError::Unknown(
                name.into(),
                ZOO.iter().map(|e| e.name).collect::<Vec<_>>().join(", "),
            )
        })?;
    Ok((e.build)(seed))
}

/// [`build`] encoded as ONNX bytes.
pub fn build_bytes(name: &str, seed: u64) -> Result<Vec<u8>, ZooError> {
    Ok(build(name, seed)?.encode_to_vec())
}

fn alexnet(seed: u64) -> ModelProto {
    let mut b = NetBuilder::new("alexnet", seed);
    let x = b.input("input", &[1, 3, 224, 224]);
    let h = tower(
        &mut b,
        "features",
        &x,
        &[
            (64, 11, 4, 2, true),
            (192, 5, 1, 2, true),
            (384, 3, 1, 1, false),
            (256, 3, 1, 1, false),
            (256, 3, 1, 1, true),
        ],
    );
    let y = classifier(&mut b, &h);
    b.finish(&[y])
}

/// AlexNet's and VGG's classifier: flatten, two 4096-wide layers with ReLU, 1000 classes.
fn classifier(b: &mut NetBuilder, h: &Sym) -> Sym {
    b.scope("classifier");
    let mut h = b.flatten(h);
    for _ in 0..2 {
        h = b.linear(&h, 4096);
        h = b.relu(&h);
    }
    b.linear(&h, 1000)
}

/// A run of convolutions (each followed by ReLU, and by max pooling where asked), its layers
/// named `{name}.conv{i}`: AlexNet's features, or one of its towers.
fn tower(b: &mut NetBuilder, name: &str, x: &Sym, convs: &[(u64, u64, u64, u64, bool)]) -> Sym {
    let mut h = x.clone();
    for (i, &(c, k, s, p, pool)) in convs.iter().enumerate() {
        b.scope(&format!("{name}.conv{i}"));
        h = b.conv(&h, c, k, s, p, 1, true);
        h = b.relu(&h);
        if pool {
            h = b.max_pool(&h, 3, 2, 0, false);
        }
    }
    h
}

/// The original AlexNet's layout: its layers split in two towers (one per GPU) that see each
/// other only at conv3 and the classifier. Each stage is written tower by tower, as a forward
/// pass over two branch modules is: a topological order that runs one tower's stage before the
/// other's, so a cut through both towers' middles is no prefix of it (what DADS's min-cut finds
/// and Neurosurgeon's chain split cannot).
fn alexnet_towers(seed: u64) -> ModelProto {
    let mut b = NetBuilder::new("alexnet-towers", seed);
    let x = b.input("input", &[1, 3, 224, 224]);
    let first = [(48, 11, 4, 2, true), (128, 5, 1, 2, true)];
    let (a, c) = (
        tower(&mut b, "a", &x, &first),
        tower(&mut b, "b", &x, &first),
    );
    b.scope("join.conv2");
    let joined = b.concat(&[a, c]);
    let second = [
        (192, 3, 1, 1, false),
        (192, 3, 1, 1, false),
        (128, 3, 1, 1, true),
    ];
    let a = tower(&mut b, "a.late", &joined, &second);
    let c = tower(&mut b, "b.late", &joined, &second);
    b.scope("classifier");
    let h = b.concat(&[a, c]);
    let y = classifier(&mut b, &h);
    b.finish(&[y])
}

fn vgg16(seed: u64) -> ModelProto {
    let mut b = NetBuilder::new("vgg16", seed);
    let mut h = b.input("input", &[1, 3, 224, 224]);
    for (stage, &(c, n)) in [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)]
        .iter()
        .enumerate()
    {
        b.scope(&format!("features.block{}", stage + 1));
        for _ in 0..n {
            h = b.conv(&h, c, 3, 1, 1, 1, true);
            h = b.relu(&h);
        }
        h = b.max_pool(&h, 2, 2, 0, false);
    }
    let y = classifier(&mut b, &h);
    b.finish(&[y])
}

fn conv_bn(b: &mut NetBuilder, x: &Sym, c: u64, k: u64, s: u64, p: u64, relu: bool) -> Sym {
    let h = b.conv(x, c, k, s, p, 1, false);
    let h = b.batch_norm(&h, 1e-5);
    if relu {
        b.relu(&h)
    } else {
        h
    }
}

fn resnet_stem(b: &mut NetBuilder) -> Sym {
    let x = b.input("input", &[1, 3, 224, 224]);
    b.scope("stem");
    let h = conv_bn(b, &x, 64, 7, 2, 3, true);
    b.max_pool(&h, 3, 2, 1, false)
}

fn resnet_head(b: &mut NetBuilder, h: &Sym) -> Sym {
    b.scope("head");
    let h = b.global_avg_pool(h);
    let h = b.flatten(&h);
    b.linear(&h, 1000)
}

fn resnet18(seed: u64) -> ModelProto {
    let mut b = NetBuilder::new("resnet18", seed);
    let mut h = resnet_stem(&mut b);
    for (stage, &c) in [64u64, 128, 256, 512].iter().enumerate() {
        for block in 0..2 {
            b.scope(&format!("layer{}.{block}", stage + 1));
            let stride = if stage > 0 && block == 0 { 2 } else { 1 };
            let y = conv_bn(&mut b, &h, c, 3, stride, 1, true);
            let y = conv_bn(&mut b, &y, c, 3, 1, 1, false);
            let skip = if stride != 1 || h.shape[1] != c {
                conv_bn(&mut b, &h, c, 1, stride, 0, false)
            } else {
                h.clone()
            };
            let s = b.add(&y, &skip);
            h = b.relu(&s);
        }
    }
    let y = resnet_head(&mut b, &h);
    b.finish(&[y])
}

fn resnet50(seed: u64) -> ModelProto {
    let mut b = NetBuilder::new("resnet50", seed);
    let mut h = resnet_stem(&mut b);
    for (stage, &(planes, n)) in [(64u64, 3), (128, 4), (256, 6), (512, 3)]
        .iter()
        .enumerate()
    {
        for block in 0..n {
            b.scope(&format!("layer{}.{block}", stage + 1));
            let stride = if stage > 0 && block == 0 { 2 } else { 1 };
            let out = planes * 4;
            let y = conv_bn(&mut b, &h, planes, 1, 1, 0, true);
            let y = conv_bn(&mut b, &y, planes, 3, stride, 1, true);
            let y = conv_bn(&mut b, &y, out, 1, 1, 0, false);
            let skip = if block == 0 {
                conv_bn(&mut b, &h, out, 1, stride, 0, false)
            } else {
                h.clone()
            };
            let s = b.add(&y, &skip);
            h = b.relu(&s);
        }
    }
    let y = resnet_head(&mut b, &h);
    b.finish(&[y])
}

/// torchvision's BasicConv2d: convolution without bias, BatchNorm (eps 0.001), ReLU.
fn basic_conv(b: &mut NetBuilder, x: &Sym, c: u64, k: u64, s: u64, p: u64) -> Sym {
    let h = b.conv(x, c, k, s, p, 1, false);
    let h = b.batch_norm(&h, 1e-3);
    b.relu(&h)
}

#[allow(clippy::too_many_arguments)]
fn inception(
    b: &mut NetBuilder,
    x: &Sym,
    c1: u64,
    c3r: u64,
    c3: u64,
    c5r: u64,
    c5: u64,
    pool: u64,
) -> Sym {
    let b1 = basic_conv(b, x, c1, 1, 1, 0);
    let b2 = basic_conv(b, x, c3r, 1, 1, 0);
    let b2 = basic_conv(b, &b2, c3, 3, 1, 1);
    // torchvision uses a 3x3 kernel in the "5x5" branch; the reference parameter count has it.
    let b3 = basic_conv(b, x, c5r, 1, 1, 0);
    let b3 = basic_conv(b, &b3, c5, 3, 1, 1);
    let b4 = b.max_pool(x, 3, 1, 1, true);
    let b4 = basic_conv(b, &b4, pool, 1, 1, 0);
    b.concat(&[b1, b2, b3, b4])
}

fn googlenet(seed: u64) -> ModelProto {
    let mut b = NetBuilder::new("googlenet", seed);
    let x = b.input("input", &[1, 3, 224, 224]);
    b.scope("stem");
    let h = basic_conv(&mut b, &x, 64, 7, 2, 3);
    let h = b.max_pool(&h, 3, 2, 0, true);
    let h = basic_conv(&mut b, &h, 64, 1, 1, 0);
    let h = basic_conv(&mut b, &h, 192, 3, 1, 1);
    let mut h = b.max_pool(&h, 3, 2, 0, true);
    let modules: [(&str, [u64; 6]); 9] = [
        ("3a", [64, 96, 128, 16, 32, 32]),
        ("3b", [128, 128, 192, 32, 96, 64]),
        ("4a", [192, 96, 208, 16, 48, 64]),
        ("4b", [160, 112, 224, 24, 64, 64]),
        ("4c", [128, 128, 256, 24, 64, 64]),
        ("4d", [112, 144, 288, 32, 64, 64]),
        ("4e", [256, 160, 320, 32, 128, 128]),
        ("5a", [256, 160, 320, 32, 128, 128]),
        ("5b", [384, 192, 384, 48, 128, 128]),
    ];
    for (name, [c1, c3r, c3, c5r, c5, pool]) in modules {
        b.scope(&format!("inception{name}"));
        h = inception(&mut b, &h, c1, c3r, c3, c5r, c5, pool);
        if name == "3b" {
            h = b.max_pool(&h, 3, 2, 0, true);
        } else if name == "4e" {
            h = b.max_pool(&h, 2, 2, 0, true);
        }
    }
    b.scope("head");
    let h = b.global_avg_pool(&h);
    let h = b.flatten(&h);
    let y = b.linear(&h, 1000);
    b.finish(&[y])
}

fn conv_bn_relu6(b: &mut NetBuilder, x: &Sym, c: u64, k: u64, s: u64, groups: u64) -> Sym {
    let h = b.conv(x, c, k, s, (k - 1) / 2, groups, false);
    let h = b.batch_norm(&h, 1e-5);
    b.relu6(&h)
}

fn mobilenet_v2(seed: u64) -> ModelProto {
    let mut b = NetBuilder::new("mobilenetv2", seed);
    let x = b.input("input", &[1, 3, 224, 224]);
    b.scope("features.0");
    let mut h = conv_bn_relu6(&mut b, &x, 32, 3, 2, 1);
    let mut idx = 1;
    for &(t, c, n, s) in &[
        (1u64, 16u64, 1, 1u64),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    ] {
        for i in 0..n {
            b.scope(&format!("features.{idx}"));
            idx += 1;
            let stride = if i == 0 { s } else { 1 };
            let inp = h.shape[1];
            let hidden = inp * t;
            let mut y = h.clone();
            if t != 1 {
                y = conv_bn_relu6(&mut b, &y, hidden, 1, 1, 1);
            }
            y = conv_bn_relu6(&mut b, &y, hidden, 3, stride, hidden);
            y = b.conv(&y, c, 1, 1, 0, 1, false);
            y = b.batch_norm(&y, 1e-5);
            h = if stride == 1 && inp == c {
                b.add(&h, &y)
            } else {
                y
            };
        }
    }
    b.scope(&format!("features.{idx}"));
    let h = conv_bn_relu6(&mut b, &h, 1280, 1, 1, 1);
    b.scope("classifier");
    let h = b.global_avg_pool(&h);
    let h = b.flatten(&h);
    let y = b.linear(&h, 1000);
    b.finish(&[y])
}

fn nin(seed: u64) -> ModelProto {
    let mut b = NetBuilder::new("nin", seed);
    let mut h = b.input("input", &[1, 3, 224, 224]);
    let blocks = [
        (96u64, 11u64, 4u64, 0u64),
        (256, 5, 1, 2),
        (384, 3, 1, 1),
        (1000, 3, 1, 1),
    ];
    for (i, &(c, k, s, p)) in blocks.iter().enumerate() {
        b.scope(&format!("mlpconv{}", i + 1));
        h = b.conv(&h, c, k, s, p, 1, true);
        h = b.relu(&h);
        for _ in 0..2 {
            h = b.conv(&h, c, 1, 1, 0, 1, true);
            h = b.relu(&h);
        }
        if i < 3 {
            h = b.max_pool(&h, 3, 2, 0, false);
        }
    }
    b.scope("head");
    let h = b.global_avg_pool(&h);
    let y = b.flatten(&h);
    b.finish(&[y])
}

fn tiny_yolo_v2(seed: u64) -> ModelProto {
    let mut b = NetBuilder::new("tinyyolov2", seed);
    let mut h = b.input("input", &[1, 3, 416, 416]);
    let convbn = |b: &mut NetBuilder, x: &Sym, c: u64| {
        let h = b.conv(x, c, 3, 1, 1, 1, false);
        let h = b.batch_norm(&h, 1e-5);
        b.leaky_relu(&h, 0.1)
    };
    for (i, &c) in [16u64, 32, 64, 128, 256, 512].iter().enumerate() {
        b.scope(&format!("layer{}", 2 * i));
        h = convbn(&mut b, &h, c);
        h = if c == 512 {
            // Darknet's size-2 stride-1 pool keeps 13x13 by padding right and bottom.
            b.max_pool_padded(&h, 2, 1, [0, 0, 1, 1])
        } else {
            b.max_pool(&h, 2, 2, 0, false)
        };
    }
    b.scope("layer12");
    h = convbn(&mut b, &h, 1024);
    b.scope("layer13");
    h = convbn(&mut b, &h, 1024);
    b.scope("detector");
    let y = b.conv(&h, 125, 1, 1, 0, 1, true);
    b.finish(&[y])
}

/// ViT-B/16: 768 wide, 12 heads of 64, an MLP of 3072, as exported from PyTorch (attention's
/// 1/8 scale folded into the query projection's weights).
fn vit_b16(seed: u64) -> ModelProto {
    const WIDTH: u64 = 768;
    const HEADS: u64 = 12;
    const DEPTH: usize = 12;
    const MLP: u64 = 3072;
    const TOKENS: u64 = 197;
    let mut b = NetBuilder::new("vit_b16", seed);
    let x = b.input("input", &[1, 3, 224, 224]);
    b.scope("patch_embed");
    let p = b.conv(&x, WIDTH, 16, 16, 0, 1, true);
    let p = b.reshape(&p, &[1, WIDTH, TOKENS - 1]);
    let p = b.transpose(&p, &[0, 2, 1]);
    let cls = b.parameter("cls_token", &[1, 1, WIDTH]);
    let t = b.concat_axis(&[cls, p], 1);
    let pos = b.parameter("pos_embed", &[1, TOKENS, WIDTH]);
    let mut h = b.add(&t, &pos);
    for block in 0..DEPTH {
        b.scope(&format!("blocks.{block}.attn"));
        let n = b.layer_norm(&h, 1e-6);
        let a = attention(&mut b, &n, HEADS);
        h = b.add(&h, &a);
        b.scope(&format!("blocks.{block}.mlp"));
        let n = b.layer_norm(&h, 1e-6);
        let m = b.dense(&n, MLP, (0, 1.0));
        let m = b.gelu(&m);
        let m = b.dense(&m, WIDTH, (0, 1.0));
        h = b.add(&h, &m);
    }
    b.scope("head");
    let n = b.layer_norm(&h, 1e-6);
    let c = b.gather(&n, 0, 1);
    let y = b.linear(&c, 1000);
    b.finish(&[y])
}

/// Multi-head self-attention on a (1, tokens, width) sequence.
fn attention(b: &mut NetBuilder, x: &Sym, heads: u64) -> Sym {
    let (tokens, width) = (x.shape[1], x.shape[2]);
    let dh = width / heads;
    let scale = 1.0 / (dh as f32).sqrt();
    // q's columns come first.
    let qkv = b.dense(x, 3 * width, (width, scale));
    let qkv = b.reshape(&qkv, &[1, tokens, 3, heads, dh]);
    let qkv = b.transpose(&qkv, &[2, 0, 3, 1, 4]);
    let q = b.gather(&qkv, 0, 0);
    let k = b.gather(&qkv, 1, 0);
    let v = b.gather(&qkv, 2, 0);
    let kt = b.transpose(&k, &[0, 1, 3, 2]);
    let s = b.matmul(&q, &kt);
    let s = b.softmax(&s);
    let o = b.matmul(&s, &v);
    let o = b.transpose(&o, &[0, 2, 1, 3]);
    let o = b.reshape(&o, &[1, tokens, width]);
    b.dense(&o, width, (0, 1.0))
}

/// U-Net's two 3x3 convolutions, each with BatchNormalization and ReLU.
fn double_conv(b: &mut NetBuilder, x: &Sym, c: u64) -> Sym {
    let h = conv_bn(b, x, c, 3, 1, 1, true);
    conv_bn(b, &h, c, 3, 1, 1, true)
}

/// U-Net: 64 to 1024 channels down, transposed convolutions up, each joined to the encoder's
/// map of its size.
fn unet(seed: u64) -> ModelProto {
    let mut b = NetBuilder::new("unet", seed);
    let x = b.input("input", &[1, 3, 128, 128]);
    b.scope("inc");
    let mut h = double_conv(&mut b, &x, 64);
    let mut skips = Vec::new();
    for (i, c) in [128u64, 256, 512, 1024].into_iter().enumerate() {
        skips.push(h.clone());
        b.scope(&format!("down{}", i + 1));
        let p = b.max_pool(&h, 2, 2, 0, false);
        h = double_conv(&mut b, &p, c);
    }
    for (i, c) in [512u64, 256, 128, 64].into_iter().enumerate() {
        b.scope(&format!("up{}", i + 1));
        let u = b.conv_transpose(&h, c, 2, 2);
        let skip = skips.pop().expect("one skip per stage");
        let j = b.concat(&[skip, u]);
        h = double_conv(&mut b, &j, c);
    }
    b.scope("outc");
    let y = b.conv(&h, 2, 1, 1, 0, 1, true);
    b.finish(&[y])
}
