//! DADS (INFOCOM 2019): its uplinks, models, loads and baselines on the emulated two-tier
//! cluster. The device runs each model as fast as a Raspberry Pi 3B+ does by a published
//! table; the cloud runs at this machine's own speed.

use super::{
    find, latency_gain, measure, percent_less, percent_more, predicted, prepare, spread_text,
    throughput_gain, times, Claim, Gain, MeasureBudget, PaperModel, PlanFigures, Prepared, Runs,
    Show,
};
use crate::error::Result;
use crate::session::Session;
use std::collections::BTreeMap;
use tiersplit_cost::{Problem, Scenario, Tier};
use tiersplit_plan::{evaluate, planner_by_name, Plan};

/// One of the paper's uplinks (its Table I: average mobile uplink rates).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Uplink {
    /// The network's name as the paper gives it.
    pub name: &'static str,
    /// Its rate (Mbit/s).
    pub mbps: f64,
}

/// DADS's Table I.
pub const DADS_UPLINKS: [Uplink; 4] = [
    Uplink {
        name: "CAT1",
        mbps: 0.13,
    },
    Uplink {
        name: "3G",
        mbps: 1.1,
    },
    Uplink {
        name: "4G",
        mbps: 5.85,
    },
    Uplink {
        name: "WiFi",
        mbps: 18.88,
    },
];

/// The paper's workloads: frames sampled at 0.1 per second (light) or 20 (heavy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Load {
    /// 0.1 frames per second: DADS minimises latency (DSL).
    Light,
    /// 20 frames per second: DADS switches to DSH when DSL cannot keep up.
    Heavy,
}

impl Load {
    /// The frame rate the paper samples at.
    pub fn fps(self) -> f64 {
        match self {
            Load::Light => 0.1,
            Load::Heavy => 20.0,
        }
    }

    /// "light" or "heavy".
    pub fn name(self) -> &'static str {
        match self {
            Load::Light => "light",
            Load::Heavy => "heavy",
        }
    }
}

/// The planners DADS is compared with, and DADS itself: Edge-Only (our device-only: the
/// paper's "edge" is the device), Cloud-Only, the Neurosurgeon variant (the best split of a
/// topological order), DSL, DSH, and DADS's dynamic rule under the load's frame rate.
pub const DADS_PLANNERS: [&str; 6] = [
    "device-only",
    "cloud-only",
    "neurosurgeon",
    "dads-dsl",
    "dads-dsh",
    "dads",
];

/// Raspberry Pi 3B+ (Cortex-A53, 4 x 1.4 GHz) times in ms from ncnn's benchmark table
/// (Tencent/ncnn `benchmark/README.md`, `benchncnn 8 4 0`: 4 threads, average of 8 runs).
pub const PI3BPLUS_MS: [(&str, f64); 5] = [
    ("alexnet", 276.13),
    ("vgg16", 1902.28),
    ("resnet18", 416.54),
    ("googlenet", 303.24),
    ("mobilenetv2", 194.50),
];

/// The Pi 3B+'s rate on models its table lacks: the median over the tabled models of their
/// FLOPs (as tiersplit counts them) over their time, in GFLOP/s (ResNet-18's 3.64 GFLOP in
/// 416.54 ms; the others give 3.2 to 16.3).
pub const PI3BPLUS_GFLOPS: f64 = 8.74;

/// How long a Pi 3B+ takes for the zoo model `name` of `gflop`: its table entry, AlexNet's
/// rate for the two-tower AlexNet (the same layers in two halves), the median rate otherwise;
/// with where the figure comes from.
pub fn pi3bplus_ms(name: &str, gflop: f64) -> (f64, String) {
    published_ms(&PI3BPLUS_MS, PI3BPLUS_GFLOPS, "", name, gflop)
}

/// A machine's time for `name` of `gflop` from its row of ncnn's table (`board` names the
/// row when it is not the Pi's): the entry, AlexNet's rate for the two-tower AlexNet, or the
/// row's `median` rate (GFLOP/s); with where it comes from.
fn published_ms(
    table: &[(&str, f64)],
    median: f64,
    board: &str,
    name: &str,
    gflop: f64,
) -> (f64, String) {
    let entry = |n: &str| table.iter().find(|(m, _)| *m == n).map(|&(_, ms)| ms);
    let row = if board.is_empty() {
        String::new()
    } else {
        format!(", {board}")
    };
    if let Some(ms) = entry(name) {
        return (ms, format!("ncnn table{row}"));
    }
    if let (true, Some(alexnet)) = (name == "alexnet-towers", entry("alexnet")) {
        let rate = 1.43 / alexnet;
        return (
            gflop / rate,
            format!("AlexNet's rate in the ncnn table{row}"),
        );
    }
    (
        gflop / median * 1e3,
        format!("{gflop:.2} GFLOP at the table's median {median} GFLOP/s{row}"),
    )
}

