//! Registry changes: an operator's change is checked ([`super::lifecycle`]), must leave a
//! registry and policy that load, is saved with its audit record in one transaction, and is
//! put in force at once; every replica picks it up through [`Exchange::watch_registry`].
//! Also the reloads an operator asks for: trust anchors and server certificate, policy.

use std::{path::Path, sync::Arc, time::Duration};

use serde_json::json;

use super::{
    Exchange, ExchangeError,
    callers::Credentials,
    lifecycle::{self, Change, NewPartner, Refusal},
    partner_details,
};
use crate::{
    audit::{Actor, EventKind, Outcome},
    identity::tls::{self, chain_verifier},
    policy::{Policy, PolicyError},
    registry::{Certificate, Partner, PartnerStatus, Registry, Role},
    store::StoreError,
    telemetry,
};

/// How often a gateway looks for registry changes made by others (replicas, the CLI) and
/// for certificates whose retirement time has passed. Well inside the promised 5 seconds.
const REGISTRY_POLL: Duration = Duration::from_secs(1);
/// How often the watcher logs certificates that are about to expire.
const EXPIRY_LOG_EVERY: Duration = Duration::from_secs(3600);

/// An authenticated operator: the partner with the operator role, and the person.
#[derive(Debug)]
pub struct Operator {
    partner: Arc<Partner>,
    pub(super) actor: Actor,
}

/// An accepted certificate that expires soon.
#[derive(Debug)]
pub struct Expiring {
    /// Its partner.
    pub partner: Arc<Partner>,
    /// The certificate.
    pub certificate: Certificate,
    /// Seconds until it expires.
    pub seconds_left: i64,
    /// True when it is the partner's only accepted certificate.
    pub only_certificate: bool,
}

// === impl Operator ===

impl Operator {
    /// Who a change is recorded as: the person, else the operator's partner id.
    fn by(&self) -> String {
        self.actor
            .person
            .clone()
            .unwrap_or_else(|| self.partner.id.clone())
    }
}

// === impl Exchange ===

impl Exchange {
    /// The operator behind a request: certificate, token, operator role. Refusals are audited.
    pub async fn operator(
        &self,
        credentials: &Credentials<'_>,
        method: &str,
    ) -> Result<Operator, ExchangeError> {
        let (partner, actor) = self
            .person_in_role(credentials, Role::Operator, EventKind::AdminRefused, method)
            .await?;
        Ok(Operator { partner, actor })
    }

    /// Adds a partner (without certificates).
    pub async fn add_partner(
        &self,
        operator: &Operator,
        new: Result<NewPartner, Refusal>,
    ) -> Result<Arc<Partner>, ExchangeError> {
        let now = self.clock.now_ms();
        let change = new.and_then(|new| {
            lifecycle::add_partner(&self.registry.load(), new, &operator.by(), now)
        });
        self.apply(operator, "AddPartner", change, None, None).await
    }

    /// Registers a vetted certificate for a partner, beside its current ones (rotation).
    pub async fn add_certificate(
        &self,
        operator: &Operator,
        partner_id: &str,
        pem: &str,
        expected: Option<i64>,
    ) -> Result<Arc<Partner>, ExchangeError> {
        let trust = chain_verifier(&self.tls.trust_anchors)?;
        let now = self.clock.now_ms();
        let change = lifecycle::inspect(pem).and_then(|inspected| {
            let registry = self.registry.load();
            lifecycle::add_certificate(
                &registry,
                partner_id,
                &inspected,
                &trust,
                &operator.by(),
                now,
            )
        });
        self.apply(operator, "AddCertificate", change, None, expected)
            .await
    }

    /// Retires a certificate at `at` (Unix ms; now when `None`).
    pub async fn retire_certificate(
        &self,
        operator: &Operator,
        fingerprint: &str,
        at: Option<i64>,
        expected: Option<i64>,
    ) -> Result<Arc<Partner>, ExchangeError> {
        let now = self.clock.now_ms();
        let change = lifecycle::retire_certificate(
            &self.registry.load(),
            fingerprint,
            at.unwrap_or(now),
            &operator.by(),
            now,
        );
        self.apply(operator, "RetireCertificate", change, None, expected)
            .await
    }

