use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::{Add, AddAssign};
use tiersplit_graph::Bytes;

/// A duration in integer nanoseconds: exact to add, and what max-flow capacities need
/// (floating-point capacities give wrong cuts).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Nanos(pub u64);

impl Nanos {
    /// Seconds to nanoseconds, rounded; negative values give zero.
    pub fn from_secs_f64(s: f64) -> Nanos {
        Nanos((s * 1e9).round().max(0.0) as u64)
    }
    /// Milliseconds to nanoseconds, rounded; negative values give zero.
    pub fn from_millis_f64(ms: f64) -> Nanos {
        Nanos((ms * 1e6).round().max(0.0) as u64)
    }
    /// The duration in milliseconds.
    pub fn as_millis_f64(self) -> f64 {
        self.0 as f64 / 1e6
    }
    /// The duration in seconds.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }
}

impl Add for Nanos {
    type Output = Nanos;
    fn add(self, o: Nanos) -> Nanos {
        Nanos(self.0.saturating_add(o.0))
    }
}

impl AddAssign for Nanos {
    fn add_assign(&mut self, o: Nanos) {
        self.0 = self.0.saturating_add(o.0);
    }
}

impl std::iter::Sum for Nanos {
    fn sum<I: Iterator<Item = Nanos>>(it: I) -> Nanos {
        it.fold(Nanos(0), |a, b| a + b)
    }
}

impl fmt::Display for Nanos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.2} ms", self.as_millis_f64())
    }
}

/// A link rate in bytes per second.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Bandwidth(pub f64);

impl Bandwidth {
    /// Megabits per second (10^6 bits), the unit the papers quote.
    pub fn from_mbps(mbps: f64) -> Bandwidth {
        Bandwidth(mbps * 1e6 / 8.0)
    }
    /// The rate in megabits per second (10^6 bits).
    pub fn as_mbps(self) -> f64 {
        self.0 * 8.0 / 1e6
    }
    /// Time to push `bytes` through the link at this rate.
    pub fn time_for(self, bytes: Bytes) -> Nanos {
        Nanos::from_secs_f64(bytes.0 as f64 / self.0)
    }
}

impl fmt::Display for Bandwidth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.2} Mbps", self.as_mbps())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wifi_moves_a_mobilenet_input_in_a_quarter_second() {
        let wifi = Bandwidth::from_mbps(18.88);
        let t = wifi.time_for(Bytes(602_112));
        assert!((t.as_millis_f64() - 255.13).abs() < 0.01, "{t}");
        assert_eq!(Nanos(5) + Nanos(u64::MAX), Nanos(u64::MAX));
    }
}
