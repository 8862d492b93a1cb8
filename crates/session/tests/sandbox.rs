//! The frame loop on a cluster inside the test process (workers on ephemeral loopback ports,
//! the real control and data planes): a scheduled live switch loses no frame and stays exact;
//! a frame caught on a collapsed uplink is hedged onto the adaptive run's new plan.

use std::sync::Arc;
use std::time::Duration;
use tiersplit_adapt::{AdaptConfig, Adaptation, Controller, Overload, SwitchPolicy};
use tiersplit_cost::{Problem, Profile, Tier};
use tiersplit_exec::HostTensor;
use tiersplit_onnx::OnnxModel;
use tiersplit_plan::{evaluate, planner_by_name};
use tiersplit_session::{
    emulation, load_unsplit, model_inputs, time_unsplit, Condition, FrameLoop, Frames, InputChoice,
    LoopSetup, ModelSource, NamedTensor, PlanChanges, Sandbox, Session, Setting, Until, Won,
};

const SCENARIO: &str = include_str!("../../../scenarios/local-cluster.toml");

/// The zoo's MobileNetV2 on the local cluster (layer times estimated), one frame's inputs and
/// the unsplit model's answer.
struct Fixture {
    model: Arc<OnnxModel>,
    setting: Setting,
    problem: Arc<Problem>,
    inputs: Vec<NamedTensor>,
    reference: Vec<HostTensor>,
}

fn fixture() -> Fixture {
    let source = ModelSource::open("zoo:mobilenetv2").unwrap();
    let model = Arc::new(source.import(&Default::default()).unwrap());
    let setting = Setting::from_toml(SCENARIO).unwrap();
    let problem = setting
        .problem(&model, &Profile::estimate(&model.graph, 20.0))
        .unwrap();
    let inputs = model_inputs(&model, &InputChoice::random(1)).unwrap();
    let unsplit = load_unsplit(&source, &model).unwrap();
    let (reference, _) = time_unsplit(unsplit.as_ref(), &inputs, 1).unwrap();
    Fixture {
        model,
        setting,
        problem: Arc::new(problem),
        inputs,
        reference,
    }
}

#[test]
fn a_scheduled_switch_in_a_sandbox_loses_no_frame_and_stays_exact() {
    let Fixture {
        model,
        setting,
        problem,
        inputs,
        reference,
    } = fixture();
    let first = planner_by_name("cloud-only")
        .unwrap()
        .plan(&problem)
        .unwrap();
    let next = planner_by_name("best").unwrap().plan(&problem).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let cluster = Sandbox::start(&setting.scenario).await.unwrap();
        let mut session = Session::connect(&cluster.connect(Duration::from_secs(30)))
            .await
            .unwrap();
        let ls = LoopSetup {
            model: model.clone(),
            nominal: problem.clone(),
            inputs: &inputs,
            reference: &reference,
        };
        let mut fl = FrameLoop::new(&mut session, &ls);
        fl.deploy(&first, &mut PlanChanges::Fixed).await.unwrap();
        let frames = Frames {
            interval: Some(Duration::from_millis(30)),
            window: 3,
            overload: Overload::BackPressure,
            queue: 3,
            until: Until::Frames(10),
        };
        let mut changes = PlanChanges::Schedule(vec![(4, next.clone())]);
        let r = fl.run(&frames, &mut changes, &[]).await.unwrap();
        assert_eq!((r.produced, r.fed, r.dropped), (10, 10, 0));
        assert_eq!(r.frames.len(), 10, "{:?}", r.failures);
        assert!(r.failures.is_empty());
        assert!(r.frames.iter().all(|f| f.exact), "{:?}", r.frames);
        assert_eq!(r.switches.len(), 1);
        let s = &r.switches[0];
        assert_eq!((s.from.as_str(), s.to.as_str()), ("cloud-only#1", "best#2"));
        for f in &r.frames {
            let expected = if f.frame < s.first_frame {
                &s.from
            } else {
                &s.to
            };
            assert_eq!(&f.plan, expected, "frame {}", f.frame);
        }
        assert!(s.first_answer_s.is_some());
        // A loop with no plan deployed refuses to run.
        let mut empty = FrameLoop::new(&mut session, &ls);
        let e = empty
            .run(&Frames::sequential(1), &mut PlanChanges::Fixed, &[])
            .await
            .unwrap_err();
        assert!(e.to_string().contains("no plan deployed"), "{e}");
    });
}

