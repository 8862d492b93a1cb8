use serde::{Deserialize, Serialize};
use thiserror::Error;
use tiersplit_cost::Scenario;

/// Conditions changing over time, played on an emulated cluster: link rates (WiFi to 3G to 4G)
/// and node load (an edge node another job slows by a factor of 3 for ten seconds).
///
/// ```toml
/// name = "wifi-3g-4g"
/// duration_s = 30.0
///
/// [[steps]]
/// at_s = 10.0
/// links = ["device->edge0", "device->edge1"]
/// mbps = 1.1
///
/// [[steps]]
/// at_s = 12.0
/// nodes = ["edge0"]
/// load = 3.0
/// ```
///
/// A step sets, from `at_s` on, the rate of the named scenario links (both directions of a
/// bidirectional link) and/or the load of the named nodes: `load = 3` makes a node's compute
/// take three times what the scenario's speed says; `load = 1` is the scenario's speed again.
///
/// A step may instead do a [`Fault`] to the named nodes (not the device, which plays the
/// trace): `fault = "kill"` (the process dies), `"stop"` (it hangs), `"resume"` (a stopped
/// node goes on), `"restart"` (killed if running, then started again at its address):
///
/// ```toml
/// [[steps]]
/// at_s = 5.0
/// nodes = ["edge0"]
/// fault = "kill"
/// ```
///
/// Or cut scenario links (both directions of a bidirectional one) and restore them later:
/// `fault = "cut"` with `links` (and no `mbps`): nothing crosses a cut link, as when a cable is
/// pulled or a radio link drops; `fault = "restore"` mends it.
///
/// ```toml
/// [[steps]]
/// at_s = 5.0
/// links = ["edge0->cloud"]
/// fault = "cut"
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trace {
    /// Name of the trace, used in reports.
    pub name: String,
    /// Free-text description (empty when not given).
    #[serde(default)]
    pub description: String,
    /// How long a run over this trace lasts.
    pub duration_s: f64,
    /// The changes, in time order.
    #[serde(default)]
    pub steps: Vec<TraceStep>,
}

/// One change of conditions in a [`Trace`]: new link rates, new node loads, or both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceStep {
    /// When the step applies, in seconds from the start (within `0..duration_s`).
    pub at_s: f64,
    /// Scenario links as "from->to".
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<String>,
    /// New rate of those links, Mbit/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mbps: Option<f64>,
    /// Scenario nodes by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<String>,
    /// New load factor of those nodes (>= 1: compute takes this many times as long).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load: Option<f64>,
    /// A fault done to those nodes (or, for `cut` and `restore`, to those links) instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<Fault>,
}

/// What a trace may do to a node's process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fault {
    /// The process dies at once (SIGKILL).
    Kill,
    /// The process hangs (SIGSTOP): its connections stay open, nothing answers.
    Stop,
    /// A stopped process goes on (SIGCONT).
    Resume,
    /// The process is killed if it runs and started again at the same address: it comes back
    /// with nothing of any device's session.
    Restart,
    /// A link stops carrying anything, both ways for a bidirectional link (a cable pulled):
    /// connections over it stall rather than close.
    Cut,
    /// A cut link carries again.
    Restore,
}

impl Fault {
    /// The fault's name in traces: `kill`, `stop`, `resume`, `restart`, `cut`, `restore`.
    pub fn name(self) -> &'static str {
        match self {
            Fault::Kill => "kill",
            Fault::Stop => "stop",
            Fault::Resume => "resume",
            Fault::Restart => "restart",
            Fault::Cut => "cut",
            Fault::Restore => "restore",
        }
    }

    /// Whether the fault is done to links (`cut`, `restore`) rather than to nodes.
    pub fn on_links(self) -> bool {
        matches!(self, Fault::Cut | Fault::Restore)
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One fault of a trace, on one node or one link.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultEvent {
    /// When, seconds from the start.
    pub at_s: f64,
    /// What.
    pub fault: Fault,
    /// To which node; for a link fault, the link as the trace wrote it ("edge0->cloud").
    pub node: String,
}

/// A node's process as a trace's faults leave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Process {
    Running,
    Stopped,
    Dead,
}

