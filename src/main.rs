//! The `ketenpoort` command: the gateway (`serve`), its development PKI (`dev-init`), policy
//! checks, and a partner-side client (`send`, `receive`). A thin layer over the library.

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
    time::Duration,
};

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand, ValueEnum};
use ketenpoort::{
    api::{
        client::{ClientTls, payload_from_json, payload_to_json},
        proto::{AckRequest, SendRequest, SubscribeRequest},
    },
    catalogue::Catalogue,
    config::{Config, DEFAULT_CONFIG_FILE},
    identity::Oin,
    policy::{Policy, Withheld},
    registry, server,
};
use tokio_stream::StreamExt;

/// Exit code for unusable configuration (EX_USAGE-like, as sysexits' EX_CONFIG).
const EXIT_CONFIG: u8 = 78;

#[derive(Parser)]
#[command(
    name = "ketenpoort",
    version,
    about = "Secure, purpose-bound exchange of LVV case signals"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway (embedded defaults: 127.0.0.1:8443, var/ketenpoort.db, dev PKI in var/dev-pki).
    Serve {
        /// Settings file; defaults apply when it is absent.
        #[arg(long, default_value = DEFAULT_CONFIG_FILE)]
        config: PathBuf,
        /// Log format.
        #[arg(long, value_enum, default_value_t = LogFormat::Text)]
        log_format: LogFormat,
    },
    /// Write a development PKI: a CA, the gateway certificate and one certificate per partner.
    DevInit {
        /// Settings file (for the partner registry and PKI directory).
        #[arg(long, default_value = DEFAULT_CONFIG_FILE)]
        config: PathBuf,
        /// Directory to write to; defaults to the settings' tls.dev_pki_dir.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Replace an existing PKI.
        #[arg(long)]
        force: bool,
    },
    /// Check a policy file against the signal catalogue (exit code 0 when valid, 1 when not).
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Send one signal as a partner.
    Send {
        #[command(flatten)]
        partner: PartnerArgs,
        /// Catalogue signal type, e.g. Intake.
        #[arg(long = "type")]
        signal_type: String,
        /// Sending purpose code, e.g. INTAKE.
        #[arg(long)]
        purpose: String,
        /// The chain's case reference, e.g. LVV-UTR-2026-0042.
        #[arg(long)]
        case_ref: String,
        /// Recipient: a partner id from the registry or an OIN. Repeat for several.
        #[arg(long = "to", required = true)]
        recipients: Vec<String>,
        /// The signal as proto3 JSON.
        #[arg(long, conflicts_with = "file")]
        json: Option<String>,
        /// A file holding the signal as proto3 JSON.
        #[arg(long)]
        file: Option<PathBuf>,
        /// Idempotency key; a new UUID when absent.
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// Receive deliveries as a partner: prints each as a JSON line and acknowledges it; stops
    /// when the waiting deliveries are done, unless --follow.
    Receive {
        #[command(flatten)]
        partner: PartnerArgs,
        /// Keep waiting for new deliveries after the waiting ones are done.
        #[arg(long)]
        follow: bool,
        /// Print deliveries without acknowledging them (they will be streamed again).
        #[arg(long)]
        no_ack: bool,
    },
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Validate a policy file; prints every problem with rule and field.
    Check {
        /// The policy file.
        #[arg(default_value = "config/policy.toml")]
        file: PathBuf,
        /// The partner registry to check purposes against.
        #[arg(long, default_value = "config/partners.toml")]
        partners: PathBuf,
    },
    /// Show, per receiving purpose, which fields of a signal pass and which are withheld, and why.
    Explain {
        /// Sender role: municipality, dtv, ind, police, ngo or monitor.
        #[arg(long = "from")]
        role: registry::Role,
        /// Catalogue signal type, e.g. Intake.
        #[arg(long = "type")]
        signal_type: String,
        /// Sending purpose code, e.g. INTAKE.
        #[arg(long)]
        purpose: String,
        /// The policy file.
        #[arg(long, default_value = "config/policy.toml")]
        file: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args)]
