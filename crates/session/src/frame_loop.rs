//! The one frame loop every run goes through: frames produced (one at a time, or paced with
//! an overload policy), fed up to a window, answered or failed, each checked against the
//! unsplit model; the conditions of a trace applied on time; and plan changes from a pluggable
//! source: none, a fixed schedule, or the adaptive controller. Frame accounting, timeouts and
//! the naming of nodes that stopped answering live here once.

use crate::compile::{compile, Compiled};
use crate::engine::NamedTensor;
use crate::error::{Context, Result, SessionError};
use crate::faults::Shaping;
use crate::session::Session;
use crate::summary::placement_summary;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tiersplit_adapt::{
    Action, Adaptation, Admission, Fault, FrameQueue, Measurement, Mode, Overload, PartKey,
    Replanned,
};
use tiersplit_cost::NodeId;
use tiersplit_cost::{Nanos, Problem};
use tiersplit_exec::{Difference, HostTensor};
use tiersplit_onnx::OnnxModel;
use tiersplit_plan::{evaluate, plan_surviving, planner_by_name, Plan, Planner, SingleNode};
use tiersplit_runtime::{
    in_background, CutLink, DeploymentId, Emulation, FrameResult, Observation, RuntimeError,
};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How frames come and when the run ends.
#[derive(Debug, Clone)]
pub struct Frames {
    /// Produced at this interval, pipelined (None: the next frame follows the last answer).
    pub interval: Option<Duration>,
    /// Frames in flight at most.
    pub window: usize,
    /// What happens when frames come faster than the cluster answers.
    pub overload: Overload,
    /// Frames waiting on the device at most before the overload policy applies.
    pub queue: usize,
    /// When the source stops producing frames.
    pub until: Until,
}

/// When the source stops producing frames (the run then ends with the last answer).
#[derive(Debug, Clone, Copy)]
pub enum Until {
    /// After this many frames.
    Frames(usize),
    /// After this many seconds from the start.
    Seconds(f64),
}

impl Frames {
    /// `n` frames, one at a time.
    pub fn sequential(n: usize) -> Frames {
        Frames {
            interval: None,
            window: 1,
            overload: Overload::BackPressure,
            queue: 1,
            until: Until::Frames(n),
        }
    }
}

/// Where plan changes come from.
pub enum PlanChanges {
    /// The first plan for the whole run.
    Fixed,
    /// After this many frames have been fed, this plan (uploaded then, while frames wait).
    Schedule(Vec<(usize, Plan)>),
    /// The adaptive controller.
    Adaptive(Box<Adaptation>),
}

/// A change of conditions the trace made.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseLog {
    /// When the change was due, seconds from the start.
    pub at_s: f64,
    /// When it was applied to the emulation, seconds from the start.
    pub applied_s: f64,
    /// What changed, in words (link rates, node loads).
    pub what: String,
}

/// A fault a trace did to a node or a link.
#[derive(Debug, Clone, Serialize)]
pub struct FaultLog {
    /// When it was due, seconds from the start.
    pub at_s: f64,
    /// When it was started, seconds from the start.
    pub started_s: f64,
    /// When it was done (a restarted node listens again), seconds from the start.
    pub applied_s: f64,
    /// What was done.
    pub fault: Fault,
    /// To which node, or which link ("from->to") for a cut or a restore.
    pub node: String,
}

/// A change of conditions due at `at_s` (seconds from the start).
#[derive(Debug, Clone)]
pub struct Condition {
    /// When it is due, seconds from the start.
    pub at_s: f64,
    /// The emulation in force from then on (`None`: unchanged).
    pub emulation: Option<Emulation>,
    /// Changes the kernel makes then, through the session's fault hook (testbed mode, where
    /// the emulation holds only delays).
    pub shaping: Vec<Shaping>,
    /// A fault done then: to a node's process or a link, through the session's
    /// [`crate::FaultPlayer`]; with an emulation too, the emulation plays it (a cut link).
    pub fault: Option<(Fault, String)>,
    /// What changes, in words, for the log.
    pub what: String,
}

/// One answered frame.
#[derive(Debug, Clone, Serialize)]
pub struct FrameLog {
    /// The frame's number.
    pub frame: u64,
    /// The deployment that answered it.
    pub plan: DeploymentId,
    /// When the source produced it, when it was fed and when its answer was complete,
    /// seconds from the start.
    pub arrived_s: f64,
    /// When it was fed, seconds from the start (not serialised).
    #[serde(skip)]
    pub fed_s: f64,
    /// When its answer was complete, seconds from the start.
    pub done_s: f64,
    /// From when the source produced it to its complete answer (ms).
    pub latency_ms: f64,
    /// Largest relative difference of its outputs from the unsplit model's.
    pub max_rel_diff: f64,
    /// Whether that difference is within the accepted tolerance.
    pub exact: bool,
    /// It was fed again on a new plan after a node it was on was lost (answered once all the
    /// same: the first feeding's answer, should it come, is dropped).
    pub reissued: bool,
    /// A copy of it was fed on a newer plan while it was caught on an older one
    /// ([`HedgeLog`]); `plan` says which answered first.
    pub hedged: bool,
}

/// Which of a hedged frame's two feedings answered first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Won {
    /// The frame on the plan it started on.
    Original,
    /// Its copy on the newer plan.
    Copy,
    /// A feeding of it made after both were lost with a node or a cut link.
    Reissued,
}

/// A frame caught on an older plan (a link collapsed under it), copied onto the plan serving
/// now because the copy was expected to answer it sooner: the first answer wins, the other
/// is dropped when it comes, and the frame is answered once.
#[derive(Debug, Clone, Serialize)]
pub struct HedgeLog {
    /// The frame's number.
    pub frame: u64,
    /// The number it was in flight under, and its copy's.
    pub wires: (u64, u64),
    /// When the copy was fed, seconds from the start.
    pub at_s: f64,
    /// The deployment the frame was on.
    pub from: DeploymentId,
    /// The deployment the copy was fed on.
    pub to: DeploymentId,
    /// What the frame was expected still to need on its plan (ms).
    pub remaining_ms: f64,
    /// What the copy was expected to take (the serving plan's makespan, ms).
    pub copy_ms: f64,
    /// Which feeding answered the frame (None: none has, or every one failed).
    pub won: Option<Won>,
    /// When the frame's answer came, seconds from the start.
    pub answered_s: Option<f64>,
    /// Why one of the two failed, when one did (the other carried on).
    pub failed: Option<String>,
}

