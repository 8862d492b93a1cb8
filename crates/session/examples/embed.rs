//! tiersplit embedded in an application: load a profile, plan, start a cluster inside this
//! process, run frames measured against the prediction, then adapt to a trace of a collapsing
//! uplink. Run with `cargo run -p tiersplit-session --example embed`.

use std::sync::Arc;
use std::time::Duration;
use tiersplit_adapt::{Overload, SwitchPolicy, Trace};
use tiersplit_plan::planner_by_name;
use tiersplit_session::{
    model_inputs, read_profile, run_all, run_plan, strategies, Calibrated, EmulateMode, Feed,
    InputChoice, ModelSource, Sandbox, Session, Setting, TraceSetup, Workload,
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
    let Calibrated {
        inputs,
        reference,
        whole_ms,
        profile,
        emulation,
    } = Calibrated::measure(&source, &model, &setting.scenario, profile, inputs, 3, on)?;
    let problem = setting.problem(&model, &profile)?;
    let plan = planner_by_name("best")?.plan(&problem)?;

    tokio::runtime::Runtime::new()?.block_on(async {
        // Every node but the device as a worker in this process, links and speeds emulated.
        let cluster = Sandbox::start(&setting.scenario).await?;
        let mut session = Session::connect(&cluster.connect(Duration::from_secs(30))).await?;
        session.set_emulation(emulation).await?;
        let w = Workload {
            model: &model,
            problem: &problem,
            inputs: &inputs,
            reference: &reference,
            switch: None,
        };
        let m = run_plan(&mut session, &w, &plan, 5, Feed::Sequential).await?;
        println!(
            "{}: {} frames, p50 {:.1} ms (predicted {:.1}), exact: {}",
            m.algorithm, m.frames, m.p50_ms, m.predicted_ms, m.exact
        );

        // The device's uplinks fall from 50 to 4 Mbit/s after 2.5 s: the plan adapts.
        let text = std::fs::read_to_string(format!("{ROOT}/traces/ci-uplink-drop.toml"))?;
        let setup = TraceSetup {
            label: source.label.clone(),
            model: model.clone(),
            base: setting.scenario.clone(),
            fastest: setting.scenario.fastest_speed(),
            trace: Trace::from_toml(&text, &setting.scenario)?,
            setting: setting.clone(),
            profile,
            whole_ms,
            inputs: inputs.clone(),
            reference: reference.clone(),
            fps: None,
            window: 1,
            overload: Overload::BackPressure,
            queue: 2,
        };
        let adaptive = strategies(&setup, &plan, "none", Some(SwitchPolicy::new(0.1, 3)))?;
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