impl Process {
    /// The state after `fault`, or why it cannot be done in this one.
    fn after(self, fault: Fault) -> Result<Process, &'static str> {
        match (self, fault) {
            (Process::Running, Fault::Kill) | (Process::Stopped, Fault::Kill) => Ok(Process::Dead),
            (Process::Running, Fault::Stop) => Ok(Process::Stopped),
            (Process::Stopped, Fault::Resume) => Ok(Process::Running),
            (_, Fault::Restart) => Ok(Process::Running),
            (Process::Dead, Fault::Kill | Fault::Stop | Fault::Resume) => {
                Err("the node is dead by then (restart it first)")
            }
            (Process::Stopped, Fault::Stop) => Err("the node is stopped already"),
            (Process::Running, Fault::Resume) => Err("the node is not stopped"),
            (_, Fault::Cut | Fault::Restore) => Err("cut and restore are done to links"),
        }
    }
}

/// Why a trace could not be parsed or does not fit its scenario.
#[derive(Debug, Error, PartialEq)]
pub enum TraceError {
    /// The text is not valid TOML or does not match the trace format (an unknown field).
    #[error("trace: {0}")]
    Toml(String),
    /// A step is invalid.
    #[error("trace step {step} (at {at_s} s): {msg}")]
    Step {
        /// The step's number, 1 for the first.
        step: usize,
        /// The step's time, seconds.
        at_s: f64,
        /// What is wrong with it.
        msg: String,
    },
    /// A field of the trace itself is invalid (`duration_s` not positive).
    #[error("trace: {0}")]
    Field(String),
}

impl Trace {
    /// Parses a trace and checks it against the scenario it will be played on; errors name the
    /// step and the field.
    pub fn from_toml(text: &str, scenario: &Scenario) -> Result<Trace, TraceError> {
        let mut t: Trace = toml::from_str(text).map_err(|e| TraceError::Toml(e.to_string()))?;
        t.validate(scenario)?;
        // One spelling of every link from here on ("edge0 -> cloud" is "edge0->cloud").
        for l in t.steps.iter_mut().flat_map(|s| s.links.iter_mut()) {
            if let Some((from, to)) = l.split_once("->") {
                *l = format!("{}->{}", from.trim(), to.trim());
            }
        }
        Ok(t)
    }

