//! `bench faults`: what each fault of a trace cost, over rounds of the same trace.

use crate::median::median;
use crate::trace_run::FaultFigure;
use tiersplit_adapt::Fault;

/// One fault of the trace over all rounds: medians of its timings, totals of its frames.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultSummary {
    /// When the trace does it (s), what, to which node.
    pub at_s: f64,
    /// What was done.
    pub fault: Fault,
    /// To which node.
    pub node: String,
    /// Rounds it was measured in.
    pub rounds: usize,
    /// Median time from the fault to the heartbeats' verdict (ms), over the rounds that had one.
    pub detected_ms: Option<f64>,
    /// Median time from the verdict to the first answer without the node (ms).
    pub recovered_ms: Option<f64>,
    /// Median planning and deploying parts of the recovery (ms).
    pub planning_ms: Option<f64>,
    /// Median time to compile, upload and start the plan (ms).
    pub deploying_ms: Option<f64>,
    /// Median time from the fault to the node's re-admission (ms).
    pub readmitted_ms: Option<f64>,
    /// Frames fed again, over all rounds.
    pub reissued: usize,
    /// Frames failed, over all rounds.
    pub failed: usize,
    /// Median latency before the fault, and median of the worst after it (ms).
    pub before_ms: f64,
    /// Median over rounds of the worst latency in the 5 s after the fault (ms).
    pub worst_after_ms: f64,
}

/// The faults of `rounds` (each round's figures, in trace order), summarised fault by fault.
pub fn fault_summary(rounds: &[Vec<FaultFigure>]) -> Vec<FaultSummary> {
    let Some(first) = rounds.first() else {
        return Vec::new();
    };
    (0..first.len())
        .map(|i| {
            let figs: Vec<&FaultFigure> = rounds.iter().filter_map(|r| r.get(i)).collect();
            let med = |f: fn(&FaultFigure) -> Option<f64>| {
                let v: Vec<f64> = figs.iter().filter_map(|x| f(x)).collect();
                (!v.is_empty()).then(|| median(v))
            };
            FaultSummary {
                at_s: first[i].at_s,
                fault: first[i].fault,
                node: first[i].node.clone(),
                rounds: figs.len(),
                detected_ms: med(|f| f.detected_ms),
                recovered_ms: med(|f| f.recovered_ms),
                readmitted_ms: med(|f| f.readmitted_ms),
                planning_ms: med(|f| f.planning_ms),
                deploying_ms: med(|f| f.deploying_ms),
                reissued: figs.iter().map(|f| f.reissued).sum(),
                failed: figs.iter().map(|f| f.failed).sum(),
                before_ms: median(figs.iter().map(|f| f.before_ms).collect()),
                worst_after_ms: median(figs.iter().map(|f| f.worst_after_ms).collect()),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fig(detected: Option<f64>, reissued: usize) -> FaultFigure {
        FaultFigure {
            fault: Fault::Kill,
            node: "edge0".into(),
            at_s: 4.0,
            detected_ms: detected,
            recovered_ms: detected.map(|d| d * 2.0),
            planning_ms: None,
            deploying_ms: None,
            reissued,
            readmitted_ms: None,
            failed: 0,
            before_ms: 90.0,
            worst_after_ms: 600.0,
        }
    }

    #[test]
    fn medians_over_the_rounds_that_measured_and_totals_of_frames() {
        let s = fault_summary(&[
            vec![fig(Some(40.0), 2)],
            vec![fig(Some(60.0), 3)],
            vec![fig(None, 0)],
        ]);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].rounds, 3);
        // The upper middle of the two rounds that saw it.
        assert_eq!(s[0].detected_ms, Some(60.0));
        assert_eq!(s[0].recovered_ms, Some(120.0));
        assert_eq!(s[0].readmitted_ms, None);
        assert_eq!(s[0].reissued, 5);
        assert!(fault_summary(&[]).is_empty());
    }
}
