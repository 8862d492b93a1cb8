use crate::input_args::{import_options, parse_input_shape};
use anyhow::Result;
use std::process::ExitCode;
use tiersplit_session::{graph_json, ModelSource};

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
    for (what, tensors) in [("input ", &g.inputs), ("output", &g.outputs)] {
        for &t in tensors {
            let i = g.tensor(t);
            println!(
                "  {what} {} {} {:?} ({})",
                i.name,
                i.dtype,
                i.shape,
                i.bytes()
            );
        }
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
        let chars = l.name.chars().count();
        let name = if chars > 44 {
            format!("…{}", l.name.chars().skip(chars - 43).collect::<String>())
        } else {
            l.name.clone()
        };
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