/// A fail-over: nodes lost or links cut, the plan re-made on what survives, the frames in
/// flight on the lost plan fed again on the new one.
#[derive(Debug, Clone, Serialize)]
pub struct FailOverLog {
    /// The nodes lost (from their heartbeats) and the links cut ("from->to", from their
    /// senders' pings), with why.
    pub lost: Vec<(String, String)>,
    /// When the loop saw the loss, seconds from the start (within a turn of the loop, at
    /// most 100 ms, of the heartbeats marking the node down).
    pub down_s: f64,
    /// When the plan around them was made (the rest, until `ready_s`, is compiling, uploading
    /// and starting it), seconds from the start.
    pub planned_s: f64,
    /// When the new plan was deployed (serving every frame fed from then on), seconds from
    /// the start.
    pub ready_s: f64,
    /// The first frame number the new plan served.
    pub first_frame: u64,
    /// When the new plan's first answer came, seconds from the start.
    pub first_answer_s: Option<f64>,
    /// Frames fed again (their original numbers).
    pub reissued: Vec<u64>,
    /// The new plan's algorithm (its planner run on the survivors, or device-only).
    pub algorithm: String,
    /// The new plan's layers per node, then its tiled stages and their nodes.
    pub placement: String,
    /// The deployment switched to.
    pub to: DeploymentId,
    /// Only links were cut, and the plan serving crosses none of them: it was kept (`to` is
    /// it), and only frames of earlier plans that crossed them were fed again.
    pub kept: bool,
}

impl FailOverLog {
    /// From the node going down to the first answer on the new plan (ms).
    pub fn recovery_ms(&self) -> Option<f64> {
        self.first_answer_s.map(|a| (a - self.down_s) * 1e3)
    }
}

/// One live plan switch.
#[derive(Debug, Clone, Serialize)]
pub struct SwitchLog {
    /// What made it (an estimate's step, the periodic check, the schedule).
    pub trigger: String,
    /// When it was seen, when the policy decided, and when the new plan was deployed (it
    /// serves every frame fed from then on), seconds from the start.
    pub seen_s: f64,
    /// When the policy decided, seconds from the start.
    pub decided_s: f64,
    /// When the new plan was deployed, seconds from the start.
    pub ready_s: f64,
    /// The first number fed on the new plan: a copy of a frame caught on the old one when one
    /// was hedged at once (its answer is logged under that frame's own number), or the next
    /// frame.
    pub first_frame: u64,
    /// When the new plan's first answer came (that of the first number fed on it or a later
    /// one), seconds from the start (None: none was fed after it).
    pub first_answer_s: Option<f64>,
    /// When the first answer of any frame came after the switch, seconds from the start: a
    /// frame caught on the old plan included, or its copy on the new one.
    pub next_answer_s: Option<f64>,
    /// The deployment switched from (its id).
    pub from: DeploymentId,
    /// The deployment switched to (its id).
    pub to: DeploymentId,
    /// The new plan's algorithm.
    pub algorithm: String,
    /// The new plan's layers per node, then its tiled stages and their nodes.
    pub placement: String,
    /// The objective the new plan serves: one frame's latency or the pipelined period.
    pub mode: Mode,
    /// Predicted score (makespan, or period in heavy mode) of the old and new plan under the
    /// estimates, ms.
    pub predicted_old_ms: f64,
    /// Predicted score of the new plan under the estimates (ms).
    pub predicted_new_ms: f64,
    /// Models the nodes already had.
    pub cached_models: usize,
    /// The switch checked against the truth (trace runs fill it in afterwards).
    pub truth: Option<TruthCheck>,
    /// The old and new plan, for checking the switch afterwards (not serialised).
    #[serde(skip)]
    pub plans: Option<(Plan, Plan)>,
}

/// A switch against the trace's real conditions when it was seen.
#[derive(Debug, Clone, Serialize)]
pub struct TruthCheck {
    /// When the conditions it answers began (the trace's last change before it was seen).
    pub phase_s: f64,
    /// The old plan's makespan under those conditions (ms).
    pub old_ms: f64,
    /// The new plan's makespan under those conditions (ms).
    pub new_ms: f64,
    /// What the run's planner plans with the real conditions known.
    pub best_ms: f64,
}

/// Everything a run of the loop saw.
#[derive(Debug, Default)]
pub struct LoopReport {
    /// Answered frames, in frame order.
    pub frames: Vec<FrameLog>,
    /// Frames that failed, with the reason.
    pub failures: Vec<(u64, String)>,
    /// Frames the source produced, fed to the cluster, and dropped by the overload policy.
    pub produced: u64,
    /// Frames fed to the cluster.
    pub fed: u64,
    /// Frames dropped by the overload policy.
    pub dropped: u64,
    /// Times the source had to wait for room (back-pressure).
    pub blocked: u64,
    /// Live plan switches, in order.
    pub switches: Vec<SwitchLog>,
    /// Changes of conditions applied, in order.
    pub phases: Vec<PhaseLog>,
    /// Fail-overs around lost nodes and cut links, in order.
    pub failovers: Vec<FailOverLog>,
    /// Nodes that came back and were re-admitted, and cut links that carry again ("from->to"):
    /// (name, seconds from the start).
    pub readmitted: Vec<(String, f64)>,
    /// Faults the trace did, in order.
    pub faults: Vec<FaultLog>,
    /// Frames copied onto a newer plan, in order.
    pub hedges: Vec<HedgeLog>,
}

/// What a run needs besides the cluster.
pub struct LoopSetup<'a> {
    /// Shared with background re-plans.
    pub model: Arc<OnnxModel>,
    /// The problem plans are compiled and predicted on.
    pub nominal: Arc<Problem>,
    /// One frame's inputs, fed for every frame.
    pub inputs: &'a [NamedTensor],
    /// The unsplit model's outputs, in graph output order.
    pub reference: &'a [HostTensor],
}

/// How often the adaptive controller reads what the nodes measured.
const TICK: Duration = Duration::from_millis(100);

/// A re-plan running in the background: its answer and, when it switches, the compiled plan
/// with its models already on the nodes.
type Pending = JoinHandle<Result<(Replanned, Option<(Compiled, usize)>, f64)>>;

/// A plan deployed.
#[derive(Debug, Clone, Copy)]
pub struct Deployed {
    /// Models the nodes had cached already.
    pub cached: usize,
    /// Parts it has (sub-models, tiles, stitchers).
    pub parts: usize,
}

/// Frames through a session's cluster, plan changes included.
pub struct FrameLoop<'s, 'a> {
    session: &'s mut Session,
    setup: &'a LoopSetup<'a>,
    /// Deployments made, numbered from 1; deployment id -> number.
    deployments: u64,
    numbers: HashMap<DeploymentId, u64>,
    /// The plan serving new frames and its deployment's id.
    current: Option<(Plan, DeploymentId)>,
    /// The nodes each deployment still serving frames gives work or relays to, and the links
    /// its tensors cross, to tell which frames a lost node or a cut link held.
    touches: HashMap<DeploymentId, Touches>,
    /// Nodes lost (down), by name: plans avoid them until they answer again.
    lost: BTreeSet<String>,
    /// Links found cut (from, to) with why: plans route around them until they carry again.
    cut: BTreeMap<(String, String), String>,
    run: RunState,
}

/// What one deployment's frames depend on.
struct Touches {
    /// The nodes it gives work or relays to.
    nodes: BTreeSet<String>,
    /// The links (from, to) its tensors cross.
    hops: BTreeSet<(String, String)>,
    /// Its plan, to predict what its frames still need.
    plan: Plan,
}

