//! Who a command acts as and how it calls the gateway: the partner and person arguments the
//! online commands share, a [`Session`] whose calls carry the person's token and turn a
//! refusal into an error, and resolving a partner id to its OIN.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use ketenpoort::{
    api::client::ClientTls,
    config::{Config, DEFAULT_CONFIG_FILE},
    identity::person,
    ids::Oin,
    registry,
};
use tonic::{Request, Response, Status, transport::Channel};

/// Default lifetime of a development token.
pub const DEV_TOKEN_MINUTES: u64 = 60;

/// Who the client acts as, and where the gateway is.
#[derive(clap::Args)]
pub struct PartnerArgs {
    /// Act as this partner (its id in the registry); picks its development certificate.
    #[arg(long = "as")]
    pub partner: String,
    /// Gateway address.
    #[arg(
        long,
        default_value = "https://localhost:8443",
        env = "KETENPOORT_GATEWAY"
    )]
    pub gateway: String,
    /// Directory with ca.pem, <partner>.pem and <partner>.key.
    #[arg(long, default_value = "var/dev-pki")]
    pub pki: PathBuf,
    /// The partner registry, to resolve partner ids to OINs.
    #[arg(long, default_value = "config/partners.toml")]
    pub partners: PathBuf,
}

impl PartnerArgs {
    /// A mutual-TLS channel to the gateway with this partner's development certificate.
    pub async fn channel(&self) -> anyhow::Result<Channel> {
        Ok(ClientTls::dev(&self.pki, &self.partner)
            .channel(&self.gateway)
            .await?)
    }
}

/// A person acting for a partner (an officer or operator): the partner's certificate, and
/// the JWT naming the person.
#[derive(clap::Args)]
pub struct PersonArgs {
    #[command(flatten)]
    pub partner: PartnerArgs,
    /// The JWT naming you. Without it, a development token is minted with
    /// <pki>/<partner>-jwt.key when that file exists.
    #[arg(long, env = "KETENPOORT_TOKEN")]
    pub token: Option<String>,
    /// The person named in a minted development token.
    #[arg(long, default_value = "dev-person@example.invalid")]
    pub person: String,
}

impl PersonArgs {
    /// A request carrying the person's token (minted from the dev PKI when not given).
    pub fn request<T>(&self, message: T) -> anyhow::Result<Request<T>> {
        let token = match &self.token {
            Some(token) => token.clone(),
            None => {
                let key = self
                    .partner
                    .pki
                    .join(format!("{}-jwt.key", self.partner.partner));
                if !key.exists() {
                    bail!(
                        "no token: pass --token (or KETENPOORT_TOKEN); {} does not exist to mint a development one",
                        key.display()
                    );
                }
                let config = Config::load(Path::new(DEFAULT_CONFIG_FILE), false)?;
                person::mint(
                    &key,
                    &self.person,
                    &config.audit.jwt_audience,
                    DEV_TOKEN_MINUTES,
                )?
            }
        };
        let mut request = Request::new(message);
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse()?);
        Ok(request)
    }

    /// Connects a client of one gateway service (`new`, e.g. `AuditServiceClient::new`) over
    /// this partner's channel, to call it as this person.
    pub async fn connect<C>(
        &self,
        new: impl FnOnce(Channel) -> C,
    ) -> anyhow::Result<Session<'_, C>> {
        Ok(Session {
            person: self,
            client: new(self.partner.channel().await?),
        })
    }
}

/// A client of one gateway service, calling it as a person.
pub struct Session<'a, C> {
    person: &'a PersonArgs,
    client: C,
}

impl<C> Session<'_, C> {
    /// Calls `method` (e.g. `AuditServiceClient::verify`) with `message` and the person's
    /// token: the answer, or the refusal as an error naming its code.
    pub async fn call<M, T>(
        &mut self,
        message: M,
        method: impl AsyncFnOnce(&mut C, Request<M>) -> Result<Response<T>, Status>,
    ) -> anyhow::Result<T> {
        let request = self.person.request(message)?;
        Ok(method(&mut self.client, request)
            .await
            .map_err(status)?
            .into_inner())
    }
}

/// A gRPC status as an error for the command line.
pub fn status(s: Status) -> anyhow::Error {
    anyhow::anyhow!("{:?}: {}", s.code(), s.message())
}

/// A partner id from the registry, or an OIN, as an OIN.
pub fn resolve_recipient(defs: &[registry::PartnerDef], given: &str) -> anyhow::Result<String> {
    if given.parse::<Oin>().is_ok() {
        return Ok(given.to_string());
    }
    defs.iter()
        .find(|d| d.id == given)
        .map(|d| d.oin.to_string())
        .with_context(|| format!("{given} is neither an OIN nor a partner id in the registry"))
}
