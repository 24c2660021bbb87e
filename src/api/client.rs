//! The partner side: a mutual-TLS channel to a gateway, used by `ketenpoort send` and
//! `ketenpoort receive` (and by the tests), and conversion of catalogue signals from JSON.

use std::path::{Path, PathBuf};

use prost_reflect::DynamicMessage;
use prost_types::Any;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use super::proto::signal_service_client::SignalServiceClient;
use crate::catalogue::{Catalogue, type_url};

/// The files a partner system connects with.
#[derive(Debug, Clone)]
pub struct ClientTls {
    /// CA certificate(s) the gateway's server certificate must chain to.
    pub ca: PathBuf,
    /// The partner's client certificate.
    pub certificate: PathBuf,
    /// The partner's private key.
    pub private_key: PathBuf,
}

/// Why the client could not connect or build a request.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The connection failed.
    #[error("cannot connect to {endpoint}: {source}")]
    Connect {
        /// The gateway address.
        endpoint: String,
        /// The transport error.
        source: tonic::transport::Error,
    },
    /// The signal JSON does not match the catalogue message.
    #[error("{0}")]
    Payload(String),
}

// === impl ClientTls ===

impl ClientTls {
    /// The development PKI files of partner `id` in `dir` (`ca.pem`, `<id>.pem`, `<id>.key`).
    pub fn dev(dir: &Path, id: &str) -> Self {
        Self {
            ca: dir.join("ca.pem"),
            certificate: dir.join(format!("{id}.pem")),
            private_key: dir.join(format!("{id}.key")),
        }
    }

    /// Opens a mutual-TLS channel to `endpoint` (e.g. `https://localhost:8443`).
    pub async fn connect(
        &self,
        endpoint: &str,
    ) -> Result<SignalServiceClient<Channel>, ClientError> {
        Ok(SignalServiceClient::new(self.channel(endpoint).await?))
    }

    /// Opens a mutual-TLS channel to `endpoint`, for any of the gateway's services.
    pub async fn channel(&self, endpoint: &str) -> Result<Channel, ClientError> {
        let read = |path: &PathBuf| {
            std::fs::read(path).map_err(|source| ClientError::Read {
                path: path.clone(),
                source,
            })
        };
        let tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(read(&self.ca)?))
            .identity(Identity::from_pem(
                read(&self.certificate)?,
                read(&self.private_key)?,
            ));
        let connect_err = |source| ClientError::Connect {
            endpoint: endpoint.to_string(),
            source,
        };
        Endpoint::from_shared(endpoint.to_string())
            .map_err(connect_err)?
            .tls_config(tls)
            .map_err(connect_err)?
            .connect()
            .await
            .map_err(connect_err)
    }
}

/// Builds the `Any` payload of catalogue signal `signal` from its proto3 JSON form.
pub fn payload_from_json(
    catalogue: &Catalogue,
    signal: &str,
    json: &str,
) -> Result<Any, ClientError> {
    let descriptor = catalogue.signal(signal).ok_or_else(|| {
        ClientError::Payload(format!(
            "unknown signal type {signal}; use one of: {}",
            catalogue.signal_names().collect::<Vec<_>>().join(", ")
        ))
    })?;
    let mut deserializer = serde_json::Deserializer::from_str(json);
    let message = DynamicMessage::deserialize(descriptor.clone(), &mut deserializer)
        .map_err(|e| ClientError::Payload(format!("the JSON is not a valid {signal}: {e}")))?;
    Ok(Any {
        type_url: type_url(descriptor),
        value: prost::Message::encode_to_vec(&message),
    })
}

/// Renders a delivered `Any` payload as JSON, using the catalogue.
pub fn payload_to_json(
    catalogue: &Catalogue,
    payload: &Any,
) -> Result<serde_json::Value, ClientError> {
    let descriptor = catalogue
        .signal_for_type_url(&payload.type_url)
        .map_err(|e| ClientError::Payload(e.to_string()))?;
    let message = DynamicMessage::decode(descriptor.clone(), payload.value.as_slice())
        .map_err(|e| ClientError::Payload(e.to_string()))?;
    serde_json::to_value(&message).map_err(|e| ClientError::Payload(e.to_string()))
}
