//! Reading the delivery queue: a recipient's unacknowledged deliveries in stream order, the
//! queue per recipient for the metrics, and the receipt of a signal for its sender (and for a
//! resend, the original).

use std::collections::HashMap;

use sqlx::{AnyConnection, Row};

use super::{
    PendingDelivery, Receipt, SendOutcome, Store, StoreError,
    columns::{from_json, signal_subject, subject_of},
    db::Sql,
    signals::load_receipt,
    writer::Sent,
};
use crate::ids::Oin;

/// The columns of a waiting delivery and its signal, as [`PendingDelivery`] reads them.
macro_rules! pending_columns {
    () => {
        concat!(
            "d.seq, d.id, d.signal_id, d.purposes, d.payload, d.attempts, s.sender_oin, ",
            "s.purpose, s.case_ref, s.signal_type, s.accepted_at, ",
            signal_subject!()
        )
    };
}

// === impl Store ===

impl Store {
    /// Unacknowledged deliveries of `recipient` that no stream holds a lease on at `now`
    /// (Unix ms), oldest first, that the stream `holder` may take: not while an older delivery
    /// of the same case to the same recipient is leased to another stream, so that per case
    /// deliveries reach a recipient in the order they were accepted.
    pub async fn pending(
        &self,
        recipient: &Oin,
        holder: &str,
        now: i64,
        limit: i64,
    ) -> Result<Vec<PendingDelivery>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let held = held_elsewhere(&mut conn, recipient, holder, now).await?;
        let rows = if held.is_empty() {
            // The usual case, and a prepared statement kept by the connection.
            sqlx::query(concat!(
                "SELECT ",
                pending_columns!(),
                " FROM deliveries d JOIN signals s ON s.id = d.signal_id
                 WHERE d.recipient_oin = $1 AND d.acked_at IS NULL AND d.expired_at IS NULL
                   AND (d.leased_until IS NULL OR d.leased_until <= $2)
                 ORDER BY d.seq LIMIT $3"
            ))
            .bind(recipient.as_str())
            .bind(now)
            .bind(limit)
            .fetch_all(&mut *conn)
            .await?
        } else {
            // Cases whose older deliveries other streams hold are left to those streams.
            let mut q = Sql::new(
                self.backend,
                concat!(
                    "SELECT ",
                    pending_columns!(),
                    " FROM deliveries d JOIN signals s ON s.id = d.signal_id WHERE d.recipient_oin = "
                ),
            );
            q.bind(recipient.to_string())
                .push(" AND d.acked_at IS NULL AND d.expired_at IS NULL AND (d.leased_until IS NULL OR d.leased_until <= ")
                .bind(now)
                .push(")");
            for (case_ref, oldest) in &held {
                q.push(" AND NOT (s.case_ref = ")
                    .bind(case_ref.clone())
                    .push(" AND d.seq > ")
                    .bind(*oldest)
                    .push(")");
            }
            q.push(" ORDER BY d.seq LIMIT ")
                .bind(limit)
                .build()?
                .fetch_all(&mut *conn)
                .await?
        };
        rows.iter()
            .map(|row| {
                Ok(PendingDelivery {
                    seq: row.try_get("seq")?,
                    id: row.try_get("id")?,
                    signal_id: row.try_get("signal_id")?,
                    sender: row.try_get("sender_oin")?,
                    purpose: row.try_get("purpose")?,
                    case_ref: row.try_get("case_ref")?,
                    signal_type: row.try_get("signal_type")?,
                    accepted_at: row.try_get("accepted_at")?,
                    purposes: from_json(row.try_get("purposes")?)?,
                    payload: row.try_get("payload")?,
                    attempts: row.try_get("attempts")?,
                    subject: subject_of(row)?,
                })
            })
            .filter(|d: &Result<PendingDelivery, StoreError>| {
                d.as_ref()
                    .map_or(true, |d| may_take(&held, &d.case_ref, d.seq))
            })
            .collect()
    }

    /// Until when (Unix ms) the stream `holder` may take `recipient`'s new copies in their
    /// own commit ([`super::wakeups::Parked`]): when every unsettled copy of `recipient` is
    /// one `holder` holds leased beyond `now`, the earliest end of those leases (`i64::MAX`
    /// without any); `None` when another copy waits or is in flight elsewhere. Reads past
    /// the holder's own copies in flight only.
    pub async fn quiet_until(
        &self,
        recipient: &Oin,
        holder: &str,
        now: i64,
    ) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query(
            "SELECT
               (SELECT COUNT(*) FROM (SELECT 1 FROM deliveries
                 WHERE recipient_oin = $1 AND acked_at IS NULL AND expired_at IS NULL
                   AND (leased_by IS NULL OR leased_by <> $2 OR leased_until <= $3)
                 LIMIT 1) AS o) AS others,
               (SELECT MIN(leased_until) FROM deliveries
                 WHERE recipient_oin = $4 AND leased_until IS NOT NULL
                   AND acked_at IS NULL AND expired_at IS NULL) AS until",
        )
        .bind(recipient.as_str())
        .bind(holder)
        .bind(now)
        .bind(recipient.as_str())
        .fetch_one(&self.pool)
        .await?;
        let others: i64 = row.try_get("others")?;
        let until: Option<i64> = row.try_get("until")?;
        Ok((others == 0).then(|| until.unwrap_or(i64::MAX)))
    }

    /// Per recipient OIN: unacknowledged deliveries and the acceptance time of the first in
    /// stream order (the oldest, give or take the moments its batch waited for the writer).
    /// Counted in the `deliveries_pending` index alone, with one signal looked up per
    /// recipient: joining every waiting delivery to its signal for the oldest took over a
    /// second with 750,000 copies waiting for a stalled receiver, every minute and on every
    /// metrics scrape (BENCHMARKS.md).
    pub async fn pending_by_recipient(&self) -> Result<Vec<(String, i64, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT p.recipient_oin, p.pending,
                    (SELECT s.accepted_at FROM deliveries d JOIN signals s ON s.id = d.signal_id
                     WHERE d.recipient_oin = p.recipient_oin
                       AND d.acked_at IS NULL AND d.expired_at IS NULL
                     ORDER BY d.seq LIMIT 1) AS oldest
             FROM (SELECT recipient_oin, COUNT(*) AS pending FROM deliveries
                   WHERE acked_at IS NULL AND expired_at IS NULL
                   GROUP BY recipient_oin) AS p",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("recipient_oin")?,
                    row.try_get("pending")?,
                    row.try_get("oldest")?,
                ))
            })
            .collect()
    }

    /// A `Send`'s outcome from the writer's answer: its receipt signed here, beside the other
    /// requests, not in the single writer, and read first when the signal was committed
    /// before the batch that answered its resend.
    pub(super) async fn outcome(&self, sent: Sent) -> Result<SendOutcome, StoreError> {
        Ok(match sent {
            Sent::Accepted(facts) => SendOutcome::Accepted(facts.sign(&self.signer)),
            Sent::Duplicate(facts) => SendOutcome::Duplicate(facts.sign(&self.signer)),
            Sent::Resent(id) => {
                let mut conn = self.pool.acquire().await?;
                let facts = load_receipt(&mut conn, &id, true)
                    .await?
                    .ok_or_else(|| StoreError::Corrupt(format!("signal {id} vanished")))?;
                SendOutcome::Duplicate(facts.sign(&self.signer))
            }
            Sent::Conflict => SendOutcome::Conflict,
        })
    }

    /// The receipt of a signal `sender` sent, if any.
    pub async fn receipt(
        &self,
        sender: &Oin,
        signal_id: &str,
    ) -> Result<Option<Receipt>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let mine: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM signals WHERE id = $1 AND sender_oin = $2")
                .bind(signal_id)
                .bind(sender.as_str())
                .fetch_optional(&mut *conn)
                .await?;
        match mine {
            Some(_) => Ok(load_receipt(&mut conn, signal_id, false)
                .await?
                .map(|facts| facts.sign(&self.signer))),
            None => Ok(None),
        }
    }
}