/// The state of one run of frames.
struct RunState {
    start: Instant,
    /// Changes of conditions still to come, in time order.
    conditions: Vec<Condition>,
    queue: FrameQueue,
    next_arrival: Instant,
    /// Frame -> (deployment id, produced, fed), seconds from the start.
    in_flight: BTreeMap<u64, (DeploymentId, f64, f64)>,
    next_condition: usize,
    next_tick: Instant,
    pending: Option<Pending>,
    /// Switches whose first answer is not in yet (indices in the report).
    awaiting_first: Vec<usize>,
    /// Frames fed again: the number fed under -> the frame's original number.
    aliases: HashMap<u64, u64>,
    /// Hedged frames: each of the two numbers in flight -> the other.
    twins: HashMap<u64, u64>,
    /// Frames fed again after a loss (their original numbers).
    reissued: BTreeSet<u64>,
    /// Frames copied onto a newer plan (their original numbers): each at most once.
    hedged: BTreeSet<u64>,
    /// Frames whose failure came in, held until the heartbeats have had time to say whether a
    /// node died under them (then they are fed again): frame -> (reason, when, seconds).
    doubtful: BTreeMap<u64, (String, f64)>,
    /// Faults being done (a restart takes a moment), with their log to finish.
    injecting: Vec<(JoinHandle<Result<()>>, FaultLog)>,
    /// Changes of conditions the kernel is making (testbed mode), logged when done.
    shaping: Vec<(JoinHandle<Result<()>>, PhaseLog)>,
    report: LoopReport,
}

impl RunState {
    fn new(frames: &Frames, conditions: &[Condition]) -> RunState {
        let start = Instant::now();
        let capacity = if frames.interval.is_some() {
            frames.queue.max(1)
        } else {
            1
        };
        RunState {
            start,
            conditions: conditions.to_vec(),
            queue: FrameQueue::new(frames.overload, capacity),
            next_arrival: start,
            in_flight: BTreeMap::new(),
            next_condition: 0,
            next_tick: start + TICK,
            pending: None,
            awaiting_first: Vec::new(),
            aliases: HashMap::new(),
            twins: HashMap::new(),
            reissued: BTreeSet::new(),
            hedged: BTreeSet::new(),
            doubtful: BTreeMap::new(),
            injecting: Vec::new(),
            shaping: Vec::new(),
            report: LoopReport::default(),
        }
    }

    fn secs(&self, i: Instant) -> f64 {
        i.duration_since(self.start).as_secs_f64()
    }

    /// Frames in flight, a hedged frame's two feedings counted once.
    fn frames_in_flight(&self) -> usize {
        debug_assert!(self.twins.keys().all(|w| self.in_flight.contains_key(w)));
        self.in_flight.len() - self.twins.len() / 2
    }

