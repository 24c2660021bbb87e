//! `SignalService`: partners send signals, stream their deliveries and acknowledge them.
//!
//! `Send` runs validate → authorize → filter → commit. A refused signal leaves only its audit
//! record behind. Each RPC has one span carrying the partner id, the signal id and type and the
//! outcome; payload values and case references are never logged.

use std::{collections::HashSet, sync::Arc};

use prost::Message as _;
use prost_reflect::{DynamicMessage, MessageDescriptor};
use prost_types::Any;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use tracing::{Instrument, field::Empty};

use super::{
    ApiError, Context, RequestMeta,
    proto::{
        AckRequest, AckResponse, Delivery, GetReceiptRequest, GetReceiptResponse, RecipientReceipt,
        SendReceipt, SendRequest, SendResponse, SubscribeRequest, SubscribeResponse,
        signal_service_server::SignalService,
    },
    timestamp,
};
use crate::{
    audit::{AuditEvent, EventKind, Outcome},
    catalogue::{TYPE_URL_PREFIX, type_url},
    filter,
    ids::Oin,
    policy::Permit,
    registry::Partner,
    store::{NewDelivery, NewSignal, PendingDelivery, Receipt, SendOutcome},
    clock::now_ms,
    telemetry,
};

/// Longest accepted idempotency key.
const MAX_IDEMPOTENCY_KEY: usize = 128;
/// Longest accepted case reference.
const MAX_CASE_REF: usize = 64;
/// Most deliveries read from the database per round trip of a subscription.
const STREAM_BATCH: i64 = 64;
/// How long a subscriber waits before looking in the database without a wake-up. Covers
/// deliveries committed by another gateway replica sharing the database.
const POLL_INTERVAL: std::time::Duration = std::time::Duration::from_secs(2);
/// Most delivery ids in one `Ack`.
const MAX_ACK_IDS: usize = 1000;

/// The `SignalService` implementation.
#[derive(Clone)]
pub struct SignalApi {
    cx: Arc<Context>,
}

/// A validated envelope.
struct Envelope {
    signal: MessageDescriptor,
    payload: DynamicMessage,
    recipients: Vec<Oin>,
}

// === impl SignalApi ===

impl SignalApi {
    /// A service over the gateway's context.
    pub fn new(cx: Arc<Context>) -> Self {
        Self { cx }
    }

    async fn send_signal(
        &self,
        sender: &Partner,
        meta: &RequestMeta,
        request: SendRequest,
    ) -> Result<Receipt, ApiError> {
        let span = tracing::Span::current();
        let checked = self.validate(sender, &request).and_then(|envelope| {
            span.record("signal_type", envelope.signal.name());
            let permit = self.cx.policy.load().authorize(
                &self.cx.registry.load(),
                sender,
                envelope.signal.name(),
                &request.purpose,
                &envelope.recipients,
            )?;
            Ok((envelope, permit))
        });
        let (envelope, permit) = match checked {
            Ok(checked) => checked,
            Err(e) => {
                self.audit_refusal(sender, Some(meta), &request, &e).await?;
                return Err(e);
            }
        };
        let signal = self.prepare(sender, meta, &request, &envelope, &permit)?;
        span.record("signal_id", signal.id.as_str());
        match self.cx.store.send(signal).await? {
            SendOutcome::Accepted(receipt) => Ok(receipt),
            SendOutcome::Duplicate(receipt) => {
                span.record("signal_id", receipt.signal_id.as_str());
                Ok(receipt)
            }
            SendOutcome::Conflict => Err(ApiError::IdempotencyConflict),
        }
    }

