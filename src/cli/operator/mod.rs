//! The operator's tools: `ketenpoort partner add|list|show|cert-add|cert-retire|cert-revoke|
//! suspend|resume|logboek-url|expiring|reload-trust`, through `AdminService` with the operator's
//! certificate and a JWT naming the operator. Changes apply without a restart. This module
//! owns the command line and the calls; [`listing`] how partners and certificates print,
//! [`certificate`] the facts of a certificate file shown before it is registered.

mod certificate;
mod listing;

use std::{path::PathBuf, process::ExitCode, time::Duration};

use clap::Subcommand;
use ketenpoort::api::proto::{
    AddCertificateRequest, AddPartnerRequest, GetPartnerRequest, ListDeadLettersRequest,
    ListExpiringCertificatesRequest, ListPartnersRequest, ReloadTrustAnchorsRequest,
    ResumePartnerRequest, RetireCertificateRequest, RevokeCertificateRequest, SetLogboekUrlRequest,
    SuspendPartnerRequest, admin_service_client::AdminServiceClient,
};
use tonic::transport::Channel;

use crate::cli::{
    args::PersonArgs,
    output::{outln, print_rows},
    times,
};

use certificate::{fingerprint_of, read_pem};
use listing::{one, print_partners};

/// The client of `AdminService`.
type Admin = AdminServiceClient<Channel>;

/// `ketenpoort partner …`
#[derive(Subcommand)]
pub enum PartnerCommand {
    /// Register a new partner endpoint.
    Add {
        #[command(flatten)]
        operator: PersonArgs,
        /// Short id: lower-case letters, digits and dashes.
        #[arg(long)]
        id: String,
        /// OIN (20 digits).
        #[arg(long)]
        oin: String,
        /// Name of the organisation and system.
        #[arg(long)]
        name: String,
        /// Role: municipality, dtv, ind, police, ngo, monitor, privacy-officer or operator.
        #[arg(long)]
        role: String,
        /// A receiving purpose code; repeat for several.
        #[arg(long = "purpose")]
        purposes: Vec<String>,
        /// A PEM file with an Ed25519 public key verifying the JWTs of its people; repeatable.
        #[arg(long = "jwt-key")]
        jwt_keys: Vec<PathBuf>,
        /// Register this certificate (PEM) for it right away.
        #[arg(long)]
        cert: Option<PathBuf>,
        /// The https:// URL of its own Logboek Dataverwerkingen read API.
        #[arg(long)]
        logboek_url: Option<String>,
        #[command(flatten)]
        output: Output,
    },
    /// All partners and their certificates.
    List {
        #[command(flatten)]
        operator: PersonArgs,
        #[command(flatten)]
        output: Output,
    },
    /// One partner and its certificates.
    Show {
        #[command(flatten)]
        operator: PersonArgs,
        /// The partner's id.
        id: String,
        #[command(flatten)]
        output: Output,
    },
    /// Register a certificate for a partner, beside its current ones (rotation). Shows the
    /// certificate first; --dry-run stops there.
    CertAdd {
        #[command(flatten)]
        operator: PersonArgs,
        /// The partner's id.
        #[arg(long = "for")]
        partner_id: String,
        /// The certificate (PEM, intermediates may follow).
        #[arg(long)]
        cert: PathBuf,
        /// Only show the certificate.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        output: Output,
    },
    /// Retire a certificate: accepted until --at (default now), refused after.
    CertRetire {
        #[command(flatten)]
        operator: PersonArgs,
        /// The certificate: its fingerprint, or its PEM file.
        fingerprint: String,
        /// When it stops being accepted (RFC 3339); now when absent.
        #[arg(long)]
        at: Option<humantime::Timestamp>,
        #[command(flatten)]
        output: Output,
    },
    /// Revoke a certificate: refused from the next handshake, open connections closed.
    CertRevoke {
        #[command(flatten)]
        operator: PersonArgs,
        /// The certificate: its fingerprint, or its PEM file.
        fingerprint: String,
        /// Why, for the audit record.
        #[arg(long, default_value = "")]
        reason: String,
        #[command(flatten)]
        output: Output,
    },
    /// Suspend a partner: its signals and subscriptions are refused, its queue kept.
    Suspend {
        #[command(flatten)]
        operator: PersonArgs,
        /// The partner's id.
        id: String,
        /// Why, for the audit record.
        #[arg(long, default_value = "")]
        reason: String,
        #[command(flatten)]
        output: Output,
    },
    /// Lift a suspension.
    Resume {
        #[command(flatten)]
        operator: PersonArgs,
        /// The partner's id.
        id: String,
        #[command(flatten)]
        output: Output,
    },
    /// Set the https:// URL of a partner's own Logboek read API; without a URL, clear it.
    LogboekUrl {
        #[command(flatten)]
        operator: PersonArgs,
        /// The partner's id.
        id: String,
        /// The URL (no user name, password, query or fragment); absent: clear it.
        url: Option<String>,
        #[command(flatten)]
        output: Output,
    },
    /// Certificates that expire soon, soonest first.
    Expiring {
        #[command(flatten)]
        operator: PersonArgs,
        /// The period, e.g. 30d or 12h.
        #[arg(long, default_value = "30d")]
        within: humantime::Duration,
        #[command(flatten)]
        output: Output,
    },
    /// Deliveries of receivers; with --expired the dead letters: deliveries that expired
    /// unacknowledged, newest first.
    Deliveries {
        #[command(flatten)]
        operator: PersonArgs,
        /// List the dead letters (the only listing there is: waiting copies are not shown).
        #[arg(long, required = true)]
        expired: bool,
        /// Only those of this receiving partner (its id).
        #[arg(long = "of")]
        receiver: Option<String>,
        /// At most this many (at most 1000).
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[command(flatten)]
        output: Output,
    },
    /// Read the trust anchors and the gateway's certificate again.
    ReloadTrust {
        #[command(flatten)]
        operator: PersonArgs,
    },
}

