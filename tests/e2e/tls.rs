//! Identity is the certificate: connections without one, with one from another CA, with an
//! expired or unregistered one are refused inside the TLS handshake, before any handler.

use std::time::{Duration, SystemTime};

use ketenpoort::identity::dev_pki::DevCa;
use rustls::AlertDescription;

use crate::support::{Harness, Options, handshake, write_cert};

const DAY: Duration = Duration::from_secs(24 * 3600);

#[tokio::test]
async fn a_registered_certificate_gets_an_http2_session() {
    let h = Harness::start().await;
    let frame = handshake(&h, Some(("dtv.pem", "dtv.key"))).await.unwrap();
    assert_eq!(frame[3], 0x4, "expected the server's SETTINGS frame first");
}

#[tokio::test]
async fn a_connection_without_certificate_is_refused() {
    let h = Harness::start().await;
    let err = handshake(&h, None).await.unwrap_err();
    assert_eq!(
        err,
        rustls::Error::AlertReceived(AlertDescription::CertificateRequired)
    );
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused() {
    let h = Harness::start_with(|_, pki| {
        let other = DevCa::generate("Some other CA").unwrap();
        write_cert(
            &other,
            pki,
            "foreign",
            "00000099100000010000",
            SystemTime::now(),
            DAY,
        );
        Options::default()
    })
    .await;
    let err = handshake(&h, Some(("foreign.pem", "foreign.key")))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        rustls::Error::AlertReceived(AlertDescription::UnknownCA)
    );
}

#[tokio::test]
async fn a_valid_but_unregistered_certificate_is_refused() {
    let h = Harness::start_with(|ca, pki| {
        write_cert(
            ca,
            pki,
            "unregistered",
            "00000099100000010000",
            SystemTime::now(),
            DAY,
        );
        Options::default()
    })
    .await;
    let err = handshake(&h, Some(("unregistered.pem", "unregistered.key")))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        rustls::Error::AlertReceived(AlertDescription::AccessDenied)
    );
}

#[tokio::test]
async fn an_expired_registered_certificate_is_refused() {
    let h = Harness::start_with(|ca, pki| {
        let long_ago = SystemTime::now() - 30 * DAY;
        let cert = write_cert(
            ca,
            pki,
            "dtv-expired",
            "00000099100000010000",
            long_ago,
            DAY,
        );
        Options {
            extra_certificates: vec![("dtv".into(), cert)],
        }
    })
    .await;
    let err = handshake(&h, Some(("dtv-expired.pem", "dtv-expired.key")))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        rustls::Error::AlertReceived(AlertDescription::CertificateExpired)
    );
}
