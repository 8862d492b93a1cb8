use crate::engine_args::EngineArgs;
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::process::ExitCode;
use tiersplit_exec::Difference;
use tiersplit_session::corpus::{
    check_case, find_cases, CaseReport, CheckOptions, Excuse, Expectations, Verdict,
};

#[derive(clap::Args)]
pub struct Args {
    /// The corpus folder that scripts/make_corpus.py laid out.
    dir: PathBuf,
    /// The cases that may fail, with their reasons (corpus/expected.toml): any other case
    /// that does not pass fails the run, and so does a listed case that passes.
    #[arg(long)]
    expect: Option<PathBuf>,
    /// Only cases whose `family/name` contains this.
    #[arg(long)]
    only: Option<String>,
    /// Parts of the random legal partitioning each case is cut into.
    #[arg(long, default_value_t = 3)]
    partitions: usize,
    /// Seed of the partitionings.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Skip planning each case with every planner (and compiling the plans).
    #[arg(long)]
    no_plan: bool,
    /// Skip running each case with its longest tileable run cut into halo tiles.
    #[arg(long)]
    no_tile: bool,
    #[command(flatten)]
    engine: EngineArgs,
    /// Print every case's report and the verdict as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> Result<ExitCode> {
    let expectations = match &a.expect {
        Some(p) => Expectations::from_toml(
            &std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
        )?,
        None => Expectations::default(),
    };
    let executor = a.engine.spec()?.executor()?;
    let options = CheckOptions {
        partitions: a.partitions,
        seed: a.seed,
        tile: !a.no_tile,
        plan: !a.no_plan,
    };
    let cases: Vec<_> = find_cases(&a.dir)?
        .into_iter()
        .filter(|c| a.only.as_ref().is_none_or(|o| c.id().contains(o.as_str())))
        .collect();
    if cases.is_empty() {
        anyhow::bail!("no case of {} matches --only", a.dir.display());
    }
    let mut reports = Vec::with_capacity(cases.len());
    for case in &cases {
        let r = check_case(case, executor.as_ref(), options);
        if !a.json {
            print_case(&r, expectations.excuse(&r, executor.name()));
        }
        reports.push(r);
    }
    let verdict = expectations.judge(&reports, executor.name());
    if a.json {
        let out = serde_json::json!({ "cases": reports, "verdict": verdict });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print_verdict(&verdict);
    }
    Ok(crate::exit_code(verdict.ok()))
}

fn print_case(r: &CaseReport, excuse: Option<(Excuse, &str)>) {
    let layers = r.layers.map_or("-".into(), |n| n.to_string());
    let import = r.import_ms.map_or("-".into(), |ms| format!("{ms:.0} ms"));
    let result = match &r.failure {
        None => {
            let split = r.split.map_or("1 layer: not cut".into(), |(parts, rel)| {
                format!("{parts} parts {rel:.1e}")
            });
            let tiled = r.tiled.map_or(String::new(), |(layers, tiles, rel)| {
                format!(", {layers} layers in {tiles} tiles {rel:.1e}")
            });
            let planned = r.planned.map_or(String::new(), |(n, ms)| {
                format!(", {n} plans compiled in {ms:.0} ms")
            });
            format!(
                "pass  whole {:.1e}, {split}{tiled}{planned}",
                r.unsplit_rel.unwrap_or(0.0)
            )
        }
        Some(f) => {
            let tag = match excuse {
                Some((Excuse::OutOfScope, _)) => "out of scope",
                Some((Excuse::NotYet, _)) => "not yet",
                None => "FAIL",
            };
            let stage = serde_json::to_value(f.stage).unwrap_or_default();
            format!(
                "{tag} ({}) {}",
                stage.as_str().unwrap_or("?"),
                first_line(&f.reason)
            )
        }
    };
    println!("{:<58} {:>5} {:>8}  {result}", r.id, layers, import);
}

fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or("");
    match line.char_indices().nth(160) {
        Some((i, _)) => format!("{}...", &line[..i]),
        None => line.to_string(),
    }
}

fn print_verdict(v: &Verdict) {
    println!(
        "\n{:<22} {:>9}  {:>12}  {:>7}",
        "family", "passed", "out of scope", "not yet"
    );
    let (mut passed, mut total) = (0, 0);
    for (family, t) in &v.families {
        let share = format!("{}/{}", t.passed, t.total);
        println!(
            "{family:<22} {share:>9}  {:>12}  {:>7}",
            t.out_of_scope, t.not_yet
        );
        passed += t.passed;
        total += t.total;
    }
    println!("{:<22} {:>9}", "all", format!("{passed}/{total}"));
    println!(
        "(whole run against the reference within {:.0e} relative, cut and tiled runs against \
         the whole within {:.0e}: docs/exactness.md)",
        Difference::ENGINE_TOLERANCE,
        Difference::TOLERANCE
    );
    for id in &v.regressions {
        println!("REGRESSION: {id} is in scope and did not pass");
    }
    for id in &v.now_passing {
        println!("NOW PASSING: {id} is listed as allowed to fail; take it off the list");
    }
    for case in &v.unused {
        println!("note: the expectations' entry {case} matched no case checked");
    }
}
