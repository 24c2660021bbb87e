//! `AdminService`: operators register partners and manage their certificates, without a
//! restart. Every call needs the operator's certificate and a JWT naming the operator; every
//! change and every refusal is an audit record.

use std::sync::Arc;

use serde_json::json;
use tonic::{Request, Response, Status};

use super::{
    ApiError, Context, RequestMeta,
    proto::{
        AddCertificateRequest, AddCertificateResponse, AddPartnerRequest, AddPartnerResponse,
        CertificateInfo, ExpiringCertificate, GetPartnerRequest, GetPartnerResponse,
        ListExpiringCertificatesRequest, ListExpiringCertificatesResponse, ListPartnersRequest,
        ListPartnersResponse, PartnerInfo, ReloadTrustAnchorsRequest, ReloadTrustAnchorsResponse,
        ResumePartnerRequest, ResumePartnerResponse, RetireCertificateRequest,
        RetireCertificateResponse, RevokeCertificateRequest, RevokeCertificateResponse,
        SuspendPartnerRequest, SuspendPartnerResponse, admin_service_server::AdminService,
    },
    timestamp, unix_ms,
};
use crate::{
    clock::now_ms,
    audit::{AuditEvent, EventKind, Outcome},
    identity::tls::chain_verifier,
    lifecycle::{self, Change, NewPartner, Refusal},
    registry::{Certificate, Partner, PartnerStatus, Registry, Role},
};

/// Default period of `ListExpiringCertificates`: 30 days.
const DEFAULT_EXPIRING_SECS: u64 = 30 * 24 * 3600;

/// The `AdminService` implementation.
#[derive(Clone)]
pub struct AdminApi {
    cx: Arc<Context>,
}

/// An authenticated operator.
struct Operator {
    partner: Arc<Partner>,
    meta: RequestMeta,
}

impl AdminApi {
    /// A service over the gateway's context.
    pub fn new(cx: Arc<Context>) -> Self {
        Self { cx }
    }

    async fn operator<T>(&self, request: &Request<T>, method: &str) -> Result<Operator, Status> {
        let (partner, meta) = self
            .cx
            .person_in_role(request, Role::Operator, EventKind::AdminRefused, method)
            .await?;
        Ok(Operator { partner, meta })
    }

    /// Who an operator's change is recorded as: the person, else the operator's partner id.
    fn by(operator: &Operator) -> String {
        operator
            .meta
            .person
            .clone()
            .unwrap_or_else(|| operator.partner.id.clone())
    }

    /// Saves a change with its audit record, reloads the registry, and answers with the
    /// changed partner; a refusal is audited and answered with what to fix.
    async fn apply(
        &self,
        operator: &Operator,
        method: &str,
        change: Result<Change, Refusal>,
        reason: Option<String>,
    ) -> Result<PartnerInfo, Status> {
        let mut event = AuditEvent::new(EventKind::RegistryChanged, Outcome::Ok);
        event.actor = Some(operator.partner.oin.clone());
        event.actor_person = operator.meta.person.clone();
        event.trace = operator.meta.trace.clone();
        let change = match change {
            Ok(change) => change,
            Err(refusal) => {
                event.event = EventKind::AdminRefused;
                event.outcome = Outcome::Refused;
                event.detail = json!({ "method": method, "reason": refusal.to_string() });
                self.cx
                    .store
                    .audit(vec![event])
                    .await
                    .map_err(ApiError::from)?;
                tracing::info!(method, reason = %refusal, "registry change refused");
                return Err(refusal_status(refusal));
            }
        };
        event.counterparty = Some(change.record.oin.clone());
        event.detail = json!({
            "action": change.action,
            "partner": change.record.id,
            "certificate": change.fingerprint,
            "reason": reason,
        });
        // The new registry must assemble before it is saved: never store what cannot load.
        let mut records = self.cx.registry.load().records();
        match records.iter_mut().find(|r| r.oin == change.record.oin) {
            Some(existing) => *existing = change.record.clone(),
            None => records.push(change.record.clone()),
        }
        let registry = Registry::assemble(std::path::Path::new("database"), records)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        self.cx
            .policy
            .load()
            .check_registry(std::path::Path::new("policy"), &registry)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        self.cx
            .store
            .save_records(vec![change.record.clone()], vec![event])
            .await
            .map_err(ApiError::from)?;
        self.cx.reload_registry().await?;
        tracing::info!(method, action = change.action, partner = %change.record.id, "registry changed");
        let registry = self.cx.registry.load();
        let partner = registry
            .by_oin(&change.record.oin)
            .ok_or_else(|| Status::internal("the changed partner vanished"))?;
        Ok(partner_info(partner))
    }
}

