//! Operator changes to what the registry says about a partner besides its certificates:
//! suspending and resuming it, and the URL of its own Logboek read API. Each returns the
//! partner's changed record, saved and put in force like every change of [`super::lifecycle`].

use super::lifecycle::{Change, Refusal, checked, partner, touched};
use crate::registry::{PartnerStatus, Registry};

/// Suspends or resumes a partner. A suspended partner's signals and subscriptions are
/// refused; its queued deliveries are kept.
pub fn set_status(
    registry: &Registry,
    partner_id: &str,
    status: PartnerStatus,
    by: &str,
    now: i64,
) -> Result<Change, Refusal> {
    let partner = partner(registry, partner_id)?;
    if partner.status == status {
        return Err(Refusal::Pointless(format!(
            "partner {partner_id} is {status:?} already"
        )));
    }
    let mut record = touched(partner, by, now);
    record.status = status;
    Ok(Change {
        record,
        action: if status == PartnerStatus::Suspended {
            "partner_suspended"
        } else {
            "partner_resumed"
        },
        fingerprint: None,
    })
}

/// Sets (or, with `None`, clears) the URL of a partner's own Logboek read API.
pub fn set_logboek_url(
    registry: &Registry,
    partner_id: &str,
    url: Option<String>,
    by: &str,
    now: i64,
) -> Result<Change, Refusal> {
    let partner = partner(registry, partner_id)?;
    checked(url.as_deref())?;
    if partner.record.logboek_url == url {
        let already = format!("partner {partner_id} has this logboek_url already");
        return Err(Refusal::Pointless(already));
    }
    let mut record = touched(partner, by, now);
    let action = match url {
        Some(_) => "logboek_url_set",
        None => "logboek_url_cleared",
    };
    record.logboek_url = url;
    Ok(Change {
        record,
        action,
        fingerprint: None,
    })
}
