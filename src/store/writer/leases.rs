//! Leasing deliveries to streams inside the writer's transaction, in memory: what the
//! database held is read in the transaction's opening ([`Known`]: the state of each delivery a
//! stream asks for, and the recipient's deliveries in flight), the leases of earlier jobs of
//! the batch are laid over it ([`Leases`]), and the batch's leases are written with one
//! `UPDATE … FROM (VALUES …)` in its script. A lease used to cost two statements in the
//! writer (the held-elsewhere check and an `UPDATE … RETURNING`), each a round trip while
//! every other job waited.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::{
    Writer,
    jobs::Batch,
    known::{InFlight, Known},
    rows::Rows,
};
use crate::{
    audit::AuditEvent,
    clock::now_ms,
    database::Backend,
    ids::Oin,
    store::{
        Lease, PendingDelivery, StoreError, columns::Fields, db::Sql, deliveries::may_take,
        wakeups::Handover,
    },
};

/// The leases a batch takes and ends, over what the database held before it.
#[derive(Default)]
pub(super) struct Leases {
    /// Per recipient, per delivery: leased earlier in the batch.
    taken: HashMap<Oin, HashMap<String, InFlight>>,
    /// Prefixes of holders whose leases were ended earlier in the batch.
    released: Vec<String>,
}

/// A delivery's lease as the batch writes it: its holder and end (none when ended in the
/// batch), and how many times it was streamed in the batch.
pub(super) struct LeaseRow {
    pub holder: Option<String>,
    pub until: Option<i64>,
    pub streamed: i64,
}

// === impl Leases ===

impl Leases {
    /// The cases of `lease.recipient` whose deliveries another stream than `lease.holder`
    /// holds at `lease.now`, each with the oldest such delivery's stream position.
    fn held_elsewhere(
        &self,
        known: &Known,
        settled: impl Fn(&str) -> bool,
        lease: &Lease,
    ) -> HashMap<String, i64> {
        let mut flights: HashMap<&str, &InFlight> = known
            .in_flight
            .get(&lease.recipient)
            .into_iter()
            .flatten()
            .filter(|f| !self.was_released(&f.holder))
            .map(|f| (f.id.as_str(), f))
            .collect();
        if let Some(taken) = self.taken.get(&lease.recipient) {
            flights.extend(taken.iter().map(|(id, f)| (id.as_str(), f)));
        }
        let mut held = HashMap::new();
        for (id, f) in flights {
            if f.holder != lease.holder && f.until > lease.now && !settled(id) {
                let oldest = held.entry(f.case_ref.clone()).or_insert(f.seq);
                *oldest = (*oldest).min(f.seq);
            }
        }
        held
    }

    /// Whether the stream of `lease` may take `id`: not settled, and not leased to another
    /// stream at `lease.now`, in the database or earlier in the batch.
    fn may_lease(
        &self,
        known: &Known,
        settled: impl Fn(&str) -> bool,
        id: &str,
        lease: &Lease,
    ) -> bool {
        if settled(id) {
            return false;
        }
        let free = |holder: &str, until: i64| until <= lease.now || holder == lease.holder;
        if let Some(f) = self.taken.get(&lease.recipient).and_then(|t| t.get(id)) {
            return free(&f.holder, f.until);
        }
        match known.leases.get(id) {
            None => false, // not a delivery of this recipient
            Some(state) if state.settled => false,
            Some(state) => match (&state.holder, state.until) {
                (Some(holder), Some(until)) if !self.was_released(holder) => free(holder, until),
                _ => true,
            },
        }
    }

    fn was_released(&self, holder: &str) -> bool {
        self.released
            .iter()
            .any(|prefix| holder.starts_with(prefix))
    }
}

// === impl Writer ===

