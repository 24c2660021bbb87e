//! The exchange policy: purposes with their legal basis, and the rules along which a signal
//! may travel. Authorization returns a [`Permit`]; the field filter needs one, so code that
//! skips the check cannot filter, and therefore cannot deliver.
//!
//! Deny by default: a signal passes only along a rule that names the sender's role, the signal
//! type and the sending purpose, and only to recipients registered for at least one of the
//! rule's receiving purposes. Each recipient's copy is limited to the union of the field paths
//! its purposes allow.

mod deferral;
mod explain;
mod field_tree;
mod load;
#[cfg(test)]
pub(crate) mod tests;

use std::{
    collections::{BTreeMap, HashMap},
    fmt,
    sync::Arc,
};

use serde::Deserialize;

pub use deferral::{Deferrals, HeldBack};
pub use explain::{Explanation, PurposeView, Withheld};
pub use field_tree::FieldTree;
pub use load::PolicyError;

use crate::{
    ids::Oin,
    monitor::MonitorPlan,
    registry::{Partner, Registry, Role},
};

/// A special category of personal data that a purpose's legal basis must cover explicitly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpecialCategory {
    /// Data revealing ethnic origin (AVG art. 9), such as nationality.
    EthnicOrigin,
    /// Data concerning health (AVG art. 9).
    Health,
    /// Criminal or police data (AVG art. 10, Wpg).
    Criminal,
}

/// A processing activity with its legal basis.
#[derive(Debug, Clone)]
pub struct Purpose {
    /// Code used in envelopes, rules and the registry, e.g. `RETURN`.
    pub code: String,
    /// Human-readable name.
    pub name: String,
    /// The legal basis, e.g. "Vw 2000 art. 107; AVG art. 6(1)(e)".
    pub legal_basis: String,
    /// Special categories the legal basis covers.
    pub special_categories: Vec<SpecialCategory>,
}

/// What one receiving purpose of a rule may see.
#[derive(Debug, Clone)]
pub struct ReceiveGrant {
    /// Field paths as written in the policy.
    pub paths: Vec<String>,
    /// The paths resolved against the signal's descriptor.
    pub fields: Arc<FieldTree>,
}

/// One rule: who may send which signal for which purpose, and who may see which fields.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Unique name.
    pub name: String,
    /// Role of the sender.
    pub sender_role: Role,
    /// Signal type (message name).
    pub signal: String,
    /// Sending purpose code.
    pub purpose: String,
    /// The legal instrument the exchange rests on.
    pub legal_instrument: String,
    /// For police data: the Wpg provision decision.
    pub provision_decision: Option<String>,
    /// Per receiving purpose code, what it may see.
    pub receive: BTreeMap<String, ReceiveGrant>,
}

/// The policy in force.
#[derive(Debug)]
pub struct Policy {
    version: String,
    purposes: BTreeMap<String, Purpose>,
    rules: Vec<Arc<Rule>>,
    index: HashMap<(Role, String, String), Arc<Rule>>,
    monitor: MonitorPlan,
    deferrals: Deferrals,
}

/// Proof that an exchange passed authorization, with each recipient's grant.
#[derive(Debug)]
pub struct Permit {
    rule: Arc<Rule>,
    policy_version: String,
    grants: Vec<Grant>,
}

/// What one recipient may receive.
#[derive(Debug, Clone)]
pub struct Grant {
    /// The recipient.
    pub recipient: Arc<Partner>,
    /// The rule's receiving purposes the recipient is registered for.
    pub purposes: Vec<String>,
    /// The legal basis of each of those purposes, in the same order.
    pub legal_bases: Vec<String>,
    /// Union of the fields those purposes allow.
    pub fields: Arc<FieldTree>,
}

/// Why an exchange is not allowed.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum Denied {
    /// No rule covers this sender role, signal type and sending purpose.
    #[error("no policy rule lets a {role} send {signal} for purpose {purpose}")]
    NoRule {
        /// Sender role.
        role: Role,
        /// Signal type.
        signal: String,
        /// Sending purpose.
        purpose: String,
    },
    /// A recipient OIN is not registered.
    #[error("recipient {0} is not a registered partner")]
    UnknownRecipient(Oin),
    /// A recipient is registered but suspended.
    #[error("recipient {0} is suspended")]
    RecipientSuspended(Oin),
    /// A recipient is registered for none of the rule's receiving purposes.
    #[error(
        "recipient {oin} is not registered for any receiving purpose of rule {rule} ({purposes})"
    )]
    RecipientNotEligible {
        /// The recipient.
        oin: Oin,
        /// The rule.
        rule: String,
        /// The rule's receiving purposes, comma separated.
        purposes: String,
    },
}

