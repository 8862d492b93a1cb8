//! A node's loaded models by content hash, within a byte budget: when a new model does not
//! fit, the least recently used models no deployment runs are dropped; when even that is not
//! enough, the upload is refused. A model's size is its ONNX size, which is what its weights
//! take once loaded (engines add buffers of the order of one activation).

use crate::ids::ModelHash;
use std::collections::HashMap;
use std::sync::Arc;

/// The default budget: 4 GiB of models, dozens of partitions of the largest zoo models.
pub const MODEL_BUDGET: u64 = 4 << 30;

struct Entry<M: ?Sized> {
    model: Arc<M>,
    bytes: u64,
    /// Tick of the last use, for least-recently-used eviction.
    used: u64,
}

/// Models by content hash, evicting unused ones past a byte budget.
pub(crate) struct ModelCache<M: ?Sized> {
    entries: HashMap<ModelHash, Entry<M>>,
    total: u64,
    budget: u64,
    tick: u64,
}

impl<M: ?Sized> ModelCache<M> {
    /// An empty cache holding at most `budget` bytes of models.
    pub fn new(budget: u64) -> ModelCache<M> {
        ModelCache {
            entries: HashMap::new(),
            total: 0,
            budget,
            tick: 0,
        }
    }

    fn touch(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }

    /// The model, marked as just used.
    pub fn get(&mut self, hash: &ModelHash) -> Option<Arc<M>> {
        let now = self.touch();
        let e = self.entries.get_mut(hash)?;
        e.used = now;
        Some(e.model.clone())
    }

    /// Whether the cache holds `hash`, marking it as just used (a device about to deploy it).
    pub fn contains(&mut self, hash: &ModelHash) -> bool {
        self.get(hash).is_some()
    }

    /// Bytes of models held.
    pub fn bytes(&self) -> u64 {
        self.total
    }

    /// Adds a model of `bytes`, first evicting least recently used models that nothing else
    /// holds (no deployment runs them) until it fits. Returns the evicted hashes, or why it
    /// cannot fit (the cache is unchanged then).
    pub fn insert(
        &mut self,
        hash: ModelHash,
        model: Arc<M>,
        bytes: u64,
    ) -> Result<Vec<ModelHash>, String> {
        if self.entries.contains_key(&hash) {
            self.get(&hash);
            return Ok(Vec::new());
        }
        let in_use: u64 = self
            .entries
            .values()
            .filter(|e| Arc::strong_count(&e.model) > 1)
            .map(|e| e.bytes)
            .sum();
        if in_use.saturating_add(bytes) > self.budget {
            return Err(format!(
                "a model of {bytes} bytes does not fit the model cache's {}-byte budget \
                 beside the {in_use} bytes of models deployments run",
                self.budget
            ));
        }
        let mut evicted = Vec::new();
        while self.total + bytes > self.budget {
            let lru = self
                .entries
                .iter()
                .filter(|(_, e)| Arc::strong_count(&e.model) == 1)
                .min_by_key(|(_, e)| e.used)
                .map(|(h, _)| h.clone())
                .expect("unused models cover the excess");
            let e = self.entries.remove(&lru).expect("present");
            self.total -= e.bytes;
            evicted.push(lru);
        }
        let used = self.touch();
        self.total += bytes;
        self.entries.insert(hash, Entry { model, bytes, used });
        Ok(evicted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(i: u8) -> ModelHash {
        ModelHash::of(&[i])
    }

    #[test]
    fn evicts_least_recently_used_unused_models_only() {
        let mut c: ModelCache<u32> = ModelCache::new(100);
        c.insert(h(1), Arc::new(1), 40).unwrap();
        c.insert(h(2), Arc::new(2), 40).unwrap();
        let held = c.get(&h(1)).unwrap(); // in use by a deployment, and most recent
        assert_eq!(c.insert(h(3), Arc::new(3), 40).unwrap(), vec![h(2)]);
        assert_eq!(c.bytes(), 80);
        assert!(c.contains(&h(1)) && c.contains(&h(3)) && !c.contains(&h(2)));
        // 1 is held: 3 goes even though 1 is older.
        c.get(&h(3));
        c.get(&h(1));
        assert_eq!(c.insert(h(4), Arc::new(4), 60).unwrap(), vec![h(3)]);
        // Nothing unused is left to make room: refused, cache unchanged.
        let err = c.insert(h(5), Arc::new(5), 61).unwrap_err();
        assert!(err.contains("100-byte budget"), "{err}");
        assert_eq!(c.bytes(), 100);
        drop(held);
        assert_eq!(c.insert(h(5), Arc::new(5), 61).unwrap().len(), 2);
        assert!(c.insert(h(6), Arc::new(6), 101).is_err());
    }

    #[test]
    fn reinserting_a_model_changes_nothing() {
        let mut c: ModelCache<u32> = ModelCache::new(10);
        c.insert(h(1), Arc::new(1), 10).unwrap();
        assert!(c.insert(h(1), Arc::new(1), 10).unwrap().is_empty());
        assert_eq!(c.bytes(), 10);
    }
}
