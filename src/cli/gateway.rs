//! Running the gateway: `serve`, and its development PKI: `dev-init` and `dev-cert`.

use std::{
    io::{BufWriter, IsTerminal as _},
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::{Context as _, bail};
use clap::ValueEnum;
use ketenpoort::{
    config::{Config, DEFAULT_CONFIG_FILE},
    identity::dev_pki::{self, DevCa},
    registry, server,
    telemetry::otel::TraceExport,
};
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};

use super::output::outln;

/// Exit code for unusable configuration (sysexits' EX_CONFIG).
const EXIT_CONFIG: u8 = 78;

#[derive(Clone, Copy, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Logs to stdout as `RUST_LOG` says (default `info`), and hands the gateway's spans to
/// `export` when trace export is configured. Lines go to stdout from a thread of their own,
/// in batches (one write per burst, not per line), so a request neither makes a system call
/// for its log line nor waits for a slow reader of stdout: when 128,000 lines are waiting,
/// further lines are dropped (the audit log, not the log, is the record of processing).
/// Colours only on a terminal. Keep the guard until the end: dropping it writes what waits.
pub fn init_tracing(format: LogFormat, export: Option<&TraceExport>) -> WorkerGuard {
    use tracing_subscriber::{
        EnvFilter, Layer as _, layer::SubscriberExt as _, util::SubscriberInitExt as _,
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::stdout().is_terminal();
    let (writer, guard) = NonBlockingBuilder::default()
        .thread_name("ketenpoort-log")
        .finish(BufWriter::new(std::io::stdout()));
    let lines = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_ansi(ansi)
            .with_writer(writer)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_writer(writer)
            .boxed(),
    };
    tracing_subscriber::registry()
        .with(lines.with_filter(filter))
        .with(export.map(TraceExport::layer))
        .init();
    guard
}

pub async fn serve(config_path: &Path, log_format: LogFormat) -> anyhow::Result<ExitCode> {
    let (config, export) = match load(config_path) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("Invalid configuration: {e}");
            return Ok(ExitCode::from(EXIT_CONFIG));
        }
    };
    let _log = init_tracing(log_format, export.as_ref());
    if let Some(export) = &export {
        tracing::info!(endpoint = export.endpoint(), "exporting spans over OTLP");
    }
    let code = match server::start(&config).await {
        Ok(gateway) => {
            wait_for_stop_signal().await;
            tracing::info!("stop requested");
            gateway.shutdown().await;
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("Cannot start: {e}");
            ExitCode::from(EXIT_CONFIG)
        }
    };
    if let Some(export) = export {
        if let Err(e) = export.shutdown().await {
            tracing::warn!(error = %e, "span export stopped");
        }
    }
    Ok(code)
}

/// The settings, and the span export they (or `OTEL_EXPORTER_OTLP_ENDPOINT`) ask for.
fn load(config_path: &Path) -> anyhow::Result<(Config, Option<TraceExport>)> {
    let explicit = config_path != Path::new(DEFAULT_CONFIG_FILE);
    let config = Config::load(config_path, explicit)?;
    let export = TraceExport::start(&config.telemetry)?;
    Ok((config, export))
}

async fn wait_for_stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

pub fn dev_init(config_path: &Path, dir: Option<PathBuf>, force: bool) -> anyhow::Result<ExitCode> {
    let explicit = config_path != Path::new(DEFAULT_CONFIG_FILE);
    let config = Config::load(config_path, explicit)?;
    let dir = dir
        .or_else(|| config.dev_pki_dir().map(Path::to_path_buf))
        .context("no directory: pass --dir or set tls.dev_pki_dir")?;
    if dir.join("ca.pem").exists() && !force {
        bail!(
            "{} already holds a development PKI; pass --force to replace it",
            dir.display()
        );
    }
    let defs = registry::load_definitions(&config.files.partners)?;
    let written = dev_pki::ensure(&dir, &defs, force)?;
    for file in written {
        outln!("{}", file.display())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Issues a development certificate for a partner with the development CA, so an operator
/// can try registration and rotation without PKIoverheid: writes `<dir>/<file>.pem` and
/// `.key`. Test OINs (prefix 00000099) only.
pub fn dev_cert(
    dir: &Path,
    oin: &str,
    name: &str,
    file: &str,
    days: u64,
) -> anyhow::Result<ExitCode> {
    let oin: ketenpoort::ids::Oin = oin.parse()?;
    if !oin.is_test_oin() {
        bail!(
            "{oin} is not a test OIN (prefix 00000099): development certificates carry test OINs only"
        );
    }
    let ca = DevCa::load(dir)?;
    let issued = ca.issue_partner(
        &oin,
        name,
        std::time::SystemTime::now(),
        std::time::Duration::from_secs(days * 86_400),
    )?;
    let (cert, key) = (
        dir.join(format!("{file}.pem")),
        dir.join(format!("{file}.key")),
    );
    if cert.exists() {
        bail!("{} exists; choose another --file-name", cert.display());
    }
    dev_pki::write_file(&cert, &issued.cert_pem, false)?;
    dev_pki::write_file(&key, &issued.key_pem, true)?;
    outln!("{}\n{}", cert.display(), key.display())?;
    Ok(ExitCode::SUCCESS)
}