    /// The frame in flight fed longest ago, and when (seconds from the start), failures held
    /// for the heartbeats' verdict left out or not: a hedged frame's deadline runs from its
    /// later feeding.
    fn oldest(&self, doubtful_too: bool) -> Option<(u64, f64)> {
        let last_fed = |w: &u64, fed: f64| {
            let twin = self.twins.get(w).and_then(|t| self.in_flight.get(t));
            twin.map_or(fed, |(_, _, f)| f.max(fed))
        };
        self.in_flight
            .iter()
            .filter(|(w, _)| doubtful_too || !self.doubtful.contains_key(w))
            .map(|(w, (_, _, fed))| (*w, last_fed(w, *fed)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
    }
}

impl<'s, 'a> FrameLoop<'s, 'a> {
    /// A loop over `session`'s cluster for `setup`, with no plan deployed yet.
    pub fn new(session: &'s mut Session, setup: &'a LoopSetup<'a>) -> FrameLoop<'s, 'a> {
        // Every link of the scenario is watched, used by the plan or not, so a cut is routed
        // around and a mended link is planned on again.
        let p = &setup.nominal;
        let name = |n: NodeId| p.nodes[n.0].name.clone();
        session
            .driver
            .watch_links(p.links.iter().map(|l| (name(l.from), name(l.to))).collect());
        FrameLoop {
            session,
            setup,
            deployments: 0,
            numbers: HashMap::new(),
            current: None,
            touches: HashMap::new(),
            lost: BTreeSet::new(),
            cut: BTreeMap::new(),
            run: RunState::new(&Frames::sequential(0), &[]),
        }
    }

    /// The session the loop drives.
    pub fn session(&mut self) -> &mut Session {
        self.session
    }

    /// The plan serving new frames and its deployment's id.
    pub fn current(&self) -> Option<&(Plan, DeploymentId)> {
        self.current.as_ref()
    }

    /// Compiles `plan` as the next deployment (numbered, its id `ALGORITHM#N`).
    fn compile_next(&mut self, plan: &Plan) -> Result<(Compiled, u64)> {
        // Routed around the lost nodes and the cut links: no tensor relayed through one.
        let routing = self
            .setup
            .nominal
            .without_links_of(&self.lost_ids())
            .without_links(&self.cut_ids());
        let mut c = compile(&self.setup.model, &routing, plan)?;
        self.deployments += 1;
        c.deployment.id = DeploymentId::of_plan(&plan.algorithm, self.deployments);
        self.numbers
            .insert(c.deployment.id.clone(), self.deployments);
        Ok((c, self.deployments))
    }

    /// Records the nodes `dep` touches, and forgets those of deployments that serve neither
    /// new frames nor frames in flight.
    fn touched(&mut self, dep: &tiersplit_runtime::Deployment, plan: &Plan) {
        let touches = Touches {
            nodes: dep.nodes_with_work(),
            hops: dep.hops(),
            plan: plan.clone(),
        };
        self.touches.insert(dep.id.clone(), touches);
        let current = self.current.as_ref().map(|c| &c.1);
        let in_flight = &self.run.in_flight;
        self.touches.retain(|id, _| {
            *id == dep.id || Some(id) == current || in_flight.values().any(|(d, _, _)| d == id)
        });
    }

    /// Deploys `plan` for the next frame fed. An adaptive source is told the parts'
    /// predicted times.
    pub async fn deploy(&mut self, plan: &Plan, changes: &mut PlanChanges) -> Result<Deployed> {
        let (c, number) = self.compile_next(plan)?;
        let cached = self.session.deploy(&c).await?;
        if let PlanChanges::Adaptive(a) = changes {
            a.deployed(number, c.predicted(&self.setup.nominal));
        }
        let parts = c.deployment.parts.len();
        self.touched(&c.deployment, plan);
        self.current = Some((plan.clone(), c.deployment.id));
        Ok(Deployed { cached, parts })
    }
}

impl FrameLoop<'_, '_> {
    /// Runs frames as `frames` says, with plan changes from `changes` and the changes of
    /// conditions (seconds from the start, in time order) applied when due, until the source
    /// stops and every frame fed is answered or failed. A plan must have been deployed.
    pub async fn run(
        &mut self,
        frames: &Frames,
        changes: &mut PlanChanges,
        conditions: &[Condition],
    ) -> Result<LoopReport> {
        if self.current.is_none() {
            return Err(SessionError::invalid("no plan deployed before the frames"));
        }
        self.run = RunState::new(frames, conditions);
        let result = self.run_until_done(frames, changes).await;
        // A re-plan still running (the run ended, or failed) has nothing left to serve.
        if let Some(h) = self.run.pending.take() {
            h.abort();
        }
        if let Err(cause) = result {
            self.fail_in_flight(&cause);
            return Err(SessionError::RunEnded {
                cause: Box::new(cause),
                report: Box::new(self.take_report()),
            });
        }
        Ok(self.take_report())
    }

    fn take_report(&mut self) -> LoopReport {
        let mut report = std::mem::take(&mut self.run.report);
        report.produced = self.run.queue.arrived();
        report.blocked = self.run.queue.blocked();
        report.frames.sort_by_key(|f| f.frame);
        // Logged as they finished; reported in the order they were done.
        report
            .faults
            .sort_by(|a, b| a.started_s.total_cmp(&b.started_s));
        report
    }

    /// The run ends on `cause`: every frame still in flight fails, with the error its node
    /// reported when there was one, with `cause` otherwise, so that fed = answered + failed.
    fn fail_in_flight(&mut self, cause: &SessionError) {
        let in_flight = std::mem::take(&mut self.run.in_flight);
        let mut counted: BTreeSet<u64> = BTreeSet::new();
        for wire in in_flight.into_keys() {
            // A hedged frame fails once, not once per feeding.
            if counted.contains(&wire) {
                continue;
            }
            counted.extend(self.run.twins.get(&wire));
            let reason = match self.run.doubtful.remove(&wire) {
                Some((reason, _)) => reason,
                None => format!("unanswered when the run ended: {cause}"),
            };
            let frame = self.run.aliases.remove(&wire).unwrap_or(wire);
            self.run.report.failures.push((frame, reason));
        }
        self.run.report.failures.sort_by_key(|(f, _)| *f);
    }

    /// The loop itself: until the source stops and every frame fed is answered or failed.
    async fn run_until_done(&mut self, frames: &Frames, changes: &mut PlanChanges) -> Result<()> {
        loop {
            let now = Instant::now();
            let producing = self.producing(frames, now);
            if !producing
                && self.run.in_flight.is_empty()
                && self.run.queue.waiting() == 0
                && self.run.pending.is_none()
                && self.run.injecting.is_empty()
                && self.run.shaping.is_empty()
            {
                return Ok(());
            }
            self.apply_conditions(now).await?;
            self.finish_injections().await?;
            if producing {
                self.produce(frames, now);
            }
            self.watch_health(changes).await?;
            self.feed(frames, changes).await?;
            let wake = self.wake(frames, producing, Instant::now());
            if let Some(r) = self.session.driver.next_result(wake).await {
                self.answer(r);
                continue;
            }
            self.check_timeout().await?;
            let now = Instant::now();
            if now >= self.run.next_tick {
                self.run.next_tick = now + TICK;
                if let PlanChanges::Adaptive(a) = changes {
                    self.adapt(a, producing).await?;
                }
            }
        }
    }

    /// Whether the source still produces frames.
    fn producing(&self, frames: &Frames, now: Instant) -> bool {
        match frames.until {
            Until::Frames(n) => self.run.queue.arrived() < n as u64,
            Until::Seconds(s) => self.run.secs(now) < s,
        }
    }

    /// The trace's changes, when due.
    async fn apply_conditions(&mut self, now: Instant) -> Result<()> {
        while let Some(c) = self.run.conditions.get(self.run.next_condition).cloned() {
            if c.at_s > self.run.secs(now) {
                break;
            }
            self.run.next_condition += 1;
            if let (Some(e), Some((fault, node))) = (&c.emulation, &c.fault) {
                let started_s = self.run.secs(Instant::now());
                self.session.set_emulation(e.clone()).await?;
                tracing::info!(link = %node, "trace fault: {fault}, emulated");
                self.run.report.faults.push(FaultLog {
                    at_s: c.at_s,
                    started_s,
                    applied_s: self.run.secs(Instant::now()),
                    fault: *fault,
                    node: node.clone(),
                });
                continue;
            }
            if let Some(e) = c.emulation {
                self.session.set_emulation(e).await?;
                let log = PhaseLog {
                    at_s: c.at_s,
                    applied_s: self.run.secs(Instant::now()),
                    what: c.what.clone(),
                };
                if c.shaping.is_empty() {
                    self.run.report.phases.push(log);
                } else {
                    // The kernel's changes take a hook run: frames keep flowing meanwhile.
                    let handle = self.session.start_shape(c.shaping.clone())?;
                    self.run.shaping.push((handle, log));
                }
            }
            if let Some((fault, node)) = c.fault {
                tracing::info!(node = %node, "trace fault: {fault}");
                let handle = self.session.start_inject(fault, &node)?;
                let started_s = self.run.secs(Instant::now());
                self.run.injecting.push((
                    handle,
                    FaultLog {
                        at_s: c.at_s,
                        started_s,
                        applied_s: f64::NAN,
                        fault,
                        node,
                    },
                ));
            }
        }
        Ok(())
    }

    /// Faults being done and changes of conditions being made that have finished: logged, or
    /// the run's error when one failed.
    async fn finish_injections(&mut self) -> Result<()> {
        for (handle, mut log) in take_finished(&mut self.run.shaping) {
            handle
                .await
                .map_err(|e| SessionError::Task(e.to_string()))??;
            log.applied_s = self.run.secs(Instant::now());
            self.run.report.phases.push(log);
        }
        for (handle, mut log) in take_finished(&mut self.run.injecting) {
            handle
                .await
                .map_err(|e| SessionError::Task(e.to_string()))??;
            log.applied_s = self.run.secs(Instant::now());
            self.run.report.faults.push(log);
        }
        Ok(())
    }

    /// A scheduled plan, once its number of frames has been fed: uploaded and started before
    /// the next frame is fed.
    async fn scheduled_switch(&mut self, changes: &mut PlanChanges) -> Result<()> {
        let PlanChanges::Schedule(schedule) = changes else {
            return Ok(());
        };
        let fed = self.run.report.fed as usize;
        let Some(i) = schedule.iter().position(|(after, _)| *after <= fed) else {
            return Ok(());
        };
        let (after, mut plan) = schedule.remove(i);
        let lost = self.lost_ids();
        if plan.uses_any(&lost) {
            // Planned before a node was lost: its planner again, on the survivors.
            let (algo, problem) = (plan.algorithm.clone(), self.setup.nominal.clone());
            plan = in_background(move || {
                plan_surviving(run_planner(&algo).as_ref(), &problem, &lost).0
            })
            .await
            .map_err(SessionError::Task)?;
        }
        let at_s = self.run.secs(Instant::now());
        let (old, from) = self.current.clone().expect("deployed");
        let first_frame = self.session.driver.next_frame();
        let cached = self.deploy(&plan, &mut PlanChanges::Fixed).await?.cached;
        let ready_s = self.run.secs(Instant::now());
        let to = self.current.as_ref().expect("deployed").1.clone();
        let nominal = &self.setup.nominal;
        self.push_switch(SwitchLog {
            trigger: format!("scheduled after {after} frames"),
            seen_s: at_s,
            decided_s: at_s,
            ready_s,
            first_frame,
            first_answer_s: None,
            next_answer_s: None,
            from,
            to,
            algorithm: plan.algorithm.clone(),
            placement: placement_summary(nominal, &plan),
            mode: Mode::Light,
            predicted_old_ms: evaluate(nominal, &old).makespan.as_millis_f64(),
            predicted_new_ms: evaluate(nominal, &plan).makespan.as_millis_f64(),
            cached_models: cached,
            truth: None,
            plans: Some((old, plan)),
        });
        Ok(())
    }

    fn push_switch(&mut self, s: SwitchLog) {
        self.run.report.switches.push(s);
        self.run
            .awaiting_first
            .push(self.run.report.switches.len() - 1);
    }

    /// Frames the source produces now: one after the last answer, or every interval (a frame
    /// the source held under back-pressure is produced when there is room, so now).
    fn produce(&mut self, frames: &Frames, now: Instant) {
        let r = &mut self.run;
        let Some(iv) = frames.interval else {
            if r.in_flight.is_empty() && r.queue.waiting() == 0 {
                let at = r.secs(now);
                r.queue.arrive(at);
            }
            return;
        };
        let more = |q: &FrameQueue| match frames.until {
            Until::Frames(n) => q.arrived() < n as u64,
            Until::Seconds(_) => true,
        };
        while r.next_arrival <= now && more(&r.queue) {
            let at = if r.queue.holding() {
                now
            } else {
                r.next_arrival
            };
            match r.queue.arrive(at.duration_since(r.start).as_secs_f64()) {
                Admission::Blocked => break,
                Admission::Queued => {}
                Admission::DroppedOldest(_) => r.report.dropped += 1,
            }
            r.next_arrival = at + iv;
        }
    }

    /// Waiting frames fed, up to the window, a scheduled plan started first when its turn
    /// has come.
    async fn feed(&mut self, frames: &Frames, changes: &mut PlanChanges) -> Result<()> {
        let window = if frames.interval.is_some() {
            frames.window.max(1)
        } else {
            1
        };
        while self.run.frames_in_flight() < window && self.run.queue.waiting() > 0 {
            self.scheduled_switch(changes).await?;
            let Some(a) = self.run.queue.take() else {
                break;
            };
            let id = self.current.as_ref().expect("deployed").1.clone();
            let frame = self.session.driver.feed(self.setup.inputs)?;
            let fed_s = self.run.secs(Instant::now());
            self.run
                .in_flight
                .insert(frame, (id.clone(), a.at_s, fed_s));
            self.run.report.fed += 1;
        }
        Ok(())
    }

    /// When to stop waiting for an answer: the next tick, frame or change of conditions, or
    /// the oldest frame's deadline.
    fn wake(&self, frames: &Frames, producing: bool, now: Instant) -> Instant {
        let r = &self.run;
        let mut wake = r.next_tick;
        if producing {
            if frames.interval.is_some() && !r.queue.holding() {
                wake = wake.min(r.next_arrival.max(now));
            }
            if let Some(c) = r.conditions.get(r.next_condition) {
                wake = wake.min(r.start + Duration::from_secs_f64(c.at_s));
            }
        }
        if let Some((_, fed)) = r.oldest(true) {
            let deadline = r.start + Duration::from_secs_f64(fed) + self.session.driver.timeout;
            wake = wake.min(deadline.max(now));
        }
        wake
    }

    /// An answer (or a failure) of a frame in flight, checked against the unsplit model.
    fn answer(&mut self, r: FrameResult) {
        if !self.run.in_flight.contains_key(&r.frame) {
            return; // a late answer of an earlier run, or of a frame since fed again
        }
        let outputs = match r.outputs {
            Ok(o) => o,
            Err(e) if self.run.twins.contains_key(&r.frame) => {
                // The other feeding of a hedged frame carries on.
                self.drop_twin(r.frame, Some(e));
                return;
            }
            Err(e) => {
                // A node dying under the frame fails it before its heartbeats say so: wait
                // for their verdict before calling it failed.
                let at = self.run.secs(Instant::now());
                self.run.doubtful.entry(r.frame).or_insert((e, at));
                return;
            }
        };
        let done_s = self.run.secs(r.done);
        if let Some(&twin) = self.run.twins.get(&r.frame) {
            self.drop_twin(twin, None);
        }
        let (plan, arrived_s, fed_s) = self.run.in_flight.remove(&r.frame).expect("checked");
        self.run.doubtful.remove(&r.frame);
        let frame = self.run.aliases.remove(&r.frame).unwrap_or(r.frame);
        let d = self.check(&outputs);
        for f in &mut self.run.report.failovers {
            if f.first_answer_s.is_none() && r.frame >= f.first_frame {
                f.first_answer_s = Some(done_s);
            }
        }
        for &i in &self.run.awaiting_first {
            let sw = &mut self.run.report.switches[i];
            if sw.next_answer_s.is_none() && done_s >= sw.ready_s {
                sw.next_answer_s = Some(done_s);
            }
            if sw.first_answer_s.is_none() && r.frame >= sw.first_frame {
                sw.first_answer_s = Some(done_s);
            }
        }
        let switches = &self.run.report.switches;
        self.run
            .awaiting_first
            .retain(|&i| switches[i].first_answer_s.is_none());
        let hedged = self.run.hedged.contains(&frame);
        if hedged {
            self.hedge_answered(frame, r.frame, done_s);
        }
        self.run.report.frames.push(FrameLog {
            frame,
            reissued: self.run.reissued.contains(&frame),
            hedged,
            plan,
            arrived_s,
            fed_s,
            done_s,
            latency_ms: (done_s - arrived_s) * 1e3,
            max_rel_diff: d.max_rel,
            exact: d.within_tolerance(),
        });
    }

    /// One feeding of a hedged frame leaves the run: the other answered first, or this one
    /// `failed` (logged; the other carries on). Its answer, should it come, is dropped.
    fn drop_twin(&mut self, wire: u64, failed: Option<String>) {
        let r = &mut self.run;
        let twin = r.twins.remove(&wire);
        if let Some(t) = twin {
            r.twins.remove(&t);
        }
        r.in_flight.remove(&wire);
        r.doubtful.remove(&wire);
        r.aliases.remove(&wire);
        let Some(h) = r
            .report
            .hedges
            .iter_mut()
            .rfind(|h| h.wires.0 == wire || h.wires.1 == wire)
        else {
            return;
        };
        if failed.is_some() {
            h.failed = failed;
        }
    }

    /// A hedged frame's answer came under `wire` at `done_s`: which feeding won.
    fn hedge_answered(&mut self, frame: u64, wire: u64, done_s: f64) {
        let hedges = &mut self.run.report.hedges;
        let Some(h) = hedges
            .iter_mut()
            .rfind(|h| h.frame == frame && h.won.is_none())
        else {
            return;
        };
        h.won = Some(match wire {
            w if w == h.wires.1 => Won::Copy,
            w if w == h.wires.0 => Won::Original,
            _ => Won::Reissued,
        });
        h.answered_s = Some(done_s);
    }

    /// An answer against the unsplit model's (a missing output is an infinite difference).
    fn check(&self, outputs: &HashMap<String, HostTensor>) -> Difference {
        let g = &self.setup.model.graph;
        let outs: Vec<HostTensor> = g
            .outputs
            .iter()
            .filter_map(|&t| outputs.get(&g.tensor(t).name).cloned())
            .collect();
        Difference::between(&outs, self.setup.reference)
    }

    /// The oldest frame in flight past its deadline ends the run, naming the nodes that no
    /// longer answer a ping.
    async fn check_timeout(&mut self) -> Result<()> {
        let timeout = self.session.driver.timeout;
        // Failures held for the heartbeats' verdict end on their own (fed again or failed).
        let Some((frame, fed_s)) = self.run.oldest(false) else {
            return Ok(());
        };
        if self.run.secs(Instant::now()) - fed_s <= timeout.as_secs_f64() {
            return Ok(());
        }
        let dead = self.session.driver.unreachable_nodes().await;
        Err(RuntimeError::Unanswered {
            frame,
            timeout,
            dead,
        }
        .into())
    }
}

impl FrameLoop<'_, '_> {
    /// The adaptive controller's turn: what the nodes measured since the last one, a
    /// finished re-plan going live, then the probes and the re-plan it asks for.
    async fn adapt(&mut self, a: &mut Adaptation, producing: bool) -> Result<()> {
        let t = self.run.secs(Instant::now());
        self.observe(a, t).await?;
        self.finish_replan(a).await?;
        self.hedge(a)?;
        let next_frame = self.session.driver.next_frame();
        for action in a.tick(t, next_frame, producing) {
            match action {
                Action::Probe { from, to, bytes } => {
                    let names = &self.setup.nominal.nodes;
                    let (from, to) = (&names[from.0].name, &names[to.0].name);
                    // A measurement, not work: one refused (a node re-admitted that has no
                    // deployment yet) is left out.
                    if let Err(e) = self.session.driver.probe(from, to, bytes).await {
                        tracing::warn!("probe {from}->{to} left out: {e}");
                    }
                }
                Action::Replan(req) => self.start_replan(req),
            }
        }
        if !producing {
            if let Some(h) = self.run.pending.take() {
                h.abort();
                a.abandoned();
            }
        }
        Ok(())
    }

    /// Frames caught on an older plan that a copy on the plan serving now is expected to
    /// answer clearly sooner: each copied, the first answer of the two winning.
    fn hedge(&mut self, a: &Adaptation) -> Result<()> {
        let Some((_, serving)) = self.current.clone() else {
            return Ok(());
        };
        let r = &self.run;
        let now = r.secs(Instant::now());
        let caught: Vec<(u64, Nanos, &Plan)> = r
            .in_flight
            .iter()
            .filter(|(w, (dep, _, _))| *dep != serving && !r.twins.contains_key(w))
            .filter(|(w, _)| !r.doubtful.contains_key(w))
            .filter(|(w, _)| !r.hedged.contains(r.aliases.get(w).unwrap_or(w)))
            .filter_map(|(&w, (dep, _, fed))| {
                let plan = &self.touches.get(dep)?.plan;
                Some((w, Nanos::from_secs_f64((now - fed).max(0.0)), plan))
            })
            .collect();
        for h in a.hedges(&caught) {
            let (from, arrived_s, _) = self.run.in_flight[&h.frame].clone();
            let copy = self.session.driver.feed(self.setup.inputs)?;
            let at_s = self.run.secs(Instant::now());
            let r = &mut self.run;
            let frame = r.aliases.get(&h.frame).copied().unwrap_or(h.frame);
            r.in_flight.insert(copy, (serving.clone(), arrived_s, at_s));
            r.aliases.insert(copy, frame);
            r.twins.insert(copy, h.frame);
            r.twins.insert(h.frame, copy);
            r.hedged.insert(frame);
            tracing::info!(
                frame,
                "hedged: copied from {from} onto {serving}, expected {:.0} ms there against {:.0} ms more",
                h.copy.as_millis_f64(),
                h.remaining.as_millis_f64()
            );
            r.report.hedges.push(HedgeLog {
                frame,
                wires: (h.frame, copy),
                at_s,
                from,
                to: serving.clone(),
                remaining_ms: h.remaining.as_millis_f64(),
                copy_ms: h.copy.as_millis_f64(),
                won: None,
                answered_s: None,
                failed: None,
            });
        }
        Ok(())
    }

    /// Every node's measurements since the last read, as the controller's measurements.
    async fn observe(&mut self, a: &mut Adaptation, t: f64) -> Result<()> {
        let nominal = self.setup.nominal.clone();
        for o in self.session.driver.observe().await? {
            let Some(node) = nominal.node_by_name(&o.node) else {
                continue;
            };
            for rec in o.records {
                let m = match rec {
                    // Timed by the sender, which shapes the link (emulation).
                    Observation::Transfer(x) => {
                        let Some(to) = nominal.node_by_name(&x.to) else {
                            continue;
                        };
                        Measurement::Transfer {
                            from: node,
                            to,
                            bytes: x.bytes,
                            secs: x.micros as f64 / 1e6,
                        }
                    }
                    // Timed by the receiver, where the kernel or the network shapes the link.
                    Observation::Arrival(x) => {
                        let Some(from) = nominal.node_by_name(&x.from) else {
                            continue;
                        };
                        Measurement::Transfer {
                            from,
                            to: node,
                            bytes: x.bytes,
                            secs: x.micros as f64 / 1e6,
                        }
                    }
                    Observation::RoundTrip(x) => {
                        let Some(peer) = nominal.node_by_name(&x.to) else {
                            continue;
                        };
                        Measurement::RoundTrip {
                            a: node,
                            b: peer,
                            secs: x.micros as f64 / 1e6,
                        }
                    }
                    Observation::Part(p) => {
                        let Some(&deployment) = self.numbers.get(&p.deployment) else {
                            continue; // a deployment of another run
                        };
                        Measurement::PartRun {
                            part: PartKey {
                                deployment,
                                part: p.part,
                            },
                            busy: Nanos(p.busy_us * 1000),
                        }
                    }
                };
                a.observe(t, m);
            }
        }
        Ok(())
    }

    /// Re-plans in the background; when the policy switches, compiles the plan and uploads
    /// its models there too, so frames keep flowing on the current plan meanwhile.
    fn start_replan(&mut self, req: Box<tiersplit_adapt::ReplanRequest>) {
        let model = self.setup.model.clone();
        let uploader = self.session.driver.uploader();
        let start = self.run.start;
        let problem = req.problem.clone();
        self.run.pending = Some(tokio::spawn(async move {
            let r = in_background(move || req.run())
                .await
                .map_err(SessionError::Task)??;
            let decided_s = start.elapsed().as_secs_f64();
            if r.proposal.decision != tiersplit_adapt::Decision::Switch {
                return Ok((r, None, decided_s));
            }
            let plan = r.proposal.plan.clone();
            let c = in_background(move || compile(&model, &problem, &plan))
                .await
                .map_err(SessionError::Task)??;
            let cached = uploader.upload(&c.deployment, &c.models).await?;
            Ok((r, Some((c, cached)), decided_s))
        }));
    }

    /// A finished re-plan: its plan goes live from the next frame fed when the policy says so.
    async fn finish_replan(&mut self, a: &mut Adaptation) -> Result<()> {
        if !self.run.pending.as_ref().is_some_and(|h| h.is_finished()) {
            return Ok(());
        }
        let pending = self.run.pending.take().expect("checked");
        let answer = pending
            .await
            .map_err(|e| SessionError::Task(e.to_string()))?;
        // A re-plan whose upload failed (a node died under it) is given up: the heartbeats
        // decide about the node, and the next trigger re-plans.
        let (r, compiled, decided_s) = match answer {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!("re-plan given up: {e}");
                a.abandoned();
                return Ok(());
            }
        };
        let (Some(plan), Some((mut c, cached))) = (a.replanned(&r), compiled) else {
            return Ok(());
        };
        self.deployments += 1;
        let id = DeploymentId::of_plan(&plan.algorithm, self.deployments);
        c.deployment.id = id.clone();
        self.numbers.insert(id.clone(), self.deployments);
        a.deployed(self.deployments, c.predicted(&self.setup.nominal));
        let first_frame = self.session.driver.next_frame();
        self.touched(&c.deployment, &plan);
        self.session
            .driver
            .start_deployment(c.deployment)
            .await
            .with_context(|| format!("switching to {id}"))?;
        let ready_s = self.run.secs(Instant::now());
        let (old, from) = self
            .current
            .replace((plan.clone(), id.clone()))
            .expect("deployed");
        let nominal = &self.setup.nominal;
        self.push_switch(SwitchLog {
            trigger: r.trigger.describe(nominal),
            seen_s: r.seen_s,
            decided_s,
            ready_s,
            first_frame,
            first_answer_s: None,
            next_answer_s: None,
            from,
            to: id,
            algorithm: plan.algorithm.clone(),
            placement: placement_summary(nominal, &plan),
            mode: r.proposal.mode,
            predicted_old_ms: r.proposal.current.as_millis_f64(),
            predicted_new_ms: r.proposal.candidate.as_millis_f64(),
            cached_models: cached,
            truth: None,
            plans: Some((old, plan.clone())),
        });
        a.switched(plan, r.quick, ready_s);
        Ok(())
    }
}

/// The planner a plan came from, by its algorithm's name (device-only for a name no planner
/// has).
fn run_planner(algorithm: &str) -> Box<dyn Planner> {
    planner_by_name(algorithm)
        .unwrap_or_else(|_| Box::new(SingleNode(tiersplit_cost::Tier::Device)))
}

/// A directed link's name in logs and reports, as traces write it.
fn link_name(from: &str, to: &str) -> String {
    format!("{from}->{to}")
}

/// How long a frame's failure is held for the heartbeats' verdict: longer than they take to
/// call a hung node down (two late heartbeats of 500 ms, 250 ms apart).
const DOUBT: f64 = 2.5;

impl FrameLoop<'_, '_> {
    /// The heartbeats' news: nodes lost since the last look make the loop plan around them
    /// and feed again the frames they held; nodes back are re-admitted and may be planned on
    /// again. Failures held for the verdict that no loss explained are failures.
    async fn watch_health(&mut self, changes: &mut PlanChanges) -> Result<()> {
        // An emulation change a node missed while suspect (a trace's cut or restore) reaches
        // it now.
        self.session.driver.catch_up().await?;
        let health = self.session.driver.health();
        let lost: Vec<(String, String)> = health
            .iter()
            .filter(|(n, _)| !self.lost.contains(*n))
            .filter_map(|(n, h)| h.cause().map(|c| (n.clone(), c)))
            .collect();
        // Lost nodes that answer again (up, or restarted without this session) come back.
        let back: Vec<String> = self
            .lost
            .iter()
            .filter(|n| health.get(*n).is_some_and(|h| h.answers()))
            .cloned()
            .collect();
        let mut readmitted = false;
        for node in back {
            readmitted |= self.readmit(&node).await;
        }
        let lost_now: BTreeSet<String> = lost.iter().map(|(n, _)| n.clone()).collect();
        self.lost.extend(lost_now.iter().cloned());
        let (cut, mended) = self.link_news();
        if !lost.is_empty() || !cut.is_empty() {
            let cut_now: BTreeSet<(String, String)> =
                cut.iter().map(|c| (c.from.clone(), c.to.clone())).collect();
            let mut gone = lost;
            for c in cut {
                gone.push((link_name(&c.from, &c.to), c.cause.clone()));
                self.cut.insert((c.from, c.to), c.cause);
            }
            self.tell_lost(changes);
            let crossed = |t: &Touches| t.hops.iter().any(|h| cut_now.contains(h));
            let serving = self.current.as_ref().and_then(|c| self.touches.get(&c.1));
            if lost_now.is_empty() && !serving.is_some_and(crossed) {
                self.keep_plan(gone, changes)?;
            } else {
                self.fail_over(gone, changes).await?;
            }
        } else if readmitted || !mended.is_empty() {
            self.tell_lost(changes);
        }
        self.expire_doubtful();
        Ok(())
    }

