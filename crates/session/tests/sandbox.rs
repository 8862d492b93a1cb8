//! The frame loop on a cluster inside the test process (workers on ephemeral loopback ports,
//! the real control and data planes): a scheduled live switch loses no frame and stays exact.

use std::sync::Arc;
use std::time::Duration;
use tiersplit_adapt::Overload;
use tiersplit_cost::Profile;
use tiersplit_plan::planner_by_name;
use tiersplit_session::{
    load_unsplit, model_inputs, time_unsplit, FrameLoop, Frames, InputChoice, LoopSetup,
    ModelSource, PlanChanges, Sandbox, Session, Setting, Until,
};

const SCENARIO: &str = include_str!("../../../scenarios/local-cluster.toml");

#[test]
fn a_scheduled_switch_in_a_sandbox_loses_no_frame_and_stays_exact() {
    let source = ModelSource::open("zoo:mobilenetv2").unwrap();
    let model = Arc::new(source.import(&Default::default()).unwrap());
    let setting = Setting::from_toml(SCENARIO).unwrap();
    let problem = setting
        .problem(&model, &Profile::estimate(&model.graph, 20.0))
        .unwrap();
    let inputs = model_inputs(&model, &InputChoice::random(1)).unwrap();
    let unsplit = load_unsplit(&source, &model).unwrap();
    let (reference, _) = time_unsplit(unsplit.as_ref(), &inputs, 1).unwrap();
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
            nominal: Arc::new(problem.clone()),
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
