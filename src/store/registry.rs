//! The partner registry in the database: reading it whole, saving changed partner records
//! (inside the writer's transaction, beside their audit record), and the version counter that
//! tells every gateway replica to reload.

use sqlx::{AnyConnection, Row, any::AnyRow};

use super::{Store, StoreError};
use crate::registry::{CertState, Certificate, PartnerRecord};

impl Store {
    /// Every partner with its certificates, in registration order.
    pub async fn registry_records(&self) -> Result<Vec<PartnerRecord>, StoreError> {
        let partners = sqlx::query("SELECT * FROM partners ORDER BY rowid")
            .fetch_all(&self.pool)
            .await?;
        let certificates = sqlx::query("SELECT * FROM certificates ORDER BY rowid")
            .fetch_all(&self.pool)
            .await?;
        let mut records = partners
            .iter()
            .map(partner_of)
            .collect::<Result<Vec<_>, _>>()?;
        for row in &certificates {
            let oin: String = row.try_get("partner_oin")?;
            if let Some(record) = records.iter_mut().find(|r| r.oin.as_str() == oin) {
                record.certificates.push(certificate_of(row)?);
            }
        }
        Ok(records)
    }

    /// The registry's change counter.
    pub async fn registry_version(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT version FROM registry_version WHERE id = 1")
                .fetch_one(&self.pool)
                .await?,
        )
    }
}

/// Refuses, before anything is written, a record made against a version of the partner that
/// is no longer the stored one (or a new partner whose OIN is stored meanwhile), and a record
/// that would bring back a certificate the stored one has revoked. Part of the writer's
/// transaction, which holds the chain's lock, so no other writer changes the partner between
/// this check and the write.
pub(super) async fn check_version(
    conn: &mut AnyConnection,
    record: &PartnerRecord,
) -> Result<Result<(), StoreError>, StoreError> {
    let stored: Option<i64> = sqlx::query_scalar("SELECT version FROM partners WHERE oin = $1")
        .bind(record.oin.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    let stale = || StoreError::Stale {
        partner: record.id.clone(),
        version: record.version,
    };
    if stored.unwrap_or(0) != record.version {
        return Ok(Err(stale()));
    }
    let revoked: Vec<String> = sqlx::query_scalar(
        "SELECT fingerprint FROM certificates WHERE partner_oin = $1 AND state = 'revoked'",
    )
    .bind(record.oin.as_str())
    .fetch_all(&mut *conn)
    .await?;
    let still_revoked = |fingerprint: &String| {
        record
            .certificates
            .iter()
            .any(|c| &c.fingerprint == fingerprint && c.state == CertState::Revoked)
    };
    if !revoked.iter().all(still_revoked) {
        return Ok(Err(stale()));
    }
    Ok(Ok(()))
}

/// Writes a partner record at its next version and replaces its certificates; part of the
/// writer's transaction, after [`check_version`].
pub(super) async fn save_record(
    conn: &mut AnyConnection,
    record: &PartnerRecord,
) -> Result<(), StoreError> {
    let json = |v: &Vec<String>| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
    sqlx::query(
        "INSERT INTO partners (oin, id, name, role, purposes, status, jwt_keys, audit_scope, changed_by, changed_at, version, logboek_url)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         ON CONFLICT (oin) DO UPDATE SET id = excluded.id, name = excluded.name, role = excluded.role,
           purposes = excluded.purposes, status = excluded.status, jwt_keys = excluded.jwt_keys,
           audit_scope = excluded.audit_scope, changed_by = excluded.changed_by, changed_at = excluded.changed_at,
           version = excluded.version, logboek_url = excluded.logboek_url",
    )
    .bind(record.oin.as_str())
    .bind(&record.id)
    .bind(&record.name)
    .bind(text(&record.role))
    .bind(json(&record.purposes))
    .bind(text(&record.status))
    .bind(json(&record.jwt_keys))
    .bind(json(&record.audit_scope))
    .bind(&record.changed_by)
    .bind(record.changed_at)
    .bind(record.version + 1)
    .bind(record.logboek_url.as_deref())
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM certificates WHERE partner_oin = $1")
        .bind(record.oin.as_str())
        .execute(&mut *conn)
        .await?;
    for c in &record.certificates {
        sqlx::query(
            "INSERT INTO certificates (fingerprint, partner_oin, state, retire_at, subject, issuer, serial, not_before, not_after, changed_by, changed_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&c.fingerprint)
        .bind(record.oin.as_str())
        .bind(text(&c.state))
        .bind(c.retire_at)
        .bind(&c.subject)
        .bind(&c.issuer)
        .bind(&c.serial)
        .bind(c.not_before)
        .bind(c.not_after)
        .bind(&c.changed_by)
        .bind(c.changed_at)
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query("UPDATE registry_version SET version = version + 1 WHERE id = 1")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

fn text<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

fn parse<T: serde::de::DeserializeOwned>(value: String) -> Result<T, StoreError> {
    serde_json::from_value(serde_json::Value::String(value))
        .map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn list(value: String) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(&value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn partner_of(row: &AnyRow) -> Result<PartnerRecord, StoreError> {
    let oin: String = row.try_get("oin")?;
    Ok(PartnerRecord {
        id: row.try_get("id")?,
        oin: oin
            .parse()
            .map_err(|e: crate::ids::InvalidOin| StoreError::Corrupt(e.to_string()))?,
        name: row.try_get("name")?,
        role: parse(row.try_get("role")?)?,
        purposes: list(row.try_get("purposes")?)?,
        status: parse(row.try_get("status")?)?,
        jwt_keys: list(row.try_get("jwt_keys")?)?,
        audit_scope: list(row.try_get("audit_scope")?)?,
        logboek_url: row.try_get("logboek_url")?,
        certificates: Vec::new(),
        changed_by: row.try_get("changed_by")?,
        changed_at: row.try_get("changed_at")?,
        version: row.try_get("version")?,
    })
}

fn certificate_of(row: &AnyRow) -> Result<Certificate, StoreError> {
    let state: CertState = parse(row.try_get("state")?)?;
    Ok(Certificate {
        fingerprint: row.try_get("fingerprint")?,
        state,
        retire_at: row.try_get("retire_at")?,
        subject: row.try_get("subject")?,
        issuer: row.try_get("issuer")?,
        serial: row.try_get("serial")?,
        not_before: row.try_get("not_before")?,
        not_after: row.try_get("not_after")?,
        changed_by: row.try_get("changed_by")?,
        changed_at: row.try_get("changed_at")?,
    })
}
