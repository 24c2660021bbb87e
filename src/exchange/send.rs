//! `Send`: envelope → authorize → filter → the signal and its audit trail → store. A refused
//! signal leaves only its audit record behind; an accepted one answers only after the signal,
//! every recipient's filtered copy and their audit records are committed together.

use std::time::Instant;

use serde_json::json;

use super::{
    Exchange, ExchangeError,
    callers::Credentials,
    envelope::{Checked, Envelope, is_code},
};
use crate::{
    audit::{Actor, AuditEvent, EventKind, Outcome, Trace},
    filter,
    policy::Permit,
    registry::Partner,
    store::{NewDelivery, NewSignal, Receipt, SendOutcome},
    telemetry,
};

/// How soon a sender refused for a full receiver may try again.
const BACKLOG_RETRY_MS: u64 = 60_000;

// === impl Exchange ===

impl Exchange {
    /// Sends the signal in `envelope` from `sender`: validates, authorizes, filters per
    /// recipient and commits; answers with the signed receipt (the original one for a resend).
    /// Records the signal's id, type and outcome on the current span and in the metrics.
    pub async fn send(
        &self,
        sender: &Partner,
        credentials: &Credentials<'_>,
        envelope: Envelope,
    ) -> Result<Receipt, ExchangeError> {
        let started = Instant::now();
        // Before anything is checked or recorded: a flood costs neither work nor log.
        let _in_flight = self.sends.admit(&sender.oin).map_err(|throttled| {
            telemetry::signal_outcome("unknown", "refused", "throttled");
            ExchangeError::Throttled {
                reason: throttled.reason,
                retry_after_ms: u64::try_from(throttled.retry_after.as_millis())
                    .unwrap_or(u64::MAX),
            }
        })?;
        let span = tracing::Span::current();
        let signal_type = envelope
            .claimed_type(&self.catalogue)
            .unwrap_or("unknown")
            .to_string();
        span.record("signal_type", signal_type.as_str());
        let result = match self.actor(sender, credentials, false) {
            Ok(actor) => self.send_as(sender, &actor, &envelope).await,
            Err(e) => {
                let anonymous = Actor {
                    oin: sender.oin.clone(),
                    person: None,
                    trace: Trace::continue_from(credentials.traceparent),
                };
                self.audit_refusal(&anonymous, &envelope, &e).await?;
                Err(e)
            }
        };
        match &result {
            Ok(receipt) => {
                let outcome = if receipt.duplicate {
                    "duplicate"
                } else {
                    "accepted"
                };
                span.record("signal_id", receipt.signal_id.as_str());
                telemetry::signal_outcome(&signal_type, outcome, "");
                telemetry::send_latency(started.elapsed());
                tracing::info!("signal accepted");
            }
            Err(e) => {
                telemetry::signal_outcome(&signal_type, "refused", e.reason_code());
                tracing::info!(reason = %e, "signal refused");
            }
        }
        result
    }

    async fn send_as(
        &self,
        sender: &Partner,
        actor: &Actor,
        envelope: &Envelope,
    ) -> Result<Receipt, ExchangeError> {
        let prepared = envelope
            .check(&sender.oin, &self.catalogue, self.max_message_bytes)
            .and_then(|checked| {
                let permit = self.policy.load().authorize(
                    &self.registry.load(),
                    sender,
                    checked.signal.name(),
                    &envelope.purpose,
                    &checked.recipients,
                )?;
                self.check_backlog(&permit)?;
                let signal = self.prepare(sender, actor, envelope, &checked, &permit)?;
                Ok((checked, permit, signal))
            });
        let (checked, permit, signal) = match prepared {
            Ok(prepared) => prepared,
            Err(e) => {
                self.audit_refusal(actor, envelope, &e).await?;
                return Err(e);
            }
        };
        let receivers: Vec<_> = signal
            .deliveries
            .iter()
            .map(|d| d.recipient.clone())
            .collect();
        // Prepared once more only if the batch it shared fails for another signal's sake.
        let again = || {
            self.prepare(sender, actor, envelope, &checked, &permit)
                .ok()
        };
        match self.store.send(signal, again).await? {
            SendOutcome::Accepted(receipt) => {
                receivers.iter().for_each(|r| self.backlog.add(r));
                Ok(receipt)
            }
            SendOutcome::Duplicate(receipt) => Ok(receipt),
            SendOutcome::Conflict => Err(ExchangeError::IdempotencyConflict),
        }
    }

