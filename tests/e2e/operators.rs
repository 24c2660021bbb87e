//! Operators over real mTLS: rotation with overlap, revocation that refuses the next
//! handshake and closes an open stream within 5 s, suspension that keeps the queue, every
//! refusal of a certificate, and the AdminService's own refusals.

use std::time::{Duration, SystemTime};

use ketenpoort::api::{
    client::ClientTls,
    proto::{
        AddCertificateRequest, ListExpiringCertificatesRequest, ListPartnersRequest,
        ResumePartnerRequest, RetireCertificateRequest, RevokeCertificateRequest,
        SuspendPartnerRequest, WhatMayIRequest, admin_service_client::AdminServiceClient,
        policy_service_client::PolicyServiceClient,
    },
};
use rustls::AlertDescription;
use tokio_stream::StreamExt;
use tonic::{Code, transport::Channel};

use crate::support::{Harness, handshake, next_delivery, subscribe, write_cert};

const DAY: Duration = Duration::from_secs(24 * 3600);
const DTV_OIN: &str = "00000099100000010000";

async fn admin(h: &Harness) -> AdminServiceClient<Channel> {
    AdminServiceClient::new(h.channel("beheer").await)
}

fn op<T>(h: &Harness, message: T) -> tonic::Request<T> {
    h.with_token("beheer", "ops@beheer.example", message)
}

/// A second certificate for DT&V, issued by the test CA, and its fingerprint.
fn new_dtv_cert(
    h: &Harness,
    name: &str,
    not_before: SystemTime,
    validity: Duration,
) -> (String, String) {
    let ca = ketenpoort::identity::dev_pki::DevCa::load(&h.pki()).unwrap();
    let path = write_cert(&ca, &h.pki(), name, DTV_OIN, not_before, validity);
    let pem = std::fs::read_to_string(&path).unwrap();
    let fp = ketenpoort::exchange::lifecycle::inspect(&pem)
        .unwrap()
        .info
        .fingerprint
        .to_string();
    (pem, fp)
}

fn fingerprint_of(h: &Harness, file: &str) -> String {
    let pem = std::fs::read_to_string(h.pki().join(file)).unwrap();
    ketenpoort::exchange::lifecycle::inspect(&pem)
        .unwrap()
        .info
        .fingerprint
        .to_string()
}

/// Asks WhatMayI with a given certificate: Ok when the gateway lets it in.
async fn works(h: &Harness, cert: &str) -> bool {
    let tls = ClientTls {
        ca: h.pki().join("ca.pem"),
        certificate: h.pki().join(format!("{cert}.pem")),
        private_key: h.pki().join(format!("{cert}.key")),
    };
    match tls.channel(&h.endpoint()).await {
        Ok(channel) => PolicyServiceClient::new(channel)
            .what_may_i(WhatMayIRequest {})
            .await
            .is_ok(),
        Err(_) => false,
    }
}