fn refusal_status(refusal: Refusal) -> Status {
    match refusal {
        Refusal::UnknownPartner(_) | Refusal::UnknownCertificate(_) => {
            Status::not_found(refusal.to_string())
        }
        Refusal::Exists(_) | Refusal::AlreadyRegistered(_) => {
            Status::already_exists(refusal.to_string())
        }
        Refusal::Pointless(_) => Status::failed_precondition(refusal.to_string()),
        _ => Status::invalid_argument(refusal.to_string()),
    }
}

#[tonic::async_trait]
impl AdminService for AdminApi {
    async fn list_partners(
        &self,
        request: Request<ListPartnersRequest>,
    ) -> Result<Response<ListPartnersResponse>, Status> {
        self.operator(&request, "ListPartners").await?;
        let registry = self.cx.registry.load();
        Ok(Response::new(ListPartnersResponse {
            partners: registry
                .partners()
                .iter()
                .map(|p| partner_info(p))
                .collect(),
        }))
    }

    async fn get_partner(
        &self,
        request: Request<GetPartnerRequest>,
    ) -> Result<Response<GetPartnerResponse>, Status> {
        self.operator(&request, "GetPartner").await?;
        let id = request.into_inner().id;
        let registry = self.cx.registry.load();
        let partner = registry
            .by_id(&id)
            .ok_or_else(|| Status::not_found(Refusal::UnknownPartner(id).to_string()))?;
        Ok(Response::new(GetPartnerResponse {
            partner: Some(partner_info(partner)),
        }))
    }

    async fn add_partner(
        &self,
        request: Request<AddPartnerRequest>,
    ) -> Result<Response<AddPartnerResponse>, Status> {
        let operator = self.operator(&request, "AddPartner").await?;
        let q = request.into_inner();
        let change = parse_new_partner(q).and_then(|new| {
            lifecycle::add_partner(
                &self.cx.registry.load(),
                new,
                &Self::by(&operator),
                now_ms(),
            )
        });
        let partner = self.apply(&operator, "AddPartner", change, None).await?;
        Ok(Response::new(AddPartnerResponse {
            partner: Some(partner),
        }))
    }

    async fn add_certificate(
        &self,
        request: Request<AddCertificateRequest>,
    ) -> Result<Response<AddCertificateResponse>, Status> {
        let operator = self.operator(&request, "AddCertificate").await?;
        let q = request.into_inner();
        let trust = chain_verifier(&self.cx.tls.trust_anchors)
            .map_err(|e| Status::failed_precondition(e.to_string()))?;
        let change = lifecycle::inspect(&q.certificate_pem).and_then(|inspected| {
            lifecycle::add_certificate(
                &self.cx.registry.load(),
                &q.partner_id,
                &inspected,
                &trust,
                &Self::by(&operator),
                now_ms(),
            )
        });
        let partner = self
            .apply(&operator, "AddCertificate", change, None)
            .await?;
        Ok(Response::new(AddCertificateResponse {
            partner: Some(partner),
        }))
    }

    async fn retire_certificate(
        &self,
        request: Request<RetireCertificateRequest>,
    ) -> Result<Response<RetireCertificateResponse>, Status> {
        let operator = self.operator(&request, "RetireCertificate").await?;
        let q = request.into_inner();
        let now = now_ms();
        let at = q.retire_at.as_ref().map_or(now, unix_ms);
        let change = lifecycle::retire_certificate(
            &self.cx.registry.load(),
            &q.fingerprint,
            at,
            &Self::by(&operator),
            now,
        );
        let partner = self
            .apply(&operator, "RetireCertificate", change, None)
            .await?;
        Ok(Response::new(RetireCertificateResponse {
            partner: Some(partner),
        }))
    }

    async fn revoke_certificate(
        &self,
        request: Request<RevokeCertificateRequest>,
    ) -> Result<Response<RevokeCertificateResponse>, Status> {
        let operator = self.operator(&request, "RevokeCertificate").await?;
        let q = request.into_inner();
        let change = lifecycle::revoke_certificate(
            &self.cx.registry.load(),
            &q.fingerprint,
            &Self::by(&operator),
            now_ms(),
        );
        let reason = (!q.reason.is_empty()).then_some(q.reason);
        let partner = self
            .apply(&operator, "RevokeCertificate", change, reason)
            .await?;
        Ok(Response::new(RevokeCertificateResponse {
            partner: Some(partner),
        }))
    }

    async fn suspend_partner(
        &self,
        request: Request<SuspendPartnerRequest>,
    ) -> Result<Response<SuspendPartnerResponse>, Status> {
        let operator = self.operator(&request, "SuspendPartner").await?;
        let q = request.into_inner();
        let change = lifecycle::set_status(
            &self.cx.registry.load(),
            &q.id,
            PartnerStatus::Suspended,
            &Self::by(&operator),
            now_ms(),
        );
        let reason = (!q.reason.is_empty()).then_some(q.reason);
        let partner = self
            .apply(&operator, "SuspendPartner", change, reason)
            .await?;
        Ok(Response::new(SuspendPartnerResponse {
            partner: Some(partner),
        }))
    }

