//! Loading the registry: definitions, records, and every problem named.
use super::*;

fn def(id: &str, oin: &str) -> PartnerDef {
    PartnerDef {
        id: id.into(),
        oin: oin.parse().unwrap(),
        name: id.into(),
        role: Role::Municipality,
        purposes: vec![],
        status: PartnerStatus::Active,
        certificates: vec![],
        fingerprints: vec!["ab".repeat(32)],
        jwt_keys: vec![],
        audit_scope: vec![],
        logboek_url: None,
    }
}

#[test]
fn duplicates_are_all_reported() {
    let err = Registry::build(
        Path::new("partners.toml"),
        vec![
            def("a", "00000099000000010000"),
            def("a", "00000099000000010000"),
        ],
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("partner id a appears twice"), "{err}");
    assert!(
        err.contains("OIN 00000099000000010000 is used by both"),
        "{err}"
    );
    assert!(err.contains("is registered for both a and a"), "{err}");
}

#[test]
fn lookups_by_oin_fingerprint_and_id() {
    let registry = Registry::build(
        Path::new("partners.toml"),
        vec![def("gemeente-x", "00000099000000010000")],
    )
    .unwrap();
    let fp: CertFingerprint = "ab".repeat(32).parse().unwrap();
    let (partner, cert) = registry.certificate(&fp).unwrap();
    assert_eq!(partner.id, "gemeente-x");
    assert!(cert.accepted_at(0));
    let oin: Oin = "00000099000000010000".parse().unwrap();
    assert_eq!(registry.by_oin(&oin).unwrap().id, "gemeente-x");
    assert!(registry.by_id("gemeente-x").unwrap().is_active());
}
