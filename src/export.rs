//! `paddock export`: a trained model in Paddock's portable format, DeepRacer's layout, or ONNX.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use paddock_policy::{deepracer, model, onnx};
use paddock_run::{resolve_model_path, write_atomic};

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    /// `model.safetensors` (weights + metadata) and `model.json` (the metadata, readable).
    Paddock,
    /// DeepRacer's `model_metadata.json` beside `model.safetensors`.
    Deepracer,
    /// `model.onnx` (ONNX opset 13, preprocessing included; the metadata inside too) and
    /// `model.json`, for onnxruntime, TensorRT and other runtimes.
    Onnx,
}

#[derive(Args)]
pub struct ExportArgs {
    /// A run folder, a checkpoint folder or a model file.
    model: PathBuf,
    /// Folder to write into (created if missing).
    #[arg(long)]
    out: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Paddock)]
    format: Format,
}

pub fn export(args: &ExportArgs) -> Result<()> {
    let path = resolve_model_path(&args.model);
    // Loading checks the whole file, so a broken model is refused before anything is written.
    let (meta, tensors) = model::load(&path)?;
    let (main, bytes) = match args.format {
        Format::Onnx => ("model.onnx", onnx::to_onnx(&meta, &tensors)?),
        _ => ("model.safetensors", std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?),
    };
    let side = match args.format {
        Format::Paddock | Format::Onnx => ("model.json", serde_json::to_string_pretty(&meta)?),
        Format::Deepracer => ("model_metadata.json", serde_json::to_string_pretty(&deepracer::to_model_metadata(&meta)?)?),
    };
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    write_atomic(&args.out.join(main), &bytes)?;
    write_atomic(&args.out.join(side.0), side.1.as_bytes())?;
    println!("wrote {} and {}", args.out.join(main).display(), args.out.join(side.0).display());
    if let Format::Onnx = args.format {
        println!("ONNX opset {}. {}", onnx::ONNX_OPSET, onnx::describe(&meta, &tensors));
    }
    Ok(())
}
