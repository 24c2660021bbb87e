//! How partners and their certificates print: a line per partner with a line per
//! certificate below it, or one JSON object per partner (or expiring certificate) with
//! `--json`; and dead letters, a line (or JSON object) each.

use std::io;

use ketenpoort::api::proto::{
    AddCertificateResponse, CertificateInfo, DeadLetter, ExpiringCertificate, GetPartnerResponse,
    PartnerInfo, ResumePartnerResponse, RetireCertificateResponse, RevokeCertificateResponse,
    SetLogboekUrlResponse, SuspendPartnerResponse,
};
use tonic::{Request, Response, Status};

use super::{Admin, Output};
use crate::cli::{
    args::PersonArgs,
    output::{Row, print_rows},
    times::{rfc3339_of, when},
};

/// Prints partners with their certificates.
pub fn print_partners(partners: &[PartnerInfo], json: bool) -> io::Result<()> {
    print_rows(partners, json, None, |_| None)
}

impl Row for PartnerInfo {
    fn json(&self) -> serde_json::Value {
        let p = self;
        let certs: Vec<serde_json::Value> = p.certificates.iter().map(cert_json).collect();
        serde_json::json!({
            "id": p.id, "oin": p.oin, "name": p.name, "role": p.role, "purposes": p.purposes,
            "status": p.status, "certificates": certs, "changed_by": p.changed_by,
            "changed_at": when(p.changed_at.as_ref()), "version": p.version,
            "logboek_url": p.logboek_url,
        })
    }

    fn text(&self) -> String {
        let p = self;
        let mut lines = vec![format!(
            "{:<24} {:<20} {:<16} {:<9} {:<28} {}",
            p.id,
            p.oin,
            p.role,
            p.status,
            p.purposes.join(","),
            p.name
        )];
        if !p.logboek_url.is_empty() {
            lines.push(format!("    Logboek read API {}", p.logboek_url));
        }
        for c in &p.certificates {
            let retire = rfc3339_of(c.retire_at.as_ref())
                .map(|t| format!(" until {t}"))
                .unwrap_or_default();
            lines.push(format!(
                "    {:<9}{} {}  valid to {}  {}",
                c.state,
                retire,
                c.fingerprint,
                when(c.not_after.as_ref()),
                c.subject
            ));
        }
        lines.join("\n")
    }
}

fn cert_json(c: &CertificateInfo) -> serde_json::Value {
    serde_json::json!({
        "fingerprint": c.fingerprint, "state": c.state, "subject": c.subject, "issuer": c.issuer,
        "serial": c.serial, "not_before": when(c.not_before.as_ref()), "not_after": when(c.not_after.as_ref()),
        "retire_at": rfc3339_of(c.retire_at.as_ref()), "changed_by": c.changed_by,
        "changed_at": when(c.changed_at.as_ref()),
    })
}

impl Row for ExpiringCertificate {
    fn json(&self) -> serde_json::Value {
        let (e, cert) = (self, self.certificate.clone().unwrap_or_default());
        serde_json::json!({
            "partner": e.partner_id, "oin": e.partner_oin,
            "fingerprint": cert.fingerprint, "not_after": when(cert.not_after.as_ref()),
            "days_left": e.seconds_left / 86_400, "only_certificate": e.only_certificate,
        })
    }

    fn text(&self) -> String {
        let (e, cert) = (self, self.certificate.clone().unwrap_or_default());
        format!(
            "{:<24} {:<20} {}  expires {} ({} days){}",
            e.partner_id,
            e.partner_oin,
            &cert.fingerprint[..16.min(cert.fingerprint.len())],
            when(cert.not_after.as_ref()),
            e.seconds_left / 86_400,
            if e.only_certificate {
                "  ONLY CERTIFICATE: rotate now"
            } else {
                ""
            }
        )
    }
}

impl Row for DeadLetter {
    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "delivery_id": self.delivery_id, "signal_id": self.signal_id,
            "signal_type": self.signal_type, "receiver": self.receiver_id,
            "receiver_oin": self.receiver_oin, "sender_oin": self.sender_oin,
            "accepted_at": when(self.accepted_at.as_ref()),
            "expired_at": when(self.expired_at.as_ref()), "attempts": self.attempts,
        })
    }

    fn text(&self) -> String {
        format!(
            "{:<24} {:<20} {:<22} expired {} (sent {}, streamed {}x)  delivery {}",
            self.receiver_id,
            self.receiver_oin,
            self.signal_type,
            when(self.expired_at.as_ref()),
            when(self.accepted_at.as_ref()),
            self.attempts,
            self.delivery_id
        )
    }
}

/// An answer of `AdminService` that carries the one partner it changed or showed.
pub(super) trait OnePartner {
    /// That partner.
    fn partner(self) -> Option<PartnerInfo>;
}

macro_rules! one_partner {
    ($($answer:ty),*) => {
        $(impl OnePartner for $answer {
            fn partner(self) -> Option<PartnerInfo> {
                self.partner
            }
        })*
    };
}

one_partner!(
    GetPartnerResponse,
    AddCertificateResponse,
    RetireCertificateResponse,
    RevokeCertificateResponse,
    SuspendPartnerResponse,
    ResumePartnerResponse,
    SetLogboekUrlResponse
);

/// Calls `method` of `AdminService` as the operator and prints the partner it answers with.
pub(super) async fn one<M, A: OnePartner>(
    operator: &PersonArgs,
    output: &Output,
    message: M,
    method: impl AsyncFnOnce(&mut Admin, Request<M>) -> Result<Response<A>, Status>,
) -> anyhow::Result<()> {
    let answer = operator
        .connect(Admin::new)
        .await?
        .call(message, method)
        .await?;
    print_partners(answer.partner().as_slice(), output.json)?;
    Ok(())
}
