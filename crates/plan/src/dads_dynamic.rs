use crate::{evaluate, Dsh, Dsl, Plan, PlanError, Planner};
use tiersplit_cost::Problem;

/// The DADS dynamic rule: use the light-load plan (DSL) while its pipelined period keeps up
/// with the frame rate; otherwise switch to DSH; when even DSH cannot keep up, say so and
/// name the frame rate it can sustain.
#[derive(Default)]
pub struct DadsDynamic {
    /// The heavy-load planner, used when the DSL plan does not keep up.
    pub dsh: Dsh,
}

impl Planner for DadsDynamic {
    fn name(&self) -> &'static str {
        "dads"
    }

    fn plan(&self, p: &Problem) -> Result<Plan, PlanError> {
        let interval_ns = 1e9 / p.frame_rate;
        let light = Dsl.plan(p)?;
        let light_period = evaluate(p, &light).period;
        if light_period.0 as f64 <= interval_ns {
            let mut plan = Plan::new(self.name(), light.placement);
            plan.notes = light.notes;
            plan.notes.push(format!(
                "light load: DSL keeps up ({} per frame <= {:.2} ms)",
                light_period,
                interval_ns / 1e6
            ));
            return Ok(plan);
        }
        let heavy = self.dsh.plan(p)?;
        let heavy_period = evaluate(p, &heavy).period;
        let mut plan = Plan::new(self.name(), heavy.placement);
        plan.notes = heavy.notes;
        plan.notes.push(format!(
            "heavy load: DSL period {} exceeds 1/{} s, switched to DSH",
            light_period, p.frame_rate
        ));
        if heavy_period.0 as f64 > interval_ns {
            plan.notes.push(format!(
                "warning: no plan keeps up with {} frames/s; DSH sustains {:.2} frames/s: lower the frame rate",
                p.frame_rate,
                1e9 / heavy_period.0 as f64
            ));
        }
        Ok(plan)
    }
}
