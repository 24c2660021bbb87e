//! Identity is the certificate: connections without one, with one from another CA, with an
//! expired or unregistered one are refused inside the TLS handshake, before any handler.

use std::{
    io,
    sync::Arc,
    time::{Duration, SystemTime},
};

use ketenpoort::identity::{
    certificate::{read_certificates, read_private_key},
    dev_pki::DevCa,
};
use rustls::{AlertDescription, ClientConfig, RootCertStore, pki_types::ServerName};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use tokio_rustls::TlsConnector;

use crate::support::{Harness, Options, write_cert};

const DAY: Duration = Duration::from_secs(24 * 3600);

/// Connects with raw TLS and HTTP/2, returning what the server sent first, or the TLS error.
async fn handshake(h: &Harness, identity: Option<(&str, &str)>) -> Result<Vec<u8>, rustls::Error> {
    ketenpoort::identity::install_crypto_provider();
    let mut roots = RootCertStore::empty();
    for ca in read_certificates(&h.pki().join("ca.pem")).unwrap() {
        roots.add(ca).unwrap();
    }
    let builder = ClientConfig::builder().with_root_certificates(roots);
    let mut config = match identity {
        Some((cert, key)) => builder
            .with_client_auth_cert(
                read_certificates(&h.pki().join(cert)).unwrap(),
                read_private_key(&h.pki().join(key)).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = TcpStream::connect(("127.0.0.1", h.port())).await.unwrap();
    let server_name = ServerName::try_from("localhost").unwrap();
    let result: io::Result<Vec<u8>> = async {
        let mut tls = TlsConnector::from(Arc::new(config))
            .connect(server_name, tcp)
            .await?;
        tls.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await?;
        let mut buf = vec![0u8; 9];
        tls.read_exact(&mut buf).await?;
        Ok(buf)
    }
    .await;
    result.map_err(|e| {
        e.get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            .cloned()
            .unwrap_or_else(|| panic!("not a TLS error: {e}"))
    })
}

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
