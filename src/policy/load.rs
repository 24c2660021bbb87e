//! Reading `policy.toml` and checking it against the catalogue's descriptors. Every problem is
//! reported at once, naming the file, the rule and the field, before the gateway opens a socket.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    path::{Path, PathBuf},
    sync::Arc,
};

use prost_reflect::MessageDescriptor;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{
    FieldTree, Policy, Purpose, ReceiveGrant, Rule, SpecialCategory,
    deferral::{DeferralDef, Deferrals},
};
use crate::{
    catalogue::{Catalogue, Sensitivity, message_kind},
    monitor::{MonitorDef, MonitorPlan},
    registry::{Registry, Role},
    toml_file::{FileError, read_toml},
};

/// Deepest nesting a field path or wildcard may reach; the catalogue is far shallower.
const MAX_DEPTH: usize = 8;

/// Why a policy cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file could not be read or parsed.
    #[error(transparent)]
    File(#[from] FileError),
    /// The policy is inconsistent with itself, the catalogue or the registry.
    #[error("policy {path} refused:\n  {}", .problems.join("\n  "))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// One line per problem, naming rule and field.
        problems: Vec<String>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    purpose: Vec<PurposeDef>,
    #[serde(default)]
    rule: Vec<RuleDef>,
    #[serde(default)]
    monitor: MonitorDef,
    #[serde(default)]
    deferral: Vec<DeferralDef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PurposeDef {
    code: String,
    name: String,
    legal_basis: String,
    #[serde(default)]
    special_categories: Vec<SpecialCategory>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleDef {
    name: String,
    sender_role: Role,
    signal: String,
    purpose: String,
    legal_instrument: String,
    #[serde(default)]
    provision_decision: Option<String>,
    #[serde(default)]
    receive: BTreeMap<String, ReceiveDef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReceiveDef {
    fields: Vec<String>,
}

impl Policy {
    /// Reads and checks a policy file.
    pub fn load(path: &Path, catalogue: &Catalogue) -> Result<Self, PolicyError> {
        let (text, file): (String, PolicyFile) = read_toml(path)?;
        Self::check(path, &text, file, catalogue)
    }

    fn check(
        path: &Path,
        text: &str,
        file: PolicyFile,
        catalogue: &Catalogue,
    ) -> Result<Self, PolicyError> {
        let mut problems = Vec::new();
        let purposes = check_purposes(file.purpose, &mut problems);
        let monitor = MonitorPlan::check(file.monitor, catalogue, &mut problems);
        let is_purpose = |code: &str| purposes.contains_key(code);
        let deferrals = Deferrals::check(file.deferral, is_purpose, catalogue, &mut problems);
        let mut rules = Vec::new();
        let mut index: HashMap<(Role, String, String), Arc<Rule>> = HashMap::new();
        let mut names = HashSet::new();
        for def in file.rule {
            if !names.insert(def.name.clone()) {
                problems.push(format!("rule {}: the name is used twice", def.name));
            }
            let Some(rule) = check_rule(def, &purposes, catalogue, &mut problems) else {
                continue;
            };
            let rule = Arc::new(rule);
            let key = (rule.sender_role, rule.signal.clone(), rule.purpose.clone());
            if let Some(other) = index.insert(key, rule.clone()) {
                problems.push(format!(
                    "rules {} and {} both cover a {} sending {} for {}: merge them into one rule",
                    other.name, rule.name, rule.sender_role, rule.signal, rule.purpose
                ));
            }
            rules.push(rule);
        }
        if !problems.is_empty() {
            return Err(PolicyError::Invalid {
                path: path.into(),
                problems,
            });
        }
        let digest = Sha256::digest(text.as_bytes());
        Ok(Policy {
            version: format!("sha256:{}", &hex::encode(digest)[..16]),
            purposes,
            rules,
            index,
            monitor,
            deferrals,
        })
    }

    /// Checks that every purpose a partner registers for exists in this policy.
    pub fn check_registry(&self, path: &Path, registry: &Registry) -> Result<(), PolicyError> {
        let problems: Vec<String> = registry
            .partners()
            .iter()
            .flat_map(|p| {
                p.purposes
                    .iter()
                    .filter(|code| !self.purposes.contains_key(*code))
                    .map(move |code| {
                        format!(
                            "partner {} receives for purpose {code}, which the policy does not define",
                            p.id
                        )
                    })
            })
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(PolicyError::Invalid {
                path: path.into(),
                problems,
            })
        }
    }
}

fn check_purposes(defs: Vec<PurposeDef>, problems: &mut Vec<String>) -> BTreeMap<String, Purpose> {
    let mut purposes = BTreeMap::new();
    for def in defs {
        if def.legal_basis.trim().is_empty() {
            problems.push(format!("purpose {}: legal_basis is empty", def.code));
        }
        let code = def.code.clone();
        let purpose = Purpose {
            code: def.code,
            name: def.name,
            legal_basis: def.legal_basis,
            special_categories: def.special_categories,
        };
        if purposes.insert(code.clone(), purpose).is_some() {
            problems.push(format!("purpose {code} is defined twice"));
        }
    }
    purposes
}

fn check_rule(
    def: RuleDef,
    purposes: &BTreeMap<String, Purpose>,
    catalogue: &Catalogue,
    problems: &mut Vec<String>,
) -> Option<Rule> {
    let name = &def.name;
    let before = problems.len();
    if matches!(def.sender_role, Role::PrivacyOfficer | Role::Operator) {
        problems.push(format!(
            "rule {name}: a {} does not send signals",
            def.sender_role
        ));
    }
    if !purposes.contains_key(&def.purpose) {
        problems.push(format!(
            "rule {name}: sending purpose {} is not defined",
            def.purpose
        ));
    }
    if def.receive.is_empty() {
        problems.push(format!(
            "rule {name}: no receiving purpose ([rule.receive.<PURPOSE>])"
        ));
    }
    let Some(signal) = catalogue.signal(&def.signal) else {
        let known: Vec<&str> = catalogue.signal_names().collect();
        problems.push(format!(
            "rule {name}: unknown signal type {} (known: {})",
            def.signal,
            known.join(", ")
        ));
        return None;
    };
    let mut receive = BTreeMap::new();
    let mut releases_criminal = false;
    for (code, grant) in def.receive {
        let Some(purpose) = purposes.get(&code) else {
            problems.push(format!(
                "rule {name}: receiving purpose {code} is not defined"
            ));
            continue;
        };
        let mut fields = FieldTree::default();
        for path in &grant.fields {
            let context = Context {
                rule: name,
                purpose,
                path,
                catalogue,
            };
            match resolve(signal, path, &context) {
                Ok((tree, categories)) => {
                    releases_criminal |= categories.contains(&SpecialCategory::Criminal);
                    for category in categories {
                        if !purpose.special_categories.contains(&category) {
                            problems.push(format!(
                                "rule {name}, receiving purpose {code}, field {path}: releases {category} data, but the legal basis of {code} ({}) does not cover {category}; remove the field, or add \"{category}\" to the purpose's special_categories if its legal basis covers it",
                                purpose.legal_basis
                            ));
                        }
                    }
                    fields = fields.union(&tree);
                }
                Err(problem) => problems.push(problem),
            }
        }
        receive.insert(
            code,
            ReceiveGrant {
                paths: grant.fields,
                fields: Arc::new(fields),
            },
        );
    }
    if releases_criminal && def.sender_role == Role::Police && def.provision_decision.is_none() {
        problems.push(format!(
            "rule {name}: releases police (criminal) data without provision_decision: name the Wpg provision decision the exchange rests on"
        ));
    }
    (problems.len() == before).then_some(Rule {
        name: def.name,
        sender_role: def.sender_role,
        signal: def.signal,
        purpose: def.purpose,
        legal_instrument: def.legal_instrument,
        provision_decision: def.provision_decision,
        receive,
    })
}

struct Context<'a> {
    rule: &'a str,
    purpose: &'a Purpose,
    path: &'a str,
    catalogue: &'a Catalogue,
}

/// Resolves one field path to the tree of fields it allows and the special categories in it.
fn resolve(
    signal: &MessageDescriptor,
    path: &str,
    cx: &Context<'_>,
) -> Result<(FieldTree, Vec<SpecialCategory>), String> {
    let segments: Vec<&str> = path.split('.').collect();
    if segments.len() > MAX_DEPTH || segments.iter().any(|s| s.is_empty()) {
        return Err(format!(
            "rule {}, receiving purpose {}: field path {path:?} is malformed: use names joined by dots, e.g. person.names",
            cx.rule, cx.purpose.code
        ));
    }
    let mut categories = Vec::new();
    let tree = resolve_segments(signal, &segments, cx, &mut categories)?;
    categories.sort();
    categories.dedup();
    Ok((tree, categories))
}

fn resolve_segments(
    message: &MessageDescriptor,
    segments: &[&str],
    cx: &Context<'_>,
    categories: &mut Vec<SpecialCategory>,
) -> Result<FieldTree, String> {
    let (first, rest) = match segments {
        ["*"] => return Ok(expand(message, cx, categories, 0)),
        [first, rest @ ..] => (*first, rest),
        [] => return Ok(expand(message, cx, categories, 0)),
    };
    let Some(field) = message.get_field_by_name(first) else {
        let known: Vec<String> = message.fields().map(|f| f.name().to_string()).collect();
        return Err(format!(
            "rule {}, receiving purpose {}: field {} does not exist in {} (fields: {})",
            cx.rule,
            cx.purpose.code,
            cx.path,
            message.full_name(),
            known.join(", ")
        ));
    };
    let sensitivities = cx.catalogue.sensitivities(&field);
    if sensitivities.contains(&Sensitivity::Biometric) {
        return Err(format!(
            "rule {}, receiving purpose {}: field {} is biometric; biometric data never passes the gateway (Vw 2000 art. 107 lid 4)",
            cx.rule, cx.purpose.code, cx.path
        ));
    }
    let child = match (message_kind(&field), rest) {
        (Some(nested), rest) => resolve_segments(&nested, rest, cx, categories)?,
        (None, []) => {
            categories.extend(sensitivities.iter().filter_map(|s| special_category(*s)));
            FieldTree::default()
        }
        (None, _) => {
            return Err(format!(
                "rule {}, receiving purpose {}: field path {} goes into {}, which is not a message",
                cx.rule,
                cx.purpose.code,
                cx.path,
                field.name()
            ));
        }
    };
    Ok(FieldTree::single(field.number(), child))
}

/// All fields of `message`, recursively, except biometric ones (which never pass).
fn expand(
    message: &MessageDescriptor,
    cx: &Context<'_>,
    categories: &mut Vec<SpecialCategory>,
    depth: usize,
) -> FieldTree {
    let mut tree = FieldTree::default();
    if depth > MAX_DEPTH {
        return tree;
    }
    for field in message.fields() {
        let sensitivities = cx.catalogue.sensitivities(&field);
        if sensitivities.contains(&Sensitivity::Biometric) {
            continue;
        }
        let child = match message_kind(&field) {
            Some(nested) => expand(&nested, cx, categories, depth + 1),
            None => {
                categories.extend(sensitivities.iter().filter_map(|s| special_category(*s)));
                FieldTree::default()
            }
        };
        tree = tree.union(&FieldTree::single(field.number(), child));
    }
    tree
}

fn special_category(s: Sensitivity) -> Option<SpecialCategory> {
    match s {
        Sensitivity::EthnicOrigin => Some(SpecialCategory::EthnicOrigin),
        Sensitivity::Health => Some(SpecialCategory::Health),
        Sensitivity::Criminal => Some(SpecialCategory::Criminal),
        _ => None,
    }
}
