use crate::input_args::{import_options, parse_input_shape};
use anyhow::Result;
use serde_json::json;
use std::process::ExitCode;
use tiersplit_graph::ModelGraph;
use tiersplit_session::ModelSource;

#[derive(clap::Args)]
pub struct Args {
    /// An .onnx file, or zoo:NAME for a built-in model.
    model: String,
    /// Fix input shapes: 1,3,224,224 (the only input) or NAME=1,3,224,224; repeatable.
    #[arg(long = "input-shape", value_parser = parse_input_shape)]
    input_shape: Vec<(Option<String>, Vec<u64>)>,
    /// Print the whole DAG as JSON (documented in docs/inspect-json.md).
    #[arg(long)]
    json: bool,
    /// Also list the DAG edges in the text output.
    #[arg(long)]
    edges: bool,
}

pub fn graph_json(g: &ModelGraph, source: &str, opset: i64) -> serde_json::Value {
    let tensor = |t: tiersplit_graph::TensorId| {
        let i = g.tensor(t);
        json!({"name": i.name, "dtype": i.dtype, "shape": i.shape, "bytes": i.bytes().0})
    };
    json!({
        "format": "tiersplit-inspect/1",
        "model": g.name,
        "source": source,
        "opset": opset,
        "inputs": g.inputs.iter().map(|&t| tensor(t)).collect::<Vec<_>>(),
        "outputs": g.outputs.iter().map(|&t| tensor(t)).collect::<Vec<_>>(),
        "totals": {
            "layers": g.layers.len(),
            "flops": g.total_flops().0,
            "params": g.total_params(),
            "param_bytes": g.total_param_bytes().0,
        },
        "layers": g.layers.iter().map(|l| json!({
            "id": l.id.0,
            "name": l.name,
            "op": l.op,
            "inputs": l.inputs.iter().map(|&t| g.tensor(t).name.clone()).collect::<Vec<_>>(),
            "outputs": l.outputs.iter().map(|&t| tensor(t)).collect::<Vec<_>>(),
            "output_bytes": l.outputs.iter().map(|&t| g.tensor(t).bytes().0).sum::<u64>(),
            "flops": l.flops.0,
            "params": l.params,
            "param_bytes": l.param_bytes.0,
        })).collect::<Vec<_>>(),
        "edges": g.edges().iter().map(|e| json!({
            "from": e.from.0, "to": e.to.0, "tensor": g.tensor(e.tensor).name, "bytes": e.bytes.0,
        })).collect::<Vec<_>>(),
    })
}

pub fn run(a: Args) -> Result<ExitCode> {
    let source = ModelSource::open(&a.model)?;
    let model = source.import(&import_options(&a.input_shape))?;
    let g = &model.graph;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&graph_json(g, &source.label, model.opset()))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "model {} ({}), opset {}",
        g.name,
        source.label,
        model.opset()
    );
    for &t in &g.inputs {
        let i = g.tensor(t);
        println!(
            "  input  {} {} {:?} ({})",
            i.name,
            i.dtype,
            i.shape,
            i.bytes()
        );
    }
    for &t in &g.outputs {
        let i = g.tensor(t);
        println!(
            "  output {} {} {:?} ({})",
            i.name,
            i.dtype,
            i.shape,
            i.bytes()
        );
    }
    println!();
    println!(
        "{:>4}  {:<44} {:<20} {:<22} {:>10} {:>13} {:>10}",
        "id", "layer", "op", "output shape", "out bytes", "FLOPs", "params"
    );
    for l in &g.layers {
        let shape = l
            .outputs
            .first()
            .map(|&t| format!("{:?}", g.tensor(t).shape))
            .unwrap_or_default();
        let out: u64 = l.outputs.iter().map(|&t| g.tensor(t).bytes().0).sum();
        let mut name = l.name.clone();
        if name.chars().count() > 44 {
            name = format!(
                "…{}",
                name.chars()
                    .rev()
                    .take(43)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect::<String>()
            );
        }
        println!(
            "{:>4}  {:<44} {:<20} {:<22} {:>10} {:>13} {:>10}",
            l.id.0,
            name,
            l.op,
            shape,
            tiersplit_graph::Bytes(out).to_string(),
            l.flops.to_string(),
            l.params
        );
    }
    println!();
    println!(
        "{} layers, {} edges, {}, {} parameters ({})",
        g.layers.len(),
        g.edges().len(),
        g.total_flops(),
        g.total_params(),
        g.total_param_bytes()
    );
    if a.edges {
        for e in g.edges() {
            println!(
                "  {} -> {}  {}  {}",
                g.layer(e.from).name,
                g.layer(e.to).name,
                g.tensor(e.tensor).name,
                e.bytes
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