    /// Checks the trace against `scenario`: a positive duration, steps in time order within
    /// it, `links`/`mbps` and `nodes`/`load` given in pairs, positive rates, loads of at least
    /// 1, and links and nodes the scenario has.
    pub fn validate(&self, scenario: &Scenario) -> Result<(), TraceError> {
        if !(self.duration_s.is_finite() && self.duration_s > 0.0) {
            return Err(TraceError::Field(format!(
                "duration_s must be positive, got {}",
                self.duration_s
            )));
        }
        for (i, s) in self.steps.iter().enumerate() {
            let bad = |msg: String| TraceError::Step {
                step: i + 1,
                at_s: s.at_s,
                msg,
            };
            if !(s.at_s.is_finite() && s.at_s >= 0.0 && s.at_s < self.duration_s) {
                return Err(bad(format!(
                    "at_s must be within the trace's 0..{} s",
                    self.duration_s
                )));
            }
            if i > 0 && s.at_s < self.steps[i - 1].at_s {
                return Err(bad("steps must be in time order".into()));
            }
            let link_fault = s.fault.is_some_and(Fault::on_links);
            let node_fault = s.fault.is_some() && !link_fault;
            let alone = s.mbps.is_none() && s.load.is_none() && s.nodes.is_empty();
            if link_fault && (!alone || s.links.is_empty()) {
                return Err(bad(format!(
                    "`fault = \"{}\"` goes with `links` alone",
                    s.fault.expect("a link fault")
                )));
            }
            if !link_fault && s.links.is_empty() != s.mbps.is_none() {
                return Err(bad("`links` and `mbps` go together".into()));
            }
            if s.load.is_some() && node_fault {
                return Err(bad(
                    "a step changes `load` or does a `fault`, not both".into()
                ));
            }
            if s.nodes.is_empty() != (s.load.is_none() && !node_fault) && !link_fault {
                return Err(bad("`nodes` goes with `load` or `fault`".into()));
            }
            if s.links.is_empty() && s.nodes.is_empty() {
                return Err(bad(
                    "changes nothing: give links and mbps, or nodes and load or fault".into(),
                ));
            }
            if let Some(m) = s.mbps {
                if !(m.is_finite() && m > 0.0) {
                    return Err(bad(format!("mbps must be positive, got {m}")));
                }
            }
            if let Some(l) = s.load {
                if !(l.is_finite() && l >= 1.0) {
                    return Err(bad(format!("load must be at least 1, got {l}")));
                }
            }
            for l in &s.links {
                link_index(scenario, l).map_err(bad)?;
            }
            for n in &s.nodes {
                if !scenario.nodes.iter().any(|x| &x.name == n) {
                    return Err(bad(format!("no node '{n}' in scenario {}", scenario.name)));
                }
                if node_fault && *n == scenario.device().name {
                    return Err(bad(format!(
                        "'{n}' is the device, which plays the trace: it cannot be faulted"
                    )));
                }
            }
        }
        self.check_faults()?;
        self.check_cuts(scenario)
    }

    /// A link is cut only when whole, and restored only when cut.
    fn check_cuts(&self, scenario: &Scenario) -> Result<(), TraceError> {
        let mut cut = vec![false; scenario.links.len()];
        for (i, s) in self.steps.iter().enumerate() {
            let Some(fault) = s.fault.filter(|f| f.on_links()) else {
                continue;
            };
            for l in &s.links {
                let k = link_index(scenario, l).expect("checked above");
                if cut[k] == (fault == Fault::Cut) {
                    return Err(TraceError::Step {
                        step: i + 1,
                        at_s: s.at_s,
                        msg: format!(
                            "cannot {fault} link {l}: it is {} by then",
                            if cut[k] { "cut already" } else { "not cut" }
                        ),
                    });
                }
                cut[k] = fault == Fault::Cut;
            }
        }
        Ok(())
    }

    /// The directed links (from, to) cut `t_s` seconds into the trace: both directions of a
    /// bidirectional scenario link.
    pub fn cut_at(&self, scenario: &Scenario, t_s: f64) -> Vec<(String, String)> {
        let mut cut = std::collections::BTreeSet::new();
        for s in self.steps.iter().filter(|s| s.at_s <= t_s) {
            for k in s.links.iter().filter_map(|l| link_index(scenario, l).ok()) {
                match s.fault {
                    Some(Fault::Cut) => drop(cut.insert(k)),
                    Some(Fault::Restore) => drop(cut.remove(&k)),
                    _ => {}
                }
            }
        }
        let mut out = Vec::new();
        for l in cut.into_iter().map(|k| &scenario.links[k]) {
            out.push((l.from.clone(), l.to.clone()));
            if l.bidirectional {
                out.push((l.to.clone(), l.from.clone()));
            }
        }
        out
    }

    /// Each fault must fit the state the earlier ones leave its node in (no resume of a node
    /// not stopped, no kill of a dead one).
    fn check_faults(&self) -> Result<(), TraceError> {
        let mut state = std::collections::BTreeMap::new();
        for (i, s) in self.steps.iter().enumerate() {
            let Some(fault) = s.fault.filter(|f| !f.on_links()) else {
                continue;
            };
            for n in &s.nodes {
                let now = state.get(n).copied().unwrap_or(Process::Running);
                let next = now.after(fault).map_err(|why| TraceError::Step {
                    step: i + 1,
                    at_s: s.at_s,
                    msg: format!("cannot {fault} '{n}': {why}"),
                })?;
                state.insert(n.clone(), next);
            }
        }
        Ok(())
    }

