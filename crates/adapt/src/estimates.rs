use crate::{LinkEstimator, PartKey, SpeedEstimator};
use std::collections::BTreeMap;
use tiersplit_cost::{Bandwidth, Nanos, NodeId, Problem};

/// What the running system has learnt about its links and nodes, and the nominal problem
/// corrected by it: the problem a re-plan solves.
#[derive(Debug, Clone, Default)]
pub struct Estimates {
    links: BTreeMap<(NodeId, NodeId), LinkState>,
    nodes: BTreeMap<NodeId, NodeSpeed>,
    /// Round trips between two nodes, keyed by the pair in order.
    round_trips: BTreeMap<(NodeId, NodeId), RoundTrips>,
    /// Fixed cost per message, in every link's latency next to half its round trip.
    overhead: Nanos,
}

/// The round trips of one pair of nodes: the least of the last [`ROUND_TRIPS_KEPT`]. Queues
/// and a busy scheduler only ever add to a round trip, so its least is the path's own delay;
/// a longer path shows once every kept sample is longer, a shorter one at once.
#[derive(Debug, Clone, Default)]
struct RoundTrips {
    last: std::collections::VecDeque<f64>,
}

/// Round trips a pair keeps: 2 to 4 s of pings (each end of a watched pair pings 4 times a
/// second). A ping queues behind the link's tensors where a shaper's queue holds both, so
/// the least is the path's own delay only if one ping in the window found the queue empty.
const ROUND_TRIPS_KEPT: usize = 16;
/// Delays that differ by less than this (seconds) are the same: timer and scheduler noise.
const DELAY_NOISE_S: f64 = 1e-3;

/// A node's slowdown, followed through its parts. Each part's measured time differs from its
/// profiled time by a bias of its own (fusion, caches), so a part is compared with itself:
/// its first settled ratio is its baseline at the node's slowdown then, and a later step of
/// its ratio scales that slowdown. Plans that move parts between nodes then do not read as
/// nodes changing speed.
#[derive(Debug, Clone)]
struct NodeSpeed {
    slowdown: f64,
    known: bool,
    parts: BTreeMap<PartKey, PartSpeed>,
}

#[derive(Debug, Clone, Default)]
struct PartSpeed {
    ratio: SpeedEstimator,
    runs: usize,
    /// (settled ratio, node slowdown at that time).
    baseline: Option<(f64, f64)>,
}

/// A part's first run allocates and warms caches: not a sample.
const WARM_UP_RUNS: usize = 1;
/// Samples after the warm-up that make a part's baseline.
const BASELINE_RUNS: usize = 2;

#[derive(Debug, Clone, Default)]
struct LinkState {
    rate: LinkEstimator,
    /// When the link last gave a sample (seconds on the caller's clock).
    last_sample_s: Option<f64>,
}

/// Samples smaller than this time the timer more than the link.
const MIN_SAMPLE_BYTES: u64 = 8 << 10;

impl Estimates {
    /// No estimate yet; links' latencies will be `overhead` plus half their measured round
    /// trip.
    pub fn with_overhead(overhead: Nanos) -> Estimates {
        Estimates {
            overhead,
            ..Estimates::default()
        }
    }

    /// A ping between `a` and `b` came back after `secs`.
    pub fn round_trip(&mut self, a: NodeId, b: NodeId, secs: f64) {
        if a == b || !(secs.is_finite() && secs >= 0.0) {
            return;
        }
        let last = &mut self
            .round_trips
            .entry((a.min(b), a.max(b)))
            .or_default()
            .last;
        if last.len() == ROUND_TRIPS_KEPT {
            last.pop_front();
        }
        last.push_back(secs);
    }

    /// Estimated one-way delay between `a` and `b` (half their round trip), seconds; `None`
    /// before a ping came back.
    pub fn delay_s(&self, a: NodeId, b: NodeId) -> Option<f64> {
        let r = self.round_trips.get(&(a.min(b), a.max(b)))?;
        r.last.iter().copied().reduce(f64::min).map(|rtt| rtt / 2.0)
    }

