//! tiersplit embedded in an application: load a profile, plan, start a cluster inside this
//! process, run frames measured against the prediction, then adapt to a trace of a collapsing
//! uplink. Run with `cargo run -p tiersplit-session --example embed`.

use std::sync::Arc;
use std::time::Duration;
use tiersplit_adapt::{HedgePolicy, SwitchPolicy, Trace};
use tiersplit_plan::planner_by_name;
use tiersplit_session::{
    model_inputs, read_profile, run_all, run_plan, strategies, Calibrated, EmulateMode, Feed,
    InputChoice, ModelSource, Sandbox, Session, Setting, TraceSetup,
};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A model, a scenario (device, two edge nodes, cloud) and a measured reference profile.
    let source = ModelSource::open("zoo:mobilenetv2")?;
    let model = Arc::new(source.import(&Default::default())?);
    let setting = Setting::read(format!("{ROOT}/scenarios/local-cluster.toml").as_ref())?;
    let profile = read_profile(format!("{ROOT}/profiles/mobilenetv2.json").as_ref())?;
    // The unsplit answer, and the profile calibrated to this machine's speed.
    let inputs = model_inputs(&model, &InputChoice::random(0))?;
    let on = EmulateMode::On;
    let c = Calibrated::measure(&source, &model, &setting.scenario, profile, inputs, 3, on)?;
    let problem = setting.problem(&model, &c.profile)?;
    let plan = planner_by_name("best")?.plan(&problem)?;

    tokio::runtime::Runtime::new()?.block_on(async {
        // Every node but the device as a worker in this process, links and speeds emulated.
        let cluster = Sandbox::start(&setting.scenario).await?;
        let mut session = Session::connect(&cluster.connect(Duration::from_secs(30))).await?;
        session.set_emulation(c.emulation.clone()).await?;
        let w = c.workload(&model, &problem);
        let m = run_plan(&mut session, &w, &plan, 5, Feed::Sequential).await?;
        println!(
            "{}: {} frames, p50 {:.1} ms (predicted {:.1}), exact: {}",
            m.algorithm, m.frames, m.p50_ms, m.predicted_ms, m.exact
        );

        // The device's uplinks fall from 50 to 4 Mbit/s after 2.5 s: the plan adapts.
        let text = std::fs::read_to_string(format!("{ROOT}/traces/ci-uplink-drop.toml"))?;
        let trace = Trace::from_toml(&text, &setting.scenario)?;
        let setup = TraceSetup::new(
            source.label.clone(),
            model.clone(),
            setting.clone(),
            c,
            trace,
        );
        let adaptive = strategies(
            &setup,
            &plan,
            "none",
            Some(SwitchPolicy::new(0.1, 3)),
            &[HedgePolicy::default()],
        )?;
        for r in run_all(&mut session, &setup, adaptive, |_| {}).await? {
            println!(
                "{}: {} of {} frames answered, {} switch(es), all exact: {}",
                r.label,
                r.frames.len(),
                r.fed,
                r.switches.len(),
                r.all_exact
            );
            for s in &r.switches {
                println!(
                    "  at {:.2} s ({}): {} -> {}",
                    s.ready_s, s.trigger, s.from, s.to
                );
            }
            if !r.all_exact || r.fed != r.frames.len() as u64 {
                return Err("a frame was lost or inexact".into());
            }
        }
        Ok(())
    })
}
