//! `ketenpoort status SIGNAL_ID`: what became of a signal the partner sent — per recipient,
//! pending, streamed (how often), acknowledged or expired, and when.

use std::process::ExitCode;

use ketenpoort::api::proto::{
    DeliveryState, GetReceiptRequest, RecipientReceipt, signal_service_client::SignalServiceClient,
};

use super::{
    args::{PartnerArgs, status},
    output::{Row, print_rows},
    times::when,
};

/// Arguments of `ketenpoort status`.
#[derive(clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    partner: PartnerArgs,
    /// The signal id from the receipt `send` printed.
    signal_id: String,
    /// One JSON object per recipient instead of a table.
    #[arg(long)]
    json: bool,
}

/// Prints the state of each recipient's copy of the signal.
pub async fn run(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let mut client = SignalServiceClient::new(args.partner.channel().await?);
    let receipt = client
        .get_receipt(GetReceiptRequest {
            signal_id: args.signal_id,
        })
        .await
        .map_err(status)?
        .into_inner()
        .receipt
        .unwrap_or_default();
    let heading = format!(
        "signal {} accepted {}\n{:<20} {:<13} {:>8}  {}",
        receipt.signal_id,
        when(receipt.accepted_at.as_ref()),
        "RECIPIENT",
        "STATE",
        "ATTEMPTS",
        "SINCE"
    );
    print_rows(&receipt.recipients, args.json, Some(&heading), |_| None)?;
    Ok(ExitCode::SUCCESS)
}

fn state_name(r: &RecipientReceipt) -> &'static str {
    match r.state() {
        DeliveryState::Pending => "pending",
        DeliveryState::Streamed => "streamed",
        DeliveryState::Acknowledged => "acknowledged",
        DeliveryState::Expired => "expired",
        DeliveryState::Unspecified => "unknown",
    }
}

impl Row for RecipientReceipt {
    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "recipient": self.recipient,
            "delivery_id": self.delivery_id,
            "state": state_name(self),
            "attempts": self.attempts,
            "acknowledged_at": self.acknowledged_at.as_ref().map(|t| when(Some(t))),
            "expired_at": self.expired_at.as_ref().map(|t| when(Some(t))),
        })
    }

    fn text(&self) -> String {
        let since = self.acknowledged_at.as_ref().or(self.expired_at.as_ref());
        format!(
            "{:<20} {:<13} {:>8}  {}",
            self.recipient,
            state_name(self),
            self.attempts,
            when(since)
        )
    }
}
