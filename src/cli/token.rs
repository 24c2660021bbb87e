//! `ketenpoort dev-token`: a development JWT naming the person behind an officer's, the
//! monitor's or an operator's requests, signed with the partner's development JWT key.

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use ketenpoort::{
    config::{Config, DEFAULT_CONFIG_FILE},
    identity::person,
};

use super::{args::DEV_TOKEN_MINUTES, output::outln};

/// Arguments of `ketenpoort dev-token`.
#[derive(clap::Args)]
pub struct DevTokenArgs {
    /// The partner (officer, monitor or operator) whose development JWT key signs the token.
    #[arg(long = "as")]
    partner: String,
    /// The person the token names (`sub`).
    #[arg(long)]
    sub: String,
    /// Minutes until the token expires.
    #[arg(long, default_value_t = DEV_TOKEN_MINUTES)]
    minutes: u64,
    /// Directory of the development PKI.
    #[arg(long, default_value = "var/dev-pki")]
    pki: PathBuf,
    /// Settings file, naming audit.jwt_audience.
    #[arg(long, default_value = DEFAULT_CONFIG_FILE)]
    config: PathBuf,
}

/// Mints a development token and prints it.
pub fn dev_token(args: &DevTokenArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.config, args.config != Path::new(DEFAULT_CONFIG_FILE))?;
    let key = args.pki.join(format!("{}-jwt.key", args.partner));
    let token = person::mint(&key, &args.sub, &config.audit.jwt_audience, args.minutes)?;
    outln!("{token}")?;
    Ok(ExitCode::SUCCESS)
}
