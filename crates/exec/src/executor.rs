use crate::{ExecError, HostTensor};

/// An inference engine that turns ONNX bytes into runnable models.
pub trait Executor: Send + Sync {
    /// Short engine name used in errors and reports (`"tract"` for [`crate::TractExecutor`]).
    fn name(&self) -> &'static str;

    /// Threads one model run may use.
    fn threads(&self) -> usize {
        1
    }

    /// Loads and optimises a model. `input_shapes` fixes the shapes of named inputs whose
    /// declared shapes are symbolic; inputs not listed keep their declared shapes.
    fn load(
        &self,
        onnx: &[u8],
        input_shapes: &[(String, Vec<usize>)],
    ) -> Result<Box<dyn LoadedModel>, ExecError>;
}

/// A model ready to run, possibly many times and from several threads.
pub trait LoadedModel: Send + Sync {
    /// Names of the model's inputs, in the order [`LoadedModel::run`] takes them.
    fn input_names(&self) -> &[String];
    /// Names of the model's outputs, in the order [`LoadedModel::run`] returns them.
    fn output_names(&self) -> &[String];
    /// Runs on inputs given in `input_names` order; returns outputs in `output_names` order.
    fn run(&self, inputs: Vec<HostTensor>) -> Result<Vec<HostTensor>, ExecError>;
}

/// Refuses a run given another number of inputs than the model has, naming the engine.
pub(crate) fn check_input_count(
    backend: &'static str,
    names: &[String],
    inputs: &[HostTensor],
) -> Result<(), ExecError> {
    if inputs.len() != names.len() {
        return Err(ExecError::Run {
            backend,
            msg: format!("expected {} inputs, got {}", names.len(), inputs.len()),
        });
    }
    Ok(())
}