/// Tesla V100 (PCIe, 32 GB) times in ms from the same ncnn table (its Vulkan GPU backend,
/// `benchncnn 300 1 0 0 0`: one host thread, average of 300 runs).
pub const V100_MS: [(&str, f64); 5] = [
    ("alexnet", 1.49),
    ("vgg16", 3.17),
    ("resnet18", 1.95),
    ("googlenet", 4.10),
    ("mobilenetv2", 1.76),
];

/// The V100's rate on models its table lacks: the median over the tabled models of their
/// FLOPs (as tiersplit counts them) over their time, in GFLOP/s (AlexNet's 1.43 GFLOP in
/// 1.49 ms; the others give 353 to 9,770).
pub const V100_GFLOPS: f64 = 959.7;

/// What the DADS cloud is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloudHw {
    /// The paper's 8-core server, emulated by this machine on one thread: it runs the cloud's
    /// part at its own speed on its engine.
    ThisMachine,
    /// A Tesla V100 GPU server, each model in its time in ncnn's table. Quicker than this
    /// machine, so it cannot be emulated here: predicted only.
    V100,
}

/// How long a V100 takes for the zoo model `name` of `gflop`, with where the figure comes
/// from (as [`pi3bplus_ms`] does for the device).
pub fn v100_ms(name: &str, gflop: f64) -> (f64, String) {
    published_ms(&V100_MS, V100_GFLOPS, "Tesla V100", name, gflop)
}

/// The DADS scenario `base` (a device and a cloud over one uplink) with the uplink at `mbps`
/// and frames at `fps`.
pub fn dads_scenario(base: &Scenario, mbps: f64, fps: f64) -> Scenario {
    let mut s = base.clone();
    s.frame_rate = fps;
    for l in &mut s.links {
        l.bandwidth_mbps = mbps;
    }
    s
}

/// `m` imported and timed, its device pinned to the Pi 3B+'s time for it, and its cloud's
/// time for it when that is not this machine's (with where it comes from).
fn prepare_on_pi(
    m: &PaperModel,
    base: &Scenario,
    cloud: CloudHw,
) -> Result<(Prepared, Option<(f64, String)>)> {
    let mut prep = prepare(m, base)?;
    let gflop = prep.model.graph.total_flops().0 as f64 / 1e9;
    prep.device_ms = pi3bplus_ms(&m.name, gflop);
    let cloud_ms = match cloud {
        CloudHw::ThisMachine => None,
        CloudHw::V100 => {
            let ms = v100_ms(&m.name, gflop);
            // The fastest node takes the model in this time: the cloud's.
            prep.calibrated.whole_ms = ms.0;
            Some(ms)
        }
    };
    Ok((prep, cloud_ms))
}

/// Every plan of [`DADS_PLANNERS`] for one model, uplink and load.
#[derive(Debug, Clone)]
pub struct DadsRow {
    /// The model's zoo name.
    pub model: String,
    /// The uplink.
    pub uplink: Uplink,
    /// The load.
    pub load: Load,
    /// The device's time for the whole model (ms), and where it comes from.
    pub device_ms: (f64, String),
    /// The cloud's, when it is not this machine's.
    pub cloud_ms: Option<(f64, String)>,
    /// In [`DADS_PLANNERS`] order.
    pub plans: Vec<PlanFigures>,
}

impl DadsRow {
    /// The figures of `algorithm`.
    pub fn plan(&self, algorithm: &str) -> Option<&PlanFigures> {
        find(&self.plans, algorithm)
    }

    /// Latency speed-up of `a` over `b` (b's time over a's): predicted, and measured when both
    /// were.
    pub fn latency_gain(&self, a: &str, b: &str) -> Option<Gain> {
        latency_gain(&self.plans, a, b)
    }

