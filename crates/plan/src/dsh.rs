use crate::dsl::{server_of, two_tier_cut};
use crate::fit::or_chain_that_fits;
use crate::scorer::Scorer;
use crate::{Plan, PlanError, Planner};
use tiersplit_cost::Problem;

/// DADS heavy-load mode (DSH): minimise the pipelined period max(Te, Tt, Tc). The problem is
/// NP-hard; DSH re-solves the DSL cut with device costs scaled by alpha and server costs by
/// gamma, over a coarse-to-fine grid of (alpha, gamma), and keeps the plan with the smallest
/// period (the paper proves a factor of 3 to optimal).
pub struct Dsh {
    /// Points per axis of the coarse grid, which spans scale factors 1/64 to 64.
    pub coarse: usize,
    /// Refinement levels: a 3x3 grid around the best point, at half the previous step.
    pub levels: usize,
}

impl Default for Dsh {
    fn default() -> Dsh {
        Dsh {
            coarse: 5,
            levels: 3,
        }
    }
}

impl Planner for Dsh {
    fn name(&self) -> &'static str {
        "dads-dsh"
    }

    fn plan(&self, p: &Problem) -> Result<Plan, PlanError> {
        let server = server_of(p, self.name())?;
        let mut best: Option<(tiersplit_cost::Nanos, Plan)> = None;
        let mut seen = std::collections::HashSet::new();
        let mut tried = std::collections::HashSet::new();
        let mut scorer = Scorer::new(p);
        // Grid points are log2 of (alpha, gamma).
        let mut try_point =
            |la: f64, lg: f64, best: &mut Option<(tiersplit_cost::Nanos, Plan)>| -> bool {
                if !tried.insert(((la * 1024.0) as i64, (lg * 1024.0) as i64)) {
                    return false;
                }
                let placement = two_tier_cut(p, server, la.exp2(), lg.exp2());
                if !seen.insert(placement.clone()) {
                    return false;
                }
                let t = scorer.period_of(&placement);
                if best.as_ref().is_none_or(|(b, _)| t < *b) {
                    *best = Some((t, Plan::new(self.name(), placement)));
                    return true;
                }
                false
            };
        let n = self.coarse.max(2);
        let mut step = 12.0 / (n - 1) as f64;
        let mut centre = (0.0, 0.0);
        for i in 0..n {
            for j in 0..n {
                let pt = (-6.0 + step * i as f64, -6.0 + step * j as f64);
                if try_point(pt.0, pt.1, &mut best) {
                    centre = pt;
                }
            }
        }
        for _ in 0..self.levels {
            step /= 2.0;
            let around = centre;
            for di in [-1.0, 0.0, 1.0] {
                for dj in [-1.0, 0.0, 1.0] {
                    let pt = (around.0 + di * step, around.1 + dj * step);
                    if try_point(pt.0, pt.1, &mut best) {
                        centre = pt;
                    }
                }
            }
        }
        let plan = best.expect("grid is not empty").1;
        Ok(or_chain_that_fits(p, plan, &[p.device, server]))
    }
}
