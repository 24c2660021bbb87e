//! Identity is the certificate: connections without one, with one from another CA, with an
//! expired or unregistered one are refused inside the TLS handshake, before any handler.

use std::time::{Duration, SystemTime};

use ketenpoort::identity::dev_pki::DevCa;
use rustls::AlertDescription;

use crate::support::{
    Harness, Options, client_config, handshake, handshake_with, subscribe, write_cert,
};

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

/// Whether a TLS handshake with the gateway gets as far as the server's answer (here its
/// refusal of a client without a certificate), rather than a connection closed unanswered.
async fn the_server_answers_a_handshake(h: &Harness) -> bool {
    use rustls::{ClientConfig, RootCertStore, pki_types::ServerName};
    let mut roots = RootCertStore::empty();
    for ca in ketenpoort::certificate::read_certificates(&h.pki().join("ca.pem")).unwrap() {
        roots.add(ca).unwrap();
    }
    let config = ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", h.port()))
        .await
        .unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let attempt = async {
        let mut tls = connector.connect(name, tcp).await?;
        tokio::io::AsyncWriteExt::write_all(&mut tls, b"PRI * HTTP/2.0\r\n\r\n").await?;
        let mut byte = [0u8; 1];
        tokio::io::AsyncReadExt::read_exact(&mut tls, &mut byte).await?;
        Ok::<_, std::io::Error>(())
    };
    match tokio::time::timeout(Duration::from_secs(5), attempt).await {
        Ok(Err(e)) => e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            .is_some_and(|tls| matches!(tls, rustls::Error::AlertReceived(_))),
        Ok(Ok(())) | Err(_) => false,
    }
}

#[tokio::test]
async fn handshakes_in_progress_are_bounded() {
    let h = Harness::start_tuned(|config| config.server.max_handshakes_in_progress = 1).await;
    assert!(the_server_answers_a_handshake(&h).await);
    // A connection that never starts its handshake holds the only place ...
    let idle = tokio::net::TcpStream::connect(("127.0.0.1", h.port()))
        .await
        .unwrap();
    let mut refused = false;
    for _ in 0..50 {
        if !the_server_answers_a_handshake(&h).await {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        refused,
        "a second handshake was served while the first held the place"
    );
    // ... until it goes away.
    drop(idle);
    let mut served = false;
    for _ in 0..250 {
        if the_server_answers_a_handshake(&h).await {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(served, "the place was not given back");
}

#[tokio::test]
async fn a_session_is_never_resumed_past_the_certificate_checks() {
    let h = Harness::start().await;
    let config = std::sync::Arc::new(client_config(&h, Some(("dtv.pem", "dtv.key"))));
    for attempt in 0..3 {
        let (frame, kind) = handshake_with(config.clone(), h.port()).await.unwrap();
        assert_eq!(frame[3], 0x4, "expected the server's SETTINGS frame first");
        assert_eq!(
            kind,
            rustls::HandshakeKind::Full,
            "connection {attempt} must prove its certificate anew"
        );
    }
}

#[tokio::test]
async fn a_connection_is_closed_when_its_certificate_expires() {
    // A DT&V certificate that expires a few seconds after the gateway starts.
    let h = Harness::start_with(|ca, pki| {
        let started = SystemTime::now() - Duration::from_secs(3600);
        let lifetime = Duration::from_secs(3600 + 4);
        write_cert(ca, pki, "dtv", "00000099100000010000", started, lifetime);
        Options::default()
    })
    .await;
    let mut dtv = h.client("dtv").await;
    let mut stream = subscribe(&mut dtv).await;
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match tokio_stream::StreamExt::next(&mut stream).await {
                Some(Ok(_)) => continue,
                _ => return,
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the stream outlived its certificate");
}