    /// Checks the envelope and decodes the payload; every message says what to fix.
    fn validate(&self, sender: &Partner, request: &SendRequest) -> Result<Envelope, ApiError> {
        let invalid = |msg: String| Err(ApiError::Invalid(msg));
        let size = request.encoded_len();
        if size > self.cx.max_message_bytes {
            return invalid(format!(
                "the signal is {size} bytes; the gateway accepts at most {} bytes: send case data only, no documents",
                self.cx.max_message_bytes
            ));
        }
        if request.idempotency_key.trim().is_empty() {
            return invalid("idempotency_key is empty: set a key unique to this signal (for example a UUID), so a resend after a failure is safe".into());
        }
        if request.idempotency_key.len() > MAX_IDEMPOTENCY_KEY {
            return invalid(format!(
                "idempotency_key is longer than {MAX_IDEMPOTENCY_KEY} characters"
            ));
        }
        if request.case_ref.is_empty() {
            return invalid(
                "case_ref is empty: set the chain's case reference (for example LVV-UTR-2026-0042)"
                    .into(),
            );
        }
        if request.case_ref.len() > MAX_CASE_REF
            || !request
                .case_ref
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_./:".contains(&b))
        {
            return invalid(format!(
                "case_ref must be 1 to {MAX_CASE_REF} characters of letters, digits and -_./: (a case number, never a V-nummer, BSN or name)"
            ));
        }
        if request.purpose.is_empty() {
            return invalid("purpose is empty: set the code of your sending purpose from the policy (for example INTAKE)".into());
        }
        let recipients = self.recipients(sender, &request.recipients)?;
        let Some(any) = &request.payload else {
            return invalid(format!(
                "payload is missing: pack a catalogue message as google.protobuf.Any with type URL {TYPE_URL_PREFIX}ketenpoort.v1.<Message>"
            ));
        };
        let signal = self
            .cx
            .catalogue
            .signal_for_type_url(&any.type_url)
            .map_err(|e| ApiError::Invalid(e.to_string()))?
            .clone();
        let payload =
            DynamicMessage::decode(signal.clone(), any.value.as_slice()).map_err(|e| {
                ApiError::Invalid(format!(
                    "payload does not decode as {}: {e}",
                    signal.full_name()
                ))
            })?;
        Ok(Envelope {
            signal,
            payload,
            recipients,
        })
    }

    fn recipients(&self, sender: &Partner, given: &[String]) -> Result<Vec<Oin>, ApiError> {
        if given.is_empty() {
            return Err(ApiError::Invalid(
                "recipients is empty: name at least one recipient by OIN".into(),
            ));
        }
        let mut seen = HashSet::new();
        given
            .iter()
            .enumerate()
            .map(|(i, text)| {
                let oin: Oin = text
                    .parse()
                    .map_err(|e| ApiError::Invalid(format!("recipients[{i}]: {e}")))?;
                if oin == sender.oin {
                    return Err(ApiError::Invalid(format!(
                        "recipients[{i}] is your own OIN: a partner does not send signals to itself"
                    )));
                }
                if !seen.insert(oin.clone()) {
                    return Err(ApiError::Invalid(format!(
                        "recipients[{i}] repeats {oin}: name each recipient once"
                    )));
                }
                Ok(oin)
            })
            .collect()
    }