    /// `bytes` that held the link `from -> to` for `seconds` (a chunk of a message or of a
    /// probe, its fixed delay not included), seen at `at_s` on the caller's clock. Returns
    /// true when the link's rate changed (a step).
    pub fn transfer(
        &mut self,
        from: NodeId,
        to: NodeId,
        bytes: u64,
        seconds: f64,
        at_s: f64,
    ) -> bool {
        let l = self.links.entry((from, to)).or_default();
        if bytes < MIN_SAMPLE_BYTES || !(seconds.is_finite() && seconds > 0.0) {
            return false;
        }
        l.last_sample_s = Some(at_s);
        l.rate.min_bytes = MIN_SAMPLE_BYTES;
        l.rate.observe(bytes, seconds)
    }

    /// A run of `part` that took `measured` on `node` where the nominal problem predicts
    /// `predicted`. Returns true when the node's speed changed (a step).
    pub fn part_run(
        &mut self,
        node: NodeId,
        part: &PartKey,
        measured: Nanos,
        predicted: Nanos,
    ) -> bool {
        // Parts of a few microseconds (stitching tiles) time the scheduler, not the node.
        if predicted.0 < 200_000 {
            return false;
        }
        let n = self.nodes.entry(node).or_insert(NodeSpeed {
            slowdown: 1.0,
            known: false,
            parts: BTreeMap::new(),
        });
        let p = n.parts.entry(part.clone()).or_default();
        p.runs += 1;
        if p.runs <= WARM_UP_RUNS {
            return false;
        }
        let step = p.ratio.observe(measured.0 as f64, predicted.0 as f64);
        let Some(r) = p.ratio.slowdown() else {
            return false;
        };
        match p.baseline {
            None => {
                if p.runs >= WARM_UP_RUNS + BASELINE_RUNS {
                    p.baseline = Some((r, n.slowdown));
                    n.known = true;
                }
                false
            }
            // The node's figure moves only on a step: part times on a shared machine drift by
            // tens of percent either way, and a plan should not chase that.
            Some(_) if !step => false,
            Some((r0, s0)) => {
                let s = s0 * r / r0;
                if s < 1.0 {
                    // Faster than its baseline: that was taken while something else slowed
                    // the part (the first runs after a switch share the cores with model
                    // loading). Nodes are profiled unloaded, so this is the part at speed.
                    p.baseline = Some((r, 1.0));
                    n.slowdown = 1.0;
                } else {
                    n.slowdown = s;
                }
                true
            }
        }
    }

    /// Estimated rate of the link `from -> to`, Mbit/s; `None` before its first sample.
    pub fn link_mbps(&self, from: NodeId, to: NodeId) -> Option<f64> {
        self.links.get(&(from, to)).and_then(|l| l.rate.mbps())
    }

    /// Measured over nominal compute time of `node`.
    pub fn slowdown(&self, node: NodeId) -> Option<f64> {
        self.nodes
            .get(&node)
            .filter(|n| n.known)
            .map(|n| n.slowdown)
    }

    /// Links of `p` that gave no sample in the last `idle_s` seconds before `now_s` (or never):
    /// the ones to probe, so that a plan not using a link still learns what it would cost.
    pub fn idle_links(&self, p: &Problem, now_s: f64, idle_s: f64) -> Vec<(NodeId, NodeId)> {
        p.links
            .iter()
            .map(|l| (l.from, l.to))
            .filter(|k| {
                self.links
                    .get(k)
                    .and_then(|l| l.last_sample_s)
                    .is_none_or(|t| now_s - t >= idle_s)
            })
            .collect()
    }

    /// The largest relative change of a link rate since `earlier` (a rate `earlier` did not
    /// have is compared with `nominal`'s): whether a re-plan could find anything new. Node
    /// slowdowns move only by steps, which re-plan by themselves.
    pub fn change_since(&self, earlier: &Estimates, nominal: &Problem) -> f64 {
        let rates = self.links.keys().filter_map(|&(a, b)| {
            let now = self.link_mbps(a, b)?;
            let then = earlier
                .link_mbps(a, b)
                .or_else(|| nominal.link(a, b).map(|l| l.bandwidth.0 * 8.0 / 1e6))?;
            (then > 0.0).then(|| (now / then - 1.0).abs())
        });
        // A delay's change counts relative to the link's whole latency, and not below the
        // noise: a loopback round trip of 0.1 ms that becomes 0.3 ms changes nothing.
        let delays = self.round_trips.keys().filter_map(|&(a, b)| {
            let now = self.delay_s(a, b)?;
            let then = earlier.delay_s(a, b).or_else(|| {
                let l = nominal.link(a, b).or_else(|| nominal.link(b, a))?;
                Some(Nanos(l.latency.0.saturating_sub(self.overhead.0)).as_secs_f64())
            })?;
            let moved = (now - then).abs();
            (moved > DELAY_NOISE_S).then(|| moved / (then + self.overhead.as_secs_f64()).max(1e-3))
        });
        rates.chain(delays).fold(0.0, f64::max)
    }

