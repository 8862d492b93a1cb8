//! Run-time adaptation, the pure part: what the running system observes turned into estimates,
//! and estimates turned into decisions.
//!
//! [`SmoothedRate`] follows a noisy quantity (a link's goodput, a node's slowdown against its
//! profile) with an exponential moving average and notices a lasting step (several samples in
//! a row far from the average), jumping to the new level instead of drifting to it.
//! [`LinkEstimator`] and [`SpeedEstimator`] feed it with real transfers, probes of idle links
//! and part runs; [`Estimates`] keeps one per link and node and corrects the nominal
//! [`tiersplit_cost::Problem`] with them. [`Controller`] re-plans on that problem (HPA by
//! moving its partition points locally, DADS's light/heavy rule when frames are paced) and
//! asks the [`SwitchPolicy`] whether the gain is worth a switch: only for a clear predicted
//! gain (hysteresis) and not again before a cooldown, so plans do not flap. [`FrameQueue`]
//! applies the overload policy (back-pressure or drop-oldest) and accounts for every frame.
//! [`HedgePolicy`] picks the frames caught on an older plan (a link collapsed under them)
//! worth a copy on the plan serving now, the first answer winning.
//! [`Trace`] describes conditions changing over time, to play on an emulated cluster.
//! [`Adaptation`] puts them together as a state machine: measurements in, actions out (probe
//! a link, re-plan for a reason), the caller reporting back what it did.
//!
//! No engine, network or async runtime: everything here is tested in milliseconds.

#![deny(clippy::print_stdout, clippy::print_stderr)]
#![warn(missing_docs)]

mod adaptation;
mod controller;
mod estimates;
mod frame_queue;
mod hedge;
mod link_estimator;
mod smoothed_rate;
mod speed_estimator;
mod switch_policy;
#[cfg(test)]
mod test_problem;
mod trace;

pub use adaptation::{
    Action, AdaptConfig, Adaptation, Measurement, PartKey, PartSample, ReplanRequest, Replanned,
    Trigger,
};
pub use controller::{Controller, Mode, Proposal, Replan};
pub use estimates::Estimates;
pub use frame_queue::{Admission, Arrival, FrameQueue, Overload};
pub use hedge::{remaining, Hedge, HedgePolicy, InFlight};
pub use link_estimator::LinkEstimator;
pub use smoothed_rate::SmoothedRate;
pub use speed_estimator::SpeedEstimator;
pub use switch_policy::{Decision, SwitchPolicy};
pub use trace::{Fault, FaultEvent, Trace, TraceError, TraceStep};
