//! DECC (IEEE TETC 2024): branches of a multi-branch DNN run in parallel across edge device
//! and cloud, against the consecutive two-part split. Its abstract gives no number: it claims
//! lower latency and higher throughput than existing methods.

use super::{find, Claim, Gain, ScenarioRow};

/// Multi-branch models: Inception blocks, residual blocks, and the two-tower AlexNet.
pub const DECC_MODELS: [&str; 3] = ["googlenet", "resnet18", "alexnet-towers"];

/// The consecutive splits (the best chain split over device, edge and cloud, and our exact
/// min-cut over them: both run the parts one after another), DECC, and our `best`.
pub const DECC_PLANNERS: [&str; 4] = ["neurosurgeon-3tier", "exact-3tier", "decc", "best"];

/// The consecutive planners DECC is compared with.
const CONSECUTIVE: [&str; 2] = ["neurosurgeon-3tier", "exact-3tier"];

/// `algorithm`'s latency speed-up and throughput gain over the quicker consecutive plan of
/// `row`, each (predicted, measured).
fn gains(row: &ScenarioRow, algorithm: &str) -> Option<[Gain; 2]> {
    let (c, a) = (row.quickest(&CONSECUTIVE)?, find(&row.plans, algorithm)?);
    let ratio = |x: Option<f64>, y: Option<f64>| x.zip(y).map(|(x, y)| x / y);
    Some([
        (
            c.predicted_ms / a.predicted_ms,
            ratio(c.measured_ms, a.measured_ms),
        ),
        (
            a.predicted_fps / c.predicted_fps,
            ratio(a.measured_fps, c.measured_fps),
        ),
    ])
}

fn spread_of(got: &[Gain], pick: impl Fn(&Gain) -> Option<f64>) -> String {
    super::spread(got.iter().filter_map(pick))
        .map_or("-".into(), |(lo, hi)| format!("{lo:.2}x–{hi:.2}x"))
}

/// DECC's claims over `rows`: its latency speed-up and throughput gain over the quicker
/// consecutive split, and the same for our `best`.
pub fn decc_claims(rows: &[ScenarioRow]) -> Vec<Claim> {
    let mut out = Vec::new();
    for (algorithm, name) in [("decc", "DECC"), ("best", "our best")] {
        let gains: Vec<_> = rows.iter().filter_map(|r| gains(r, algorithm)).collect();
        let lat: Vec<_> = gains.iter().map(|g| g[0]).collect();
        let tp: Vec<_> = gains.iter().map(|g| g[1]).collect();
        for (what, got, paper) in [
            (
                "latency speed-up",
                &lat,
                "lower latency (no figure in the abstract)",
            ),
            (
                "throughput gain",
                &tp,
                "higher throughput (no figure in the abstract)",
            ),
        ] {
            out.push(Claim {
                figure: "abstract",
                what: format!("{name}: {what} over the quicker consecutive split"),
                paper: paper.into(),
                predicted: spread_of(got, |g| Some(g.0)),
                measured: spread_of(got, |g| g.1),
            });
        }
    }
    out
}