    /// Links whose last sample was far from their estimate: worth probing again now, to
    /// confirm or dismiss the step without waiting for the next probe round.
    pub fn suspect_links(&self) -> Vec<(NodeId, NodeId)> {
        self.links
            .iter()
            .filter(|(_, l)| l.rate.suspects_step())
            .map(|(&k, _)| k)
            .collect()
    }

    /// `nominal` with every estimated link rate, delay and node slowdown in place of the
    /// nominal one (a link never faster than its sender's radio).
    pub fn apply(&self, nominal: &Problem) -> Problem {
        let mut p = nominal.clone();
        for l in &mut p.links {
            if let Some(m) = self.link_mbps(l.from, l.to) {
                l.bandwidth = nominal.nodes[l.from.0].capped(Bandwidth::from_mbps(m));
            }
            if let Some(d) = self.delay_s(l.from, l.to) {
                l.latency = self.overhead + Nanos::from_secs_f64(d);
            }
        }
        for &node in self.nodes.keys() {
            if let Some(f) = self.slowdown(node) {
                for layer in &mut p.layers {
                    let t = &mut layer.time[node.0];
                    *t = Nanos((t.0 as f64 * f).round() as u64);
                }
            }
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem() -> Problem {
        serde_json::from_str(
            r#"{"model":"m","scenario":"s","nodes":[{"name":"device","tier":"device"},{"name":"edge0","tier":"edge"}],"device":0,
            "layers":[{"name":"a","op":"Conv","time":[4000000,1000000]}],
            "tensors":[{"name":"x","bytes":600000,"producer":null,"consumers":[0],"graph_output":false},{"name":"y","bytes":4000,"producer":0,"consumers":[],"graph_output":true}],
            "links":[{"from":0,"to":1,"bandwidth":6250000.0,"latency":2000000},{"from":1,"to":0,"bandwidth":6250000.0,"latency":2000000}],
            "frame_rate":5.0}"#,
        )
        .unwrap()
    }

    #[test]
    fn estimates_replace_nominal_rates_and_speeds() {
        let (d, e) = (NodeId(0), NodeId(1));
        let mut est = Estimates::default();
        // 64 KiB chunks at 4 Mbit/s.
        for i in 0..5 {
            est.transfer(d, e, 65536, 65536.0 * 8.0 / 4e6, i as f64);
        }
        // A part that always ran 20% over its profile (its own bias, not a slowdown), and a
        // warm-up run that took far longer; then the node gets three times slower.
        est.part_run(e, &PartKey::new(1, "p"), Nanos(9_000_000), Nanos(1_000_000));
        for _ in 0..4 {
            assert!(!est.part_run(e, &PartKey::new(1, "p"), Nanos(1_200_000), Nanos(1_000_000)));
        }
        assert_eq!(est.slowdown(e), Some(1.0));
        let steps: Vec<bool> = (0..3)
            .map(|_| est.part_run(e, &PartKey::new(1, "p"), Nanos(3_600_000), Nanos(1_000_000)))
            .collect();
        assert_eq!(steps, [false, false, true]);
        assert!((est.slowdown(e).unwrap() - 3.0).abs() < 1e-9);
        // A new part on the slowed node starts from the node's slowdown, whatever its bias.
        for _ in 0..4 {
            est.part_run(e, &PartKey::new(1, "q"), Nanos(5_000_000), Nanos(1_000_000));
        }
        assert!((est.slowdown(e).unwrap() - 3.0).abs() < 1e-9);
        // Back to normal, and below: a node is not faster than unloaded.
        for _ in 0..8 {
            est.part_run(e, &PartKey::new(1, "q"), Nanos(1_000_000), Nanos(1_000_000));
        }
        assert_eq!(est.slowdown(e), Some(1.0));
        for _ in 0..3 {
            est.part_run(e, &PartKey::new(1, "q"), Nanos(3_000_000), Nanos(1_000_000));
        }
        assert!((est.slowdown(e).unwrap() - 3.0).abs() < 1e-9);
        let p = est.apply(&problem());
        assert!((p.links[0].bandwidth.0 * 8.0 / 1e6 - 4.0).abs() < 1e-6);
        assert_eq!(p.links[1].bandwidth, problem().links[1].bandwidth);
        assert_eq!(p.layers[0].time, vec![Nanos(4_000_000), Nanos(3_000_000)]);
        // The reverse link gave no sample: it is the one to probe.
        assert_eq!(est.idle_links(&p, 4.5, 1.0), vec![(e, d)]);
        assert_eq!(est.idle_links(&p, 9.0, 1.0).len(), 2);
        est.transfer(d, e, 65536, 65536.0 * 8.0 / 40e6, 4.2);
        assert_eq!(est.suspect_links(), vec![(d, e)]);
        est.transfer(d, e, 65536, 65536.0 * 8.0 / 4e6, 4.3);
        assert!(est.suspect_links().is_empty());
        let before = est.clone();
        assert_eq!(est.change_since(&before, &p), 0.0);
        est.transfer(d, e, 65536, 65536.0 * 8.0 / 2e6, 5.0);
        est.transfer(d, e, 65536, 65536.0 * 8.0 / 2e6, 5.1);
        assert!((est.change_since(&before, &p) - 0.5).abs() < 1e-9);
        // Against the nominal 50 Mbit/s when nothing was estimated before.
        assert!((est.change_since(&Estimates::default(), &problem()) - 0.96).abs() < 1e-9);
    }

    #[test]
    fn round_trips_give_each_link_its_delay_next_to_the_message_overhead() {
        let (d, e) = (NodeId(0), NodeId(1));
        // The problem's 2 ms latency is 1.5 ms of path and 0.5 ms per message.
        let mut est = Estimates::with_overhead(Nanos(500_000));
        let nominal = problem();
        assert_eq!(est.delay_s(d, e), None);
        // Pings of a 3 ms path, some held up by a busy scheduler: the least counts, both ways.
        for rtt in [0.0034, 0.0030, 0.0051, 0.0032] {
            est.round_trip(e, d, rtt);
        }
        assert!((est.delay_s(d, e).unwrap() - 0.0015).abs() < 1e-12);
        // That is the nominal path: no change worth a re-plan, and the same latency.
        assert_eq!(est.change_since(&Estimates::default(), &nominal), 0.0);
        let p = est.apply(&nominal);
        assert_eq!(p.links[0].latency, Nanos(2_000_000));
        assert_eq!(p.links[1].latency, Nanos(2_000_000));
        // The path lengthens to 40 ms: shown once every kept ping is that long.
        let before = est.clone();
        for i in 0..ROUND_TRIPS_KEPT {
            assert!(est.delay_s(d, e).unwrap() < 0.002, "after {i} long pings");
            est.round_trip(d, e, 0.040);
        }
        assert!((est.delay_s(d, e).unwrap() - 0.020).abs() < 1e-12);
        assert_eq!(est.apply(&nominal).links[1].latency, Nanos(20_500_000));
        // 18.5 ms more over a 2 ms latency.
        assert!((est.change_since(&before, &nominal) - 9.25).abs() < 1e-9);
        // It shortens again: at once.
        est.round_trip(d, e, 0.0031);
        assert!((est.delay_s(d, e).unwrap() - 0.00155).abs() < 1e-12);
        // Nonsense is no sample.
        est.round_trip(d, e, f64::NAN);
        est.round_trip(d, d, 0.0);
        assert!((est.delay_s(d, e).unwrap() - 0.00155).abs() < 1e-12);
        assert_eq!(est.delay_s(d, d), None);
    }

    #[test]
    fn tiny_samples_and_tiny_parts_are_ignored() {
        let mut est = Estimates::default();
        assert!(!est.transfer(NodeId(0), NodeId(1), 100, 0.001, 0.0));
        assert_eq!(est.link_mbps(NodeId(0), NodeId(1)), None);
        for _ in 0..5 {
            est.part_run(
                NodeId(1),
                &PartKey::new(1, "stitch"),
                Nanos(50_000),
                Nanos(10_000),
            );
        }
        assert_eq!(est.slowdown(NodeId(1)), None);
    }
}
