//! `AdminService`: operators register partners and manage their certificates, without a
//! restart. Proto ⇄ domain only; the checks, the saving with an audit record and the reload
//! are in [`crate::exchange::registry_changes`].

use std::{sync::Arc, time::Duration};

use tonic::{Request, Response, Status};

use super::{
    credentials,
    proto::{
        AddCertificateRequest, AddCertificateResponse, AddPartnerRequest, AddPartnerResponse,
        CertificateInfo, DeadLetter, ExpiringCertificate, GetPartnerRequest, GetPartnerResponse,
        ListDeadLettersRequest, ListDeadLettersResponse, ListExpiringCertificatesRequest,
        ListExpiringCertificatesResponse, ListPartnersRequest, ListPartnersResponse, PartnerInfo,
        ReloadTrustAnchorsRequest, ReloadTrustAnchorsResponse, ResumePartnerRequest,
        ResumePartnerResponse, RetireCertificateRequest, RetireCertificateResponse,
        RevokeCertificateRequest, RevokeCertificateResponse, SetLogboekUrlRequest,
        SetLogboekUrlResponse, SuspendPartnerRequest, SuspendPartnerResponse,
        admin_service_server::AdminService,
    },
    timestamp, unix_ms,
};
use crate::{
    exchange::{
        Exchange, ExchangeError, deliveries,
        lifecycle::{NewPartner, Refusal},
        registry_changes::Operator,
    },
    ids::InvalidOin,
    registry::{Certificate, Partner, PartnerStatus, Role},
};

/// Dead letters listed by default, and at most.
const DEFAULT_DEAD_LETTERS: u32 = 100;
const MAX_DEAD_LETTERS: u32 = 1000;
/// Default period of `ListExpiringCertificates`: 30 days.
const DEFAULT_EXPIRING: Duration = Duration::from_secs(30 * 24 * 3600);

/// The `AdminService` implementation.
#[derive(Clone)]
pub struct AdminApi {
    exchange: Arc<Exchange>,
}

impl AdminApi {
    /// The service over the gateway's use cases.
    pub fn new(exchange: Arc<Exchange>) -> Self {
        Self { exchange }
    }

    /// Runs a registry change as the operator behind `request`; answers with the changed
    /// partner.
    async fn change<T>(
        &self,
        request: &Request<T>,
        method: &str,
        change: impl AsyncFnOnce(&Exchange, &Operator) -> Result<Arc<Partner>, ExchangeError>,
    ) -> Result<Option<PartnerInfo>, Status> {
        let operator = self
            .exchange
            .operator(&credentials(request), method)
            .await?;
        let partner = change(&self.exchange, &operator).await?;
        Ok(Some(partner_info(&partner)))
    }
}

#[tonic::async_trait]
impl AdminService for AdminApi {
    async fn list_partners(
        &self,
        request: Request<ListPartnersRequest>,
    ) -> Result<Response<ListPartnersResponse>, Status> {
        self.exchange
            .operator(&credentials(&request), "ListPartners")
            .await?;
        let registry = self.exchange.registry();
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
        self.exchange
            .operator(&credentials(&request), "GetPartner")
            .await?;
        let id = request.into_inner().id;
        let registry = self.exchange.registry();
        let partner = registry
            .by_id(&id)
            .ok_or_else(|| ExchangeError::Refused(Refusal::UnknownPartner(id)))?;
        Ok(Response::new(GetPartnerResponse {
            partner: Some(partner_info(partner)),
        }))
    }

    async fn add_partner(
        &self,
        request: Request<AddPartnerRequest>,
    ) -> Result<Response<AddPartnerResponse>, Status> {
        let new = parse_new_partner(request.get_ref().clone());
        let partner = self
            .change(&request, "AddPartner", async |x, op| {
                x.add_partner(op, new).await
            })
            .await?;
        Ok(Response::new(AddPartnerResponse { partner }))
    }

    async fn add_certificate(
        &self,
        request: Request<AddCertificateRequest>,
    ) -> Result<Response<AddCertificateResponse>, Status> {
        let q = request.get_ref();
        let partner = self
            .change(&request, "AddCertificate", async |x, op| {
                x.add_certificate(
                    op,
                    &q.partner_id,
                    &q.certificate_pem,
                    version(q.expected_version),
                )
                .await
            })
            .await?;
        Ok(Response::new(AddCertificateResponse { partner }))
    }

    async fn retire_certificate(
        &self,
        request: Request<RetireCertificateRequest>,
    ) -> Result<Response<RetireCertificateResponse>, Status> {
        let q = request.get_ref();
        let at = q.retire_at.as_ref().map(unix_ms);
        let partner = self
            .change(&request, "RetireCertificate", async |x, op| {
                x.retire_certificate(op, &q.fingerprint, at, version(q.expected_version))
                    .await
            })
            .await?;
        Ok(Response::new(RetireCertificateResponse { partner }))
    }

