//! The bodies of tiersplit's fuzz targets: one function per decoder of outside input, each
//! taking raw bytes and doing with them what a node or the CLI does with a message or file
//! from outside (decode, check, and for what is accepted, use it). A body returns on any
//! input; a panic is a bug.
//!
//! `fuzz/` (cargo-fuzz, coverage-guided, on nightly: `scripts/fuzz`) calls them, and this
//! crate's tests drive each with a bounded property-based run in CI, from random bytes and
//! from mutations of [`seeds`].

#![deny(clippy::print_stdout, clippy::print_stderr)]
#![warn(missing_docs)]

use prost::Message;
use std::time::Duration;
use tiersplit_adapt::Trace;
use tiersplit_cost::Scenario;
use tiersplit_exec::HostTensor;
use tiersplit_net::{read_frame, Limits};
use tiersplit_onnx::{ImportOptions, OnnxModel};
use tiersplit_runtime::control_pb as pb;
use tiersplit_runtime::{Deployment, Emulation, ModelHash, SessionId, Worker};

/// A fuzz target: its name (the file in `fuzz/fuzz_targets/`) and its body.
pub type Target = (&'static str, fn(&[u8]));

/// Every target.
pub const TARGETS: &[Target] = &[
    ("frame_stream", frame_stream),
    ("control_message", control_message),
    ("deployment_json", deployment_json),
    ("emulation_json", emulation_json),
    ("scenario_toml", scenario_toml),
    ("trace_toml", trace_toml),
    ("onnx_model", onnx_model),
    ("problem_json", problem_json),
];

/// The scenario traces are checked against (the shipped local cluster).
const SCENARIO: &str = include_str!("../../../scenarios/local-cluster.toml");

thread_local! {
    /// One runtime per fuzzing thread: making one per input would cost more than the input.
    static RT: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
}

/// Data-plane frames read from `data` as a node reads a peer's connection, until the first
/// error or the end.
pub fn frame_stream(data: &[u8]) {
    let limits = Limits {
        max_payload: 1 << 20,
        ..Limits::default()
    };
    RT.with(|rt| {
        rt.block_on(async {
            let mut r = data;
            while let Ok(Some(_)) = read_frame(&mut r, limits, Duration::from_secs(1)).await {}
        })
    });
}

/// A control-plane message: the first byte picks which request, the rest is its protobuf
/// encoding; what a node reads of its fields is then read (ids, hashes, JSON).
pub fn control_message(data: &[u8]) {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    let session = |s: &str| drop(SessionId::parse(s));
    match which % 8 {
        0 => drop(pb::HelloRequest::decode(body)),
        1 => {
            if let Ok(m) = pb::HasRequest::decode(body) {
                m.hashes.iter().for_each(|h| drop(ModelHash::parse(h)));
            }
        }
        2 => {
            if let Ok(m) = pb::ModelChunk::decode(body) {
                drop(ModelHash::parse(&m.hash));
            }
        }
        3 => {
            if let Ok(m) = pb::DeployRequest::decode(body) {
                deployment_json(m.deployment_json.as_bytes());
            }
        }
        4 => {
            if let Ok(m) = pb::StatsRequest::decode(body) {
                session(&m.session);
            }
        }
        5 => {
            if let Ok(m) = pb::EmulateRequest::decode(body) {
                session(&m.session);
                emulation_json(m.emulation_json.as_bytes());
            }
        }
        6 => {
            if let Ok(m) = pb::ObserveRequest::decode(body) {
                session(&m.session);
            }
        }
        _ => {
            if let Ok(m) = pb::ProbeRequest::decode(body) {
                session(&m.session);
            }
        }
    }
}

/// A deployment as a node receives it: parsed, checked, and when accepted, deployed on a node
/// named after its sink, which is fed a frame.
pub fn deployment_json(data: &[u8]) {
    let Ok(d) = serde_json::from_slice::<Deployment>(data) else {
        return;
    };
    if d.check().is_err() {
        return;
    }
    RT.with(|rt| {
        rt.block_on(async {
            let w = Worker::new(&d.sink);
            let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
            let (session, inputs) = (d.session, d.inputs.clone());
            if w.deploy(d, Some(tx)).is_ok() {
                let x = HostTensor::f32(vec![1, 1, 4, 4], vec![1.0; 16]).expect("16 values");
                for i in &inputs {
                    let _ = w.publish(session, 0, i, x.clone());
                }
                for _ in 0..4 {
                    tokio::task::yield_now().await;
                }
            }
        })
    });
}

/// Emulation settings as a node receives them: parsed, checked, and set when accepted.
pub fn emulation_json(data: &[u8]) {
    if let Ok(e) = serde_json::from_slice::<Emulation>(data) {
        let _ = Worker::new("device").set_emulation(SessionId::NONE, e);
    }
}

/// A scenario file: parsed, validated, and its speeds read.
pub fn scenario_toml(data: &[u8]) {
    if let Ok(Ok(s)) = std::str::from_utf8(data).map(Scenario::from_toml) {
        let _ = s.fastest_speed();
    }
}

/// A trace file, checked against the shipped local-cluster scenario.
pub fn trace_toml(data: &[u8]) {
    let scenario = Scenario::from_toml(SCENARIO).expect("the shipped scenario parses");
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Trace::from_toml(text, &scenario);
    }
}

