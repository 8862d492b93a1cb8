use crate::{ExecError, Executor, HostTensor, LoadedModel};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Runs partitions one after another in the given (topological) order, passing tensors by
/// name from the parts that produce them to the parts that read them.
pub struct ChainRunner {
    parts: Vec<Box<dyn LoadedModel>>,
    /// For every tensor, the last part that reads it: the runner moves it there instead of
    /// copying, so chaining costs no extra copies of activations.
    last_use: HashMap<String, usize>,
    outputs: Vec<String>,
}

/// Wall-clock time of one part in one run.
#[derive(Debug, Clone, Copy)]
pub struct PartTiming {
    /// Position of the part in the list the runner was built from (its run order).
    pub part: usize,
    /// Wall-clock time of the part's `LoadedModel::run` call alone (gathering its inputs
    /// excluded).
    pub elapsed: Duration,
}

impl ChainRunner {
    /// Loads every part. `outputs` names the tensors returned by [`ChainRunner::run`].
    pub fn load(
        executor: &dyn Executor,
        parts: &[Vec<u8>],
        outputs: Vec<String>,
    ) -> Result<ChainRunner, ExecError> {
        let parts: Vec<Box<dyn LoadedModel>> = parts
            .iter()
            .map(|p| executor.load(p, &[]))
            .collect::<Result<_, _>>()?;
        Ok(ChainRunner::from_loaded(parts, outputs))
    }

    /// Builds a runner from parts already loaded, given in topological order. `outputs` names the
    /// tensors returned by [`ChainRunner::run`].
    pub fn from_loaded(parts: Vec<Box<dyn LoadedModel>>, outputs: Vec<String>) -> ChainRunner {
        let mut last_use = HashMap::new();
        for (i, p) in parts.iter().enumerate() {
            for name in p.input_names() {
                last_use.insert(name.clone(), i);
            }
        }
        for o in &outputs {
            last_use.insert(o.clone(), usize::MAX);
        }
        ChainRunner {
            parts,
            last_use,
            outputs,
        }
    }

    /// Number of parts the runner chains.
    pub fn part_count(&self) -> usize {
        self.parts.len()
    }

    /// Runs all parts on the named graph inputs; returns the requested outputs in order and
    /// the time each part took.
    pub fn run(
        &self,
        inputs: Vec<(String, HostTensor)>,
    ) -> Result<(Vec<HostTensor>, Vec<PartTiming>), ExecError> {
        let mut env: HashMap<String, HostTensor> = inputs.into_iter().collect();
        let mut timings = Vec::with_capacity(self.parts.len());
        for (i, part) in self.parts.iter().enumerate() {
            let mut args = Vec::with_capacity(part.input_names().len());
            for name in part.input_names() {
                let t = if self.last_use.get(name) == Some(&i) {
                    env.remove(name)
                } else {
                    env.get(name).cloned()
                };
                args.push(t.ok_or_else(|| ExecError::MissingTensor(name.clone()))?);
            }
            let start = Instant::now();
            let outs = part.run(args)?;
            timings.push(PartTiming {
                part: i,
                elapsed: start.elapsed(),
            });
            for (name, t) in part.output_names().iter().zip(outs) {
                env.insert(name.clone(), t);
            }
        }
        let outs = self
            .outputs
            .iter()
            .map(|n| {
                env.remove(n)
                    .ok_or_else(|| ExecError::MissingTensor(n.clone()))
            })
            .collect::<Result<_, _>>()?;
        Ok((outs, timings))
    }
}
