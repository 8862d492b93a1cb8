//! Temporary: dump every planner's plan and prediction on every scenario (not committed).
use tiersplit_cost::Scenario;
use tiersplit_plan::{all_planners, evaluate};
fn main() {
    let mut out = Vec::new();
    let args: Vec<String> = std::env::args().collect();
    for path in &args[2..] {
        let s = Scenario::from_toml(&std::fs::read_to_string(path).unwrap()).unwrap();
        let problems = tiersplit_session::bench::planning_problems(&s).unwrap();
        for (g, p) in &problems {
            if std::env::var("ONLY_MODEL").is_err() && g.name == "generated-2400"
                || (g.name == "generated-1200" && !path.contains("d3-4edge"))
            {
                continue;
            }
            if let Ok(m) = std::env::var("ONLY_MODEL") {
                if g.name != m {
                    continue;
                }
            }
            for pl in all_planners() {
                if let Ok(m) = std::env::var("ONLY_PLANNER") {
                    if pl.name() != m {
                        continue;
                    }
                    for _ in 0..std::env::var("REPS")
                        .map(|r| r.parse().unwrap())
                        .unwrap_or(20)
                    {
                        let _ = pl.plan(p);
                    }
                }
                let t = std::time::Instant::now();
                let r = pl.plan(p);
                let ms = t.elapsed().as_secs_f64() * 1e3;
                let v = match r {
                    Ok(plan) => {
                        let pred = evaluate(p, &plan);
                        serde_json::json!({"plan": plan, "pred": pred})
                    }
                    Err(e) => serde_json::json!({"error": e.to_string()}),
                };
                eprintln!("{} {} {} {:.2} ms", s.name, g.name, pl.name(), ms);
                out.push(serde_json::json!({"scenario": s.name, "model": g.name, "planner": pl.name(), "result": v}));
            }
        }
    }
    std::fs::write(&args[1], serde_json::to_string_pretty(&out).unwrap()).unwrap();
}