/// A problem file: read, checked, and when that works, planned by the quick planners and
/// scored.
pub fn problem_json(data: &[u8]) {
    use tiersplit_plan::{evaluate, Dsl, ExactThreeTier, Neurosurgeon, Planner};
    if let Ok(Ok(p)) = std::str::from_utf8(data).map(tiersplit_cost::Problem::from_json) {
        let planners: [&dyn Planner; 3] = [&Neurosurgeon, &Dsl, &ExactThreeTier];
        for planner in planners {
            if let Ok(plan) = planner.plan(&p) {
                let _ = evaluate(&p, &plan);
            }
        }
    }
}

/// An ONNX file: imported, and when that works, written back as the folded model.
pub fn onnx_model(data: &[u8]) {
    if let Ok(m) = OnnxModel::from_bytes(data, &ImportOptions::default()) {
        let _ = m.to_bytes();
    }
}

/// Valid inputs of target `name` to start fuzzing from (the corpus seeds); empty for a name
/// that is not a target.
pub fn seeds(name: &str) -> Vec<Vec<u8>> {
    match name {
        "frame_stream" => vec![frame_seed()],
        "control_message" => control_seeds(),
        "deployment_json" => vec![DEPLOYMENT.as_bytes().to_vec()],
        "emulation_json" => vec![EMULATION.as_bytes().to_vec()],
        "scenario_toml" => vec![SCENARIO.as_bytes().to_vec()],
        "trace_toml" => vec![
            include_bytes!("../../../traces/wifi-3g-4g.toml").to_vec(),
            include_bytes!("../../../traces/edge-overload.toml").to_vec(),
        ],
        "onnx_model" => vec![small_cnn()],
        "problem_json" => vec![PROBLEM.as_bytes().to_vec()],
        _ => Vec::new(),
    }
}

const DEPLOYMENT: &str = r#"{"id":"t","session":"000102030405060708090a0b0c0d0e0f","first_frame":0,
 "nodes":{"device":"127.0.0.1:9","edge0":"127.0.0.1:9"},
 "parts":[{"id":"s","node":"device","work":{"Stitch":{"shape":[1,1,4,4],
   "regions":[[0,2,0,4],[2,4,0,4]]}},"inputs":[["a","a"],["b","b"]],"outputs":[["y","y"]]}],
 "routes":[{"tensor":"x","from":"device","to":"device","crop":[0,2,0,4],"deliver_as":"a"},
           {"tensor":"x","from":"device","to":"device","crop":[2,4,0,4],"deliver_as":"b"}],
 "sink":"device","inputs":["x"],"outputs":["y"]}"#;