    /// Throughput gain of `a` over `b` (a's frames per second over b's).
    pub fn throughput_gain(&self, a: &str, b: &str) -> Option<Gain> {
        throughput_gain(&self.plans, a, b)
    }
}

/// The DADS experiment for `models` over `uplinks` and both loads with the cloud `cloud`:
/// every plan predicted, and measured on `session` (a cluster of `base`'s nodes) within
/// `budget` when there is one and the cloud is this machine.
pub async fn dads_rows(
    mut session: Option<&mut Session>,
    base: &Scenario,
    models: &[PaperModel],
    uplinks: &[Uplink],
    budget: MeasureBudget,
    cloud: CloudHw,
) -> Result<Vec<DadsRow>> {
    if cloud != CloudHw::ThisMachine {
        session = None;
    }
    let mut rows = Vec::new();
    for m in models {
        let (mut prep, cloud_ms) = prepare_on_pi(m, base, cloud)?;
        for &uplink in uplinks {
            // Plans are measured once per uplink: both loads share what they both use.
            let mut runs: BTreeMap<String, Runs> = BTreeMap::new();
            for load in [Load::Light, Load::Heavy] {
                let problem =
                    prep.pinned(&dads_scenario(base, uplink.mbps, load.fps()), &m.profile)?;
                let mut plans = Vec::new();
                for name in DADS_PLANNERS {
                    let plan = planner_by_name(name)?.plan(&problem)?;
                    let mut f = predicted(&problem, &plan);
                    if let Some(s) = session.as_deref_mut() {
                        let r = match runs.get(&f.placement) {
                            Some(r) => r.clone(),
                            None => measure(s, &prep, &problem, &plan, &f, budget).await?,
                        };
                        runs.insert(f.placement.clone(), r.clone());
                        r.fill(&mut f);
                    }
                    plans.push(f);
                }
                rows.push(DadsRow {
                    model: m.name.clone(),
                    uplink,
                    load,
                    device_ms: prep.device_ms.clone(),
                    cloud_ms: cloud_ms.clone(),
                    plans,
                });
            }
        }
    }
    Ok(rows)
}

/// The plan `algorithm` makes on `problem`, and where it cuts: the tensors that go up from
/// the device (by name: the input, or the device layers' outputs read off the device).
pub fn cut_of(problem: &Problem, algorithm: &str) -> Result<(Plan, Vec<String>)> {
    let plan = planner_by_name(algorithm)?.plan(problem)?;
    let on_device = |l: usize| problem.nodes[plan.placement[l].0].tier == Tier::Device;
    let cut = problem
        .tensors
        .iter()
        .filter(|t| t.producer.is_none_or(on_device) && !t.consumers.iter().all(|&c| on_device(c)))
        .map(|t| t.name.clone())
        .collect();
    Ok((plan, cut))
}

