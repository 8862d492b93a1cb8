//! `tiersplit bench plan|readjust|optimum`: planning time of every planner, HPA's local
//! re-adjustment against a full re-solve, and the planners against the reference optimum.

use crate::listing;
use anyhow::{Context, Result};
use std::path::Path;
use std::process::ExitCode;
use tiersplit_cost::Scenario;
use tiersplit_plan::all_planners;
use tiersplit_session::bench::{
    optimum_row, planning_problems, planning_times, readjust_problems, readjust_rows,
    reference_problems, refine_time,
};

fn short(name: &str) -> &str {
    match name {
        "device-only" => "dev",
        "edge-only" => "edge",
        "cloud-only" => "cloud",
        "neurosurgeon" => "ns",
        "neurosurgeon-3tier" => "ns3",
        "dads-dsl" => "dsl",
        "dads-dsh" => "dsh",
        "exact-3tier" => "exact3",
        other => other,
    }
}

pub fn run(scenario_path: &Path, rounds: usize) -> Result<ExitCode> {
    let text = std::fs::read_to_string(scenario_path)
        .with_context(|| format!("reading {}", scenario_path.display()))?;
    let scenario = Scenario::from_toml(&text)?;
    let problems = planning_problems(&scenario)?;
    let planners = all_planners();
    println!("planning time in ms (median of {rounds}), scenario {}; layer times estimated from FLOPs (planning time does not depend on them)", scenario.name);
    print!("{:<16} {:>6} {:>6}", "model", "layers", "edges");
    for p in &planners {
        print!(" {:>8}", short(p.name()));
    }
    println!(" {:>8} {:>8}", "refine", "vs full");
    for (g, problem) in &problems {
        print!(
            "{:<16} {:>6} {:>6}",
            g.name,
            g.layers.len(),
            g.edges().len()
        );
        for ms in planning_times(problem, &planners, rounds)? {
            print!(" {ms:>8.3}");
        }
        let (ms, quality) = refine_time(problem, rounds)?;
        println!(" {ms:>8.3} {quality:>8.3}");
    }
    let names = planners.iter().map(|p| p.name());
    let columns = listing(names, |n| format!("{} = {n}", short(n)));
    println!("columns: {columns}; refine = best re-planning from its plan after the device's uplinks halve, vs full = its makespan over a full best plan's");
    Ok(ExitCode::SUCCESS)
}

pub fn readjust(scenario_path: &Path, rounds: usize) -> Result<ExitCode> {
    let text = std::fs::read_to_string(scenario_path)
        .with_context(|| format!("reading {}", scenario_path.display()))?;
    let scenario = Scenario::from_toml(&text)?;
    println!(
        "HPA local re-adjustment vs full re-solve after a change (median of {rounds}), scenario {}",
        scenario.name
    );
    println!(
        "{:<12} {:<22} {:>9} {:>9} {:>7} {:>6} {:>6} {:>9} {:>9}",
        "model",
        "change",
        "full ms",
        "local ms",
        "speedup",
        "moved",
        "evals",
        "vs full",
        "vs exact"
    );
    for (name, base) in readjust_problems(&scenario)? {
        for r in readjust_rows(&base, rounds)? {
            println!(
                "{:<12} {:<22} {:>9.3} {:>9.3} {:>6.1}x {:>6} {:>6} {:>9.3} {:>9.3}",
                name,
                r.change,
                r.full_ms,
                r.local_ms,
                r.full_ms / r.local_ms,
                r.layers_moved,
                r.evaluations,
                r.vs_full,
                r.vs_exact
            );
        }
    }
    println!("vs full / vs exact: summed latency of the re-adjusted plan over the full HPA re-solve's and the exact three-tier planner's (1.000 = as good)");
    Ok(ExitCode::SUCCESS)
}

pub fn optimum(
    scenarios: &[std::path::PathBuf],
    max_layers: usize,
    budget: u64,
) -> Result<ExitCode> {
    println!("makespan (ms) of best, of the quickest untiled plan of any planner, and the reference optimum: branch and bound over every untiled placement (at most {budget} placements looked at); PREDICTIONS of the cost model, measured profiles in profiles/");
    println!(
        "{:<14} {:<22} {:>6} {:>9} {:>9} {:<14} {:>9} {:>9} {:>7} {:>8} {:>8} {:>10} {:>9}",
        "scenario",
        "model",
        "layers",
        "best",
        "untiled",
        "(planner)",
        "optimum",
        "bound",
        "proven",
        "best/opt",
        "unt/opt",
        "explored",
        "search ms"
    );
    for path in scenarios {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let scenario = Scenario::from_toml(&text)?;
        for (model, layers, problem) in reference_problems(&scenario, max_layers)? {
            let Some(r) = optimum_row(&model, layers, &problem, budget)? else {
                println!(
                    "{:<14} {:<22} {layers:>6} no untiled placement fits",
                    scenario.name, model
                );
                continue;
            };
            let ms = |n: tiersplit_cost::Nanos| n.as_millis_f64();
            println!(
                "{:<14} {:<22} {:>6} {:>9.1} {:>9.1} {:<14} {:>9.1} {:>9.1} {:>7} {:>8.3} {:>8.3} {:>10} {:>9.0}",
                scenario.name,
                r.model,
                r.layers,
                ms(r.best),
                ms(r.untiled.0),
                r.untiled.1,
                ms(r.reference),
                ms(r.lower_bound),
                if r.proven() { "yes" } else { "no" },
                ms(r.best) / ms(r.reference),
                ms(r.untiled.0) / ms(r.reference),
                r.explored,
                r.ms
            );
        }
    }
    println!("best/opt under 1: best's tiles beat every untiled placement; unt/opt: the quickest untiled plan of any planner over the optimum");
    Ok(ExitCode::SUCCESS)
}