#[tokio::test]
async fn rotation_with_overlap_then_only_the_new_certificate() {
    let h = Harness::start().await;
    let (pem, new_fp) = new_dtv_cert(&h, "dtv-2027", SystemTime::now(), 365 * DAY);
    assert!(!works(&h, "dtv-2027").await, "not registered yet");
    let mut admin = admin(&h).await;
    let partner = admin
        .add_certificate(op(
            &h,
            AddCertificateRequest {
                partner_id: "dtv".into(),
                certificate_pem: pem,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .partner
        .unwrap();
    assert_eq!(partner.certificates.len(), 2);
    assert!(partner.certificates.iter().all(|c| c.state == "active"));
    assert!(
        works(&h, "dtv").await && works(&h, "dtv-2027").await,
        "both work during the overlap"
    );

    let old_fp = fingerprint_of(&h, "dtv.pem");
    let retired = admin
        .retire_certificate(op(
            &h,
            RetireCertificateRequest {
                fingerprint: old_fp,
                retire_at: None,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .partner
        .unwrap();
    assert!(retired.certificates.iter().any(|c| c.state == "retiring"));
    assert!(
        !works(&h, "dtv").await,
        "the retired certificate is refused"
    );
    assert!(works(&h, "dtv-2027").await, "the new one still works");
    assert_eq!(
        handshake(&h, Some(("dtv.pem", "dtv.key")))
            .await
            .unwrap_err(),
        rustls::Error::AlertReceived(AlertDescription::AccessDenied)
    );
    let _ = new_fp;
}

#[tokio::test]
async fn revocation_refuses_the_next_handshake_and_closes_an_open_stream_within_5s() {
    let h = Harness::start().await;
    let mut dtv = h.client("dtv").await;
    let mut stream = subscribe(&mut dtv).await;
    let marker = stream.next().await.unwrap().unwrap();
    assert!(marker.caught_up);

    let mut admin = admin(&h).await;
    let started = tokio::time::Instant::now();
    admin
        .revoke_certificate(op(
            &h,
            RevokeCertificateRequest {
                fingerprint: fingerprint_of(&h, "dtv.pem"),
                reason: "private key leaked".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match stream.next().await {
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return,
            }
        }
    })
    .await;
    assert!(
        ended.is_ok(),
        "the open Subscribe stream was not closed within 5 s"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        handshake(&h, Some(("dtv.pem", "dtv.key")))
            .await
            .unwrap_err(),
        rustls::Error::AlertReceived(AlertDescription::AccessDenied)
    );
}

#[tokio::test]
async fn a_suspended_partner_is_refused_and_its_queue_is_kept() {
    let h = Harness::start().await;
    let mut utrecht = h.client("gemeente-utrecht").await;
    let receipt = h.send_intake(&mut utrecht, "before", &["dtv"]).await;
    let mut admin = admin(&h).await;
    admin
        .suspend_partner(op(
            &h,
            SuspendPartnerRequest {
                id: "dtv".into(),
                reason: "investigation".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    assert!(
        !works(&h, "dtv").await,
        "a suspended partner cannot connect"
    );
    let status = utrecht
        .send(h.request(
            "after",
            "INTAKE",
            &["dtv"],
            "Intake",
            crate::support::INTAKE,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(
        status.message().contains("is suspended"),
        "{}",
        status.message()
    );

    admin
        .resume_partner(op(
            &h,
            ResumePartnerRequest {
                id: "dtv".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    let mut dtv = h.client("dtv").await;
    let mut stream = subscribe(&mut dtv).await;
    let kept = next_delivery(&mut stream, Duration::from_secs(5))
        .await
        .expect("the queued delivery");
    assert_eq!(kept.signal_id, receipt.signal_id);
}

#[tokio::test]
async fn certificates_that_do_not_fit_are_refused_with_the_reason() {
    let h = Harness::start().await;
    let mut admin = admin(&h).await;
    let now = SystemTime::now();
    let ca = ketenpoort::identity::dev_pki::DevCa::load(&h.pki()).unwrap();
    let other_ca = ketenpoort::identity::dev_pki::DevCa::generate("Another CA").unwrap();
    let read = |path: std::path::PathBuf| std::fs::read_to_string(path).unwrap();
    let cases = [
        (
            read(write_cert(
                &ca,
                &h.pki(),
                "expired",
                DTV_OIN,
                now - 30 * DAY,
                DAY,
            )),
            Code::InvalidArgument,
            "expired on",
        ),
        (
            read(write_cert(
                &ca,
                &h.pki(),
                "future",
                DTV_OIN,
                now + 30 * DAY,
                DAY,
            )),
            Code::InvalidArgument,
            "not valid before",
        ),
        (
            read(write_cert(
                &other_ca,
                &h.pki(),
                "foreign",
                DTV_OIN,
                now,
                DAY,
            )),
            Code::InvalidArgument,
            "does not chain to a configured trust anchor",
        ),
        (
            read(write_cert(
                &ca,
                &h.pki(),
                "wrong-oin",
                "00000099100000020000",
                now,
                DAY,
            )),
            Code::InvalidArgument,
            "carries OIN 00000099100000020000",
        ),
        (
            read(h.pki().join("ind.pem")),
            Code::InvalidArgument,
            "carries OIN",
        ),
        (
            read(h.pki().join("dtv.pem")),
            Code::AlreadyExists,
            "already registered for partner dtv",
        ),
        (
            "not a certificate".to_string(),
            Code::InvalidArgument,
            "no usable certificate",
        ),
    ];
    for (pem, code, expected) in cases {
        let status = admin
            .add_certificate(op(
                &h,
                AddCertificateRequest {
                    partner_id: "dtv".into(),
                    certificate_pem: pem,
                    ..Default::default()
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(status.code(), code, "{expected}: {status:?}");
        assert!(
            status.message().contains(expected),
            "{expected}: {}",
            status.message()
        );
    }
    let status = admin
        .add_certificate(op(
            &h,
            AddCertificateRequest {
                partner_id: "nobody".into(),
                certificate_pem: String::new(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
}

#[tokio::test]
async fn the_admin_service_needs_the_operator_role_and_a_valid_token() {
    let h = Harness::start().await;
    let mut as_operator = admin(&h).await;
    let status = as_operator
        .list_partners(ListPartnersRequest {})
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    let forged = h.with_token("programma-fg", "ops@beheer.example", ListPartnersRequest {});
    assert_eq!(
        as_operator.list_partners(forged).await.unwrap_err().code(),
        Code::Unauthenticated
    );

    let mut as_officer = AdminServiceClient::new(h.channel("programma-fg").await);
    let status = as_officer
        .list_partners(h.with_token(
            "programma-fg",
            "fg@programma.example",
            ListPartnersRequest {},
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");

    let partners = as_operator
        .list_partners(op(&h, ListPartnersRequest {}))
        .await
        .unwrap()
        .into_inner()
        .partners;
    assert!(
        partners
            .iter()
            .any(|p| p.id == "dtv" && p.certificates.len() == 1)
    );
    let (pem, _) = new_dtv_cert(&h, "dtv-short", SystemTime::now(), 10 * DAY);
    as_operator
        .add_certificate(op(
            &h,
            AddCertificateRequest {
                partner_id: "dtv".into(),
                certificate_pem: pem,
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    let expiring = as_operator
        .list_expiring_certificates(op(
            &h,
            ListExpiringCertificatesRequest {
                within_seconds: 30 * 24 * 3600,
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .certificates;
    assert_eq!(expiring.len(), 1, "{expiring:?}");
    assert_eq!(expiring[0].partner_id, "dtv");
    assert!(expiring[0].seconds_left > 9 * 24 * 3600 && expiring[0].seconds_left <= 10 * 24 * 3600);
    assert!(!expiring[0].only_certificate);
}

#[tokio::test]
async fn a_partner_no_person_may_act_for_is_permission_denied() {
    let h = Harness::start().await;
    // DT&V registers no JWT keys: no person acts for it at the operators' service.
    let mut admin = AdminServiceClient::new(h.channel("dtv").await);
    let mut request = tonic::Request::new(ListPartnersRequest {});
    request
        .metadata_mut()
        .insert("authorization", "Bearer not-a-jwt".parse().unwrap());
    let status = admin.list_partners(request).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
    assert!(
        status.message().contains("no JWT keys"),
        "{}",
        status.message()
    );
}
