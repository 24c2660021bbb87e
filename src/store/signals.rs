//! The values the store commits and answers for one signal: the signal with each recipient's
//! copy ([`NewSignal`]), the outcome of committing it, its signed [`Receipt`], and a
//! delivery waiting for its recipient ([`PendingDelivery`]).

use std::fmt;

use sqlx::{AnyConnection, Row};

use super::{StoreError, columns::from_json};
use crate::{
    audit::{AuditEvent, Subject, keys::Signer, receipt_message},
    ids::Oin,
    monitor::CounterKey,
};

/// A signal to commit with its deliveries and audit events.
#[derive(Clone)]
pub struct NewSignal {
    /// Gateway id (UUIDv7).
    pub id: String,
    /// Sender.
    pub sender: Oin,
    /// The sender's idempotency key.
    pub idempotency_key: String,
    /// SHA-256 of the envelope.
    pub content_hash: [u8; 32],
    /// Catalogue message name.
    pub signal_type: String,
    /// Sending purpose.
    pub purpose: String,
    /// Case reference.
    pub case_ref: String,
    /// Rule the signal passed along.
    pub rule: String,
    /// Policy version.
    pub policy_version: String,
    /// Acceptance time, Unix ms.
    pub accepted_at: i64,
    /// One per recipient, in envelope order.
    pub deliveries: Vec<NewDelivery>,
    /// Audit events of the acceptance.
    pub audit: Vec<AuditEvent>,
    /// Audit event to write instead when the idempotency key is known already.
    pub resent_audit: AuditEvent,
    /// The case and data subject, as keyed hashes.
    pub subject: Subject,
    /// The monitor's counters this signal adds one to, once, when it is committed.
    pub counters: Vec<CounterKey>,
}

/// One recipient's copy.
#[derive(Clone)]
pub struct NewDelivery {
    /// Delivery id (UUIDv7).
    pub id: String,
    /// Recipient.
    pub recipient: Oin,
    /// Receiving purposes.
    pub purposes: Vec<String>,
    /// Withheld field paths.
    pub withheld: Vec<String>,
    /// Filtered payload.
    pub payload: Vec<u8>,
}

/// The receipt of a committed signal, signed by the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// Signal id.
    pub signal_id: String,
    /// Acceptance time, Unix ms.
    pub accepted_at: i64,
    /// Per recipient, in envelope order.
    pub recipients: Vec<RecipientReceipt>,
    /// True when answering a resend.
    pub duplicate: bool,
    /// SHA-256 of the envelope as received, hex.
    pub content_sha256: String,
    /// Sequence number of the `signal_accepted` audit record.
    pub audit_seq: i64,
    /// Ed25519 signature over [`crate::audit::receipt_message`].
    pub signature: Vec<u8>,
    /// Id of the signing key.
    pub key_id: String,
}

/// What one recipient got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientReceipt {
    /// Recipient.
    pub recipient: String,
    /// Delivery id.
    pub delivery_id: String,
    /// Receiving purposes.
    pub purposes: Vec<String>,
    /// Withheld field paths.
    pub withheld: Vec<String>,
    /// What became of the copy, when the receipt was read.
    pub status: DeliveryStatus,
}

/// What became of a recipient's copy. Not signed: it changes after acceptance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryStatus {
    /// Where the copy is in its life.
    pub state: DeliveryState,
    /// Times it was streamed.
    pub attempts: i64,
    /// When it was acknowledged (Unix ms).
    pub acked_at: Option<i64>,
    /// When it expired (Unix ms).
    pub expired_at: Option<i64>,
}

/// Where a recipient's copy is in its life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DeliveryState {
    /// Committed, not streamed yet.
    #[default]
    Pending,
    /// Streamed at least once, not acknowledged.
    Streamed,
    /// Acknowledged; its copy is erased.
    Acknowledged,
    /// Not acknowledged in time; its copy is erased.
    Expired,
}

// === impl DeliveryStatus ===

impl DeliveryStatus {
    /// The status of a delivery row's columns.
    fn of(attempts: i64, acked_at: Option<i64>, expired_at: Option<i64>) -> Self {
        let state = match (acked_at, expired_at) {
            (Some(_), _) => DeliveryState::Acknowledged,
            (None, Some(_)) => DeliveryState::Expired,
            (None, None) if attempts > 0 => DeliveryState::Streamed,
            (None, None) => DeliveryState::Pending,
        };
        Self {
            state,
            attempts,
            acked_at,
            expired_at,
        }
    }
}

/// A delivery waiting for its recipient.
#[derive(Clone)]
pub struct PendingDelivery {
    /// Stream order; 0 for a copy handed over to a parked stream in its `Send`'s own commit,
    /// whose place the writer does not learn: nothing orders such a copy again (the stream
    /// sends it on as it comes, and a redelivery reads it back with its place).
    pub seq: i64,
    /// Delivery id.
    pub id: String,
    /// Signal id.
    pub signal_id: String,
    /// Sender.
    pub sender: String,
    /// Sending purpose.
    pub purpose: String,
    /// Case reference.
    pub case_ref: String,
    /// Catalogue message name.
    pub signal_type: String,
    /// Acceptance time, Unix ms.
    pub accepted_at: i64,
    /// Receiving purposes.
    pub purposes: Vec<String>,
    /// Filtered payload.
    pub payload: Vec<u8>,
    /// Times streamed before.
    pub attempts: i64,
    /// The case and data subject, as keyed hashes (for the audit record of the streaming).
    pub subject: Subject,
}