/// How to print.
#[derive(clap::Args)]
pub struct Output {
    /// Print JSON instead of a readable table.
    #[arg(long)]
    pub(super) json: bool,
}

/// Runs a partner subcommand.
pub async fn run(command: PartnerCommand) -> anyhow::Result<ExitCode> {
    match command {
        PartnerCommand::Add {
            operator,
            id,
            oin,
            name,
            role,
            purposes,
            jwt_keys,
            cert,
            logboek_url,
            output,
        } => {
            let jwt_keys = jwt_keys
                .iter()
                .map(read_pem)
                .collect::<anyhow::Result<Vec<_>>>()?;
            let certificate_pem = cert.as_ref().map(read_pem).transpose()?;
            let mut admin = operator.connect(Admin::new).await?;
            let request = AddPartnerRequest {
                id: id.clone(),
                oin,
                name,
                role,
                purposes,
                jwt_keys,
                logboek_url: logboek_url.unwrap_or_default(),
            };
            let mut partner = admin.call(request, Admin::add_partner).await?.partner;
            if let Some(pem) = certificate_pem {
                certificate::show(&pem)?;
                let request = AddCertificateRequest {
                    partner_id: id,
                    certificate_pem: pem,
                    expected_version: 0,
                };
                partner = admin.call(request, Admin::add_certificate).await?.partner;
            }
            print_partners(partner.as_slice(), output.json)?;
        }
        PartnerCommand::List { operator, output } => {
            let partners = operator
                .connect(Admin::new)
                .await?
                .call(ListPartnersRequest {}, Admin::list_partners)
                .await?
                .partners;
            print_partners(&partners, output.json)?;
        }
        PartnerCommand::Show {
            operator,
            id,
            output,
        } => {
            let request = GetPartnerRequest { id };
            one(&operator, &output, request, Admin::get_partner).await?;
        }
        PartnerCommand::CertAdd {
            operator,
            partner_id,
            cert,
            dry_run,
            output,
        } => {
            let pem = read_pem(&cert)?;
            certificate::show(&pem)?;
            if dry_run {
                return Ok(ExitCode::SUCCESS);
            }
            let request = AddCertificateRequest {
                partner_id,
                certificate_pem: pem,
                expected_version: 0,
            };
            one(&operator, &output, request, Admin::add_certificate).await?;
        }
        PartnerCommand::CertRetire {
            operator,
            fingerprint,
            at,
            output,
        } => {
            let request = RetireCertificateRequest {
                fingerprint: fingerprint_of(&fingerprint)?,
                retire_at: at.map(times::to_proto),
                expected_version: 0,
            };
            one(&operator, &output, request, Admin::retire_certificate).await?;
        }
        PartnerCommand::CertRevoke {
            operator,
            fingerprint,
            reason,
            output,
        } => {
            let request = RevokeCertificateRequest {
                fingerprint: fingerprint_of(&fingerprint)?,
                reason,
                expected_version: 0,
            };
            one(&operator, &output, request, Admin::revoke_certificate).await?;
        }
        PartnerCommand::Suspend {
            operator,
            id,
            reason,
            output,
        } => {
            let request = SuspendPartnerRequest {
                id,
                reason,
                expected_version: 0,
            };
            one(&operator, &output, request, Admin::suspend_partner).await?;
        }
        PartnerCommand::Resume {
            operator,
            id,
            output,
        } => {
            let request = ResumePartnerRequest {
                id,
                expected_version: 0,
            };
            one(&operator, &output, request, Admin::resume_partner).await?;
        }
        PartnerCommand::LogboekUrl {
            operator,
            id,
            url,
            output,
        } => {
            let request = SetLogboekUrlRequest {
                id,
                logboek_url: url.unwrap_or_default(),
                expected_version: 0,
            };
            one(&operator, &output, request, Admin::set_logboek_url).await?;
        }
        PartnerCommand::Expiring {
            operator,
            within,
            output,
        } => {
            let within: Duration = within.into();
            let request = ListExpiringCertificatesRequest {
                within_seconds: within.as_secs(),
            };
            let expiring = operator
                .connect(Admin::new)
                .await?
                .call(request, Admin::list_expiring_certificates)
                .await?
                .certificates;
            print_rows(&expiring, output.json, None, |n| {
                (n == 0).then(|| {
                    format!(
                        "no accepted certificate expires within {}",
                        humantime::format_duration(within)
                    )
                })
            })?;
        }
        PartnerCommand::Deliveries {
            operator,
            expired: _,
            receiver,
            limit,
            output,
        } => {
            let request = ListDeadLettersRequest {
                partner_id: receiver.unwrap_or_default(),
                limit,
            };
            let letters = operator
                .connect(Admin::new)
                .await?
                .call(request, Admin::list_dead_letters)
                .await?
                .dead_letters;
            print_rows(&letters, output.json, None, |n| {
                (n == 0).then(|| "no delivery expired unacknowledged".to_string())
            })?;
        }
        PartnerCommand::ReloadTrust { operator } => {
            operator
                .connect(Admin::new)
                .await?
                .call(ReloadTrustAnchorsRequest {}, Admin::reload_trust_anchors)
                .await?;
            outln!("trust anchors and server certificate reloaded")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
