//! `ketenpoort audit report`: everything the audit log holds about one case or person, as a
//! timeline of who received which fields, when and why; by default as it may be handed to the
//! data subject (items the policy holds back left out and counted), with `--held-back` the
//! officer's view with those items marked.

use std::process::ExitCode;

use ketenpoort::api::proto::{
    SubjectReportRequest, TimelineEntry, audit_service_client::AuditServiceClient,
};

use crate::cli::{
    args::PersonArgs,
    output::{Row, print_rows},
    times,
};

/// Arguments of `ketenpoort audit report`.
#[derive(clap::Args)]
pub struct ReportArgs {
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
    /// The officer's view: include the items held back from the data subject, marked with
    /// until when and why (by default they are left out, as for the data subject).
    #[arg(long)]
    held_back: bool,
    /// One JSON object per line instead of text.
    #[arg(long)]
    json: bool,
}

/// Asks the gateway for the subject's timeline and prints it.
pub async fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let request = SubjectReportRequest {
        case_ref: args.case_ref.unwrap_or_default(),
        v_nummer: args.v_nummer.unwrap_or_default(),
        bsn: args.bsn.unwrap_or_default(),
        include_held_back: args.held_back,
    };
    let report = args
        .officer
        .connect(AuditServiceClient::new)
        .await?
        .call(request, AuditServiceClient::subject_report)
        .await?;
    let held = report.held_back_count;
    print_rows(&report.entries, args.json, None, |n| {
        let mut lines = Vec::new();
        if n == 0 {
            lines.push("no records about this subject in your scope".to_string());
        }
        if held > 0 {
            lines.push(format!(
                "{held} record(s) held back from the data subject are left out (--held-back shows them)"
            ));
        }
        (!lines.is_empty()).then(|| lines.join("\n"))
    })?;
    Ok(ExitCode::SUCCESS)
}

impl Row for TimelineEntry {
    fn json(&self) -> serde_json::Value {
        let e = self;
        serde_json::json!({
            "seq": e.seq, "at": times::at(e.at.as_ref()), "event": e.event,
            "actor_oin": e.actor_oin, "actor_name": e.actor_name,
            "counterparty_oin": e.counterparty_oin, "counterparty_name": e.counterparty_name,
            "signal_type": e.signal_type, "purpose": e.purpose, "legal_basis": e.legal_basis,
            "fields_received": e.fields_received, "fields_withheld": e.fields_withheld,
            "summary": e.summary,
            "held_back_until": times::rfc3339_of(e.held_back_until.as_ref()),
            "held_back_reason": e.held_back_reason,
        })
    }

    fn text(&self) -> String {
        let held = match &self.held_back_until {
            Some(until) => format!(
                "\n          held back from the data subject until {}: {}",
                times::at(Some(until)),
                self.held_back_reason
            ),
            None => String::new(),
        };
        format!(
            "{}  #{:<6} {}{held}",
            times::at(self.at.as_ref()),
            self.seq,
            self.summary
        )
    }
}