/// Outcome of committing a signal.
#[derive(Debug)]
pub enum SendOutcome {
    /// Newly committed.
    Accepted(Receipt),
    /// The idempotency key was known with the same content: the original receipt.
    Duplicate(Receipt),
    /// The idempotency key was known with different content.
    Conflict,
}

// Hand-written `Debug` for the values that carry a payload or a case reference: ids and
// counts only, so that no log line or panic message can hold personal data.

/// Longest text a short column (ids, keys, codes, a case reference) holds, in bytes.
const SHORT_TEXT: usize = 1024;

impl NewSignal {
    /// Checks, before the writer's transaction, that every text column can hold its value:
    /// no NUL character (PostgreSQL refuses it) and no more than [`SHORT_TEXT`] bytes. The
    /// exchange validates callers more strictly; this keeps one bad row out of a batch.
    pub(super) fn check(&self) -> Result<(), StoreError> {
        let columns = [
            ("signal id", &self.id),
            ("idempotency key", &self.idempotency_key),
            ("signal type", &self.signal_type),
            ("purpose", &self.purpose),
            ("case reference", &self.case_ref),
            ("rule", &self.rule),
            ("policy version", &self.policy_version),
        ];
        let deliveries = self.deliveries.iter().flat_map(|d| {
            let purposes = d.purposes.iter().map(|p| ("receiving purpose", p));
            let withheld = d.withheld.iter().map(|w| ("withheld field", w));
            std::iter::once(("delivery id", &d.id))
                .chain(purposes)
                .chain(withheld)
        });
        for (column, text) in columns.into_iter().chain(deliveries) {
            if text.len() > SHORT_TEXT || text.contains('\0') {
                return Err(StoreError::Invalid(column));
            }
        }
        Ok(())
    }
}

impl fmt::Debug for NewSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewSignal")
            .field("id", &self.id)
            .field("sender", &self.sender)
            .field("signal_type", &self.signal_type)
            .field("purpose", &self.purpose)
            .field("deliveries", &self.deliveries)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for NewDelivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewDelivery")
            .field("id", &self.id)
            .field("recipient", &self.recipient)
            .field("purposes", &self.purposes)
            .field("payload_bytes", &self.payload.len())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for PendingDelivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingDelivery")
            .field("seq", &self.seq)
            .field("id", &self.id)
            .field("signal_id", &self.signal_id)
            .field("signal_type", &self.signal_type)
            .field("attempts", &self.attempts)
            .field("payload_bytes", &self.payload.len())
            .finish_non_exhaustive()
    }
}

/// The facts of a receipt before they are signed. The writer answers with these, so that the
/// signing (tens of microseconds of Ed25519) runs beside other requests, not in the writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ReceiptFacts {
    pub signal_id: String,
    pub content_sha256: String,
    pub accepted_at: i64,
    pub audit_seq: i64,
    pub recipients: Vec<RecipientReceipt>,
    pub duplicate: bool,
}

// === impl ReceiptFacts ===

impl ReceiptFacts {
    pub(super) fn sign(self, signer: &Signer) -> Receipt {
        let oins: Vec<&str> = self
            .recipients
            .iter()
            .map(|r| r.recipient.as_str())
            .collect();
        let signature = signer.sign(&receipt_message(
            &self.signal_id,
            &self.content_sha256,
            &oins,
            self.accepted_at,
            self.audit_seq,
        ));
        Receipt {
            signal_id: self.signal_id,
            accepted_at: self.accepted_at,
            recipients: self.recipients,
            duplicate: self.duplicate,
            content_sha256: self.content_sha256,
            audit_seq: self.audit_seq,
            signature,
            key_id: signer.key_id().to_string(),
        }
    }
}

/// Reads the receipt of a committed signal, to be signed; `None` when there is no such signal.
pub(super) async fn load_receipt(
    conn: &mut AnyConnection,
    signal_id: &str,
    duplicate: bool,
) -> Result<Option<ReceiptFacts>, StoreError> {
    let Some(signal) =
        sqlx::query("SELECT content_hash, accepted_at, audit_seq FROM signals WHERE id = $1")
            .bind(signal_id)
            .fetch_optional(&mut *conn)
            .await?
    else {
        return Ok(None);
    };
    let rows = sqlx::query(
        "SELECT id, recipient_oin, purposes, withheld, attempts, acked_at, expired_at
         FROM deliveries WHERE signal_id = $1 ORDER BY position",
    )
    .bind(signal_id)
    .fetch_all(&mut *conn)
    .await?;
    let recipients = rows
        .iter()
        .map(|row| {
            Ok(RecipientReceipt {
                recipient: row.try_get("recipient_oin")?,
                delivery_id: row.try_get("id")?,
                purposes: from_json(row.try_get("purposes")?)?,
                withheld: from_json(row.try_get("withheld")?)?,
                status: DeliveryStatus::of(
                    row.try_get("attempts")?,
                    row.try_get("acked_at")?,
                    row.try_get("expired_at")?,
                ),
            })
        })
        .collect::<Result<_, StoreError>>()?;
    Ok(Some(ReceiptFacts {
        signal_id: signal_id.to_string(),
        content_sha256: hex::encode(signal.try_get::<Vec<u8>, _>("content_hash")?),
        accepted_at: signal.try_get("accepted_at")?,
        audit_seq: signal.try_get("audit_seq")?,
        recipients,
        duplicate,
    }))
}
