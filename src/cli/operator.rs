//! The operator's tools: `ketenpoort partner add|list|show|cert-add|cert-retire|cert-revoke|
//! suspend|resume|expiring|reload-trust`, through `AdminService` with the operator's
//! certificate and a JWT naming the operator. Changes apply without a restart.

use std::{path::PathBuf, process::ExitCode, time::Duration};

use anyhow::Context as _;
use clap::Subcommand;
use ketenpoort::{
    api::{
        proto::{
            AddCertificateRequest, AddPartnerRequest, CertificateInfo, GetPartnerRequest,
            ListExpiringCertificatesRequest, ListPartnersRequest, PartnerInfo,
            ReloadTrustAnchorsRequest, ResumePartnerRequest, RetireCertificateRequest,
            RevokeCertificateRequest, SuspendPartnerRequest,
            admin_service_client::AdminServiceClient,
        },
        timestamp, unix_ms as proto_ms,
    },
    clock::{now_ms, rfc3339, unix_ms},
    lifecycle::inspect,
};

use super::partner::{PersonArgs, status};

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
    json: bool,
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
            output,
        } => {
            let jwt_keys = jwt_keys
                .iter()
                .map(|f| {
                    std::fs::read_to_string(f)
                        .with_context(|| format!("cannot read {}", f.display()))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let certificate_pem = cert.as_ref().map(read_pem).transpose()?;
            let mut admin = client(&operator).await?;
            let request = AddPartnerRequest {
                id: id.clone(),
                oin,
                name,
                role,
                purposes,
                jwt_keys,
            };
            let mut partner = admin
                .add_partner(operator.request(request)?)
                .await
                .map_err(status)?
                .into_inner()
                .partner;
            if let Some(pem) = certificate_pem {
                show_certificate(&pem)?;
                let request = AddCertificateRequest {
                    partner_id: id,
                    certificate_pem: pem,
                };
                partner = admin
                    .add_certificate(operator.request(request)?)
                    .await
                    .map_err(status)?
                    .into_inner()
                    .partner;
            }
            print_partners(partner.as_slice(), output.json);
        }
        PartnerCommand::List { operator, output } => {
            let partners = client(&operator)
                .await?
                .list_partners(operator.request(ListPartnersRequest {})?)
                .await
                .map_err(status)?
                .into_inner()
                .partners;
            print_partners(&partners, output.json);
        }
        PartnerCommand::Show {
            operator,
            id,
            output,
        } => {
            let partner = client(&operator)
                .await?
                .get_partner(operator.request(GetPartnerRequest { id })?)
                .await
                .map_err(status)?
                .into_inner()
                .partner;
            print_partners(partner.as_slice(), output.json);
        }
        PartnerCommand::CertAdd {
            operator,
            partner_id,
            cert,
            dry_run,
            output,
        } => {
            let pem = read_pem(&cert)?;
            show_certificate(&pem)?;
            if dry_run {
                return Ok(ExitCode::SUCCESS);
            }
            let request = AddCertificateRequest {
                partner_id,
                certificate_pem: pem,
            };
            let partner = client(&operator)
                .await?
                .add_certificate(operator.request(request)?)
                .await
                .map_err(status)?
                .into_inner()
                .partner;
            print_partners(partner.as_slice(), output.json);
        }
        PartnerCommand::CertRetire {
            operator,
            fingerprint,
            at,
            output,
        } => {
            let fingerprint = fingerprint_of(&fingerprint)?;
            let retire_at = at.map(|t| timestamp(unix_ms(t.into())));
            let partner = client(&operator)
                .await?
                .retire_certificate(operator.request(RetireCertificateRequest {
                    fingerprint,
                    retire_at,
                })?)
                .await
                .map_err(status)?
                .into_inner()
                .partner;
            print_partners(partner.as_slice(), output.json);
        }
        PartnerCommand::CertRevoke {
            operator,
            fingerprint,
            reason,
            output,
        } => {
            let fingerprint = fingerprint_of(&fingerprint)?;
            let partner = client(&operator)
                .await?
                .revoke_certificate(operator.request(RevokeCertificateRequest {
                    fingerprint,
                    reason,
                })?)
                .await
                .map_err(status)?
                .into_inner()
                .partner;
            print_partners(partner.as_slice(), output.json);
        }
        PartnerCommand::Suspend {
            operator,
            id,
            reason,
            output,
        } => {
            let partner = client(&operator)
                .await?
                .suspend_partner(operator.request(SuspendPartnerRequest { id, reason })?)
                .await
                .map_err(status)?
                .into_inner()
                .partner;
            print_partners(partner.as_slice(), output.json);
        }
        PartnerCommand::Resume {
            operator,
            id,
            output,
        } => {
            let partner = client(&operator)
                .await?
                .resume_partner(operator.request(ResumePartnerRequest { id })?)
                .await
                .map_err(status)?
                .into_inner()
                .partner;
            print_partners(partner.as_slice(), output.json);
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
            let expiring = client(&operator)
                .await?
                .list_expiring_certificates(operator.request(request)?)
                .await
                .map_err(status)?
                .into_inner()
                .certificates;
            for e in &expiring {
                let cert = e.certificate.clone().unwrap_or_default();
                if output.json {
                    println!(
                        "{}",
                        serde_json::json!({
                            "partner": e.partner_id, "oin": e.partner_oin,
                            "fingerprint": cert.fingerprint, "not_after": when(cert.not_after.as_ref()),
                            "days_left": e.seconds_left / 86_400, "only_certificate": e.only_certificate,
                        })
                    );
                } else {
                    println!(
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
                    );
                }
            }
            if expiring.is_empty() && !output.json {
                println!(
                    "no accepted certificate expires within {}",
                    humantime::format_duration(within)
                );
            }
        }
        PartnerCommand::ReloadTrust { operator } => {
            client(&operator)
                .await?
                .reload_trust_anchors(operator.request(ReloadTrustAnchorsRequest {})?)
                .await
                .map_err(status)?;
            println!("trust anchors and server certificate reloaded");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn client(
    operator: &PersonArgs,
) -> anyhow::Result<AdminServiceClient<tonic::transport::Channel>> {
    Ok(AdminServiceClient::new(operator.partner.channel().await?))
}

/// A fingerprint as given, or the fingerprint of the certificate in a PEM file.
fn fingerprint_of(given: &str) -> anyhow::Result<String> {
    let path = std::path::Path::new(given);
    if path.is_file() {
        return Ok(inspect(&read_pem(&path.to_path_buf())?)?
            .info
            .fingerprint
            .to_string());
    }
    Ok(given.to_string())
}

fn read_pem(path: &PathBuf) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Prints what the certificate is before anything changes.
fn show_certificate(pem: &str) -> anyhow::Result<()> {
    let info = inspect(pem)?.info;
    let now = now_ms();
    println!("certificate to register:");
    println!("  subject      {}", info.subject);
    println!(
        "  OIN          {}",
        info.oin
            .map_or("(none in subject serialNumber)".into(), |o| o.to_string())
    );
    println!("  issuer       {}", info.issuer);
    println!("  serial       {}", info.serial);
    println!(
        "  valid        {} .. {}{}",
        rfc3339(unix_ms(info.not_before)),
        rfc3339(unix_ms(info.not_after)),
        if unix_ms(info.not_after) < now {
            "  (EXPIRED)"
        } else {
            ""
        }
    );
    println!("  fingerprint  {}", info.fingerprint);
    Ok(())
}

fn when(t: Option<&prost_types::Timestamp>) -> String {
    t.map(|t| rfc3339(proto_ms(t)))
        .unwrap_or_else(|| "-".into())
}

fn print_partners(partners: &[PartnerInfo], json: bool) {
    for p in partners {
        if json {
            let certs: Vec<serde_json::Value> = p.certificates.iter().map(cert_json).collect();
            println!(
                "{}",
                serde_json::json!({
                    "id": p.id, "oin": p.oin, "name": p.name, "role": p.role, "purposes": p.purposes,
                    "status": p.status, "certificates": certs, "changed_by": p.changed_by,
                    "changed_at": when(p.changed_at.as_ref()),
                })
            );
            continue;
        }
        println!(
            "{:<24} {:<20} {:<16} {:<9} {:<28} {}",
            p.id,
            p.oin,
            p.role,
            p.status,
            p.purposes.join(","),
            p.name
        );
        for c in &p.certificates {
            let retire = c
                .retire_at
                .as_ref()
                .map(|t| format!(" until {}", rfc3339(proto_ms(t))))
                .unwrap_or_default();
            println!(
                "    {:<9}{} {}  valid to {}  {}",
                c.state,
                retire,
                c.fingerprint,
                when(c.not_after.as_ref()),
                c.subject
            );
        }
    }
}

fn cert_json(c: &CertificateInfo) -> serde_json::Value {
    serde_json::json!({
        "fingerprint": c.fingerprint, "state": c.state, "subject": c.subject, "issuer": c.issuer,
        "serial": c.serial, "not_before": when(c.not_before.as_ref()), "not_after": when(c.not_after.as_ref()),
        "retire_at": c.retire_at.as_ref().map(|t| rfc3339(proto_ms(t))), "changed_by": c.changed_by,
        "changed_at": when(c.changed_at.as_ref()),
    })
}