    /// Revokes a certificate: refused from the next handshake, open connections closed.
    pub async fn revoke_certificate(
        &self,
        operator: &Operator,
        fingerprint: &str,
        reason: Option<String>,
        expected: Option<i64>,
    ) -> Result<Arc<Partner>, ExchangeError> {
        let now = self.clock.now_ms();
        let registry = self.registry.load();
        let change = lifecycle::revoke_certificate(&registry, fingerprint, &operator.by(), now);
        self.apply(operator, "RevokeCertificate", change, reason, expected)
            .await
    }

    /// Suspends or resumes a partner.
    pub async fn set_partner_status(
        &self,
        operator: &Operator,
        id: &str,
        status: PartnerStatus,
        reason: Option<String>,
        expected: Option<i64>,
    ) -> Result<Arc<Partner>, ExchangeError> {
        let now = self.clock.now_ms();
        let registry = self.registry.load();
        let change = partner_details::set_status(&registry, id, status, &operator.by(), now);
        let method = match status {
            PartnerStatus::Suspended => "SuspendPartner",
            PartnerStatus::Active => "ResumePartner",
        };
        self.apply(operator, method, change, reason, expected).await
    }

    /// Sets (or, with `None`, clears) the URL of a partner's own Logboek read API.
    pub async fn set_logboek_url(
        &self,
        operator: &Operator,
        id: &str,
        url: Option<String>,
        expected: Option<i64>,
    ) -> Result<Arc<Partner>, ExchangeError> {
        let now = self.clock.now_ms();
        let registry = self.registry.load();
        let change = partner_details::set_logboek_url(&registry, id, url, &operator.by(), now);
        self.apply(operator, "SetLogboekUrl", change, None, expected)
            .await
    }

    /// Accepted certificates that expire within `within`, soonest first.
    pub fn expiring(&self, within: Duration) -> Vec<Expiring> {
        let now = self.clock.now_ms();
        let within_ms = i64::try_from(within.as_millis()).unwrap_or(i64::MAX);
        lifecycle::expiring(&self.registry.load(), within_ms, now)
            .into_iter()
            .map(|(partner, certificate)| Expiring {
                seconds_left: certificate.not_after.map_or(0, |end| (end - now) / 1000),
                only_certificate: partner
                    .record
                    .certificates
                    .iter()
                    .filter(|c| c.accepted_at(now))
                    .count()
                    == 1,
                partner,
                certificate,
            })
            .collect()
    }

    /// Reads the trust anchors and the server certificate again for new connections, and
    /// records who asked.
    pub async fn reload_trust_anchors(&self, operator: &Operator) -> Result<(), ExchangeError> {
        self.reload_tls()?;
        let mut event = operator
            .actor
            .event(EventKind::RegistryChanged, Outcome::Ok);
        event.detail = json!({ "action": "trust_anchors_reloaded" });
        self.store.audit(vec![event]).await?;
        Ok(())
    }

    /// Saves a change with its audit record, puts the new registry in force, and answers
    /// with the changed partner; a refusal is audited and answered with what to fix. A change
    /// made against another version than the one in force (`expected`; none: the one in
    /// force) is refused, and so is one that another replica overtook before it was saved.
    async fn apply(
        &self,
        operator: &Operator,
        method: &str,
        change: Result<Change, Refusal>,
        reason: Option<String>,
        expected: Option<i64>,
    ) -> Result<Arc<Partner>, ExchangeError> {
        let change = change.and_then(|change| match expected {
            Some(expected) if expected != change.record.version => Err(Refusal::Stale {
                partner: change.record.id,
                expected,
                current: change.record.version,
            }),
            _ => Ok(change),
        });
        let change = match change {
            Ok(change) => change,
            Err(refusal) => {
                self.refused(operator, method, refusal.to_string()).await?;
                return Err(refusal.into());
            }
        };
        let mut event = operator
            .actor
            .event(EventKind::RegistryChanged, Outcome::Ok);
        event.counterparty = Some(change.record.oin.clone());
        event.detail = json!({
            "action": change.action,
            "partner": change.record.id,
            "certificate": change.fingerprint,
            "reason": reason,
        });
        // The new registry must assemble before it is saved: never store what cannot load.
        let mut records = self.registry.load().records();
        match records.iter_mut().find(|r| r.oin == change.record.oin) {
            Some(existing) => *existing = change.record.clone(),
            None => records.push(change.record.clone()),
        }
        let registry = Registry::assemble(Path::new("database"), records)
            .map_err(|e| ExchangeError::Inconsistent(e.to_string()))?;
        self.policy
            .load()
            .check_registry(Path::new("policy"), &registry)
            .map_err(|e| ExchangeError::Inconsistent(e.to_string()))?;
        let saved = self
            .store
            .save_records(vec![change.record.clone()], vec![event])
            .await;
        if let Err(stale @ StoreError::Stale { .. }) = saved {
            // Overtaken by another replica: the registry in force is behind; catch up.
            self.reload_registry().await?;
            self.refused(operator, method, stale.to_string()).await?;
            return Err(ExchangeError::Overtaken(stale.to_string()));
        }
        saved?;
        self.reload_registry().await?;
        tracing::info!(method, action = change.action, partner = %change.record.id, "registry changed");
        self.registry
            .load()
            .by_oin(&change.record.oin)
            .cloned()
            .ok_or_else(|| ExchangeError::Inconsistent("the changed partner vanished".into()))
    }