#[test]
fn a_frame_caught_on_a_collapsed_uplink_is_answered_by_its_copy_on_the_new_plan() {
    let Fixture {
        model,
        setting,
        problem,
        inputs,
        reference,
    } = fixture();
    let first = planner_by_name("best").unwrap().plan(&problem).unwrap();
    let device = problem.device;
    let uploads = evaluate(&problem, &first)
        .links
        .iter()
        .any(|l| l.from == device && l.bytes.0 > 0);
    assert!(uploads, "the test needs a first plan that uploads");
    // The scenario's links at its rates, the nodes at this machine's speed; after 0.5 s the
    // device's uplinks fall to 0.5 Mbit/s, under which the frame uploading then needs seconds.
    let mut shaped = emulation(&setting.scenario, false, 1.0);
    shaped.slowdown.clear();
    let mut collapsed = shaped.clone();
    let device_name = setting
        .scenario
        .nodes
        .iter()
        .find(|n| n.tier == Tier::Device)
        .unwrap()
        .name
        .clone();
    for l in collapsed.links.iter_mut().filter(|l| l.from == device_name) {
        l.mbps = Some(0.5);
    }
    let collapse = Condition {
        at_s: 0.5,
        emulation: Some(collapsed),
        shaping: Vec::new(),
        fault: None,
        what: "device uplinks 50 -> 0.5 Mbit/s".into(),
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let cluster = Sandbox::start(&setting.scenario).await.unwrap();
        let mut session = Session::connect(&cluster.connect(Duration::from_secs(30)))
            .await
            .unwrap();
        session.set_emulation(shaped).await.unwrap();
        let ls = LoopSetup {
            model: model.clone(),
            nominal: problem.clone(),
            inputs: &inputs,
            reference: &reference,
        };
        let mut fl = FrameLoop::new(&mut session, &ls);
        let controller =
            Controller::new("best", "best-throughput", None, SwitchPolicy::new(0.1, 3)).unwrap();
        let a = Adaptation::new(
            problem.clone(),
            first.clone(),
            controller,
            AdaptConfig::default(),
        );
        let mut changes = PlanChanges::Adaptive(Box::new(a));
        fl.deploy(&first, &mut changes).await.unwrap();
        // Long enough for the collapse to be seen, re-planned and switched on a loaded machine.
        let frames = Frames {
            until: Until::Seconds(6.0),
            ..Frames::sequential(0)
        };
        let r = fl.run(&frames, &mut changes, &[collapse]).await.unwrap();
        // Every frame fed answered once, exactly: the copy's answer is the frame's.
        assert!(r.failures.is_empty(), "{:?}", r.failures);
        assert_eq!(r.frames.len() as u64, r.fed);
        assert!(r.frames.windows(2).all(|w| w[0].frame < w[1].frame));
        assert!(r.frames.iter().all(|f| f.exact), "{:?}", r.frames);
        assert!(!r.switches.is_empty(), "no switch");
        assert!(!r.hedges.is_empty(), "the caught frame was not hedged");
        for h in &r.hedges {
            assert!(h.remaining_ms >= 2.0 * h.copy_ms, "{h:?}");
            let f = r.frames.iter().find(|f| f.frame == h.frame).unwrap();
            let by = match h.won {
                Some(Won::Copy) => &h.to,
                Some(Won::Original) => &h.from,
                other => panic!("{other:?}: {h:?}"),
            };
            assert!(f.hedged && &f.plan == by, "{f:?}\n{h:?}");
        }
        // A frame caught with its upload barely begun (602 kB at 0.5 Mbit/s a link: 4.8 s over
        // both) was answered by its copy, long before the uplink could have carried it. The frame the
        // collapse caught nearly uploaded may finish first, but the next one fed on the old
        // plan before the switch is caught whole.
        let copied = r.hedges.iter().find(|h| h.won == Some(Won::Copy));
        let h = copied.unwrap_or_else(|| panic!("no copy answered first: {:?}", r.hedges));
        let f = r.frames.iter().find(|f| f.frame == h.frame).unwrap();
        assert!(f.latency_ms < 4_000.0, "{f:?}");
        assert_eq!(r.frames.iter().filter(|f| f.hedged).count(), r.hedges.len());
    });
}
