//! Run-time adaptation, the pure part: what the running system observes turned into estimates,
//! and estimates turned into decisions.
//!
//! [`SmoothedRate`] follows a noisy quantity (a link's goodput, a node's slowdown against its
//! profile) with an exponential moving average and notices a lasting step (several samples in
//! a row far from the average), jumping to the new level instead of drifting to it.
//! [`LinkEstimator`] and [`SpeedEstimator`] feed it with real transfers and part runs.
//! [`SwitchPolicy`] decides when a better plan is worth a switch: only for a clear predicted
//! gain (hysteresis) and not again before a cooldown, so plans do not flap.
//!
//! No engine, network or async runtime: everything here is tested in milliseconds.

mod link_estimator;
mod smoothed_rate;
mod speed_estimator;
mod switch_policy;

pub use link_estimator::LinkEstimator;
pub use smoothed_rate::SmoothedRate;
pub use speed_estimator::SpeedEstimator;
pub use switch_policy::{Decision, SwitchPolicy};