/// The headline figures of DADS's evaluation (Section V-B, Figs. 12 to 14) against ours over
/// `rows` (the paper does not say which uplink its per-model figures use, so ours span every
/// uplink run).
pub fn dads_claims(rows: &[DadsRow]) -> Vec<Claim> {
    let of = |load: Load, models: &[&str]| -> Vec<&DadsRow> {
        rows.iter()
            .filter(|r| r.load == load && (models.is_empty() || models.contains(&r.model.as_str())))
            .collect()
    };
    let paper_models = ["nin", "tinyyolov2", "vgg16", "alexnet", "resnet18"];
    let mut out = Vec::new();
    let mut claim = |figure,
                     what: &str,
                     paper: &str,
                     rs: &[&DadsRow],
                     f: &dyn Fn(&DadsRow) -> Option<Gain>,
                     show: fn(f64) -> String| {
        let (predicted, measured) = spread_text(rs, f, show);
        out.push(Claim {
            figure,
            what: what.into(),
            paper: paper.into(),
            predicted,
            measured,
        });
    };
    for (load, fig, lat_e, lat_c, tp_e, tp_c) in [
        (
            Load::Light,
            "Fig. 12",
            "1.91–6.45x",
            "1.35–8.08x",
            "3.45–8.31x",
            "1.46–11.13x",
        ),
        (
            Load::Heavy,
            "Fig. 13",
            "1.66–5.19x",
            "1.07–6.92x",
            "4.34–9.14x",
            "1.46–14.10x",
        ),
    ] {
        let rs = of(load, &paper_models);
        let l = load.name();
        claim(
            fig,
            &format!("{l} load: DADS's latency speed-up over Edge-Only"),
            lat_e,
            &rs,
            &|r| r.latency_gain("dads", "device-only"),
            times,
        );
        claim(
            fig,
            &format!("{l} load: DADS's latency speed-up over Cloud-Only"),
            lat_c,
            &rs,
            &|r| r.latency_gain("dads", "cloud-only"),
            times,
        );
        claim(
            fig,
            &format!("{l} load: DADS's throughput gain over Edge-Only"),
            tp_e,
            &rs,
            &|r| r.throughput_gain("dads", "device-only"),
            times,
        );
        claim(
            fig,
            &format!("{l} load: DADS's throughput gain over Cloud-Only"),
            tp_c,
            &rs,
            &|r| r.throughput_gain("dads", "cloud-only"),
            times,
        );
    }
    let dag: Vec<&DadsRow> = rows
        .iter()
        .filter(|r| ["alexnet", "resnet18"].contains(&r.model.as_str()))
        .collect();
    claim(
        "Fig. 14",
        "DAG models (AlexNet, ResNet-18): DADS's latency speed-up over Neurosurgeon",
        "66–86%",
        &dag,
        &|r| r.latency_gain("dads", "neurosurgeon"),
        percent_more,
    );
    claim(
        "Fig. 14",
        "DAG models: DADS's throughput gain over Neurosurgeon",
        "76–87%",
        &dag,
        &|r| r.throughput_gain("dads", "neurosurgeon"),
        percent_more,
    );
    let towers: Vec<&DadsRow> = rows
        .iter()
        .filter(|r| r.model == "alexnet-towers")
        .collect();
    if !towers.is_empty() {
        claim(
            "Fig. 14",
            "two-tower AlexNet (ours): DSL's latency speed-up over Neurosurgeon",
            "-",
            &towers,
            &|r| r.latency_gain("dads-dsl", "neurosurgeon"),
            percent_more,
        );
    }
    for (model, lat, tp) in [
        ("tinyyolov2", "16.28%", "1.26x"),
        ("vgg16", "13.64%", "1.27x"),
    ] {
        let rs = of(Load::Heavy, &[model]);
        claim(
            "Fig. 14",
            &format!("heavy load, {model}: Neurosurgeon's latency below DADS's"),
            lat,
            &rs,
            &|r| r.latency_gain("neurosurgeon", "dads"),
            percent_less,
        );
        claim(
            "Fig. 14",
            &format!("heavy load, {model}: DADS's throughput over Neurosurgeon's"),
            tp,
            &rs,
            &|r| r.throughput_gain("dads", "neurosurgeon"),
            times,
        );
    }
    out.extend(fig15_claims(rows));
    out
}

/// Fig. 15: ResNet-18 under light load on each uplink, against Edge-Only and Cloud-Only.
fn fig15_claims(rows: &[DadsRow]) -> Vec<Claim> {
    // (uplink, latency and throughput over Edge-Only, latency and throughput over Cloud-Only)
    let paper = [
        ("CAT1", "1.46x", "2.03x", "64%", "73%"),
        ("3G", "4.14x", "8.3x", "26%", "45%"),
        ("4G", "7.23x", "9.78x", "7%", "4%"),
        ("WiFi", "8.32x", "9.31x", "0%", "0%"),
    ];
    let mut out = Vec::new();
    for (uplink, le, te, lc, tc) in paper {
        let Some(r) = rows
            .iter()
            .find(|r| r.model == "resnet18" && r.load == Load::Light && r.uplink.name == uplink)
        else {
            continue;
        };
        let figures: [(&str, &str, Option<Gain>, Show); 4] = [
            (
                "latency speed-up over Edge-Only",
                le,
                r.latency_gain("dads", "device-only"),
                times,
            ),
            (
                "throughput gain over Edge-Only",
                te,
                r.throughput_gain("dads", "device-only"),
                times,
            ),
            (
                "latency reduction against Cloud-Only",
                lc,
                r.latency_gain("dads", "cloud-only"),
                percent_less,
            ),
            (
                "throughput gain over Cloud-Only",
                tc,
                r.throughput_gain("dads", "cloud-only"),
                percent_more,
            ),
        ];
        for (what, p, g, show) in figures {
            let Some((pred, meas)) = g else { continue };
            out.push(Claim {
                figure: "Fig. 15",
                what: format!("ResNet-18, light load, {uplink}: DADS's {what}"),
                paper: p.into(),
                predicted: show(pred),
                measured: meas.map_or("-".into(), show),
            });
        }
    }
    out
}

