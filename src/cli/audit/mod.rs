//! The privacy officer's tools: `audit query|report|verify|export|verify-receipt|public-key`.
//! Online commands connect as the officer's partner with mutual TLS and a JWT naming the
//! officer; `verify --file` and `verify-receipt` work offline with the gateway's public key
//! alone. This module owns the command line; each piece lives in its own module.

mod export;
mod query;
mod report;
mod verify;

use std::{path::PathBuf, process::ExitCode};

use clap::Subcommand;
use ketenpoort::config::DEFAULT_CONFIG_FILE;

/// `ketenpoort audit …`
#[derive(Subcommand)]
pub enum AuditCommand {
    /// Records matching the filters, as a table (or --json lines).
    Query(query::QueryArgs),
    /// Everything about one case or person: who received which fields, when, why.
    Report(report::ReportArgs),
    /// Verify the chain: online with --as OFFICER, or offline with --file EXPORT --public-key PEM.
    Verify(verify::VerifyArgs),
    /// Export the records in your scope with the signed checkpoints, one JSON object per line.
    Export(export::ExportArgs),
    /// Check the gateway's signature on a receipt that `ketenpoort send` printed.
    VerifyReceipt {
        /// The receipt JSON, as printed by `ketenpoort send`.
        #[arg(long)]
        receipt: PathBuf,
        /// The gateway's public key (PEM).
        #[arg(long)]
        public_key: PathBuf,
    },
    /// Print the gateway's public audit key (PEM), for offline verification.
    PublicKey {
        /// Settings file, naming audit.signing_key.
        #[arg(long, default_value = DEFAULT_CONFIG_FILE)]
        config: PathBuf,
    },
}

/// Runs an audit subcommand.
pub async fn run(command: AuditCommand) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::Query(args) => query::run(args).await,
        AuditCommand::Report(args) => report::run(args).await,
        AuditCommand::Verify(args) => verify::run(args).await,
        AuditCommand::Export(args) => export::run(args).await,
        AuditCommand::VerifyReceipt {
            receipt,
            public_key,
        } => verify::receipt(&receipt, &public_key),
        AuditCommand::PublicKey { config } => verify::public_key(&config),
    }
}
