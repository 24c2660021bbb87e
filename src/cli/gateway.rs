//! Running the gateway: `serve` and `dev-init`.

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::{Context as _, bail};
use clap::ValueEnum;
use ketenpoort::{
    config::{Config, DEFAULT_CONFIG_FILE},
    identity::dev_pki::{self, DevCa},
    registry, server,
};

/// Exit code for unusable configuration (sysexits' EX_CONFIG).
const EXIT_CONFIG: u8 = 78;

#[derive(Clone, Copy, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

pub fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

pub async fn serve(config_path: &Path, log_format: LogFormat) -> anyhow::Result<ExitCode> {
    init_tracing(log_format);
    let explicit = config_path != Path::new(DEFAULT_CONFIG_FILE);
    let config = match Config::load(config_path, explicit) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("Invalid configuration: {e}");
            return Ok(ExitCode::from(EXIT_CONFIG));
        }
    };
    let gateway = match server::start(&config).await {
        Ok(gateway) => gateway,
        Err(e) => {
            eprintln!("Cannot start: {e}");
            return Ok(ExitCode::from(EXIT_CONFIG));
        }
    };
    wait_for_stop_signal().await;
    tracing::info!("stop requested");
    gateway.shutdown().await;
    Ok(ExitCode::SUCCESS)
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
    let written = server::ensure_dev_pki(&dir, &defs, force)?;
    for file in written {
        println!("{}", file.display());
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
    let oin: ketenpoort::identity::Oin = oin.parse()?;
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
    println!("{}\n{}", cert.display(), key.display());
    Ok(ExitCode::SUCCESS)
}