// === impl Policy ===

impl Policy {
    /// Version of the policy in force: a hash of its file's content.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// A purpose by code.
    pub fn purpose(&self, code: &str) -> Option<&Purpose> {
        self.purposes.get(code)
    }

    /// All purposes, by code.
    pub fn purposes(&self) -> impl Iterator<Item = &Purpose> {
        self.purposes.values()
    }

    /// What the programme monitor counts (the `[monitor]` section).
    pub fn monitor(&self) -> &MonitorPlan {
        &self.monitor
    }

    /// What reports to the data subject hold back for a while (the `[[deferral]]` marks).
    pub fn deferrals(&self) -> &Deferrals {
        &self.deferrals
    }

    /// All rules, in file order.
    pub fn rules(&self) -> &[Arc<Rule>] {
        &self.rules
    }

    /// The rule for a sender role, signal type and sending purpose.
    pub fn rule_for(&self, role: Role, signal: &str, purpose: &str) -> Option<&Arc<Rule>> {
        self.index
            .get(&(role, signal.to_string(), purpose.to_string()))
    }

    /// Decides whether `sender` may send `signal` for `purpose` to `recipients`. Deny by default.
    pub fn authorize(
        &self,
        registry: &Registry,
        sender: &Partner,
        signal: &str,
        purpose: &str,
        recipients: &[Oin],
    ) -> Result<Permit, Denied> {
        let rule = self
            .rule_for(sender.role, signal, purpose)
            .ok_or_else(|| Denied::NoRule {
                role: sender.role,
                signal: signal.to_string(),
                purpose: purpose.to_string(),
            })?;
        let grants = recipients
            .iter()
            .map(|oin| self.grant_for(rule, registry, oin))
            .collect::<Result<_, _>>()?;
        Ok(Permit {
            rule: rule.clone(),
            policy_version: self.version.clone(),
            grants,
        })
    }

    fn grant_for(&self, rule: &Rule, registry: &Registry, oin: &Oin) -> Result<Grant, Denied> {
        let recipient = registry
            .by_oin(oin)
            .ok_or_else(|| Denied::UnknownRecipient(oin.clone()))?;
        if !recipient.is_active() {
            return Err(Denied::RecipientSuspended(oin.clone()));
        }
        let purposes = rule.receiving_purposes_of(recipient);
        let grants: Vec<&ReceiveGrant> = purposes
            .iter()
            .filter_map(|code| rule.receive.get(code))
            .collect();
        let fields = match grants.as_slice() {
            [] => {
                return Err(Denied::RecipientNotEligible {
                    oin: oin.clone(),
                    rule: rule.name.clone(),
                    purposes: rule.receive.keys().cloned().collect::<Vec<_>>().join(", "),
                });
            }
            [only] => only.fields.clone(),
            many => Arc::new(
                many.iter()
                    .fold(FieldTree::default(), |acc, g| acc.union(&g.fields)),
            ),
        };
        let legal_bases = purposes
            .iter()
            .filter_map(|code| self.purposes.get(code))
            .map(|p| p.legal_basis.clone())
            .collect();
        Ok(Grant {
            recipient: recipient.clone(),
            purposes,
            legal_bases,
            fields,
        })
    }
}

// === impl Rule ===

impl Rule {
    /// The rule's receiving purposes that `partner` is registered for, in the rule's order.
    /// A recipient is eligible when this is not empty; this is the one place that decides it,
    /// for authorization and for telling a partner what it may send and receive.
    pub fn receiving_purposes_of(&self, partner: &Partner) -> Vec<String> {
        self.receive
            .keys()
            .filter(|code| partner.purposes.contains(code))
            .cloned()
            .collect()
    }
}

// === impl Permit ===

impl Permit {
    /// The rule the exchange passed along.
    pub fn rule(&self) -> &Arc<Rule> {
        &self.rule
    }

    /// Version of the policy that granted the permit.
    pub fn policy_version(&self) -> &str {
        &self.policy_version
    }

    /// The signal type (catalogue message name) the permit was granted for; the filter
    /// refuses payloads of any other type.
    pub fn signal(&self) -> &str {
        &self.rule.signal
    }

    /// One grant per recipient, in the order the recipients were named.
    pub fn grants(&self) -> &[Grant] {
        &self.grants
    }
}

impl fmt::Display for SpecialCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::EthnicOrigin => "ethnic_origin",
            Self::Health => "health",
            Self::Criminal => "criminal",
        })
    }
}