    /// Refuses a signal for a receiver that has the most deliveries waiting it may have.
    fn check_backlog(&self, permit: &Permit) -> Result<(), ExchangeError> {
        for grant in permit.grants() {
            if let Some(waiting) = self.backlog.full(&grant.recipient.oin) {
                return Err(ExchangeError::Throttled {
                    reason: format!(
                        "receiver {} has {waiting} signals waiting, the most the gateway holds \
                         for one receiver; send again later",
                        grant.recipient.id
                    ),
                    retry_after_ms: BACKLOG_RETRY_MS,
                });
            }
        }
        Ok(())
    }

    /// Counts the deliveries waiting per receiver again, from the store.
    pub async fn recount_backlog(&self) -> Result<(), ExchangeError> {
        let pending = self.store.pending_by_recipient().await?;
        let waiting = pending
            .into_iter()
            .filter_map(|(oin, count, _)| Some((oin.parse().ok()?, u64::try_from(count).ok()?)))
            .collect();
        self.backlog.recount(waiting);
        Ok(())
    }

    /// Filters the payload per recipient and assembles what the store commits: the signal,
    /// each recipient's copy, and the audit trail of the acceptance.
    fn prepare(
        &self,
        sender: &Partner,
        actor: &Actor,
        envelope: &Envelope,
        checked: &Checked<'_>,
        permit: &Permit,
    ) -> Result<NewSignal, ExchangeError> {
        let id = uuid::Uuid::now_v7().to_string();
        let rule = permit.rule();
        let signal_type = checked.signal.name().to_string();
        let copies = filter::apply(permit, &checked.payload, checked.encoded)
            .map_err(|e| ExchangeError::Invalid(e.to_string()))?;
        let mut subject = self.case_subject(&envelope.case_ref);
        if let Some((kind, value)) = self.catalogue.subject_of(&checked.payload) {
            subject.subject_type = Some(kind.as_str().to_string());
            subject.subject_hash = Some(self.subject_keys.hash(&value));
        }
        let mut base = actor.event(EventKind::SignalAccepted, Outcome::Ok);
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
        let accepted_at = self.clock.now_ms();
        let counters = self.monitor_counters(accepted_at, sender, permit, &checked.payload);
        let mut resent = base;
        resent.event = EventKind::SignalResent;
        resent.signal_id = None;
        resent.purpose = Some(rule.purpose.clone());
        Ok(NewSignal {
            id,
            sender: sender.oin.clone(),
            idempotency_key: envelope.idempotency_key.clone(),
            content_hash: envelope.content_hash(),
            signal_type,
            purpose: rule.purpose.clone(),
            case_ref: envelope.case_ref.clone(),
            rule: rule.name.clone(),
            policy_version: permit.policy_version().to_string(),
            accepted_at,
            deliveries,
            audit,
            resent_audit: resent,
            subject,
            counters,
        })
    }

    /// Records a refused signal: who tried, about which case (as a keyed hash), what they
    /// claimed it was, and why it was refused.
    async fn audit_refusal(
        &self,
        actor: &Actor,
        envelope: &Envelope,
        error: &ExchangeError,
    ) -> Result<(), ExchangeError> {
        let mut event: AuditEvent = actor.event(EventKind::SignalRefused, Outcome::Refused);
        if !envelope.case_ref.is_empty() {
            event.subject = self.case_subject(&envelope.case_ref);
        }
        // Only what passed its format goes into the chain: the log holds no caller's free text.
        event.purpose = is_code(&envelope.purpose).then(|| envelope.purpose.clone());
        event.signal_type = envelope.claimed_type(&self.catalogue).map(str::to_string);
        event.detail = json!({ "reason": error.to_string() });
        self.store.audit(vec![event]).await?;
        Ok(())
    }
}

/// Caps a caller-supplied identifier before it goes into a message or an audit record.
pub(super) fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}
