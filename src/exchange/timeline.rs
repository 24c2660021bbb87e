//! The readable timeline of a subject report: each audit record about a case or person as one
//! entry with the organisations' names and a sentence a privacy officer can read aloud.

use super::Exchange;
use crate::{
    audit::{EventKind, StoredRecord, export},
    ids::Oin,
    registry::Registry,
};

/// One entry of a subject report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineEntry {
    /// Sequence number of the record.
    pub seq: i64,
    /// When (Unix ms).
    pub at: i64,
    /// Event name, as in exports.
    pub event: String,
    /// OIN of the organisation that acted.
    pub actor_oin: String,
    /// Its name in the registry.
    pub actor_name: String,
    /// OIN of the other organisation.
    pub counterparty_oin: String,
    /// Its name in the registry.
    pub counterparty_name: String,
    /// Signal type.
    pub signal_type: String,
    /// Purpose code(s).
    pub purpose: String,
    /// Legal basis.
    pub legal_basis: String,
    /// Field paths received.
    pub fields_received: Vec<String>,
    /// Field paths withheld.
    pub fields_withheld: Vec<String>,
    /// One readable sentence.
    pub summary: String,
}

// === impl Exchange ===

impl Exchange {
    /// The timeline entry of a stored record, with names from the registry in force.
    pub fn timeline_entry(&self, stored: &StoredRecord) -> TimelineEntry {
        entry(&self.registry.load(), stored)
    }
}

fn name_of(registry: &Registry, oin: Option<&Oin>) -> String {
    oin.and_then(|oin| registry.by_oin(oin))
        .map_or_else(String::new, |p| p.name.clone())
}

fn entry(registry: &Registry, stored: &StoredRecord) -> TimelineEntry {
    let e = &stored.record.event;
    let actor = name_of(registry, e.actor.as_ref());
    let counterparty = name_of(registry, e.counterparty.as_ref());
    let list = |key: &str| -> Vec<String> {
        e.detail
            .get(key)
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default()
    };
    let text = |key: &str| e.detail.get(key).and_then(|v| v.as_str()).unwrap_or("");
    let (received, withheld) = (list("delivered"), list("withheld"));
    let signal = e.signal_type.clone().unwrap_or_default();
    let purpose = e.purpose.clone().unwrap_or_default();
    let basis = e.legal_basis.clone().unwrap_or_default();
    let summary = match e.event {
        EventKind::SignalAccepted => format!("{actor} sent {signal} for {purpose} ({basis})"),
        EventKind::SignalRefused => {
            format!(
                "{actor} tried to send {signal}; refused: {}",
                text("reason")
            )
        }
        EventKind::SignalResent => {
            format!("{actor} resent {signal}; answered with the original receipt")
        }
        EventKind::DeliveryCreated => format!(
            "{counterparty} was given {signal} for {purpose} on {basis}: {} field(s) ({}); withheld: {}",
            received.len(),
            received.join(", "),
            if withheld.is_empty() {
                "none".to_string()
            } else {
                withheld.join(", ")
            }
        ),
        EventKind::DeliveryStreamed => format!("{actor} fetched {signal} from {counterparty}"),
        EventKind::DeliveryAcknowledged => format!("{actor} confirmed receipt of {signal}"),
        EventKind::DeliveryExpired => format!(
            "{counterparty} did not confirm receipt of {signal} in time; its copy was erased"
        ),
        EventKind::AuditRead => format!(
            "{} of {actor} looked this up in the audit log",
            e.actor_person.as_deref().unwrap_or("someone")
        ),
        EventKind::AuditRefused => format!("{actor} was refused access to the audit log"),
        EventKind::RegistryChanged => format!(
            "{} of {actor} changed the registry: {} {counterparty}",
            e.actor_person.as_deref().unwrap_or("an operator"),
            text("action")
        ),
        EventKind::AdminRefused => format!("{actor} was refused a registry change"),
        EventKind::AuditPruned => "records past their retention were removed".to_string(),
        EventKind::RequestRefused => {
            format!("{actor} was refused {}: {}", text("method"), text("reason"))
        }
        EventKind::MonitorReport => format!(
            "{} of {actor} read the programme monitor's figures for {}",
            e.actor_person.as_deref().unwrap_or("someone"),
            text("quarter")
        ),
        EventKind::MonitorRefused => format!("{actor} was refused the programme monitor's figures"),
    };
    TimelineEntry {
        seq: stored.record.seq,
        at: stored.record.at,
        event: export::event_name(e.event),
        actor_oin: e.actor.as_ref().map(Oin::to_string).unwrap_or_default(),
        actor_name: actor,
        counterparty_oin: e
            .counterparty
            .as_ref()
            .map(Oin::to_string)
            .unwrap_or_default(),
        counterparty_name: counterparty,
        signal_type: signal,
        purpose,
        legal_basis: basis,
        fields_received: received,
        fields_withheld: withheld,
        summary,
    }
}
