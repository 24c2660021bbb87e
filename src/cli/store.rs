//! `ketenpoort store stats`: what the gateway's database holds, and since when — signals with
//! their clear case references, recipients' copies held and erased, audit records. Read over a
//! connection of its own, beside a running gateway.

use std::{path::PathBuf, process::ExitCode};

use clap::Subcommand;
use ketenpoort::{
    clock::{now_ms, rfc3339},
    config::{Config, DEFAULT_CONFIG_FILE},
    store::stats::{Held, stats_at},
};

use super::output::outln;

/// `ketenpoort store …`.
#[derive(Subcommand)]
pub enum StoreCommand {
    /// What the database holds, and the oldest of each kind.
    Stats {
        /// Settings file naming the database (`store.url`); defaults apply when it is absent.
        #[arg(long, default_value = DEFAULT_CONFIG_FILE)]
        config: PathBuf,
        /// One JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a `store` command.
pub async fn run(command: StoreCommand) -> anyhow::Result<ExitCode> {
    let StoreCommand::Stats { config, json } = command;
    let config = Config::load(&config, false)?;
    let stats = stats_at(&config.store.url).await?;
    let kinds = [
        (
            "signals",
            "signals (with their clear case reference)",
            stats.signals,
        ),
        ("copies_held", "recipients' copies held", stats.copies_held),
        (
            "copies_erased",
            "copies erased, row kept",
            stats.copies_erased,
        ),
        ("audit_records", "audit records", stats.audit_records),
    ];
    if json {
        let object: serde_json::Map<String, serde_json::Value> = kinds
            .iter()
            .map(|(key, _, held)| {
                let value = serde_json::json!({
                    "rows": held.rows,
                    "oldest": held.oldest.map(rfc3339),
                });
                (key.to_string(), value)
            })
            .collect();
        outln!("{}", serde_json::Value::Object(object))?;
        return Ok(ExitCode::SUCCESS);
    }
    outln!("{:<42} {:>10}  OLDEST", "HELD", "ROWS")?;
    for (_, label, held) in kinds {
        outln!("{label:<42} {:>10}  {}", held.rows, oldest(held))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn oldest(held: Held) -> String {
    match held.oldest {
        Some(at) => {
            let days = (now_ms() - at).max(0) / 86_400_000;
            format!("{} ({days} days)", rfc3339(at))
        }
        None => "-".into(),
    }
}