    /// Filters the payload per recipient and assembles what the store commits.
    fn prepare(
        &self,
        sender: &Partner,
        meta: &RequestMeta,
        request: &SendRequest,
        envelope: &Envelope,
        permit: &Permit,
    ) -> Result<NewSignal, ApiError> {
        let id = uuid::Uuid::now_v7().to_string();
        let rule = permit.rule();
        let signal_type = envelope.signal.name().to_string();
        let copies = filter::apply(permit, &envelope.payload).map_err(|e| ApiError::Invalid(e.to_string()))?;
        let mut subject = self.cx.case_subject(&request.case_ref);
        if let Some((kind, value)) = self.cx.catalogue.subject_of(&envelope.payload) {
            subject.subject_type = Some(kind.as_str().to_string());
            subject.subject_hash = Some(self.cx.subject_keys.hash(&value));
        }
        let mut base = event(EventKind::SignalAccepted, Outcome::Ok, sender, meta);
        base.subject = subject.clone();
        base.signal_id = Some(id.clone());
        base.signal_type = Some(signal_type.clone());
        let mut accepted = base.clone();
        accepted.purpose = Some(rule.purpose.clone());
        accepted.legal_basis = Some(rule.legal_instrument.clone());
        accepted.detail = json!({
            "rule": rule.name,
            "policy_version": permit.policy_version(),
            "provision_decision": rule.provision_decision,
            "recipients": permit.grants().len(),
        });
        let mut audit = vec![accepted];
        let mut deliveries = Vec::with_capacity(copies.len());
        for (grant, copy) in permit.grants().iter().zip(copies) {
            let delivery_id = uuid::Uuid::now_v7().to_string();
            let mut created = base.clone();
            created.event = EventKind::DeliveryCreated;
            created.counterparty = Some(grant.recipient.oin.clone());
            created.purpose = Some(grant.purposes.join(","));
            created.legal_basis = Some(grant.legal_bases.join("; "));
            created.delivery_id = Some(delivery_id.clone());
            created.detail = json!({
                "rule": rule.name,
                "policy_version": permit.policy_version(),
                "delivered": copy.delivered,
                "withheld": copy.withheld,
            });
            audit.push(created);
            deliveries.push(NewDelivery {
                id: delivery_id,
                recipient: grant.recipient.oin.clone(),
                purposes: grant.purposes.clone(),
                withheld: copy.withheld,
                payload: copy.payload,
            });
        }
        let mut resent = base;
        resent.event = EventKind::SignalResent;
        resent.signal_id = None;
        resent.purpose = Some(rule.purpose.clone());
        Ok(NewSignal {
            id,
            sender: sender.oin.clone(),
            idempotency_key: request.idempotency_key.clone(),
            content_hash: content_hash(request),
            signal_type,
            purpose: rule.purpose.clone(),
            case_ref: request.case_ref.clone(),
            rule: rule.name.clone(),
            policy_version: permit.policy_version().to_string(),
            accepted_at: now_ms(),
            deliveries,
            audit,
            resent_audit: resent,
            subject,
        })
    }

    async fn audit_refusal(
        &self,
        sender: &Partner,
        meta: Option<&RequestMeta>,
        request: &SendRequest,
        error: &ApiError,
    ) -> Result<(), ApiError> {
        let mut event = match meta {
            Some(meta) => event(EventKind::SignalRefused, Outcome::Refused, sender, meta),
            None => {
                let mut event = AuditEvent::new(EventKind::SignalRefused, Outcome::Refused);
                event.actor = Some(sender.oin.clone());
                event
            }
        };
        if !request.case_ref.is_empty() {
            event.subject = self.cx.case_subject(&request.case_ref);
        }
        event.purpose = (!request.purpose.is_empty()).then(|| truncate(&request.purpose));
        event.signal_type = request
            .payload
            .as_ref()
            .map(|any| truncate(any.type_url.rsplit('.').next().unwrap_or_default()));
        event.detail = json!({ "reason": error.to_string() });
        self.cx.store.audit(vec![event]).await?;
        Ok(())
    }
}

