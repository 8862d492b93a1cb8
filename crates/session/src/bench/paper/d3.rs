//! D3 (Zhang et al., 2021): three tiers, VSM tiles across several edge nodes, against the
//! two-tier state of the art, on five popular DNNs (the abstract does not name them: ours are
//! the zoo's five ImageNet classifiers). Its two figures are end-to-end latency and backbone
//! (edge-cloud) traffic.

use super::{find, Claim, ScenarioRow};

/// The five DNNs: the zoo's ImageNet classifiers.
pub const D3_MODELS: [&str; 5] = ["alexnet", "vgg16", "resnet18", "googlenet", "mobilenetv2"];

/// The two-tier state of the art (Neurosurgeon's chain split, DADS's min-cut: device and
/// cloud), D3's HPA without and with VSM tiles, and our `best`.
pub const D3_PLANNERS: [&str; 5] = ["neurosurgeon", "dads-dsl", "hpa", "hpa-vsm", "best"];

/// The two-tier planners D3 is compared with.
pub const D3_TWO_TIER: [&str; 2] = ["neurosurgeon", "dads-dsl"];

/// The largest of `(value, label)`s, as "x (label)".
fn largest(values: impl Iterator<Item = (f64, String)>, show: fn(f64) -> String) -> String {
    values
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map_or("-".into(), |(v, at)| format!("{} ({at})", show(v)))
}

fn times(x: f64) -> String {
    format!("{x:.2}x")
}

/// `algorithm`'s latency speed-up over the two-tier plan in each row: (predicted, measured).
fn speedups(rows: &[ScenarioRow], algorithm: &str) -> Vec<(String, f64, Option<f64>)> {
    rows.iter()
        .filter_map(|r| {
            let (two, d3) = (r.quickest(&D3_TWO_TIER)?, find(&r.plans, algorithm)?);
            let measured = two.measured_ms.zip(d3.measured_ms).map(|(t, d)| t / d);
            let at = format!("{}, {}", r.model, r.scenario);
            Some((at, two.predicted_ms / d3.predicted_ms, measured))
        })
        .collect()
}

/// The two-tier plan's backbone bytes over `algorithm`'s in each row (infinite when `algorithm`
/// sends none): (predicted, measured).
fn traffic_cuts(rows: &[ScenarioRow], algorithm: &str) -> Vec<(String, f64, Option<f64>)> {
    let ratio = |t: u64, d: u64| {
        if d == 0 {
            f64::INFINITY
        } else {
            t as f64 / d as f64
        }
    };
    rows.iter()
        .filter_map(|r| {
            let (two, d3) = (r.quickest(&D3_TWO_TIER)?, find(&r.plans, algorithm)?);
            let measured = two.measured_backbone.zip(d3.measured_backbone);
            let at = format!("{}, {}", r.model, r.scenario);
            let predicted = ratio(two.predicted_backbone, d3.predicted_backbone);
            Some((at, predicted, measured.map(|(t, d)| ratio(t, d))))
        })
        .filter(|(_, p, _)| *p > 0.0)
        .collect()
}

/// The largest of `got`'s finite values as "x (at)"; with how many rows are infinite (the
/// plan sends nothing over the backbone) when some are.
fn largest_text(got: &[(f64, String)]) -> String {
    if got.is_empty() {
        return "-".into();
    }
    let finite = largest(got.iter().filter(|g| g.0.is_finite()).cloned(), times);
    let none = got.iter().filter(|g| g.0.is_infinite()).count();
    match none {
        0 => finite,
        n => format!(
            "nothing crosses in {n} of {} rows; largest other {finite}",
            got.len()
        ),
    }
}

/// A claim "up to" the largest of `got` (predicted, measured).
fn up_to(what: String, paper: &str, got: &[(String, f64, Option<f64>)]) -> Claim {
    let predicted: Vec<_> = got.iter().map(|g| (g.1, g.0.clone())).collect();
    let measured: Vec<_> = got
        .iter()
        .filter_map(|g| Some((g.2?, g.0.clone())))
        .collect();
    Claim {
        figure: "abstract",
        what,
        paper: paper.into(),
        predicted: largest_text(&predicted),
        measured: largest_text(&measured),
    }
}

/// D3's two headline figures (its abstract) for HPA-VSM and for our `best`, over `rows`.
pub fn d3_claims(rows: &[ScenarioRow]) -> Vec<Claim> {
    let mut out = Vec::new();
    for (algorithm, name) in [("hpa-vsm", "D3 (HPA + VSM)"), ("best", "our best")] {
        out.push(up_to(
            format!("{name}: end-to-end latency speed-up over the quicker two-tier plan, at most"),
            "up to 3.4x",
            &speedups(rows, algorithm),
        ));
        out.push(up_to(
            format!("{name}: backbone traffic of the two-tier plan over its own, at most"),
            "up to 3.68x",
            &traffic_cuts(rows, algorithm),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backbone_cuts_say_when_nothing_crosses() {
        let got = [
            (f64::INFINITY, "a".to_string()),
            (2.0, "b".to_string()),
            (1.5, "c".to_string()),
        ];
        assert_eq!(
            largest_text(&got),
            "nothing crosses in 1 of 3 rows; largest other 2.00x (b)"
        );
        assert_eq!(largest_text(&got[1..]), "2.00x (b)");
        assert_eq!(largest_text(&[]), "-");
    }
}