    /// A re-plan under way was planned with what is now lost or cut: dropped.
    fn abandon_replan(&mut self, changes: &mut PlanChanges) {
        if let Some(h) = self.run.pending.take() {
            h.abort();
            if let PlanChanges::Adaptive(a) = changes {
                a.abandoned();
            }
        }
    }

    /// Links cut that the plan serving does not cross: it serves on; the frames of earlier
    /// plans that crossed them are fed again on it.
    fn keep_plan(&mut self, cut: Vec<(String, String)>, changes: &mut PlanChanges) -> Result<()> {
        let t = self.run.secs(Instant::now());
        self.abandon_replan(changes);
        let reissued = self.reissue(&BTreeSet::new())?;
        let (plan, to) = self.current.clone().expect("deployed");
        tracing::info!(cut = ?cut, "kept {to}: it crosses no cut link");
        self.run.report.failovers.push(FailOverLog {
            lost: cut,
            down_s: t,
            planned_s: t,
            ready_s: t,
            first_frame: self.session.driver.next_frame(),
            first_answer_s: None,
            reissued,
            algorithm: plan.algorithm.clone(),
            placement: placement_summary(&self.setup.nominal, &plan),
            to,
            kept: true,
        });
        Ok(())
    }

    /// Links newly found cut between nodes not lost; and links cut before
    /// that carry again, forgotten here (an adaptive run may plan on them again) and logged
    /// with the nodes back.
    fn link_news(&mut self) -> (Vec<CutLink>, Vec<(String, String)>) {
        let driver = &self.session.driver;
        let now_cut: Vec<_> = driver
            .cut_links()
            .into_iter()
            .filter(|c| !self.lost.contains(&c.from) && !self.lost.contains(&c.to))
            .collect();
        // Mended: its sender, up, no longer reports it down, and neither end is lost (a link
        // dropped from the cut ones because an end went away is not news of the link).
        let (down, health) = (driver.links_reported_down(), driver.health());
        let up = |n: &String| *n == driver.device.name || health.get(n).is_some_and(|h| h.is_up());
        let mended: Vec<(String, String)> = self
            .cut
            .keys()
            .filter(|(f, t)| !down.contains(&(f.clone(), t.clone())) && up(f))
            .filter(|(f, t)| !self.lost.contains(f) && !self.lost.contains(t))
            .cloned()
            .collect();
        let t = self.run.secs(Instant::now());
        for l in &mended {
            self.cut.remove(l);
            tracing::info!(link = %link_name(&l.0, &l.1), "link carries again");
            self.run.report.readmitted.push((link_name(&l.0, &l.1), t));
        }
        let cut = now_cut
            .into_iter()
            .filter(|c| !self.cut.contains_key(&(c.from.clone(), c.to.clone())))
            .collect();
        (cut, mended)
    }

