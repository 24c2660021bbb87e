//! The privacy officer's tools: `audit query|report|verify|export|verify-receipt|public-key`
//! and `dev-token`. Online commands connect as the officer's partner with mutual TLS and a
//! JWT naming the officer; `verify --file` and `verify-receipt` work offline with the
//! gateway's public key alone.

use std::{
    io::Write as _,
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::{Context as _, bail};
use clap::{Subcommand, ValueEnum};
use ketenpoort::{
    api::{
        proto::{
            AuditRecord, ExportFormat, ExportRequest, QueryRequest, SubjectReportRequest,
            VerifyRequest, audit_service_client::AuditServiceClient,
        },
        timestamp,
    },
    audit::{
        export::verify_export,
        keys::{SignatureKey, Signer},
        receipt_message,
    },
    clock::{rfc3339, unix_ms},
    config::{Config, DEFAULT_CONFIG_FILE},
    identity::person,
    registry,
};
use tokio_stream::StreamExt;

use super::partner::{PartnerArgs, PersonArgs, resolve_recipient, status};

/// Default lifetime of a development token.
pub const DEV_TOKEN_MINUTES: u64 = 60;

/// `ketenpoort audit …`
#[derive(Subcommand)]
pub enum AuditCommand {
    /// Records matching the filters, as a table (or --json lines).
    Query {
        #[command(flatten)]
        officer: PersonArgs,
        /// Records about this case reference (hashed by the gateway).
        #[arg(long)]
        case_ref: Option<String>,
        /// Records where this partner (id or OIN) is actor or counterparty.
        #[arg(long = "partner")]
        party: Option<String>,
        /// Signal type, e.g. Intake.
        #[arg(long = "type")]
        signal_type: Option<String>,
        /// Purpose code.
        #[arg(long)]
        purpose: Option<String>,
        /// ok or refused.
        #[arg(long)]
        outcome: Option<String>,
        /// Event kind, e.g. delivery_created.
        #[arg(long)]
        event: Option<String>,
        /// Records at or after this time (RFC 3339, e.g. 2026-11-24T00:00:00Z).
        #[arg(long)]
        from: Option<humantime::Timestamp>,
        /// Records before this time (RFC 3339).
        #[arg(long)]
        to: Option<humantime::Timestamp>,
        /// Most records to print.
        #[arg(long, default_value_t = 1000)]
        limit: usize,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Everything about one case or person: who received which fields, when, why.
    Report {
        #[command(flatten)]
        officer: PersonArgs,
        /// The chain's case reference.
        #[arg(long, required_unless_present_any = ["v_nummer", "bsn"])]
        case_ref: Option<String>,
        /// The person's V-nummer.
        #[arg(long)]
        v_nummer: Option<String>,
        /// The person's BSN.
        #[arg(long)]
        bsn: Option<String>,
        /// One JSON object per line instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Verify the chain: online with --as OFFICER, or offline with --file EXPORT --public-key PEM.
    Verify {
        /// Verify this exported file offline instead of asking the gateway.
        #[arg(long, requires = "public_key", conflicts_with = "partner")]
        file: Option<PathBuf>,
        /// The gateway's public key (PEM), for offline verification.
        #[arg(long)]
        public_key: Option<PathBuf>,
        /// Ask the gateway as this officer (its id in the registry).
        #[arg(long = "as", required_unless_present = "file")]
        partner: Option<String>,
        /// Gateway address.
        #[arg(
            long,
            default_value = "https://localhost:8443",
            env = "KETENPOORT_GATEWAY"
        )]
        gateway: String,
        /// Directory with ca.pem and the officer's certificate, key and JWT key.
        #[arg(long, default_value = "var/dev-pki")]
        pki: PathBuf,
        /// The JWT naming you (see `audit query --help`).
        #[arg(long, env = "KETENPOORT_TOKEN")]
        token: Option<String>,
        /// The person named in a minted development token.
        #[arg(long, default_value = "dev-officer@example.invalid")]
        person: String,
    },
    /// Export the records in your scope with the signed checkpoints, one JSON object per line.
    Export {
        #[command(flatten)]
        officer: PersonArgs,
        /// jsonl (verifiable offline) or ldv (Logboek Dataverwerkingen shape).
        #[arg(long, value_enum, default_value_t = Format::Jsonl)]
        format: Format,
        /// Write to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
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

/// Export format.
#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    /// Native JSON Lines with hashes and checkpoints.
    Jsonl,
    /// Logboek Dataverwerkingen shape.
    Ldv,
}

/// Arguments of `ketenpoort dev-token`.
#[derive(clap::Args)]
pub struct DevTokenArgs {
    /// The partner (officer or operator) whose development JWT key signs the token.
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
    println!("{token}");
    Ok(ExitCode::SUCCESS)
}

/// Runs an audit subcommand.
pub async fn run(command: AuditCommand) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::Query {
            officer,
            case_ref,
            party,
            signal_type,
            purpose,
            outcome,
            event,
            from,
            to,
            limit,
            json,
        } => {
            let partner = match party {
                Some(p) => Some(resolve_recipient(
                    &registry::load_definitions(&officer.partner.partners)?,
                    &p,
                )?),
                None => None,
            };
            let at = |t: humantime::Timestamp| timestamp(unix_ms(t.into()));
            let mut query = QueryRequest {
                from: from.map(at),
                to: to.map(at),
                partner_oin: partner.unwrap_or_default(),
                signal_type: signal_type.unwrap_or_default(),
                purpose: purpose.unwrap_or_default(),
                outcome: outcome.unwrap_or_default(),
                case_ref: case_ref.unwrap_or_default(),
                event: event.unwrap_or_default(),
                page_size: 1000,
                page_token: String::new(),
            };
            let mut client = AuditServiceClient::new(officer.partner.channel().await?);
            let mut records = Vec::new();
            loop {
                let page = client
                    .query(officer.request(query.clone())?)
                    .await
                    .map_err(status)?
                    .into_inner();
                records.extend(page.records);
                if page.next_page_token.is_empty() || records.len() >= limit {
                    break;
                }
                query.page_token = page.next_page_token;
            }
            records.truncate(limit);
            print_records(&records, json);
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Report {
            officer,
            case_ref,
            v_nummer,
            bsn,
            json,
        } => {
            let request = SubjectReportRequest {
                case_ref: case_ref.unwrap_or_default(),
                v_nummer: v_nummer.unwrap_or_default(),
                bsn: bsn.unwrap_or_default(),
            };
            let mut client = AuditServiceClient::new(officer.partner.channel().await?);
            let entries = client
                .subject_report(officer.request(request)?)
                .await
                .map_err(status)?
                .into_inner()
                .entries;
            for e in &entries {
                let at =
                    e.at.as_ref()
                        .map(ketenpoort::api::unix_ms)
                        .unwrap_or_default();
                if json {
                    println!(
                        "{}",
                        serde_json::json!({
                            "seq": e.seq, "at": rfc3339(at), "event": e.event,
                            "actor_oin": e.actor_oin, "actor_name": e.actor_name,
                            "counterparty_oin": e.counterparty_oin, "counterparty_name": e.counterparty_name,
                            "signal_type": e.signal_type, "purpose": e.purpose, "legal_basis": e.legal_basis,
                            "fields_received": e.fields_received, "fields_withheld": e.fields_withheld,
                            "summary": e.summary,
                        })
                    );
                } else {
                    println!("{}  #{:<6} {}", rfc3339(at), e.seq, e.summary);
                }
            }
            if entries.is_empty() && !json {
                println!("no records about this subject in your scope");
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Verify {
            file: Some(file),
            public_key: Some(public_key),
            ..
        } => {
            let key = SignatureKey::load(&public_key)?;
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let result = verify_export(&text, &key)?;
            let gaps = if result.gaps > 0 {
                format!(
                    " ({} gap(s): records outside the export's scope, not checked)",
                    result.gaps
                )
            } else {
                String::new()
            };
            report_verification(
                result.first_problem,
                result.records,
                result.checkpoints,
                &gaps,
            )
        }
        AuditCommand::Verify {
            partner: Some(partner),
            gateway,
            pki,
            token,
            person,
            ..
        } => {
            let officer = PersonArgs {
                partner: PartnerArgs {
                    partner,
                    gateway,
                    pki,
                    partners: "config/partners.toml".into(),
                },
                token,
                person,
            };
            let mut client = AuditServiceClient::new(officer.partner.channel().await?);
            let answer = client
                .verify(officer.request(VerifyRequest {})?)
                .await
                .map_err(status)?
                .into_inner();
            let problem =
                (!answer.intact).then_some((answer.first_problem_seq as i64, answer.first_problem));
            report_verification(
                problem,
                answer.records_checked,
                answer.checkpoints_checked,
                "",
            )
        }
        AuditCommand::Verify { .. } => {
            bail!(
                "give --as OFFICER to verify online, or --file EXPORT --public-key PEM to verify offline"
            )
        }
        AuditCommand::Export {
            officer,
            format,
            out,
        } => {
            let format = match format {
                Format::Jsonl => ExportFormat::JsonLines,
                Format::Ldv => ExportFormat::Ldv,
            };
            let request = ExportRequest {
                format: format as i32,
                ..Default::default()
            };
            let mut client = AuditServiceClient::new(officer.partner.channel().await?);
            let mut stream = client
                .export(officer.request(request)?)
                .await
                .map_err(status)?
                .into_inner();
            let mut sink: Box<dyn std::io::Write> = match &out {
                Some(path) => Box::new(
                    std::fs::File::create(path)
                        .with_context(|| format!("cannot create {}", path.display()))?,
                ),
                None => Box::new(std::io::stdout().lock()),
            };
            let mut lines = 0;
            while let Some(line) = stream.next().await {
                writeln!(sink, "{}", line.map_err(status)?.line)?;
                lines += 1;
            }
            sink.flush()?;
            if let Some(path) = out {
                eprintln!("wrote {lines} lines to {}", path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::VerifyReceipt {
            receipt,
            public_key,
        } => verify_receipt(&receipt, &public_key),
        AuditCommand::PublicKey { config } => {
            let config = Config::load(&config, config != Path::new(DEFAULT_CONFIG_FILE))?;
            print!(
                "{}",
                Signer::load(&config.audit.signing_key)?.public().to_pem()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn report_verification(
    problem: Option<(i64, String)>,
    records: u64,
    checkpoints: u64,
    note: &str,
) -> anyhow::Result<ExitCode> {
    match problem {
        None => {
            println!(
                "intact: {records} records and {checkpoints} signed checkpoints verified{note}"
            );
            Ok(ExitCode::SUCCESS)
        }
        Some((seq, problem)) => {
            println!("BROKEN at record {seq}: {problem}");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn verify_receipt(receipt: &Path, public_key: &Path) -> anyhow::Result<ExitCode> {
    let key = SignatureKey::load(public_key)?;
    let text = std::fs::read_to_string(receipt)
        .with_context(|| format!("cannot read {}", receipt.display()))?;
    let r: serde_json::Value = serde_json::from_str(&text).context("the receipt is not JSON")?;
    let field = |name: &str| {
        r.get(name)
            .with_context(|| format!("the receipt has no {name}"))
    };
    let text_of = |name: &str| -> anyhow::Result<String> {
        Ok(field(name)?
            .as_str()
            .with_context(|| format!("{name} is not text"))?
            .to_string())
    };
    let number = |name: &str| -> anyhow::Result<i64> {
        field(name)?
            .as_i64()
            .with_context(|| format!("{name} is not a number"))
    };
    let recipients: Vec<String> = field("recipients")?
        .as_array()
        .context("recipients is not a list")?
        .iter()
        .filter_map(|x| {
            x.get("recipient")
                .and_then(|v| v.as_str())
                .map(str::to_string)
        })
        .collect();
    let oins: Vec<&str> = recipients.iter().map(String::as_str).collect();
    let message = receipt_message(
        &text_of("signal_id")?,
        &text_of("content_sha256")?,
        &oins,
        number("accepted_at_ms")?,
        number("audit_sequence")?,
    );
    let signature = hex::decode(text_of("signature")?).context("signature is not hex")?;
    if key.verify(&message, &signature) {
        println!("valid: signed by the gateway key {}", key.key_id());
        Ok(ExitCode::SUCCESS)
    } else {
        println!(
            "INVALID: the signature does not match this receipt and key {}",
            key.key_id()
        );
        Ok(ExitCode::FAILURE)
    }
}

fn print_records(records: &[AuditRecord], json: bool) {
    if json {
        for r in records {
            let at =
                r.at.as_ref()
                    .map(ketenpoort::api::unix_ms)
                    .unwrap_or_default();
            println!(
                "{}",
                serde_json::json!({
                    "seq": r.seq, "id": r.id, "at": rfc3339(at), "event": r.event, "outcome": r.outcome,
                    "actor_oin": r.actor_oin, "actor_person": r.actor_person,
                    "counterparty_oin": r.counterparty_oin, "purpose": r.purpose,
                    "legal_basis": r.legal_basis, "signal_id": r.signal_id, "signal_type": r.signal_type,
                    "delivery_id": r.delivery_id, "case_ref_hash": r.case_ref_hash,
                    "subject_type": r.subject_type, "subject_hash": r.subject_hash,
                    "trace_id": r.trace_id, "span_id": r.span_id,
                    "detail": serde_json::from_str::<serde_json::Value>(&r.detail_json).unwrap_or_default(),
                    "hash": r.hash,
                })
            );
        }
        return;
    }
    println!(
        "{:>6}  {:<20}  {:<21}  {:<7}  {:<20}  {:<20}  {:<22}  purpose",
        "seq", "time", "event", "outcome", "actor", "counterparty", "type"
    );
    for r in records {
        let at =
            r.at.as_ref()
                .map(ketenpoort::api::unix_ms)
                .unwrap_or_default();
        println!(
            "{:>6}  {:<20}  {:<21}  {:<7}  {:<20}  {:<20}  {:<22}  {}",
            r.seq,
            rfc3339(at),
            r.event,
            r.outcome,
            r.actor_oin,
            r.counterparty_oin,
            r.signal_type,
            r.purpose
        );
    }
    println!("{} record(s)", records.len());
}
