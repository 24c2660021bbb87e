//! Checking the gateway's signatures: `audit verify` (the hash chain and its signed
//! checkpoints, online or from an export offline), `audit verify-receipt`, and
//! `audit public-key`, which prints the key that offline checks need.

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::{Context as _, bail};
use ketenpoort::{
    api::proto::{VerifyRequest, audit_service_client::AuditServiceClient},
    audit::{
        export::verify_export,
        keys::{SignatureKey, Signer},
        receipt_message,
    },
    config::{Config, DEFAULT_CONFIG_FILE},
};

use crate::cli::{
    args::{PartnerArgs, PersonArgs},
    output::{self, outln},
};

/// Arguments of `ketenpoort audit verify`.
#[derive(clap::Args)]
pub struct VerifyArgs {
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
}

/// Verifies an export offline, or asks the gateway to verify its log.
pub async fn run(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    match args {
        VerifyArgs {
            file: Some(file),
            public_key: Some(public_key),
            ..
        } => offline(&file, &public_key),
        VerifyArgs {
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
            let answer = officer
                .connect(AuditServiceClient::new)
                .await?
                .call(VerifyRequest {}, AuditServiceClient::verify)
                .await?;
            let problem =
                (!answer.intact).then_some((answer.first_problem_seq as i64, answer.first_problem));
            report(
                problem,
                answer.records_checked,
                answer.checkpoints_checked,
                "",
            )
        }
        VerifyArgs { .. } => {
            bail!(
                "give --as OFFICER to verify online, or --file EXPORT --public-key PEM to verify offline"
            )
        }
    }
}

/// Verifies an exported file with the gateway's public key alone.
fn offline(file: &Path, public_key: &Path) -> anyhow::Result<ExitCode> {
    let key = SignatureKey::load(public_key)?;
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let result = verify_export(&text, &key)?;
    let gaps = if result.gaps > 0 {
        format!(
            " ({} gap(s): records outside the export's scope, not checked)",
            result.gaps
        )
    } else {
        String::new()
    };
    report(
        result.first_problem,
        result.records,
        result.checkpoints,
        &gaps,
    )
}

fn report(
    problem: Option<(i64, String)>,
    records: u64,
    checkpoints: u64,
    note: &str,
) -> anyhow::Result<ExitCode> {
    match problem {
        None => {
            outln!(
                "intact: {records} records and {checkpoints} signed checkpoints verified{note}"
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Some((seq, problem)) => {
            outln!("BROKEN at record {seq}: {problem}")?;
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Checks the gateway's signature on a receipt that `ketenpoort send` printed.
pub fn receipt(receipt: &Path, public_key: &Path) -> anyhow::Result<ExitCode> {
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
        outln!("valid: signed by the gateway key {}", key.key_id())?;
        Ok(ExitCode::SUCCESS)
    } else {
        outln!(
            "INVALID: the signature does not match this receipt and key {}",
            key.key_id()
        )?;
        Ok(ExitCode::FAILURE)
    }
}

/// Prints the gateway's public audit key (PEM), as `audit.signing_key` in the settings names it.
pub fn public_key(config: &Path) -> anyhow::Result<ExitCode> {
    let config = Config::load(config, config != Path::new(DEFAULT_CONFIG_FILE))?;
    let pem = Signer::load(&config.audit.signing_key)?.public().to_pem();
    output::write(format_args!("{pem}"))?;
    Ok(ExitCode::SUCCESS)
}