    /// The cut links as the nominal problem's ids.
    fn cut_ids(&self) -> Vec<(NodeId, NodeId)> {
        let nominal = &self.setup.nominal;
        self.cut
            .keys()
            .filter_map(|(f, t)| Some((nominal.node_by_name(f)?, nominal.node_by_name(t)?)))
            .collect()
    }

    /// The lost nodes as the nominal problem's ids.
    fn lost_ids(&self) -> Vec<NodeId> {
        let nominal = &self.setup.nominal;
        self.lost
            .iter()
            .filter_map(|n| nominal.node_by_name(n))
            .collect()
    }

    /// An adaptive run's controller plans around the lost nodes and the cut links from now on.
    fn tell_lost(&mut self, changes: &mut PlanChanges) {
        if let PlanChanges::Adaptive(a) = changes {
            let t = self.run.secs(Instant::now());
            a.set_lost(self.lost_ids(), t);
            a.set_cut(self.cut_ids(), t);
        }
    }

    /// A node back up: the session opened on it again (a restart lost it there), and it may
    /// be planned on again (an adaptive run re-plans; a fixed one keeps its plan). Whether it
    /// was re-admitted.
    async fn readmit(&mut self, node: &str) -> bool {
        if let Err(e) = self.session.driver.readmit(node).await {
            tracing::warn!(node = %node, "answers heartbeats but cannot be re-admitted: {e}");
            return false;
        }
        self.lost.remove(node);
        let t = self.run.secs(Instant::now());
        self.run.report.readmitted.push((node.to_string(), t));
        true
    }