    /// Records a refused change.
    async fn refused(
        &self,
        operator: &Operator,
        method: &str,
        reason: String,
    ) -> Result<(), ExchangeError> {
        let mut event = operator
            .actor
            .event(EventKind::AdminRefused, Outcome::Refused);
        event.detail = json!({ "method": method, "reason": reason });
        self.store.audit(vec![event]).await?;
        tracing::info!(method, reason = %reason, "registry change refused");
        Ok(())
    }

    /// Reads the registry from the database, puts it in force, and closes the connections
    /// whose certificate it no longer accepts.
    pub async fn reload_registry(&self) -> Result<(), ExchangeError> {
        let records = self.store.registry_records().await?;
        let registry = Registry::assemble(Path::new("database"), records)
            .map_err(|e| ExchangeError::Inconsistent(e.to_string()))?;
        let closed = self.connections.close_ended(&registry);
        self.registry.store(Arc::new(registry));
        tracing::info!(connections.closed = closed, "registry reloaded");
        Ok(())
    }

    /// Reads the trust anchors and the gateway's certificate again and puts them in force
    /// for new connections.
    pub fn reload_tls(&self) -> Result<(), ExchangeError> {
        let config = tls::server_config(&self.tls, self.registry.clone())?;
        self.tls_config.store(Arc::new(config));
        tracing::info!("trust anchors and server certificate reloaded");
        Ok(())
    }

    /// Reads the policy file again and puts it in force if it passes every start-up check
    /// against the registry in force; otherwise the policy in force stays. Returns the
    /// version in force afterwards. Both outcomes are logged.
    pub fn reload_policy(&self) -> Result<String, PolicyError> {
        let file = &self.policy_file;
        let loaded = Policy::load(file, &self.catalogue).and_then(|policy| {
            policy
                .check_registry(file, &self.registry.load())
                .map(|()| policy)
        });
        match loaded {
            Ok(policy) => {
                let version = policy.version().to_string();
                let previous = self.policy.swap(Arc::new(policy));
                tracing::info!(policy.version = %version, policy.previous = %previous.version(), "policy reloaded");
                Ok(version)
            }
            Err(e) => {
                tracing::error!(error = %e, policy.version = %self.policy.load().version(), "policy reload refused; the policy in force stays");
                Err(e)
            }
        }
    }

    /// Reloads the registry when its version changes, and closes connections whose
    /// certificate is no longer accepted; logs certificates about to expire hourly. Until
    /// shutdown.
    pub async fn watch_registry(self: Arc<Self>) {
        let mut seen = self.store.registry_version().await.unwrap_or(0);
        let mut warned = tokio::time::Instant::now() - EXPIRY_LOG_EVERY;
        loop {
            if warned.elapsed() >= EXPIRY_LOG_EVERY {
                warned = tokio::time::Instant::now();
                let now = self.clock.now_ms();
                for warning in telemetry::expiry_warnings(&self.registry.load(), now) {
                    tracing::warn!("{warning}");
                }
            }
            tokio::select! {
                _ = self.shutdown.cancelled() => return,
                _ = tokio::time::sleep(REGISTRY_POLL) => {}
            }
            match self.store.registry_version().await {
                Ok(version) if version != seen => {
                    if let Err(e) = self.reload_registry().await {
                        tracing::error!(error = %e, "registry reload failed; the registry in force stays");
                        continue;
                    }
                    seen = version;
                }
                Ok(_) => {
                    self.connections.close_ended(&self.registry.load());
                }
                Err(e) => tracing::warn!(error = %e, "cannot read the registry version"),
            }
        }
    }
}
