//! Deployments and emulations as a node receives them (JSON in a control message), under
//! crafted edits: a valid description with bytes replaced by digits, signs and brackets, or cut.
//! Every one parses and is taken, or is refused with the reason; one that is taken runs a frame
//! without the node panicking. CI runs a bounded number of cases;
//! `TIERSPLIT_FUZZ_CASES=1000000` runs the long soak.

mod common;

use proptest::prelude::*;
use tiersplit_exec::HostTensor;
use tiersplit_runtime::{Deployment, Emulation, SessionId, Worker};

fn cases() -> u32 {
    std::env::var("TIERSPLIT_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

const DEPLOYMENT: &str = r#"{"id":"t","first_frame":0,
 "nodes":{"device":"127.0.0.1:9","edge0":"127.0.0.1:9"},
 "parts":[{"id":"s","node":"device","work":{"Stitch":{"shape":[1,1,4,4],
   "regions":[[0,2,0,4],[2,4,0,4]]}},"inputs":[["a","a"],["b","b"]],"outputs":[["y","y"]]}],
 "routes":[{"tensor":"x","from":"device","to":"device","crop":[0,2,0,4],"deliver_as":"a"},
           {"tensor":"x","from":"device","to":"device","crop":[2,4,0,4],"deliver_as":"b"}],
 "sink":"device","inputs":["x"],"outputs":["y"]}"#;

const EMULATION: &str = r#"{"links":[{"from":"device","to":"edge0","mbps":100.0,"delay_ms":5.0}],
 "slowdown":{"device":8.0,"edge0":2.0}}"#;

fn mutate(text: &str, edits: &[(prop::sample::Index, u8)], cut: prop::sample::Index) -> String {
    const ALPHABET: &[u8] = b"0123456789-+.eE[]{},:\"";
    let mut bytes = text.as_bytes().to_vec();
    for (at, c) in edits {
        let i = at.index(bytes.len());
        bytes[i] = ALPHABET[*c as usize % ALPHABET.len()];
    }
    bytes.truncate(cut.index(bytes.len() + 1));
    String::from_utf8_lossy(&bytes).into_owned()
}

#[test]
fn the_seed_deployment_answers_a_frame() {
    common::rt().block_on(async {
        let w = Worker::new("device");
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        w.deploy(serde_json::from_str(DEPLOYMENT).unwrap(), Some(tx))
            .unwrap();
        let x = HostTensor::f32(vec![1, 1, 4, 4], (0..16).map(|i| i as f32).collect()).unwrap();
        w.publish(SessionId::NONE, 0, "x", x.clone()).unwrap();
        let r = tokio::time::timeout(common::T, rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r.outputs.unwrap()["y"], x);
    });
}

/// One change to a JSON tree: a leaf replaced, an array element doubled or removed.
#[derive(Debug, Clone)]
enum Edit {
    Number(prop::sample::Index, i64),
    Name(prop::sample::Index, prop::sample::Index),
    Double(prop::sample::Index, prop::sample::Index),
    Remove(prop::sample::Index, prop::sample::Index),
}

fn edit() -> impl Strategy<Value = Edit> {
    let i = any::<prop::sample::Index>;
    let extreme = prop_oneof![
        Just(i64::MIN),
        Just(i64::MAX),
        Just(-1i64),
        Just(0i64),
        Just(1i64 << 40),
        -4i64..64,
    ];
    prop_oneof![
        (i(), extreme).prop_map(|(a, v)| Edit::Number(a, v)),
        (i(), i()).prop_map(|(a, b)| Edit::Name(a, b)),
        (i(), i()).prop_map(|(a, b)| Edit::Double(a, b)),
        (i(), i()).prop_map(|(a, b)| Edit::Remove(a, b)),
    ]
}

/// How many values of the tree `pred` holds for.
fn count(v: &serde_json::Value, pred: &dyn Fn(&serde_json::Value) -> bool) -> usize {
    let inner = match v {
        serde_json::Value::Array(a) => a.iter().map(|x| count(x, pred)).sum(),
        serde_json::Value::Object(o) => o.values().map(|x| count(x, pred)).sum(),
        _ => 0,
    };
    inner + usize::from(pred(v))
}

/// The `k`-th value (depth first) for which `pred` holds.
fn nth<'a>(
    v: &'a mut serde_json::Value,
    pred: &dyn Fn(&serde_json::Value) -> bool,
    k: &mut usize,
) -> Option<&'a mut serde_json::Value> {
    if pred(v) {
        if *k == 0 {
            return Some(v);
        }
        *k -= 1;
    }
    match v {
        serde_json::Value::Array(a) => a.iter_mut().find_map(|x| nth(x, pred, k)),
        serde_json::Value::Object(o) => o.values_mut().find_map(|x| nth(x, pred, k)),
        _ => None,
    }
}

fn apply(v: &mut serde_json::Value, e: &Edit) {
    const NAMES: [&str; 8] = ["x", "a", "b", "y", "device", "edge0", "s", ""];
    let number = |x: &serde_json::Value| x.is_number();
    let string = |x: &serde_json::Value| x.is_string();
    let array = |x: &serde_json::Value| x.as_array().is_some_and(|a| !a.is_empty());
    let (pred, at): (&dyn Fn(&serde_json::Value) -> bool, _) = match e {
        Edit::Number(at, _) => (&number, at),
        Edit::Name(at, _) => (&string, at),
        Edit::Double(at, _) | Edit::Remove(at, _) => (&array, at),
    };
    let n = count(v, pred);
    if n == 0 {
        return;
    }
    let mut k = at.index(n);
    let Some(target) = nth(v, pred, &mut k) else {
        return;
    };
    match e {
        Edit::Number(_, n) => *target = serde_json::json!(n),
        Edit::Name(_, k) => *target = serde_json::json!(NAMES[k.index(NAMES.len())]),
        Edit::Double(_, k) => {
            let a = target.as_array_mut().expect("an array");
            let x = a[k.index(a.len())].clone();
            a.push(x);
        }
        Edit::Remove(_, k) => {
            let a = target.as_array_mut().expect("an array");
            let i = k.index(a.len());
            a.remove(i);
        }
    }
}

/// Deploys `d` on a device node and, when it is taken, feeds it a frame.
fn deploy_and_feed(d: Deployment) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let w = Worker::new("device");
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let session = d.session;
        if w.deploy(d, Some(tx)).is_ok() {
            let x = HostTensor::f32(vec![1, 1, 4, 4], vec![1.0; 16]).unwrap();
            let _ = w.publish(session, 0, "x", x);
            tokio::task::yield_now().await;
        }
    });
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn edited_deployments_never_panic(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let text = mutate(DEPLOYMENT, &edits, cut);
        let Ok(d) = serde_json::from_str::<Deployment>(&text) else {
            return Ok(());
        };
        deploy_and_feed(d);
    }

    #[test]
    fn tree_edited_deployments_never_panic(edits in prop::collection::vec(edit(), 1..5)) {
        let mut v: serde_json::Value = serde_json::from_str(DEPLOYMENT).unwrap();
        for e in &edits {
            apply(&mut v, e);
        }
        let Ok(d) = serde_json::from_value::<Deployment>(v) else {
            return Ok(());
        };
        deploy_and_feed(d);
    }

    #[test]
    fn edited_emulations_never_panic(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        cut in any::<prop::sample::Index>(),
    ) {
        if let Ok(e) = serde_json::from_str::<Emulation>(&mutate(EMULATION, &edits, cut)) {
            let _ = Worker::new("device").set_emulation(SessionId::NONE, e);
        }
    }
}
