//! The partner registry in the database: reading it whole, saving changed partner records
//! (inside the writer's transaction, beside their audit record), and the version counter that
//! tells every gateway replica to reload.

use sqlx::{Row, any::AnyRow};

use super::{Store, StoreError, columns::Fields, db::Sql, link::Link};
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
    link: &mut Link,
    record: &PartnerRecord,
) -> Result<Result<(), StoreError>, StoreError> {
    let backend = link.backend();
    let oin = record.oin.as_str();
    let stored = link
        .fetch_all(Sql::new(backend, "SELECT version FROM partners WHERE oin = $1").arg(oin))
        .await?;
    let stale = || StoreError::Stale {
        partner: record.id.clone(),
        version: record.version,
    };
    let version = match stored.first() {
        Some(row) => row.field("version")?,
        None => 0,
    };
    if version != record.version {
        return Ok(Err(stale()));
    }
    let revoked = link
        .fetch_all(
            Sql::new(
                backend,
                "SELECT fingerprint FROM certificates WHERE partner_oin = $1 AND state = 'revoked'",
            )
            .arg(oin),
        )
        .await?;
    for row in revoked {
        let fingerprint: String = row.field("fingerprint")?;
        let still_revoked = record
            .certificates
            .iter()
            .any(|c| c.fingerprint == fingerprint && c.state == CertState::Revoked);
        if !still_revoked {
            return Ok(Err(stale()));
        }
    }
    Ok(Ok(()))
}

/// Writes a partner record at its next version and replaces its certificates; part of the
/// writer's transaction, after [`check_version`].
pub(super) async fn save_record(link: &mut Link, record: &PartnerRecord) -> Result<(), StoreError> {
    let backend = link.backend();
    let json = |v: &Vec<String>| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
    let mut partner = Sql::new(
        backend,
        "INSERT INTO partners (oin, id, name, role, purposes, status, jwt_keys, audit_scope, changed_by, changed_at, version, logboek_url)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         ON CONFLICT (oin) DO UPDATE SET id = excluded.id, name = excluded.name, role = excluded.role,
           purposes = excluded.purposes, status = excluded.status, jwt_keys = excluded.jwt_keys,
           audit_scope = excluded.audit_scope, changed_by = excluded.changed_by, changed_at = excluded.changed_at,
           version = excluded.version, logboek_url = excluded.logboek_url",
    );
    partner
        .arg(record.oin.as_str())
        .arg(&record.id)
        .arg(&record.name)
        .arg(text(&record.role))
        .arg(json(&record.purposes))
        .arg(text(&record.status))
        .arg(json(&record.jwt_keys))
        .arg(json(&record.audit_scope))
        .arg(&record.changed_by)
        .arg(record.changed_at)
        .arg(record.version + 1)
        .arg(record.logboek_url.as_deref());
    link.execute(&mut partner).await?;
    let mut delete = Sql::new(backend, "DELETE FROM certificates WHERE partner_oin = $1");
    link.execute(delete.arg(record.oin.as_str())).await?;
    for c in &record.certificates {
        let mut certificate = Sql::new(
            backend,
            "INSERT INTO certificates (fingerprint, partner_oin, state, retire_at, subject, issuer, serial, not_before, not_after, changed_by, changed_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        );
        certificate
            .arg(&c.fingerprint)
            .arg(record.oin.as_str())
            .arg(text(&c.state))
            .arg(c.retire_at)
            .arg(c.subject.as_deref())
            .arg(c.issuer.as_deref())
            .arg(c.serial.as_deref())
            .arg(c.not_before)
            .arg(c.not_after)
            .arg(&c.changed_by)
            .arg(c.changed_at);
        link.execute(&mut certificate).await?;
    }
    let mut bump = Sql::new(
        backend,
        "UPDATE registry_version SET version = version + 1 WHERE id = 1",
    );
    link.execute(&mut bump).await?;
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