    /// The trace's faults, node by node (or link by link), in time order.
    pub fn faults(&self) -> Vec<FaultEvent> {
        self.steps
            .iter()
            .filter_map(|s| s.fault.map(|f| (s, f)))
            .flat_map(|(s, fault)| {
                let targets = if fault.on_links() { &s.links } else { &s.nodes };
                targets.iter().map(move |n| FaultEvent {
                    at_s: s.at_s,
                    fault,
                    node: n.clone(),
                })
            })
            .collect()
    }

    /// Whether the trace changes link rates or node loads (played by the emulation, or by a
    /// fault hook where the kernel shapes them), beyond its faults.
    pub fn changes_conditions(&self) -> bool {
        self.steps
            .iter()
            .any(|s| s.mbps.is_some() || s.load.is_some())
    }

    /// The scenario as it is `t_s` seconds into the trace: every step at or before then applied.
    pub fn scenario_at(&self, base: &Scenario, t_s: f64) -> Scenario {
        let mut s = base.clone();
        let mut load: Vec<f64> = vec![1.0; s.nodes.len()];
        for step in self.steps.iter().filter(|st| st.at_s <= t_s) {
            if let Some(m) = step.mbps {
                for l in &step.links {
                    if let Ok(i) = link_index(base, l) {
                        s.links[i].bandwidth_mbps = m;
                    }
                }
            }
            if let Some(f) = step.load {
                for n in &step.nodes {
                    if let Some(i) = base.nodes.iter().position(|x| &x.name == n) {
                        load[i] = f;
                    }
                }
            }
        }
        for (node, f) in s.nodes.iter_mut().zip(load) {
            node.speed /= f;
        }
        s
    }

    /// The times at which conditions change, with the scenario from then on: the start first.
    pub fn phases(&self, base: &Scenario) -> Vec<(f64, Scenario)> {
        let mut times = vec![0.0];
        // Faults change no condition: they are played on their own.
        for s in self
            .steps
            .iter()
            .filter(|s| s.mbps.is_some() || s.load.is_some())
        {
            if times.last() != Some(&s.at_s) {
                times.push(s.at_s);
            }
        }
        times
            .into_iter()
            .map(|t| (t, self.scenario_at(base, t)))
            .collect()
    }
}