const PROBLEM: &str = r#"{"format":"tiersplit-problem/1","model":"m","scenario":"s",
 "nodes":[{"name":"d","tier":"device"},{"name":"e","tier":"edge"},{"name":"c","tier":"cloud"}],
 "device":0,
 "layers":[{"name":"a","op":"Conv","time":[9000000,2000000,1000000]},
           {"name":"b","op":"Relu","time":[100000,20000,10000]}],
 "tensors":[{"name":"x","bytes":600000,"producer":null,"consumers":[0],"graph_output":false},
            {"name":"y","bytes":20000,"producer":0,"consumers":[1],"graph_output":false},
            {"name":"z","bytes":4000,"producer":1,"consumers":[],"graph_output":true}],
 "links":[{"from":0,"to":1,"bandwidth":6250000.0,"latency":2000000},
          {"from":1,"to":0,"bandwidth":6250000.0,"latency":2000000},
          {"from":1,"to":2,"bandwidth":1250000.0,"latency":20000000},
          {"from":2,"to":1,"bandwidth":1250000.0,"latency":20000000}],
 "frame_rate":10.0}"#;

const EMULATION: &str = r#"{"links":[{"from":"device","to":"edge0","mbps":100.0,"delay_ms":5.0}],
 "slowdown":{"device":8.0,"edge0":2.0}}"#;

/// A tensor frame, an error frame and a probe, as one connection carries them.
fn frame_seed() -> Vec<u8> {
    use tiersplit_graph::DType;
    use tiersplit_net::{write_frame, Frame};
    let frames = [
        Frame::tensor(7, "x", DType::F32, vec![1, 2, 2], vec![0u8; 16]).in_session(5),
        Frame::error(8, "edge0", "part failed").in_session(5),
        Frame::probe(32),
    ];
    RT.with(|rt| {
        rt.block_on(async {
            let mut out = Vec::new();
            for f in &frames {
                write_frame(&mut out, f, Duration::from_secs(1))
                    .await
                    .expect("writes to memory");
            }
            out
        })
    })
}

fn control_seeds() -> Vec<Vec<u8>> {
    let session = "000102030405060708090a0b0c0d0e0f".to_string();
    let tagged = |tag: u8, body: Vec<u8>| [vec![tag], body].concat();
    vec![
        tagged(
            1,
            pb::HasRequest {
                hashes: vec![ModelHash::of(b"m").to_string()],
            }
            .encode_to_vec(),
        ),
        tagged(
            3,
            pb::DeployRequest {
                deployment_json: DEPLOYMENT.into(),
            }
            .encode_to_vec(),
        ),
        tagged(
            5,
            pb::EmulateRequest {
                emulation_json: EMULATION.into(),
                session: session.clone(),
            }
            .encode_to_vec(),
        ),
        tagged(
            7,
            pb::ProbeRequest {
                to: "edge0".into(),
                bytes: 4096,
                session,
            }
            .encode_to_vec(),
        ),
    ]
}

/// A small CNN with a residual add and a concatenation, as an ONNX file.
fn small_cnn() -> Vec<u8> {
    let mut b = tiersplit_zoo::NetBuilder::new("seed", 1);
    let x = b.input("x", &[1, 3, 16, 16]);
    let c = b.conv(&x, 4, 3, 1, 1, 1, true);
    let r = b.relu(&c);
    let p = b.max_pool(&r, 2, 2, 0, false);
    let c2 = b.conv(&p, 4, 1, 1, 0, 1, false);
    let a = b.add(&p, &c2);
    let cat = b.concat(&[a, p]);
    let g = b.global_avg_pool(&cat);
    b.finish(std::slice::from_ref(&g)).encode_to_vec()
}
