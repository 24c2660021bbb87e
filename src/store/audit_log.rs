//! Reading the audit log: filtered, paginated record queries, checkpoints, and the record
//! stream that verification and export walk through.

use sqlx::{Row, any::AnyRow};

use super::{
    Store, StoreError,
    columns::{audit_columns, subject_of},
    db::Sql,
};
use crate::{
    audit::{AuditEvent, AuditRecord, Checkpoint, StoredRecord, Trace},
    ids::{InvalidOin, Oin},
};

/// How many leading hex digits of a case or subject hash the audit log's case and subject
/// indexes hold (migration 0011): 64 bits, so records of other cases share an entry rarely.
const HASH_PREFIX_DIGITS: usize = 16;

/// Which records to read. Empty fields do not filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// At or after (Unix ms).
    pub from: Option<i64>,
    /// Before (Unix ms).
    pub to: Option<i64>,
    /// Actor or counterparty.
    pub partner: Option<Oin>,
    /// Signal type.
    pub signal_type: Option<String>,
    /// A purpose code the record's purpose list contains.
    pub purpose: Option<String>,
    /// `ok` or `refused`.
    pub outcome: Option<String>,
    /// Event kind.
    pub event: Option<String>,
    /// W3C trace id of the request that caused the record.
    pub trace_id: Option<String>,
    /// Keyed hashes: records whose case or subject hash is one of these.
    pub about: Option<Vec<String>>,
    /// The reader's scope: records where one of these is actor or counterparty. `None` reads all.
    pub scope: Option<Vec<Oin>>,
    /// Only records after this sequence number.
    pub after_seq: i64,
    /// Most records.
    pub limit: i64,
}

impl Store {
    /// Records matching `filter`, in chain order.
    pub async fn audit_records(
        &self,
        filter: &AuditFilter,
    ) -> Result<Vec<StoredRecord>, StoreError> {
        let mut q = Sql::new(
            self.backend,
            concat!("SELECT ", audit_columns!(), " FROM audit_log WHERE seq > "),
        );
        filtered(&mut q, filter);
        let rows = q.build()?.fetch_all(&self.pool).await?;
        rows.iter().map(record_of).collect()
    }

    /// Every signed checkpoint, in order.
    pub async fn checkpoints(&self) -> Result<Vec<Checkpoint>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, at, head_hash, key_id, signature FROM audit_checkpoints ORDER BY seq",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Checkpoint {
                    seq: row.try_get("seq")?,
                    at: row.try_get("at")?,
                    head_hash: row.try_get("head_hash")?,
                    key_id: row.try_get("key_id")?,
                    signature: row.try_get("signature")?,
                })
            })
            .collect()
    }
}

/// Completes `q`, which ends in `WHERE seq > `, with the conditions `filter` asks for, the
/// order and the limit.
fn filtered(q: &mut Sql, filter: &AuditFilter) {
    q.bind(filter.after_seq);
    if let Some(from) = filter.from {
        q.push(" AND at >= ").bind(from);
    }
    if let Some(to) = filter.to {
        q.push(" AND at < ").bind(to);
    }
    if let Some(partner) = &filter.partner {
        q.push(" AND (actor_oin = ")
            .bind(partner.to_string())
            .push(" OR counterparty_oin = ")
            .bind(partner.to_string())
            .push(")");
    }
    for (column, value) in [
        ("signal_type", &filter.signal_type),
        ("outcome", &filter.outcome),
        ("event", &filter.event),
        ("trace_id", &filter.trace_id),
    ] {
        if let Some(value) = value {
            q.push(&format!(" AND {column} = ")).bind(value.clone());
        }
    }
    if let Some(purpose) = &filter.purpose {
        q.push(" AND (',' || purpose || ',') LIKE ")
            .bind(format!("%,{purpose},%"));
    }
    if let Some(hashes) = &filter.about {
        // The case and subject indexes hold the records not about one delivery; those
        // about a delivery are found through their signal (migration 0010). They are
        // over the hashes' first digits (migration 0011): the condition names that same
        // expression, so that the index serves it, and the whole hash.
        let hashes = || hashes.iter().map(String::as_str);
        let prefixes = || hashes().map(|h| h.get(..HASH_PREFIX_DIGITS).unwrap_or(h));
        let anchored = |q: &mut Sql, column: &str| {
            q.push(&format!(
                " FROM audit_log WHERE delivery_id IS NULL \
                 AND substr({column}, 1, {HASH_PREFIX_DIGITS}) IN "
            ))
            .bind_list(prefixes())
            .push(&format!(" AND {column} IN "))
            .bind_list(hashes());
        };
        q.push(" AND seq IN (SELECT seq");
        anchored(q, "case_ref_hash");
        q.push(" UNION SELECT seq");
        anchored(q, "subject_hash");
        q.push(" UNION SELECT seq FROM audit_log WHERE delivery_id IS NOT NULL AND signal_id IN (SELECT signal_id");
        anchored(q, "case_ref_hash");
        q.push(" UNION SELECT signal_id");
        anchored(q, "subject_hash");
        q.push(")) AND (case_ref_hash IN ")
            .bind_list(hashes())
            .push(" OR subject_hash IN ")
            .bind_list(hashes())
            .push(")");
    }
    if let Some(scope) = &filter.scope {
        let oins = || scope.iter().map(Oin::as_str);
        q.push(" AND (actor_oin IN ")
            .bind_list(oins())
            .push(" OR counterparty_oin IN ")
            .bind_list(oins())
            .push(")");
    }
    q.push(" ORDER BY seq LIMIT ").bind(filter.limit);
}

