use crate::input_args::{import_options, parse_input_shape};
use anyhow::{bail, Context, Result};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;
use tiersplit_graph::Partitioning;
use tiersplit_session::{read_parts, ModelSource};

#[derive(clap::Args)]
pub struct Args {
    /// An .onnx file, or zoo:NAME for a built-in model.
    model: String,
    /// JSON list of partitions, each a list of layer names or ids: [["conv1", 1], [2, 3]] or
    /// {"parts": [...]}. Each partition must be convex; they need not cover the model.
    #[arg(
        long,
        conflicts_with_all = ["random", "balanced"],
        required_unless_present_any = ["random", "balanced"]
    )]
    parts: Option<PathBuf>,
    /// Instead of --parts: cut the whole model into K random legal partitions.
    #[arg(long, value_name = "K", conflicts_with = "balanced")]
    random: Option<usize>,
    /// Instead of --parts: cut the whole model into K partitions of about equal FLOPs, the
    /// cuts `bench engine` measures as bK.
    #[arg(long, value_name = "K")]
    balanced: Option<usize>,
    /// Seed for --random.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output folder for part_N.onnx files and parts.json.
    #[arg(short, long)]
    output: PathBuf,
    #[arg(long = "input-shape", value_parser = parse_input_shape)]
    input_shape: Vec<(Option<String>, Vec<u64>)>,
}

pub fn run(a: Args) -> Result<ExitCode> {
    let source = ModelSource::open(&a.model)?;
    let model = source.import(&import_options(&a.input_shape))?;
    let g = &model.graph;
    let parts = match (&a.parts, a.random, a.balanced) {
        (Some(path), _, _) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let parts = read_parts(g, &text).with_context(|| format!("in {}", path.display()))?;
            if parts.is_empty() {
                bail!("{} lists no partitions", path.display());
            }
            // A full cover is put in execution order; a partial list keeps the given order.
            match Partitioning::new(g, parts.clone()) {
                Ok(p) => p.parts,
                Err(_) => parts,
            }
        }
        (None, Some(k), _) => Partitioning::random(g, k, a.seed)?.parts,
        (None, None, Some(k)) => Partitioning::balanced(g, k)?.parts,
        (None, None, None) => unreachable!("clap requires one"),
    };
    std::fs::create_dir_all(&a.output)
        .with_context(|| format!("creating {}", a.output.display()))?;
    let mut manifest = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let bytes = model
            .sub_model_bytes(part)
            .with_context(|| format!("partition {i}"))?;
        let file = format!("part_{i}.onnx");
        std::fs::write(a.output.join(&file), &bytes)?;
        let b = g.boundary(part)?;
        let names = |ts: &[tiersplit_graph::TensorId]| {
            ts.iter()
                .map(|&t| g.tensor(t).name.clone())
                .collect::<Vec<_>>()
        };
        println!(
            "{file}: {} layers ({} .. {}), {} in, {} out, {} bytes",
            part.len(),
            g.layer(part[0]).name,
            g.layer(*part.last().unwrap()).name,
            b.inputs.len(),
            b.outputs.len(),
            bytes.len()
        );
        manifest.push(json!({
            "file": file,
            "layers": part.iter().map(|&l| g.layer(l).name.clone()).collect::<Vec<_>>(),
            "inputs": names(&b.inputs),
            "outputs": names(&b.outputs),
            "bytes": bytes.len(),
        }));
    }
    let m = json!({"model": source.label, "parts": manifest});
    std::fs::write(
        a.output.join("parts.json"),
        serde_json::to_string_pretty(&m)?,
    )?;
    println!("wrote {} partitions to {}", parts.len(), a.output.display());
    Ok(ExitCode::SUCCESS)
}
