//! Purpose-bound field filtering: from a [`Permit`], build each recipient's own copy of a
//! payload holding only the fields its purposes allow, and name the fields withheld.
//!
//! The filter is an allowlist. A field passes only if its number is in the recipient's
//! [`FieldTree`]; everything else is withheld, and fields unknown to the schema (set by a newer
//! client) are never copied. Biometric fields cannot be in a tree: the policy loader leaves
//! them out of wildcards and refuses them when named.

use std::collections::HashMap;

use prost::Message as _;
use prost_reflect::{DynamicMessage, ReflectMessage, Value};

use crate::policy::{FieldTree, Permit};

/// One recipient's filtered copy.
#[derive(Clone)]
pub struct FilteredCopy {
    /// The filtered payload, encoded.
    pub payload: Vec<u8>,
    /// Paths of the fields delivered, sorted, without duplicates.
    pub delivered: Vec<String>,
    /// Paths of fields the sender set that were withheld, sorted, without duplicates.
    pub withheld: Vec<String>,
}

impl std::fmt::Debug for FilteredCopy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Field paths are names, never values; the payload is shown by its size only.
        f.debug_struct("FilteredCopy")
            .field("payload_bytes", &self.payload.len())
            .field("delivered", &self.delivered)
            .field("withheld", &self.withheld)
            .finish()
    }
}

/// Field paths collected while filtering.
#[derive(Default)]
struct Paths {
    delivered: Vec<String>,
    withheld: Vec<String>,
}

/// A payload of another signal type than the one its permit was granted for: each type has
/// its own allowlists, so a permit cannot filter a payload of another type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the permit was granted for {permitted}, not for {given}")]
pub struct WrongSignal {
    /// The signal type of the permit.
    pub permitted: String,
    /// The type of the payload.
    pub given: String,
}

/// Builds every recipient's copy, in the permit's recipient order. Refuses a payload of
/// another type than the permit's.
pub fn apply(permit: &Permit, payload: &DynamicMessage) -> Result<Vec<FilteredCopy>, WrongSignal> {
    let given = payload.descriptor();
    if given.name() != permit.signal() {
        return Err(WrongSignal {
            permitted: permit.signal().to_string(),
            given: given.name().to_string(),
        });
    }
    Ok(permit
        .grants()
        .iter()
        .map(|grant| {
            let mut paths = Paths::default();
            let copy = filter_message(payload, &grant.fields, &mut String::new(), &mut paths);
            for list in [&mut paths.delivered, &mut paths.withheld] {
                list.sort();
                list.dedup();
            }
            FilteredCopy {
                payload: copy.encode_to_vec(),
                delivered: paths.delivered,
                withheld: paths.withheld,
            }
        })
        .collect())
}

fn filter_message(
    source: &DynamicMessage,
    tree: &FieldTree,
    path: &mut String,
    paths: &mut Paths,
) -> DynamicMessage {
    let mut copy = DynamicMessage::new(source.descriptor());
    for (field, value) in source.fields() {
        let len = path.len();
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(field.name());
        match tree.child(field.number()) {
            None => paths.withheld.push(path.clone()),
            Some(sub) => {
                if let Some(value) = filter_value(value, sub, path, paths) {
                    copy.set_field(&field, value);
                }
            }
        }
        path.truncate(len);
    }
    copy
}

/// Filters one field value; `None` when nothing of it may pass.
fn filter_value(
    value: &Value,
    tree: &FieldTree,
    path: &mut String,
    paths: &mut Paths,
) -> Option<Value> {
    match value {
        Value::Message(m) if !is_well_known(m) => {
            filter_nested(m, tree, path, paths).map(Value::Message)
        }
        Value::List(items) if items.iter().any(is_nested) => {
            let kept: Vec<Value> = items
                .iter()
                .filter_map(|v| v.as_message())
                .filter_map(|m| filter_nested(m, tree, path, paths))
                .map(Value::Message)
                .collect();
            (!kept.is_empty()).then_some(Value::List(kept))
        }
        Value::Map(entries) if entries.values().any(is_nested) => {
            let mut kept = HashMap::new();
            for (key, v) in entries {
                if let Some(m) = v
                    .as_message()
                    .and_then(|m| filter_nested(m, tree, path, paths))
                {
                    kept.insert(key.clone(), Value::Message(m));
                }
            }
            (!kept.is_empty()).then_some(Value::Map(kept))
        }
        other => {
            paths.delivered.push(path.clone());
            Some(other.clone())
        }
    }
}

/// Filters a nested message; `None` when nothing of it may pass.
fn filter_nested(
    message: &DynamicMessage,
    tree: &FieldTree,
    path: &mut String,
    paths: &mut Paths,
) -> Option<DynamicMessage> {
    let copy = filter_message(message, tree, path, paths);
    is_set(&copy).then_some(copy)
}

fn is_nested(value: &Value) -> bool {
    matches!(value, Value::Message(m) if !is_well_known(m))
}

fn is_set(message: &DynamicMessage) -> bool {
    message.fields().next().is_some()
}

fn is_well_known(message: &DynamicMessage) -> bool {
    message.descriptor().package_name() == "google.protobuf"
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod properties;