/// What a pruning removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    /// The last sequence number removed (covered by a signed checkpoint).
    pub through_seq: i64,
    /// Records removed.
    pub records: u64,
}

/// A stored record that no longer decodes: where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undecodable {
    /// Its sequence number.
    pub seq: i64,
    /// What does not decode.
    pub reason: String,
}

impl Store {
    /// The records after `after_seq` in chain order, at most `limit`, each decoded or, when it
    /// no longer decodes (it was tampered with), named: for verification, which must report
    /// such a record as a break in the chain rather than fail.
    pub async fn audit_records_to_verify(
        &self,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<Result<StoredRecord, Undecodable>>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            audit_columns!(),
            " FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2"
        ))
        .bind(after_seq)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| match record_of(row) {
                Ok(record) => Ok(Ok(record)),
                Err(e) => Ok(Err(Undecodable {
                    seq: row.try_get("seq")?,
                    reason: e.to_string(),
                })),
            })
            .collect()
    }
}

fn record_of(row: &AnyRow) -> Result<StoredRecord, StoreError> {
    let text = |column: &str| -> Result<serde_json::Value, StoreError> {
        Ok(serde_json::Value::String(row.try_get(column)?))
    };
    let corrupt = |e: serde_json::Error| StoreError::Corrupt(e.to_string());
    let oin = |column: &str| -> Result<Option<Oin>, StoreError> {
        let value: Option<String> = row.try_get(column)?;
        value
            .map(|v| {
                v.parse()
                    .map_err(|e: InvalidOin| StoreError::Corrupt(e.to_string()))
            })
            .transpose()
    };
    let detail: String = row.try_get("detail")?;
    let event = AuditEvent {
        event: serde_json::from_value(text("event")?).map_err(corrupt)?,
        outcome: serde_json::from_value(text("outcome")?).map_err(corrupt)?,
        actor: oin("actor_oin")?,
        actor_person: row.try_get("actor_person")?,
        counterparty: oin("counterparty_oin")?,
        purpose: row.try_get("purpose")?,
        legal_basis: row.try_get("legal_basis")?,
        signal_id: row.try_get("signal_id")?,
        signal_type: row.try_get("signal_type")?,
        delivery_id: row.try_get("delivery_id")?,
        subject: subject_of(row)?,
        trace: Trace {
            trace_id: row.try_get("trace_id")?,
            span_id: row.try_get("span_id")?,
        },
        detail: serde_json::from_str(&detail).map_err(corrupt)?,
    };
    Ok(StoredRecord {
        record: AuditRecord {
            seq: row.try_get("seq")?,
            id: row.try_get("id")?,
            at: row.try_get("at")?,
            event,
            prev_hash: row.try_get("prev_hash")?,
        },
        hash: row.try_get("hash")?,
    })
}

#[cfg(test)]
mod tests {
    use sqlx::Row as _;

    use super::{AuditFilter, audit_columns, filtered};
    use crate::store::{db::Sql, testing::test_store};

    /// An officer's query by case or subject reads the case, subject and signal indexes, not
    /// the whole log: the conditions must name the indexes' expressions exactly, or SQLite
    /// scans every record without a word.
    #[tokio::test]
    async fn a_query_by_case_or_subject_reads_their_indexes() {
        let (_dir, store) = test_store().await;
        let mut q = Sql::new(
            store.backend(),
            concat!(
                "EXPLAIN QUERY PLAN SELECT ",
                audit_columns!(),
                " FROM audit_log WHERE seq > "
            ),
        );
        let about = AuditFilter {
            about: Some(vec!["ab".repeat(32), "cd".repeat(32)]),
            limit: 100,
            ..AuditFilter::default()
        };
        filtered(&mut q, &about);
        let rows = q.build().unwrap().fetch_all(&store.pool).await.unwrap();
        let plan: Vec<String> = rows.iter().map(|r| r.get("detail")).collect();
        for index in ["audit_by_case", "audit_by_subject", "audit_by_signal"] {
            assert!(
                plan.iter()
                    .any(|step| step.contains(&format!("USING INDEX {index} "))),
                "{index} unused: {plan:#?}"
            );
        }
        assert!(
            !plan.iter().any(|step| step.starts_with("SCAN audit_log")),
            "a scan of the log: {plan:#?}"
        );
    }
}
