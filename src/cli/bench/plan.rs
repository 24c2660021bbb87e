//! Who takes part in a run, from the partner registry: the sending partners (active
//! municipality case-direction endpoints, each its own connection and certificate), the
//! receivers the mix sends to (each with a subscriber, but the one left stalled), and the
//! OIN of each.

use std::collections::HashSet;

use anyhow::{Context as _, bail};
use ketenpoort::registry::{PartnerDef, PartnerStatus, Role};

use super::mix;

/// The purpose of the municipality endpoints that send: their case-direction systems.
const SENDING_PURPOSE: &str = "CASE_DIRECTION";

/// The partners of a run.
#[derive(Debug)]
pub struct Plan {
    /// Ids of the sending partners.
    pub senders: Vec<String>,
    /// Ids of the receivers with a subscriber.
    pub subscribed: Vec<String>,
    /// Id of the receiver left without one.
    pub stalled: Option<String>,
    defs: Vec<PartnerDef>,
}

// === impl Plan ===

impl Plan {
    /// The first `senders` municipality endpoints of the registry `defs`, and the mix's
    /// receivers; `stall` must be one of those.
    pub fn new(
        defs: Vec<PartnerDef>,
        senders: usize,
        stall: Option<String>,
    ) -> anyhow::Result<Self> {
        let candidates: Vec<String> = defs
            .iter()
            .filter(|d| {
                d.role == Role::Municipality
                    && d.status == PartnerStatus::Active
                    && d.purposes.iter().any(|p| p == SENDING_PURPOSE)
            })
            .map(|d| d.id.clone())
            .collect();
        if senders == 0 || senders > candidates.len() {
            bail!(
                "--senders must be 1 to {} (the registry's active municipality {SENDING_PURPOSE} endpoints)",
                candidates.len()
            );
        }
        let receivers = mix::receivers();
        if let Some(stalled) = &stall {
            if !receivers.contains(stalled.as_str()) {
                bail!(
                    "--stall {stalled}: not a receiver of the mix; one of {}",
                    receivers.iter().copied().collect::<Vec<_>>().join(", ")
                );
            }
        }
        let plan = Self {
            senders: candidates.into_iter().take(senders).collect(),
            subscribed: receivers
                .iter()
                .filter(|r| stall.as_deref() != Some(**r))
                .map(|r| r.to_string())
                .collect(),
            stalled: stall,
            defs,
        };
        for id in mix::receivers() {
            plan.oin_of(id)?;
        }
        Ok(plan)
    }

    /// The OIN of partner `id`.
    pub fn oin_of(&self, id: &str) -> anyhow::Result<String> {
        self.defs
            .iter()
            .find(|d| d.id == id)
            .map(|d| d.oin.to_string())
            .with_context(|| format!("the registry has no partner {id}"))
    }

    /// The OINs of the stalled receiver (none or one).
    pub fn stalled_oins(&self) -> anyhow::Result<HashSet<String>> {
        self.stalled.iter().map(|id| self.oin_of(id)).collect()
    }
}