/// One bandwidth of a sweep: what DADS does there.
#[derive(Debug, Clone)]
pub struct SweepPoint {
    /// The uplink's rate (Mbit/s).
    pub mbps: f64,
    /// Whether DADS's rule chose heavy-load mode (DSH) at the sweep's frame rate.
    pub heavy: bool,
    /// The tensors DSL's plan sends up.
    pub dsl_cut: Vec<String>,
    /// DSL's predicted latency (ms).
    pub dsl_ms: f64,
    /// DSL's predicted frames per second.
    pub dsl_fps: f64,
    /// Every planner of [`DADS_PLANNERS`]: (name, predicted ms, predicted frames per second).
    pub plans: Vec<(String, f64, f64)>,
}

/// DADS on `m` at each of `bandwidths` with frames at `fps`: its mode and DSL's cut,
/// predicted (Fig. 17's switching point and Fig. 18's moving cut).
pub fn dads_sweep(
    m: &PaperModel,
    base: &Scenario,
    fps: f64,
    bandwidths: &[f64],
) -> Result<Vec<SweepPoint>> {
    let (mut prep, _) = prepare_on_pi(m, base, CloudHw::ThisMachine)?;
    let mut out = Vec::new();
    for &mbps in bandwidths {
        let problem = prep.pinned(&dads_scenario(base, mbps, fps), &m.profile)?;
        let (dsl, dsl_cut) = cut_of(&problem, "dads-dsl")?;
        let rule = planner_by_name("dads")?.plan(&problem)?;
        let p = evaluate(&problem, &dsl);
        let mut plans = Vec::new();
        for name in DADS_PLANNERS {
            let f = predicted(&problem, &planner_by_name(name)?.plan(&problem)?);
            plans.push((f.algorithm, f.predicted_ms, f.predicted_fps));
        }
        out.push(SweepPoint {
            mbps,
            heavy: rule.notes.iter().any(|n| n.starts_with("heavy load")),
            dsl_cut,
            dsl_ms: p.makespan.as_millis_f64(),
            dsl_fps: p.throughput_fps,
            plans,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pi_takes_its_table_time_or_the_median_rate() {
        assert_eq!(pi3bplus_ms("resnet18", 3.64).0, 416.54);
        // The median rate is ResNet-18's own.
        let (ms, why) = pi3bplus_ms("nin", 3.64);
        assert!((ms - 416.5).abs() < 1.0, "{ms} ({why})");
        // The two-tower AlexNet runs at AlexNet's rate: its 1.45 GFLOP against 1.43.
        let (ms, _) = pi3bplus_ms("alexnet-towers", 1.45);
        assert!((ms - 276.13 * 1.45 / 1.43).abs() < 0.01, "{ms}");
    }

    #[test]
    fn the_median_rates_are_the_tables() {
        // GFLOP of the tabled zoo models as tiersplit counts them (`tiersplit inspect`).
        let gflop = [1.43, 30.97, 3.64, 3.02, 0.621];
        for (table, median) in [(PI3BPLUS_MS, PI3BPLUS_GFLOPS), (V100_MS, V100_GFLOPS)] {
            let mut rates: Vec<f64> = table
                .iter()
                .zip(gflop)
                .map(|((_, ms), g)| g / ms * 1e3)
                .collect();
            rates.sort_by(f64::total_cmp);
            assert!((rates[2] - median).abs() < 0.1, "{rates:?}");
        }
    }

    #[test]
    fn the_v100_takes_its_table_time_or_the_median_rate() {
        assert_eq!(v100_ms("resnet18", 3.64).0, 1.95);
        let (ms, why) = v100_ms("nin", 1.43);
        assert!((ms - 1.49).abs() < 0.01, "{ms} ({why})");
    }

    #[test]
    fn a_dads_scenario_sets_every_link_and_the_frame_rate() {
        let base =
            Scenario::from_toml(include_str!("../../../../../scenarios/dads-wifi.toml")).unwrap();
        let s = dads_scenario(&base, 1.1, 20.0);
        assert_eq!(s.frame_rate, 20.0);
        assert!(s.links.iter().all(|l| l.bandwidth_mbps == 1.1));
        assert_eq!(s.nodes, base.nodes);
    }
}
