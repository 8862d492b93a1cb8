//! Run-time adaptation against its targets, from the JSON of `tiersplit run --trace --json`
//! (the benchmark reads back what users run): how soon after a bandwidth step the new plan is
//! ready, and the adaptive run's latency against the best static plan's over the same trace.

use crate::error::{Result, SessionError};
use serde_json::Value;
use std::collections::BTreeMap;

/// The latency figures of a trace run compared: per answered frame, and over time.
pub const METRICS: [&str; 2] = ["mean_ms", "time_mean_ms"];

/// One round of a trace, for one of [`METRICS`]: the adaptive run's figure and the best
/// static plan's.
#[derive(Debug, Clone)]
pub struct AdaptRow {
    /// The round, from 0.
    pub round: usize,
    /// The trace's name.
    pub trace: String,
    /// Which of [`METRICS`].
    pub metric: usize,
    /// The adaptive run's figure (ms).
    pub adaptive_ms: f64,
    /// The static plan with the lowest figure, and that figure (ms).
    pub best_static: Option<(String, f64)>,
}

impl AdaptRow {
    /// The best static plan's figure over the adaptive run's (NaN without a static plan).
    pub fn ratio(&self) -> f64 {
        self.best_static.as_ref().map_or(f64::NAN, |b| b.1) / self.adaptive_ms
    }
}

/// A bandwidth change of a trace and the switch that answered it.
#[derive(Debug, Clone)]
pub struct StepAnswer {
    /// The trace and round, as reported.
    pub trace: String,
    /// When the change happened, seconds from the start.
    pub at_s: f64,
    /// The change, in words.
    pub what: String,
    /// From the change until the new plan served every frame fed (s); None: no switch.
    pub ready_after_s: Option<f64>,
    /// From the change until the first answer on the new plan (s).
    pub first_answer_after_s: Option<f64>,
    /// From the switch being ready until the first answer of any frame after it (s): a frame
    /// caught on the old plan, or its copy.
    pub next_answer_s: Option<f64>,
    /// Frames copied onto a newer plan between this change and the next.
    pub hedged: usize,
    /// The same in the run without hedging (`run --hedge both`), when there was one.
    pub unhedged_next_answer_s: Option<f64>,
}

/// A trace run's rows (`reports`: the JSON `tiersplit run --trace --json` wrote for trace
/// `trace` in round `round`) and each of its bandwidth steps with the switch that answered it.
pub fn adapt_rows(
    reports: &[Value],
    trace: &str,
    round: usize,
) -> Result<(Vec<AdaptRow>, Vec<StepAnswer>)> {
    let adaptive = reports
        .iter()
        .find(|r| r["adaptive"] == true)
        .ok_or_else(|| SessionError::invalid("no adaptive run"))?;
    let rows = METRICS
        .into_iter()
        .enumerate()
        .map(|(metric, key)| {
            let mean = |r: &Value| r[key].as_f64().unwrap_or(f64::NAN);
            let best_static = reports
                .iter()
                .filter(|r| r["adaptive"] != true)
                .map(|r| (r["label"].as_str().unwrap_or("?").to_string(), mean(r)))
                .min_by(|a, b| a.1.total_cmp(&b.1));
            AdaptRow {
                round,
                trace: trace.to_string(),
                metric,
                adaptive_ms: mean(adaptive),
                best_static,
            }
        })
        .collect();
    let mut steps = step_answers(adaptive, &format!("{trace} #{}", round + 1));
    let unhedged = reports
        .iter()
        .find(|r| r["adaptive"] == true && r["hedged"] == false);
    if let Some(u) = unhedged {
        for (s, w) in steps.iter_mut().zip(step_answers(u, trace)) {
            s.unhedged_next_answer_s = w.next_answer_s;
        }
    }
    Ok((rows, steps))
}

/// Each (trace, metric)'s ratios over the rounds ([`AdaptRow::ratio`]).
pub fn ratios(rows: &[AdaptRow]) -> BTreeMap<(String, usize), Vec<f64>> {
    let mut out: BTreeMap<(String, usize), Vec<f64>> = BTreeMap::new();
    for r in rows {
        out.entry((r.trace.clone(), r.metric))
            .or_default()
            .push(r.ratio());
    }
    out
}

/// Each bandwidth change of an adaptive run and the first switch seen after it (before the
/// next change).
fn step_answers(adaptive: &Value, trace: &str) -> Vec<StepAnswer> {
    let mut steps = Vec::new();
    let switches = adaptive["switches"].as_array().cloned().unwrap_or_default();
    for p in adaptive["phases"].as_array().into_iter().flatten() {
        let what = p["what"].as_str().unwrap_or("").to_string();
        if !what.contains("Mbit/s") {
            continue;
        }
        let at = p["at_s"].as_f64().unwrap_or(0.0);
        let next = adaptive["phases"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|q| q["at_s"].as_f64())
            .find(|&t| t > at)
            .unwrap_or(f64::INFINITY);
        let sw = switches.iter().find(|s| {
            let seen = s["seen_s"].as_f64().unwrap_or(-1.0);
            seen >= at && seen < next
        });
        let hedged = adaptive["hedges"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|h| h["at_s"].as_f64())
            .filter(|&t| t >= at && t < next)
            .count();
        steps.push(StepAnswer {
            trace: trace.to_string(),
            at_s: at,
            what,
            ready_after_s: sw.and_then(|s| s["ready_s"].as_f64()).map(|r| r - at),
            first_answer_after_s: sw
                .and_then(|s| s["first_answer_s"].as_f64())
                .map(|r| r - at),
            next_answer_s: sw
                .and_then(|s| Some(s["next_answer_s"].as_f64()? - s["ready_s"].as_f64()?)),
            hedged,
            unhedged_next_answer_s: None,
        });
    }
    steps
}