/// The scenario link named "from->to" (either way round for a bidirectional link).
fn link_index(s: &Scenario, name: &str) -> Result<usize, String> {
    let (from, to) = name
        .split_once("->")
        .ok_or_else(|| format!("link '{name}' must be written \"from->to\""))?;
    let (from, to) = (from.trim(), to.trim());
    s.links
        .iter()
        .position(|l| {
            (l.from == from && l.to == to) || (l.bidirectional && l.from == to && l.to == from)
        })
        .ok_or_else(|| format!("no link {from}->{to} in scenario {}", s.name))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCENARIO: &str = r#"
name = "s"
frame_rate = 5
[[nodes]]
name = "device"
tier = "device"
speed = 0.25
[[nodes]]
name = "edge0"
tier = "edge"
speed = 0.5
[[nodes]]
name = "cloud"
tier = "cloud"
[[links]]
from = "device"
to = "edge0"
bandwidth_mbps = 50
rtt_ms = 4
[[links]]
from = "edge0"
to = "cloud"
bandwidth_mbps = 25
rtt_ms = 30
"#;

    fn scenario() -> Scenario {
        Scenario::from_toml(SCENARIO).unwrap()
    }

    /// Why a 20-second trace of `steps` on the test scenario is refused.
    fn refusal(steps: &str) -> String {
        Trace::from_toml(
            &format!("name = \"t\"\nduration_s = 20\n{steps}"),
            &scenario(),
        )
        .unwrap_err()
        .to_string()
    }

    #[test]
    fn steps_apply_from_their_time_on() {
        let t = Trace::from_toml(
            r#"
name = "t"
duration_s = 30
[[steps]]
at_s = 10
links = ["edge0->device"]
mbps = 1.1
[[steps]]
at_s = 12
nodes = ["edge0"]
load = 3
[[steps]]
at_s = 22
nodes = ["edge0"]
load = 1
"#,
            &scenario(),
        )
        .unwrap();
        let base = scenario();
        assert_eq!(t.scenario_at(&base, 9.9), base);
        let at = t.scenario_at(&base, 15.0);
        assert_eq!(at.links[0].bandwidth_mbps, 1.1);
        assert_eq!(at.links[1].bandwidth_mbps, 25.0);
        assert!((at.nodes[1].speed - 0.5 / 3.0).abs() < 1e-12);
        assert_eq!(t.scenario_at(&base, 25.0).nodes[1].speed, 0.5);
        let phases: Vec<f64> = t.phases(&base).iter().map(|p| p.0).collect();
        assert_eq!(phases, [0.0, 10.0, 12.0, 22.0]);
    }

    #[test]
    fn bad_traces_name_the_step_and_field() {
        let err = refusal;
        let e = err("[[steps]]\nat_s = 1\nlinks = [\"device->cloud\"]\nmbps = 3");
        assert!(
            e.contains("step 1") && e.contains("no link device->cloud"),
            "{e}"
        );
        let e = err("[[steps]]\nat_s = 1\nnodes = [\"edge9\"]\nload = 2");
        assert!(e.contains("no node 'edge9'"), "{e}");
        let e = err("[[steps]]\nat_s = 1\nnodes = [\"edge0\"]\nload = 0.5");
        assert!(e.contains("load must be at least 1"), "{e}");
        let e = err("[[steps]]\nat_s = 25\nnodes = [\"edge0\"]\nload = 2");
        assert!(e.contains("within the trace"), "{e}");
        let e = err("[[steps]]\nat_s = 2\nlinks = [\"device->edge0\"]");
        assert!(e.contains("`links` and `mbps` go together"), "{e}");
        let e = err("[[steps]]\nat_s = 5\nnodes = [\"edge0\"]\nload = 2\n[[steps]]\nat_s = 4\nnodes = [\"edge0\"]\nload = 1");
        assert!(e.contains("step 2") && e.contains("time order"), "{e}");
        let e = err("[[steps]]\nat_s = 5\nspeed = 2");
        assert!(e.contains("unknown field `speed`"), "{e}");
        let e = err("[[steps]]\nat_s = 5\nnodes = [\"edge0\"]\nfault = \"explode\"");
        assert!(e.contains("unknown variant `explode`"), "{e}");
        let e = err("[[steps]]\nat_s = 5\nnodes = [\"device\"]\nfault = \"kill\"");
        assert!(e.contains("is the device"), "{e}");
        let e = err("[[steps]]\nat_s = 5\nnodes = [\"edge0\"]\nfault = \"kill\"\nload = 2");
        assert!(e.contains("not both"), "{e}");
        let e = err("[[steps]]\nat_s = 5\nnodes = [\"edge0\"]\nfault = \"resume\"");
        assert!(
            e.contains("cannot resume 'edge0': the node is not stopped"),
            "{e}"
        );
        let e = err("[[steps]]\nat_s = 5\nnodes = [\"edge0\"]\nfault = \"kill\"\n[[steps]]\nat_s = 6\nnodes = [\"edge0\"]\nfault = \"stop\"");
        assert!(e.contains("step 2") && e.contains("dead by then"), "{e}");
    }

    #[test]
    fn faults_are_played_on_their_own_and_change_no_phase() {
        let t = Trace::from_toml(
            r#"
name = "t"
duration_s = 20
[[steps]]
at_s = 4
nodes = ["edge0"]
fault = "stop"
[[steps]]
at_s = 6
nodes = ["edge0"]
fault = "resume"
[[steps]]
at_s = 8
links = ["device->edge0"]
mbps = 5
[[steps]]
at_s = 10
nodes = ["edge0", "cloud"]
fault = "kill"
[[steps]]
at_s = 12
nodes = ["edge0"]
fault = "restart"
"#,
            &scenario(),
        )
        .unwrap();
        let phases: Vec<f64> = t.phases(&scenario()).iter().map(|p| p.0).collect();
        assert_eq!(phases, [0.0, 8.0]);
        assert!(t.changes_conditions());
        let f: Vec<(f64, Fault, String)> = t
            .faults()
            .into_iter()
            .map(|e| (e.at_s, e.fault, e.node))
            .collect();
        let want = [
            (4.0, Fault::Stop, "edge0"),
            (6.0, Fault::Resume, "edge0"),
            (10.0, Fault::Kill, "edge0"),
            (10.0, Fault::Kill, "cloud"),
            (12.0, Fault::Restart, "edge0"),
        ]
        .map(|(a, b, c)| (a, b, c.to_string()));
        assert_eq!(f, want);
    }

    #[test]
    fn links_are_cut_and_restored_in_order() {
        let t = Trace::from_toml(
            r#"
name = "t"
duration_s = 20
[[steps]]
at_s = 4
links = ["cloud -> edge0"]
fault = "cut"
[[steps]]
at_s = 6
links = ["device->edge0"]
mbps = 5
[[steps]]
at_s = 9
links = ["edge0->cloud"]
fault = "restore"
"#,
            &scenario(),
        )
        .unwrap();
        let base = scenario();
        assert!(t.cut_at(&base, 3.9).is_empty());
        let both = [("edge0", "cloud"), ("cloud", "edge0")].map(|(a, b)| (a.into(), b.into()));
        assert_eq!(t.cut_at(&base, 4.0), both);
        assert!(t.cut_at(&base, 9.0).is_empty());
        // A cut changes no rate, and is played as a fault.
        assert_eq!(t.scenario_at(&base, 5.0), base);
        let f: Vec<(Fault, String)> = t.faults().into_iter().map(|e| (e.fault, e.node)).collect();
        assert_eq!(
            f,
            [
                (Fault::Cut, "cloud->edge0".to_string()),
                (Fault::Restore, "edge0->cloud".to_string())
            ]
        );
        let err = refusal;
        let e = err("[[steps]]\nat_s = 1\nlinks = [\"edge0->cloud\"]\nfault = \"restore\"");
        assert!(
            e.contains("cannot restore link edge0->cloud: it is not cut"),
            "{e}"
        );
        let e = err("[[steps]]\nat_s = 1\nlinks = [\"edge0->cloud\"]\nfault = \"cut\"\nmbps = 3");
        assert!(e.contains("goes with `links` alone"), "{e}");
        let e = err("[[steps]]\nat_s = 1\nlinks = [\"edge0->cloud\"]\nfault = \"cut\"\nload = 2");
        assert!(e.contains("goes with `links` alone"), "{e}");
        let e = err("[[steps]]\nat_s = 1\nnodes = [\"edge0\"]\nfault = \"cut\"");
        assert!(e.contains("goes with `links` alone"), "{e}");
        let e = err("[[steps]]\nat_s = 1\nlinks = [\"edge0->cloud\"]\nfault = \"kill\"");
        assert!(e.contains("`links` and `mbps` go together"), "{e}");
        let e = err("[[steps]]\nat_s = 1\nlinks = [\"device->cloud\"]\nfault = \"cut\"");
        assert!(e.contains("no link device->cloud"), "{e}");
        let e = err("[[steps]]\nat_s = 1\nlinks = [\"edge0->cloud\"]\nfault = \"cut\"\n[[steps]]\nat_s = 2\nlinks = [\"cloud->edge0\"]\nfault = \"cut\"");
        assert!(e.contains("step 2") && e.contains("cut already"), "{e}");
    }
}
