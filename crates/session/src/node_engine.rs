//! The engine a scenario's node runs, as an [`EngineSpec`]: the scenario's `engine`, `threads`
//! and `accelerator`; tract when it names none, or the fastest installed engine for `auto`.

use tiersplit_cost::{AcceleratorName, EngineName, NodeSpec};
use tiersplit_exec::{Accelerator, EngineSpec};

/// The engine `node` runs: its scenario entry's (`auto`: ONNX Runtime when installed, tract
/// otherwise); tract when it names none.
pub fn node_engine(node: &NodeSpec) -> EngineSpec {
    let threads = node.threads as usize;
    let mut spec = match node.engine {
        Some(EngineName::Tract) => EngineSpec::tract(threads),
        Some(EngineName::Ort) => EngineSpec::ort(threads),
        Some(EngineName::Auto) => EngineSpec::best(threads),
        None => EngineSpec::tract(threads),
    };
    if node.accelerator == Some(AcceleratorName::Cuda) {
        spec.accelerator = Accelerator::Cuda;
    }
    spec
}