    /// Plans around the lost nodes and cut links (`lost` names both, with why) with the run's
    /// planner (the device alone when it cannot), deploys the plan for the next frame fed,
    /// and feeds again every frame in flight on a plan that used a lost node or a cut link.
    async fn fail_over(
        &mut self,
        lost: Vec<(String, String)>,
        changes: &mut PlanChanges,
    ) -> Result<()> {
        let down_s = self.run.secs(Instant::now());
        let problem = match changes {
            PlanChanges::Adaptive(a) => a.estimates().apply(&self.setup.nominal),
            _ => (*self.setup.nominal).clone(),
        }
        .without_links(&self.cut_ids());
        let current = self.current.as_ref().expect("deployed").0.algorithm.clone();
        let ids = self.lost_ids();
        let (plan, dropped) =
            in_background(move || plan_surviving(run_planner(&current).as_ref(), &problem, &ids))
                .await
                .map_err(SessionError::Task)?;
        let planned_s = self.run.secs(Instant::now());
        self.abandon_replan(changes);
        let first_frame = self.session.driver.next_frame();
        self.deploy(&plan, changes)
            .await
            .with_context(|| "deploying the plan around the lost nodes".to_string())?;
        let ready_s = self.run.secs(Instant::now());
        if let PlanChanges::Adaptive(a) = changes {
            a.switched(plan.clone(), false, ready_s);
        }
        // Frames on the lost nodes, and on nodes that only they reached.
        let mut gone = self.lost.clone();
        gone.extend(
            dropped
                .iter()
                .map(|n| self.setup.nominal.nodes[n.0].name.clone()),
        );
        let reissued = self.reissue(&gone)?;
        let to = self.current.as_ref().expect("deployed").1.clone();
        tracing::warn!(
            lost = ?lost,
            "failed over to {to}, {} frame(s) fed again",
            reissued.len()
        );
        self.run.report.failovers.push(FailOverLog {
            lost,
            down_s,
            planned_s,
            ready_s,
            first_frame,
            first_answer_s: None,
            reissued,
            algorithm: plan.algorithm.clone(),
            placement: placement_summary(&self.setup.nominal, &plan),
            to,
            kept: false,
        });
        Ok(())
    }