    async fn revoke_certificate(
        &self,
        request: Request<RevokeCertificateRequest>,
    ) -> Result<Response<RevokeCertificateResponse>, Status> {
        let q = request.get_ref();
        let reason = non_empty(&q.reason);
        let partner = self
            .change(&request, "RevokeCertificate", async |x, op| {
                x.revoke_certificate(op, &q.fingerprint, reason, version(q.expected_version))
                    .await
            })
            .await?;
        Ok(Response::new(RevokeCertificateResponse { partner }))
    }

    async fn suspend_partner(
        &self,
        request: Request<SuspendPartnerRequest>,
    ) -> Result<Response<SuspendPartnerResponse>, Status> {
        let q = request.get_ref();
        let reason = non_empty(&q.reason);
        let partner = self
            .change(&request, "SuspendPartner", async |x, op| {
                x.set_partner_status(
                    op,
                    &q.id,
                    PartnerStatus::Suspended,
                    reason,
                    version(q.expected_version),
                )
                .await
            })
            .await?;
        Ok(Response::new(SuspendPartnerResponse { partner }))
    }

    async fn resume_partner(
        &self,
        request: Request<ResumePartnerRequest>,
    ) -> Result<Response<ResumePartnerResponse>, Status> {
        let q = request.get_ref();
        let partner = self
            .change(&request, "ResumePartner", async |x, op| {
                let expected = version(q.expected_version);
                x.set_partner_status(op, &q.id, PartnerStatus::Active, None, expected)
                    .await
            })
            .await?;
        Ok(Response::new(ResumePartnerResponse { partner }))
    }

    async fn set_logboek_url(
        &self,
        request: Request<SetLogboekUrlRequest>,
    ) -> Result<Response<SetLogboekUrlResponse>, Status> {
        let q = request.get_ref();
        let url = non_empty(&q.logboek_url);
        let partner = self
            .change(&request, "SetLogboekUrl", async |x, op| {
                x.set_logboek_url(op, &q.id, url, version(q.expected_version))
                    .await
            })
            .await?;
        Ok(Response::new(SetLogboekUrlResponse { partner }))
    }

    async fn list_expiring_certificates(
        &self,
        request: Request<ListExpiringCertificatesRequest>,
    ) -> Result<Response<ListExpiringCertificatesResponse>, Status> {
        self.exchange
            .operator(&credentials(&request), "ListExpiringCertificates")
            .await?;
        let within = match request.into_inner().within_seconds {
            0 => DEFAULT_EXPIRING,
            secs => Duration::from_secs(secs),
        };
        let certificates = self
            .exchange
            .expiring(within)
            .into_iter()
            .map(|e| ExpiringCertificate {
                partner_id: e.partner.id.clone(),
                partner_oin: e.partner.oin.to_string(),
                seconds_left: e.seconds_left,
                only_certificate: e.only_certificate,
                certificate: Some(certificate_info(&e.certificate)),
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
        let operator = self
            .exchange
            .operator(&credentials(&request), "ReloadTrustAnchors")
            .await?;
        self.exchange.reload_trust_anchors(&operator).await?;
        Ok(Response::new(ReloadTrustAnchorsResponse {}))
    }

    async fn list_dead_letters(
        &self,
        request: Request<ListDeadLettersRequest>,
    ) -> Result<Response<ListDeadLettersResponse>, Status> {
        let operator = self
            .exchange
            .operator(&credentials(&request), "ListDeadLetters")
            .await?;
        let q = request.into_inner();
        let limit = match q.limit {
            0 => DEFAULT_DEAD_LETTERS,
            n => n.min(MAX_DEAD_LETTERS),
        };
        let receiver = (!q.partner_id.is_empty()).then_some(q.partner_id.as_str());
        let letters = self
            .exchange
            .dead_letters(&operator, receiver, limit as usize)
            .await?;
        Ok(Response::new(ListDeadLettersResponse {
            dead_letters: letters.into_iter().map(dead_letter).collect(),
        }))
    }
}

fn dead_letter(d: deliveries::DeadLetter) -> DeadLetter {
    DeadLetter {
        delivery_id: d.delivery_id,
        signal_id: d.signal_id,
        signal_type: d.signal_type,
        receiver_oin: d.receiver_oin,
        receiver_id: d.receiver_id,
        sender_oin: d.sender_oin,
        accepted_at: Some(timestamp(d.accepted_at)),
        expired_at: Some(timestamp(d.expired_at)),
        attempts: u32::try_from(d.attempts).unwrap_or(u32::MAX),
    }
}

fn non_empty(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_string())
}

fn parse_new_partner(q: AddPartnerRequest) -> Result<NewPartner, Refusal> {
    let oin = q
        .oin
        .parse()
        .map_err(|e: InvalidOin| Refusal::Invalid(format!("oin: {e}")))?;
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
        logboek_url: non_empty(&q.logboek_url),
    })
}

/// The version a change names; 0 names none (the version in force).
fn version(expected: u64) -> Option<i64> {
    match expected {
        0 => None,
        v => Some(i64::try_from(v).unwrap_or(i64::MAX)),
    }
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
        version: u64::try_from(r.version).unwrap_or(0),
        logboek_url: r.logboek_url.clone().unwrap_or_default(),
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
