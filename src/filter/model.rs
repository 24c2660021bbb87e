//! The filter as it was before the cut (issue 13): each copy a message built from the
//! decoded payload, field by field. The properties hold the cut to it, copy for copy.

use std::collections::HashMap;

use prost::Message as _;
use prost_reflect::{DynamicMessage, ReflectMessage, Value};

use super::{FilteredCopy, Paths};
use crate::policy::{FieldTree, Permit};

/// Every recipient's copy as the decoded payload's fields allow, in the permit's order.
pub(super) fn filter(permit: &Permit, payload: &DynamicMessage) -> Vec<FilteredCopy> {
    permit
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
        .collect()
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
