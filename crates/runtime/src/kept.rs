//! The newest records of a kind, up to a bound: statistics a long-running node keeps without
//! growing without end.

use std::collections::VecDeque;

/// The newest `capacity` items pushed, oldest first.
#[derive(Debug, Clone)]
pub(crate) struct Kept<T> {
    items: VecDeque<T>,
    capacity: usize,
}

/// Records of each kind a deployment keeps for its statistics.
pub(crate) const KEPT_RECORDS: usize = 16_384;

impl<T> Default for Kept<T> {
    fn default() -> Kept<T> {
        Kept {
            items: VecDeque::new(),
            capacity: KEPT_RECORDS,
        }
    }
}

impl<T: Clone> Kept<T> {
    /// Adds `item`, dropping the oldest when full.
    pub fn push(&mut self, item: T) {
        if self.items.len() == self.capacity {
            self.items.pop_front();
        }
        self.items.push_back(item);
    }

    /// The items, oldest first.
    pub fn to_vec(&self) -> Vec<T> {
        self.items.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_up_to_the_bound() {
        let mut k = Kept {
            items: VecDeque::new(),
            capacity: 3,
        };
        for i in 0..10 {
            k.push(i);
        }
        assert_eq!(k.to_vec(), vec![7, 8, 9]);
    }
}
