//! The partner side: `send` and `receive`, as a partner system would use the gateway.

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context as _;
use ketenpoort::{
    api::{
        client::{payload_from_json, payload_to_json},
        proto::{
            AckRequest, SendRequest, SubscribeRequest, signal_service_client::SignalServiceClient,
        },
    },
    catalogue::Catalogue,
    registry,
};
use tokio_stream::StreamExt;

use super::{
    args::{PartnerArgs, resolve_recipient, status},
    output::outln,
    times,
};

/// Arguments of `ketenpoort send`.
#[derive(clap::Args)]
pub struct SendArgs {
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
}

/// Arguments of `ketenpoort receive`.
#[derive(clap::Args)]
pub struct ReceiveArgs {
    #[command(flatten)]
    partner: PartnerArgs,
    /// Keep waiting for new deliveries after the waiting ones are done.
    #[arg(long)]
    follow: bool,
    /// Print deliveries without acknowledging them (they will be streamed again).
    #[arg(long)]
    no_ack: bool,
}

/// Sends one signal and prints the signed receipt as JSON.
pub async fn send(args: SendArgs) -> anyhow::Result<ExitCode> {
    let json = match (&args.json, &args.file) {
        (Some(json), _) => json.clone(),
        (None, Some(file)) => std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?,
        (None, None) => anyhow::bail!("give the signal with --json '{{...}}' or --file PATH"),
    };
    let partner = &args.partner;
    let catalogue = Catalogue::load()?;
    let defs = registry::load_definitions(&partner.partners)?;
    let recipients = args
        .recipients
        .iter()
        .map(|r| resolve_recipient(&defs, r))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let payload = payload_from_json(&catalogue, &args.signal_type, &json)?;
    let mut client = SignalServiceClient::new(partner.channel().await?);
    let request = SendRequest {
        idempotency_key: args
            .idempotency_key
            .unwrap_or_else(|| uuid::Uuid::now_v7().to_string()),
        case_ref: args.case_ref,
        purpose: args.purpose,
        recipients,
        payload: Some(payload),
    };
    let response = match client.send(request).await {
        Ok(response) => response.into_inner(),
        Err(refusal) => {
            eprintln!("refused: {}", status(refusal));
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
        "accepted_at_ms": receipt.accepted_at.as_ref().map(ketenpoort::api::unix_ms),
        "content_sha256": receipt.content_sha256,
        "audit_sequence": receipt.audit_sequence,
        "signature": hex::encode(&receipt.signature),
        "signing_key_id": receipt.signing_key_id,
    });
    outln!("{out}")?;
    Ok(ExitCode::SUCCESS)
}

/// Streams the partner's deliveries as JSON lines, acknowledging each unless --no-ack.
pub async fn receive(args: ReceiveArgs) -> anyhow::Result<ExitCode> {
    let (partner, follow, ack) = (&args.partner, args.follow, !args.no_ack);
    let catalogue = Catalogue::load()?;
    let mut client = SignalServiceClient::new(partner.channel().await?);
    let mut stream = client
        .subscribe(SubscribeRequest {})
        .await
        .map_err(status)?
        .into_inner();
    while let Some(message) = stream.next().await {
        let message = message.map_err(status)?;
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
        let sent_at = times::rfc3339_of(delivery.sent_at.as_ref());
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
        outln!("{line}")?;
        if ack {
            client
                .ack(AckRequest {
                    delivery_ids: vec![delivery.delivery_id],
                })
                .await
                .map_err(status)
                .context("ack")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
