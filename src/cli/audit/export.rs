//! `ketenpoort audit export`: the records in the officer's scope with the signed checkpoints,
//! streamed from the gateway line by line to standard output or a file.

use std::{io::Write as _, path::PathBuf, process::ExitCode};

use anyhow::Context as _;
use clap::ValueEnum;
use ketenpoort::api::proto::{
    ExportFormat, ExportRequest, audit_service_client::AuditServiceClient,
};
use tokio_stream::StreamExt;

use crate::cli::{
    args::{PersonArgs, status},
    output::outln,
};

/// Arguments of `ketenpoort audit export`.
#[derive(clap::Args)]
pub struct ExportArgs {
    #[command(flatten)]
    officer: PersonArgs,
    /// jsonl (verifiable offline) or ldv (Logboek Dataverwerkingen shape).
    #[arg(long, value_enum, default_value_t = Format::Jsonl)]
    format: Format,
    /// Write to this file instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Export format.
#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    /// Native JSON Lines with hashes and checkpoints.
    Jsonl,
    /// Logboek Dataverwerkingen shape.
    Ldv,
}

/// Streams the export to `--out`, or to standard output.
pub async fn run(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let format = match args.format {
        Format::Jsonl => ExportFormat::JsonLines,
        Format::Ldv => ExportFormat::Ldv,
    };
    let request = ExportRequest {
        format: format as i32,
        ..Default::default()
    };
    let mut stream = args
        .officer
        .connect(AuditServiceClient::new)
        .await?
        .call(request, AuditServiceClient::export)
        .await?;
    let mut file = match &args.out {
        Some(path) => Some(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        ),
        None => None,
    };
    let mut lines = 0;
    while let Some(line) = stream.next().await {
        let line = line.map_err(status)?.line;
        match &mut file {
            Some(file) => writeln!(file, "{line}")?,
            None => outln!("{line}")?,
        }
        lines += 1;
    }
    if let (Some(file), Some(path)) = (&mut file, &args.out) {
        file.flush()?;
        eprintln!("wrote {lines} lines to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