impl Writer {
    /// Leases `deliveries` to `lease.holder` unless another stream holds them, or they were
    /// acknowledged or expired meanwhile; counts an attempt and writes an audit record from
    /// `template` for each one leased; returns those it leased.
    pub(super) fn streamed(
        &mut self,
        deliveries: Vec<PendingDelivery>,
        lease: &Lease,
        template: AuditEvent,
        batch: &mut Batch,
    ) -> Vec<PendingDelivery> {
        // Per case in order: not while another stream holds an older delivery of the case
        // (checked again here, under the chain lock, against what other jobs leased).
        let held = batch
            .leases
            .held_elsewhere(&batch.known, |id| batch.is_settled(id), lease);
        let mut leased = Vec::new();
        for d in deliveries {
            if !may_take(&held, &d.case_ref, d.seq)
                || !batch
                    .leases
                    .may_lease(&batch.known, |id| batch.is_settled(id), &d.id, lease)
            {
                continue;
            }
            batch
                .leases
                .taken
                .entry(lease.recipient.clone())
                .or_default()
                .insert(
                    d.id.clone(),
                    InFlight {
                        id: d.id.clone(),
                        case_ref: d.case_ref.clone(),
                        seq: d.seq,
                        holder: lease.holder.clone(),
                        until: lease.until,
                    },
                );
            let row = batch.rows.leased.entry(d.id.clone()).or_insert(LeaseRow {
                holder: None,
                until: None,
                streamed: 0,
            });
            row.holder = Some(lease.holder.clone());
            row.until = Some(lease.until);
            row.streamed += 1;
            leased.push(d);
        }
        let now = now_ms();
        for d in &leased {
            self.append_streamed(template.clone(), d, now, &mut batch.rows);
            if self.backend == Backend::Sqlite {
                self.leased.remember(&lease.recipient, d);
            }
        }
        leased
    }

    /// Appends the audit record of streaming `d`, completing `event`.
    pub(super) fn append_streamed(
        &mut self,
        mut event: AuditEvent,
        d: &PendingDelivery,
        at: i64,
        rows: &mut Rows,
    ) {
        event.subject = d.subject.clone();
        event.counterparty = d.sender.parse().ok();
        event.purpose = Some(d.purposes.join(","));
        event.signal_id = Some(d.signal_id.clone());
        event.signal_type = Some(d.signal_type.clone());
        event.delivery_id = Some(d.id.clone());
        event.detail = serde_json::json!({ "attempt": d.attempts + 1 });
        self.append_audit(event, at, rows);
    }

    /// A lease of a new copy for `recipient` to its parked stream, if the stream may have it
    /// ([`crate::store::wakeups::Notifier`]). Only on SQLite, where this writer
    /// commits every copy: with PostgreSQL another replica may have committed an older copy
    /// of the same case that the parked stream has not seen.
    pub(super) fn hand_over(&self, recipient: &Oin) -> Option<Handover> {
        match self.backend {
            Backend::Sqlite => self.notifier.hand_over(recipient),
            Backend::Postgres => None,
        }
    }

    /// Ends the leases held by streams whose holder id starts with `holder` (one stream, or
    /// every stream of a gateway that stops), those in the database and those taken earlier
    /// in the batch, and wakes the recipients, whose other streams may now take those
    /// deliveries. Reads the deliveries in flight only (`deliveries_leased`): without
    /// `leased_until IS NOT NULL` it read every delivery, 0.8 s with four million stored.
    pub(super) async fn release(
        &mut self,
        holder: &str,
        batch: &mut Batch,
        woken: &mut HashSet<Oin>,
    ) -> Result<(), StoreError> {
        let mut release = Sql::new(
            self.backend,
            "UPDATE deliveries SET leased_by = NULL, leased_until = NULL
             WHERE leased_by LIKE $1 AND leased_until IS NOT NULL
               AND acked_at IS NULL AND expired_at IS NULL
             RETURNING recipient_oin",
        );
        let released = self
            .link
            .fetch_all(release.arg(format!("{holder}%")))
            .await?;
        for row in released {
            if let Ok(oin) = row.field::<String>("recipient_oin")?.parse() {
                woken.insert(oin);
            }
        }
        let leases = &mut batch.leases;
        leases.released.push(holder.to_string());
        for (recipient, taken) in &mut leases.taken {
            let before = taken.len();
            taken.retain(|_, f| !f.holder.starts_with(holder));
            if taken.len() < before {
                woken.insert(recipient.clone());
            }
        }
        end_released(&mut batch.rows.leased, holder);
        Ok(())
    }
}

/// Ends, in the rows the batch writes, the leases whose holder starts with `holder`; the
/// attempts they counted stay counted.
fn end_released(rows: &mut BTreeMap<String, LeaseRow>, holder: &str) {
    for row in rows.values_mut() {
        if row.holder.as_deref().is_some_and(|h| h.starts_with(holder)) {
            row.holder = None;
            row.until = None;
        }
    }
}
