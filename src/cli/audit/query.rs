//! `ketenpoort audit query`: the audit records matching the filters, fetched page by page, as
//! a table or as JSON lines.

use std::process::ExitCode;

use ketenpoort::{
    api::proto::{AuditRecord, QueryRequest, audit_service_client::AuditServiceClient},
    registry,
};

use crate::cli::{
    args::{PersonArgs, resolve_recipient},
    output::{Row, print_rows},
    times,
};

/// Arguments of `ketenpoort audit query`.
#[derive(clap::Args)]
pub struct QueryArgs {
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
}

/// Fetches the matching records, at most `--limit`, and prints them.
pub async fn run(args: QueryArgs) -> anyhow::Result<ExitCode> {
    let officer = &args.officer;
    let partner = match &args.party {
        Some(p) => Some(resolve_recipient(
            &registry::load_definitions(&officer.partner.partners)?,
            p,
        )?),
        None => None,
    };
    let mut query = QueryRequest {
        from: args.from.map(times::to_proto),
        to: args.to.map(times::to_proto),
        partner_oin: partner.unwrap_or_default(),
        signal_type: args.signal_type.unwrap_or_default(),
        purpose: args.purpose.unwrap_or_default(),
        outcome: args.outcome.unwrap_or_default(),
        case_ref: args.case_ref.unwrap_or_default(),
        event: args.event.unwrap_or_default(),
        page_size: 1000,
        page_token: String::new(),
    };
    let mut audit = officer.connect(AuditServiceClient::new).await?;
    let mut records = Vec::new();
    loop {
        let page = audit.call(query.clone(), AuditServiceClient::query).await?;
        records.extend(page.records);
        if page.next_page_token.is_empty() || records.len() >= args.limit {
            break;
        }
        query.page_token = page.next_page_token;
    }
    records.truncate(args.limit);
    let heading = format!(
        "{:>6}  {:<20}  {:<21}  {:<7}  {:<20}  {:<20}  {:<22}  purpose",
        "seq", "time", "event", "outcome", "actor", "counterparty", "type"
    );
    print_rows(&records, args.json, Some(&heading), |n| {
        Some(format!("{n} record(s)"))
    })?;
    Ok(ExitCode::SUCCESS)
}

impl Row for AuditRecord {
    fn json(&self) -> serde_json::Value {
        let r = self;
        serde_json::json!({
            "seq": r.seq, "id": r.id, "at": times::at(r.at.as_ref()), "event": r.event, "outcome": r.outcome,
            "actor_oin": r.actor_oin, "actor_person": r.actor_person,
            "counterparty_oin": r.counterparty_oin, "purpose": r.purpose,
            "legal_basis": r.legal_basis, "signal_id": r.signal_id, "signal_type": r.signal_type,
            "delivery_id": r.delivery_id, "case_ref_hash": r.case_ref_hash,
            "subject_type": r.subject_type, "subject_hash": r.subject_hash,
            "trace_id": r.trace_id, "span_id": r.span_id,
            "detail": serde_json::from_str::<serde_json::Value>(&r.detail_json).unwrap_or_default(),
            "hash": r.hash,
        })
    }

    fn text(&self) -> String {
        format!(
            "{:>6}  {:<20}  {:<21}  {:<7}  {:<20}  {:<20}  {:<22}  {}",
            self.seq,
            times::at(self.at.as_ref()),
            self.event,
            self.outcome,
            self.actor_oin,
            self.counterparty_oin,
            self.signal_type,
            self.purpose
        )
    }
}