struct PartnerArgs {
    /// Act as this partner (its id in the registry); picks its development certificate.
    #[arg(long = "as")]
    partner: String,
    /// Gateway address.
    #[arg(
        long,
        default_value = "https://localhost:8443",
        env = "KETENPOORT_GATEWAY"
    )]
    gateway: String,
    /// Directory with ca.pem, <partner>.pem and <partner>.key.
    #[arg(long, default_value = "var/dev-pki")]
    pki: PathBuf,
    /// The partner registry, to resolve partner ids to OINs.
    #[arg(long, default_value = "config/partners.toml")]
    partners: PathBuf,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve { config, log_format } => serve(&config, log_format).await,
        Command::DevInit { config, dir, force } => dev_init(&config, dir, force),
        Command::Policy {
            command: PolicyCommand::Check { file, partners },
        } => policy_check(&file, &partners),
        Command::Policy {
            command:
                PolicyCommand::Explain {
                    role,
                    signal_type,
                    purpose,
                    file,
                    json,
                },
        } => policy_explain(&file, role, &signal_type, &purpose, json),
        Command::Send {
            partner,
            signal_type,
            purpose,
            case_ref,
            recipients,
            json,
            file,
            idempotency_key,
        } => {
            let json = match (json, file) {
                (Some(json), _) => json,
                (None, Some(file)) => std::fs::read_to_string(&file)
                    .with_context(|| format!("cannot read {}", file.display()))?,
                (None, None) => bail!("give the signal with --json '{{...}}' or --file PATH"),
            };
            send(
                &partner,
                &signal_type,
                purpose,
                case_ref,
                &recipients,
                &json,
                idempotency_key,
            )
            .await
        }
        Command::Receive {
            partner,
            follow,
            no_ack,
        } => receive(&partner, follow, !no_ack).await,
    }
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn serve(config_path: &Path, log_format: LogFormat) -> anyhow::Result<ExitCode> {
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

fn dev_init(config_path: &Path, dir: Option<PathBuf>, force: bool) -> anyhow::Result<ExitCode> {
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

fn policy_check(file: &Path, partners: &Path) -> anyhow::Result<ExitCode> {
    let catalogue = Catalogue::load()?;
    let policy = match Policy::load(file, &catalogue) {
        Ok(policy) => policy,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let defs = registry::load_definitions(partners)?;
    let problems: Vec<String> = defs
        .iter()
        .flat_map(|p| {
            p.purposes
                .iter()
                .filter(|code| policy.purpose(code).is_none())
                .map(move |code| format!("partner {} receives for undefined purpose {code}", p.id))
        })
        .collect();
    if !problems.is_empty() {
        eprintln!("{}", problems.join("\n"));
        return Ok(ExitCode::FAILURE);
    }
    println!(
        "{}: valid ({} purposes, {} rules, version {})",
        file.display(),
        policy.purposes().count(),
        policy.rules().len(),
        policy.version()
    );
    Ok(ExitCode::SUCCESS)
}

fn policy_explain(
    file: &Path,
    role: registry::Role,
    signal_type: &str,
    purpose: &str,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let catalogue = Catalogue::load()?;
    let policy = Policy::load(file, &catalogue)?;
    let explanation = match policy.explain(&catalogue, role, signal_type, purpose) {
        Ok(explanation) => explanation,
        Err(denied) => {
            eprintln!("{denied}: every field is withheld from everyone");
            return Ok(ExitCode::FAILURE);
        }
    };
    let rule = &explanation.rule;
    let reason = |why: Withheld, code: &str| match why {
        Withheld::NotAllowlisted => format!("not in the allowlist of {code}"),
        Withheld::Biometric => "biometric: never passes (Vw 2000 art. 107 lid 4)".to_string(),
    };
    if json {
        let purposes: Vec<serde_json::Value> = explanation
            .purposes
            .iter()
            .map(|view| {
                let code = &view.purpose.code;
                serde_json::json!({
                    "purpose": code,
                    "legal_basis": view.purpose.legal_basis,
                    "passes": view.passes.iter().map(|(path, classes)| serde_json::json!({
                        "field": path,
                        "classes": classes.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    })).collect::<Vec<_>>(),
                    "withheld": view.withheld.iter().map(|(path, why)| serde_json::json!({
                        "field": path,
                        "reason": reason(*why, code),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let out = serde_json::json!({
            "rule": rule.name,
            "legal_instrument": rule.legal_instrument,
            "provision_decision": rule.provision_decision,
            "policy_version": policy.version(),
            "purposes": purposes,
        });
        println!("{out:#}");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "rule {}: a {} sends {} for {}",
        rule.name, rule.sender_role, rule.signal, rule.purpose
    );
    println!("legal instrument: {}", rule.legal_instrument);
    if let Some(decision) = &rule.provision_decision {
        println!("provision decision: {decision}");
    }
    println!("policy version: {}", policy.version());
    for view in &explanation.purposes {
        let p = &view.purpose;
        let covers: Vec<String> = p
            .special_categories
            .iter()
            .map(ToString::to_string)
            .collect();
        println!();
        println!("{} ({})", p.code, p.name);
        println!("  legal basis: {}", p.legal_basis);
        println!(
            "  special categories covered: {}",
            if covers.is_empty() {
                "none".to_string()
            } else {
                covers.join(", ")
            }
        );
        let width = view
            .passes
            .iter()
            .map(|(path, _)| path.len())
            .chain(view.withheld.iter().map(|(path, _)| path.len()))
            .max()
            .unwrap_or(0);
        for (path, classes) in &view.passes {
            let classes: Vec<String> = classes.iter().map(ToString::to_string).collect();
            println!("  passes    {path:width$}  {}", classes.join(", "));
        }
        for (path, why) in &view.withheld {
            println!("  withheld  {path:width$}  {}", reason(*why, &p.code));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn resolve_recipient(defs: &[registry::PartnerDef], given: &str) -> anyhow::Result<String> {
    if given.parse::<Oin>().is_ok() {
        return Ok(given.to_string());
    }
    defs.iter()
        .find(|d| d.id == given)
        .map(|d| d.oin.to_string())
        .with_context(|| format!("{given} is neither an OIN nor a partner id in the registry"))
}

async fn send(
    partner: &PartnerArgs,
    signal_type: &str,
    purpose: String,
    case_ref: String,
    recipients: &[String],
    json: &str,
    idempotency_key: Option<String>,
) -> anyhow::Result<ExitCode> {
    let catalogue = Catalogue::load()?;
    let defs = registry::load_definitions(&partner.partners)?;
    let recipients = recipients
        .iter()
        .map(|r| resolve_recipient(&defs, r))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let payload = payload_from_json(&catalogue, signal_type, json)?;
    let mut client = ClientTls::dev(&partner.pki, &partner.partner)
        .connect(&partner.gateway)
        .await?;
    let request = SendRequest {
        idempotency_key: idempotency_key.unwrap_or_else(|| uuid::Uuid::now_v7().to_string()),
        case_ref,
        purpose,
        recipients,
        payload: Some(payload),
    };
    let response = match client.send(request).await {
        Ok(response) => response.into_inner(),
        Err(status) => {
            eprintln!("refused: {:?}: {}", status.code(), status.message());
            return Ok(ExitCode::FAILURE);
        }
    };
    let receipt = response.receipt.context("the gateway sent no receipt")?;
    let recipients: Vec<serde_json::Value> = receipt
        .recipients
        .iter()
        .map(|r| {
            serde_json::json!({
                "recipient": r.recipient,
                "delivery_id": r.delivery_id,
                "purposes": r.purposes,
                "withheld_fields": r.withheld_fields,
            })
        })
        .collect();
    let out = serde_json::json!({
        "signal_id": receipt.signal_id,
        "duplicate": receipt.duplicate,
        "recipients": recipients,
    });
    println!("{out}");
    Ok(ExitCode::SUCCESS)
}

async fn receive(partner: &PartnerArgs, follow: bool, ack: bool) -> anyhow::Result<ExitCode> {
    let catalogue = Catalogue::load()?;
    let mut client = ClientTls::dev(&partner.pki, &partner.partner)
        .connect(&partner.gateway)
        .await?;
    let mut stream = client
        .subscribe(SubscribeRequest {})
        .await
        .map_err(|s| anyhow::anyhow!("{:?}: {}", s.code(), s.message()))?
        .into_inner();
    while let Some(message) = stream.next().await {
        let message = message.map_err(|s| anyhow::anyhow!("{:?}: {}", s.code(), s.message()))?;
        let Some(delivery) = message.delivery else {
            if message.caught_up && !follow {
                break;
            }
            continue;
        };
        let payload = match &delivery.payload {
            Some(any) => payload_to_json(&catalogue, any)?,
            None => serde_json::Value::Null,
        };
        let signal_type = delivery
            .payload
            .as_ref()
            .and_then(|any| any.type_url.rsplit('.').next())
            .unwrap_or_default()
            .to_string();
        let sent_at = delivery
            .sent_at
            .as_ref()
            .and_then(|t| u64::try_from(t.seconds).ok())
            .map(|s| {
                humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + Duration::from_secs(s))
                    .to_string()
            });
        let line = serde_json::json!({
            "delivery_id": delivery.delivery_id,
            "signal_id": delivery.signal_id,
            "sender": delivery.sender,
            "purpose": delivery.purpose,
            "case_ref": delivery.case_ref,
            "sent_at": sent_at,
            "receiving_purposes": delivery.receiving_purposes,
            "type": signal_type,
            "payload": payload,
        });
        println!("{line}");
        if ack {
            client
                .ack(AckRequest {
                    delivery_ids: vec![delivery.delivery_id],
                })
                .await
                .map_err(|s| anyhow::anyhow!("ack: {:?}: {}", s.code(), s.message()))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