/// The cases of `recipient` whose deliveries another stream than `holder` holds a lease on at
/// `now`, each with the oldest such delivery's stream position. Reads only the deliveries in
/// flight (the `deliveries_leased` index).
pub(super) async fn held_elsewhere(
    conn: &mut AnyConnection,
    recipient: &Oin,
    holder: &str,
    now: i64,
) -> Result<HashMap<String, i64>, StoreError> {
    let rows = sqlx::query(
        "SELECT s.case_ref, MIN(d.seq) AS seq FROM deliveries d JOIN signals s ON s.id = d.signal_id
         WHERE d.recipient_oin = $1 AND d.leased_until IS NOT NULL AND d.leased_until > $2
           AND d.leased_by <> $3 AND d.acked_at IS NULL AND d.expired_at IS NULL
         GROUP BY s.case_ref",
    )
    .bind(recipient.as_str())
    .bind(now)
    .bind(holder)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| Ok((row.try_get("case_ref")?, row.try_get("seq")?)))
        .collect()
}

/// Whether a delivery of `case_ref` at stream position `seq` may be taken, given the cases
/// held elsewhere: not while an older delivery of its case is in flight on another stream.
pub(super) fn may_take(held: &HashMap<String, i64>, case_ref: &str, seq: i64) -> bool {
    held.get(case_ref).is_none_or(|oldest| *oldest > seq)
}