    /// Feeds again, on the current plan, every frame in flight on a deployment that gives work
    /// to, or relays through, one of `lost`, or sends over a cut link; returns their original
    /// numbers.
    fn reissue(&mut self, lost: &BTreeSet<String>) -> Result<Vec<u64>> {
        let id = self.current.as_ref().expect("deployed").1.clone();
        let held = |t: &Touches| {
            !t.nodes.is_disjoint(lost) || t.hops.iter().any(|h| self.cut.contains_key(h))
        };
        let stale: Vec<u64> = self
            .run
            .in_flight
            .iter()
            .filter(|(_, (dep, _, _))| self.touches.get(dep).is_none_or(held))
            .map(|(&f, _)| f)
            .collect();
        let mut out = Vec::new();
        for wire in stale {
            if self.run.twins.contains_key(&wire) {
                // Its other feeding carries on, or is fed again itself when it was lost too.
                self.drop_twin(wire, Some("lost with a node or a cut link".into()));
                continue;
            }
            let (_, arrived_s, _) = self.run.in_flight.remove(&wire).expect("listed");
            self.run.doubtful.remove(&wire);
            let original = self.run.aliases.remove(&wire).unwrap_or(wire);
            let again = self.session.driver.feed(self.setup.inputs)?;
            let fed_s = self.run.secs(Instant::now());
            self.run
                .in_flight
                .insert(again, (id.clone(), arrived_s, fed_s));
            self.run.aliases.insert(again, original);
            self.run.reissued.insert(original);
            out.push(original);
        }
        Ok(out)
    }

    /// Failures held for the heartbeats' verdict that no lost node explained in time.
    fn expire_doubtful(&mut self) {
        let now = self.run.secs(Instant::now());
        let due: Vec<u64> = self
            .run
            .doubtful
            .iter()
            .filter(|(_, (_, at))| now - at >= DOUBT)
            .map(|(&f, _)| f)
            .collect();
        for wire in due {
            let (reason, _) = self.run.doubtful.remove(&wire).expect("listed");
            self.run.in_flight.remove(&wire);
            let frame = self.run.aliases.remove(&wire).unwrap_or(wire);
            self.run.report.failures.push((frame, reason));
        }
    }
}

/// Takes the tasks of `list` that have finished out of it, in order.
fn take_finished<T>(
    list: &mut Vec<(JoinHandle<Result<()>>, T)>,
) -> Vec<(JoinHandle<Result<()>>, T)> {
    let (done, running) = std::mem::take(list)
        .into_iter()
        .partition(|(h, _)| h.is_finished());
    *list = running;
    done
}