#[tonic::async_trait]
impl SignalService for SignalApi {
    async fn send(&self, request: Request<SendRequest>) -> Result<Response<SendResponse>, Status> {
        let sender = self.cx.caller(&request)?;
        let span = tracing::info_span!(
            "send",
            partner = %sender.id,
            partner.oin = %sender.oin,
            signal_id = Empty,
            signal_type = Empty,
            outcome = Empty
        );
        let started = std::time::Instant::now();
        async move {
            let signal_type = request
                .get_ref()
                .payload
                .as_ref()
                .and_then(|any| self.cx.catalogue.signal_for_type_url(&any.type_url).ok())
                .map_or_else(|| "unknown".to_string(), |m| m.name().to_string());
            let result = match self.cx.request_meta(&sender, &request, false) {
                Ok(meta) => self.send_signal(&sender, &meta, request.into_inner()).await,
                Err(e) => {
                    self.audit_refusal(&sender, None, request.get_ref(), &e)
                        .await?;
                    Err(e)
                }
            };
            let result = result
                .map(|receipt| (signal_type.clone(), receipt))
                .map_err(|e| (signal_type, e));
            let span = tracing::Span::current();
            match result {
                Ok((signal_type, receipt)) => {
                    let outcome = if receipt.duplicate {
                        "duplicate"
                    } else {
                        "accepted"
                    };
                    span.record("outcome", outcome);
                    telemetry::signal_outcome(&signal_type, outcome, "");
                    telemetry::send_latency(started.elapsed());
                    tracing::info!("signal accepted");
                    Ok(Response::new(SendResponse {
                        receipt: Some(to_receipt(receipt)),
                    }))
                }
                Err((signal_type, e)) => {
                    span.record("outcome", "refused");
                    telemetry::signal_outcome(&signal_type, "refused", e.reason_code());
                    tracing::info!(reason = %e, "signal refused");
                    Err(e.into())
                }
            }
        }
        .instrument(span)
        .await
    }

    type SubscribeStream = ReceiverStream<Result<SubscribeResponse, Status>>;

    async fn subscribe(
        &self,
        request: Request<SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let partner = self.cx.caller(&request)?;
        let meta = self.cx.request_meta(&partner, &request, false)?;
        let span =
            tracing::info_span!("subscribe", partner = %partner.id, partner.oin = %partner.oin);
        span.in_scope(|| tracing::info!("subscription opened"));
        let (tx, rx) = mpsc::channel(16);
        let streamed = event(EventKind::DeliveryStreamed, Outcome::Ok, &partner, &meta);
        let task = stream_deliveries(self.cx.clone(), partner.oin.clone(), streamed, tx);
        tokio::spawn(task.instrument(span));
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn ack(&self, request: Request<AckRequest>) -> Result<Response<AckResponse>, Status> {
        let partner = self.cx.caller(&request)?;
        let meta = self.cx.request_meta(&partner, &request, false)?;
        let span = tracing::info_span!("ack", partner = %partner.id, partner.oin = %partner.oin);
        async move {
            let ids = request.into_inner().delivery_ids;
            let acked = event(
                EventKind::DeliveryAcknowledged,
                Outcome::Ok,
                &partner,
                &meta,
            );
            if ids.is_empty() || ids.len() > MAX_ACK_IDS {
                return Err(ApiError::Invalid(format!(
                    "delivery_ids must hold 1 to {MAX_ACK_IDS} delivery ids"
                ))
                .into());
            }
            let acknowledged = self
                .cx
                .store
                .ack(&partner.oin, ids, acked)
                .await
                .map_err(ApiError::from)?;
            tracing::info!(acknowledged, "deliveries acknowledged");
            Ok(Response::new(AckResponse { acknowledged }))
        }
        .instrument(span)
        .await
    }

    async fn get_receipt(
        &self,
        request: Request<GetReceiptRequest>,
    ) -> Result<Response<GetReceiptResponse>, Status> {
        let partner = self.cx.caller(&request)?;
        let signal_id = request.into_inner().signal_id;
        let receipt = self
            .cx
            .store
            .receipt(&partner.oin, &signal_id)
            .await
            .map_err(ApiError::from)?
            .ok_or_else(|| {
                ApiError::NotFound(format!(
                    "you sent no signal with id {}",
                    truncate(&signal_id)
                ))
            })?;
        Ok(Response::new(GetReceiptResponse {
            receipt: Some(to_receipt(receipt)),
        }))
    }
}

/// Streams a recipient's unacknowledged deliveries, then new ones as they are committed,
/// until the client goes away or the gateway shuts down.
async fn stream_deliveries(
    cx: Arc<Context>,
    recipient: Oin,
    streamed: AuditEvent,
    tx: mpsc::Sender<Result<SubscribeResponse, Status>>,
) {
    let notify = cx.notifier.handle(&recipient);
    let mut after = 0;
    let mut caught_up = false;
    loop {
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let batch = match cx.store.pending(&recipient, after, STREAM_BATCH).await {
            Ok(batch) => batch,
            Err(e) => {
                let _ = tx.send(Err(ApiError::from(e).into())).await;
                return;
            }
        };
        if batch.is_empty() {
            if !caught_up {
                caught_up = true;
                let marker = SubscribeResponse {
                    delivery: None,
                    caught_up: true,
                };
                if tx.send(Ok(marker)).await.is_err() {
                    return;
                }
            }
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep(POLL_INTERVAL) => {}
                _ = tx.closed() => return,
                _ = cx.shutdown.cancelled() => return,
            }
            continue;
        }
        if let Err(e) = cx.store.mark_streamed(&batch, streamed.clone()).await {
            let _ = tx.send(Err(ApiError::from(e).into())).await;
            return;
        }
        tracing::debug!(deliveries = batch.len(), "streaming deliveries");
        for delivery in batch {
            after = delivery.seq;
            let message = SubscribeResponse {
                delivery: Some(to_delivery(&cx, delivery)),
                caught_up: false,
            };
            if tx.send(Ok(message)).await.is_err() {
                return;
            }
        }
    }
}

