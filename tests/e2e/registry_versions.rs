//! Registry changes with optimistic concurrency: a change names the partner's version it was
//! made against; a stale one is refused with ABORTED, is recorded, and changes nothing; and a
//! record made before a revocation (another operator, another replica) never brings the
//! revoked certificate back.

use ketenpoort::{
    api::proto::{
        GetPartnerRequest, PartnerInfo, ResumePartnerRequest, RevokeCertificateRequest,
        SuspendPartnerRequest, admin_service_client::AdminServiceClient,
    },
    audit::EventKind,
    registry::CertState,
    store::{AuditFilter, StoreError},
};
use tonic::{Code, transport::Channel};

use crate::support::{Harness, handshake};

async fn admin(h: &Harness) -> AdminServiceClient<Channel> {
    AdminServiceClient::new(h.channel("beheer").await)
}

async fn dtv(h: &Harness, admin: &mut AdminServiceClient<Channel>) -> PartnerInfo {
    let request = GetPartnerRequest { id: "dtv".into() };
    let answer = admin
        .get_partner(h.with_token("beheer", "ops@beheer.example", request))
        .await
        .unwrap();
    answer.into_inner().partner.unwrap()
}

#[tokio::test]
async fn a_change_against_an_older_version_is_aborted_and_changes_nothing() {
    let h = Harness::start().await;
    let mut admin = admin(&h).await;
    let before = dtv(&h, &mut admin).await;
    assert!(before.version >= 1, "a stored partner has a version");

    let suspend = SuspendPartnerRequest {
        id: "dtv".into(),
        reason: "investigation".into(),
        expected_version: before.version,
    };
    let suspended = admin
        .suspend_partner(h.with_token("beheer", "ops@beheer.example", suspend))
        .await
        .unwrap()
        .into_inner()
        .partner
        .unwrap();
    assert_eq!(suspended.status, "suspended");
    assert_eq!(suspended.version, before.version + 1);

    // A second operator still looking at the version before the suspension.
    let resume = ResumePartnerRequest {
        id: "dtv".into(),
        expected_version: before.version,
    };
    let status = admin
        .resume_partner(h.with_token("beheer", "other@beheer.example", resume))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Aborted, "{}", status.message());
    assert!(
        status.message().contains("read it again"),
        "the refusal says what to do: {}",
        status.message()
    );
    let after = dtv(&h, &mut admin).await;
    assert_eq!(after.status, "suspended", "a stale change changes nothing");
    assert_eq!(after.version, suspended.version);

    let filter = AuditFilter {
        limit: 1000,
        ..AuditFilter::default()
    };
    let records = h.store().audit_records(&filter).await.unwrap();
    let refused = records
        .iter()
        .filter(|r| r.record.event.event == EventKind::AdminRefused)
        .any(|r| r.record.event.detail["method"] == "ResumePartner");
    assert!(refused, "the stale change is recorded as refused");
}

#[tokio::test]
async fn a_record_made_before_a_revocation_never_brings_the_certificate_back() {
    let h = Harness::start().await;
    let dtv_oin = h.oin("dtv");
    // What another replica read a moment before the revocation.
    let records = h.store().registry_records().await.unwrap();
    let stale = records
        .into_iter()
        .find(|r| r.oin.as_str() == dtv_oin)
        .unwrap();
    let fingerprint = stale.certificates[0].fingerprint.clone();

    let mut admin = admin(&h).await;
    let revoke = RevokeCertificateRequest {
        fingerprint: fingerprint.clone(),
        reason: "private key leaked".into(),
        expected_version: 0,
    };
    admin
        .revoke_certificate(h.with_token("beheer", "ops@beheer.example", revoke))
        .await
        .unwrap();

    // That replica now saves its change (here: a new name), made against the old record.
    let mut overtaken = stale.clone();
    overtaken.name = "DT&V (renamed)".into();
    let saved = h.store().save_records(vec![overtaken], vec![]).await;
    assert!(
        matches!(saved, Err(StoreError::Stale { .. })),
        "a record made before the revocation is refused: {saved:?}"
    );
    // Even when it claims the current version, it may not undo the revocation.
    let current = dtv(&h, &mut admin).await.version;
    let mut forged = stale;
    forged.version = i64::try_from(current).unwrap();
    let saved = h.store().save_records(vec![forged], vec![]).await;
    assert!(matches!(saved, Err(StoreError::Stale { .. })), "{saved:?}");

    let stored = h.store().registry_records().await.unwrap();
    let after = stored.iter().find(|r| r.oin.as_str() == dtv_oin).unwrap();
    let cert = after
        .certificates
        .iter()
        .find(|c| c.fingerprint == fingerprint)
        .unwrap();
    assert_eq!(cert.state, CertState::Revoked);
    assert_ne!(after.name, "DT&V (renamed)");
    assert!(
        handshake(&h, Some(("dtv.pem", "dtv.key"))).await.is_err(),
        "the revoked certificate stays refused"
    );
}