    async fn resume_partner(
        &self,
        request: Request<ResumePartnerRequest>,
    ) -> Result<Response<ResumePartnerResponse>, Status> {
        let operator = self.operator(&request, "ResumePartner").await?;
        let q = request.into_inner();
        let change = lifecycle::set_status(
            &self.cx.registry.load(),
            &q.id,
            PartnerStatus::Active,
            &Self::by(&operator),
            now_ms(),
        );
        let partner = self.apply(&operator, "ResumePartner", change, None).await?;
        Ok(Response::new(ResumePartnerResponse {
            partner: Some(partner),
        }))
    }

    async fn list_expiring_certificates(
        &self,
        request: Request<ListExpiringCertificatesRequest>,
    ) -> Result<Response<ListExpiringCertificatesResponse>, Status> {
        self.operator(&request, "ListExpiringCertificates").await?;
        let within = match request.into_inner().within_seconds {
            0 => DEFAULT_EXPIRING_SECS,
            secs => secs,
        };
        let now = now_ms();
        let registry = self.cx.registry.load();
        let within_ms = i64::try_from(within.saturating_mul(1000)).unwrap_or(i64::MAX);
        let certificates = lifecycle::expiring(&registry, within_ms, now)
            .into_iter()
            .map(|(partner, cert)| ExpiringCertificate {
                partner_id: partner.id.clone(),
                partner_oin: partner.oin.to_string(),
                seconds_left: cert.not_after.map_or(0, |end| (end - now) / 1000),
                only_certificate: partner
                    .record
                    .certificates
                    .iter()
                    .filter(|c| c.accepted_at(now))
                    .count()
                    == 1,
                certificate: Some(certificate_info(&cert)),
            })
            .collect();
        Ok(Response::new(ListExpiringCertificatesResponse {
            certificates,
        }))
    }

    async fn reload_trust_anchors(
        &self,
        request: Request<ReloadTrustAnchorsRequest>,
    ) -> Result<Response<ReloadTrustAnchorsResponse>, Status> {
        let operator = self.operator(&request, "ReloadTrustAnchors").await?;
        self.cx
            .reload_tls()
            .map_err(|e| Status::failed_precondition(e.to_string()))?;
        let mut event = AuditEvent::new(EventKind::RegistryChanged, Outcome::Ok);
        event.actor = Some(operator.partner.oin.clone());
        event.actor_person = operator.meta.person.clone();
        event.detail = json!({ "action": "trust_anchors_reloaded" });
        self.cx
            .store
            .audit(vec![event])
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(ReloadTrustAnchorsResponse {}))
    }
}

fn parse_new_partner(q: AddPartnerRequest) -> Result<NewPartner, Refusal> {
    let oin = q
        .oin
        .parse()
        .map_err(|e: crate::ids::InvalidOin| Refusal::Invalid(format!("oin: {e}")))?;
    let role: Role = serde_json::from_value(serde_json::Value::String(q.role.clone())).map_err(|_| {
        Refusal::Invalid(format!(
            "role {:?} is not one of municipality, dtv, ind, police, ngo, monitor, privacy-officer, operator",
            q.role
        ))
    })?;
    if q.name.trim().is_empty() {
        return Err(Refusal::Invalid("name is empty".into()));
    }
    Ok(NewPartner {
        id: q.id,
        oin,
        name: q.name,
        role,
        purposes: q.purposes,
        jwt_keys: q.jwt_keys,
    })
}

fn partner_info(p: &Partner) -> PartnerInfo {
    let r = &p.record;
    PartnerInfo {
        id: r.id.clone(),
        oin: r.oin.to_string(),
        name: r.name.clone(),
        role: r.role.to_string(),
        purposes: r.purposes.clone(),
        status: if r.status == PartnerStatus::Active {
            "active"
        } else {
            "suspended"
        }
        .into(),
        certificates: r.certificates.iter().map(certificate_info).collect(),
        changed_by: r.changed_by.clone(),
        changed_at: Some(timestamp(r.changed_at)),
    }
}

fn certificate_info(c: &Certificate) -> CertificateInfo {
    CertificateInfo {
        fingerprint: c.fingerprint.clone(),
        state: format!("{:?}", c.state).to_lowercase(),
        subject: c.subject.clone().unwrap_or_default(),
        issuer: c.issuer.clone().unwrap_or_default(),
        serial: c.serial.clone().unwrap_or_default(),
        not_before: c.not_before.map(timestamp),
        not_after: c.not_after.map(timestamp),
        retire_at: c.retire_at.map(timestamp),
        changed_by: c.changed_by.clone(),
        changed_at: Some(timestamp(c.changed_at)),
    }
}