fn to_delivery(cx: &Context, d: PendingDelivery) -> Delivery {
    let type_url = cx
        .catalogue
        .signal(&d.signal_type)
        .map(type_url)
        .unwrap_or_else(|| format!("{TYPE_URL_PREFIX}ketenpoort.v1.{}", d.signal_type));
    Delivery {
        delivery_id: d.id,
        signal_id: d.signal_id,
        sender: d.sender,
        purpose: d.purpose,
        case_ref: d.case_ref,
        sent_at: Some(timestamp(d.accepted_at)),
        receiving_purposes: d.purposes,
        payload: Some(Any {
            type_url,
            value: d.payload,
        }),
        previous_attempts: u32::try_from(d.attempts).unwrap_or(u32::MAX),
    }
}

/// An audit event of `kind` acted by `partner`, with the person and trace of the request.
fn event(kind: EventKind, outcome: Outcome, partner: &Partner, meta: &RequestMeta) -> AuditEvent {
    let mut event = AuditEvent::new(kind, outcome);
    event.actor = Some(partner.oin.clone());
    event.actor_person = meta.person.clone();
    event.trace = meta.trace.clone();
    event
}

fn to_receipt(r: Receipt) -> SendReceipt {
    SendReceipt {
        signal_id: r.signal_id,
        recipients: r
            .recipients
            .into_iter()
            .map(|x| RecipientReceipt {
                recipient: x.recipient,
                delivery_id: x.delivery_id,
                purposes: x.purposes,
                withheld_fields: x.withheld,
            })
            .collect(),
        accepted_at: Some(timestamp(r.accepted_at)),
        duplicate: r.duplicate,
        content_sha256: r.content_sha256,
        audit_sequence: u64::try_from(r.audit_seq).unwrap_or_default(),
        signature: r.signature,
        signing_key_id: r.key_id,
    }
}

/// SHA-256 over the envelope's content, each part length-prefixed, to recognise resends.
fn content_hash(request: &SendRequest) -> [u8; 32] {
    let mut hasher = Sha256::new();
    let mut part = |bytes: &[u8]| {
        hasher.update((bytes.len() as u64).to_be_bytes());
        hasher.update(bytes);
    };
    part(request.case_ref.as_bytes());
    part(request.purpose.as_bytes());
    for recipient in &request.recipients {
        part(recipient.as_bytes());
    }
    if let Some(any) = &request.payload {
        part(any.type_url.as_bytes());
        part(&any.value);
    }
    hasher.finalize().into()
}

/// Caps a caller-supplied identifier before it goes into a message or an audit record.
fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}
