//! What the monitor counts, as the policy's `[monitor]` section names it: the LVV regions (by
//! the partner endpoints of each municipality), and per signal type the few coded fields that
//! are counted. Checked at load with the rest of the policy: a monitored field must be a
//! single bool or enum classed ORDINARY and nothing else, never free text, never an
//! identifier. From an accepted signal it computes the [`CounterKey`]s to add one to.

use std::collections::{BTreeSet, HashMap};

use prost_reflect::{DynamicMessage, Kind, ReflectMessage, Value};
use serde::Deserialize;

use super::Quarter;
use crate::catalogue::{Catalogue, Sensitivity};

/// Threshold below which a cell is suppressed when the policy names none.
pub const DEFAULT_THRESHOLD: u64 = 5;
/// The region of a signal whose sender and recipients belong to no region.
pub const UNASSIGNED: &str = "unassigned";
/// The `field` of the counter that counts the signals of a type themselves.
pub const SIGNALS: &str = "";

/// One counter: everything it is keyed by. No case, no person, no date finer than the quarter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CounterKey {
    /// Quarter of acceptance.
    pub quarter: Quarter,
    /// LVV region (or [`UNASSIGNED`]).
    pub region: String,
    /// Catalogue message name.
    pub signal_type: String,
    /// Monitored field, or [`SIGNALS`] for the count of signals.
    pub field: String,
    /// The field's coded value (`true`, `false`, or an enum value's name); empty for
    /// [`SIGNALS`].
    pub value: String,
}

/// The `[monitor]` section of `policy.toml`, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorDef {
    #[serde(default = "default_threshold")]
    threshold: u64,
    #[serde(default)]
    region: Vec<RegionDef>,
    #[serde(default)]
    signal: Vec<SignalDef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegionDef {
    name: String,
    partners: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignalDef {
    signal: String,
    fields: Vec<String>,
}

/// What the monitor counts, checked against the catalogue.
#[derive(Debug, Clone)]
pub struct MonitorPlan {
    threshold: u64,
    regions: Vec<String>,
    region_of: HashMap<String, String>,
    signals: Vec<MonitoredSignal>,
}

/// A signal type the monitor counts, with its monitored fields.
#[derive(Debug, Clone)]
pub struct MonitoredSignal {
    /// Catalogue message name.
    pub signal: String,
    /// The fields counted, in the policy's order.
    pub fields: Vec<MonitoredField>,
}

/// One coded field and every value it can take, in the schema's order.
#[derive(Debug, Clone)]
pub struct MonitoredField {
    /// Field name.
    pub name: String,
    number: u32,
    /// Its values: `false` and `true`, or the enum's value names (first the unset one).
    pub values: Vec<String>,
    /// For enums, each value's number, in the order of `values`; empty for a bool.
    numbers: Vec<i32>,
}

fn default_threshold() -> u64 {
    DEFAULT_THRESHOLD
}

impl Default for MonitorDef {
    fn default() -> Self {
        Self {
            threshold: DEFAULT_THRESHOLD,
            region: Vec::new(),
            signal: Vec::new(),
        }
    }
}

// === impl MonitorPlan ===

impl MonitorPlan {
    /// Checks `def` against the catalogue; every problem goes to `problems`.
    pub fn check(def: MonitorDef, catalogue: &Catalogue, problems: &mut Vec<String>) -> Self {
        if def.threshold < 2 {
            problems.push(
                "monitor: threshold must be at least 2 (cells below it are suppressed)".into(),
            );
        }
        let mut regions = Vec::new();
        let mut region_of = HashMap::new();
        for region in def.region {
            let name = region.name.trim().to_string();
            if name.is_empty() || name == UNASSIGNED || regions.contains(&name) {
                problems.push(format!(
                    "monitor: region {name:?} is empty, reserved or named twice: give each region its own name"
                ));
            }
            for partner in region.partners {
                if let Some(other) = region_of.insert(partner.clone(), name.clone()) {
                    problems.push(format!(
                        "monitor: partner {partner} is in regions {other} and {name}: a partner belongs to one region"
                    ));
                }
            }
            regions.push(name);
        }
        let mut seen = BTreeSet::new();
        let mut signals = Vec::new();
        for def in def.signal {
            if !seen.insert(def.signal.clone()) {
                problems.push(format!("monitor: signal {} is listed twice", def.signal));
            }
            let Some(message) = catalogue.signal(&def.signal) else {
                problems.push(format!(
                    "monitor: unknown signal type {} (known: {})",
                    def.signal,
                    catalogue.signal_names().collect::<Vec<_>>().join(", ")
                ));
                continue;
            };
            let fields = def
                .fields
                .iter()
                .filter_map(|name| match coded_field(catalogue, message, name) {
                    Ok(field) => Some(field),
                    Err(why) => {
                        problems.push(format!("monitor: {}.{name} {why}", def.signal));
                        None
                    }
                })
                .collect();
            signals.push(MonitoredSignal {
                signal: def.signal,
                fields,
            });
        }
        Self {
            threshold: def.threshold,
            regions,
            region_of,
            signals,
        }
    }

    /// A cell counting fewer than this (and more than zero) is suppressed.
    pub fn threshold(&self) -> u64 {
        self.threshold
    }

    /// The regions in the policy's order, then [`UNASSIGNED`].
    pub fn regions(&self) -> impl Iterator<Item = &str> {
        self.regions
            .iter()
            .map(String::as_str)
            .chain(std::iter::once(UNASSIGNED))
    }

    /// The signal types counted, with their fields.
    pub fn signals(&self) -> &[MonitoredSignal] {
        &self.signals
    }

    /// The counters an accepted signal adds one to: the count of its type and one per
    /// monitored field, in the region of the sender, or else of the first recipient in a
    /// region. None for a signal type the monitor does not count.
    pub fn counter_keys(
        &self,
        accepted_at: i64,
        sender: &str,
        recipients: &[&str],
        payload: &DynamicMessage,
    ) -> Vec<CounterKey> {
        let name = payload.descriptor().name().to_string();
        let Some(monitored) = self.signals.iter().find(|s| s.signal == name) else {
            return Vec::new();
        };
        let region = std::iter::once(&sender)
            .chain(recipients)
            .find_map(|id| self.region_of.get(*id))
            .map_or(UNASSIGNED, String::as_str);
        let key = |field: &str, value: &str| CounterKey {
            quarter: Quarter::of_unix_ms(accepted_at),
            region: region.to_string(),
            signal_type: name.clone(),
            field: field.to_string(),
            value: value.to_string(),
        };
        std::iter::once(key(SIGNALS, ""))
            .chain(
                monitored
                    .fields
                    .iter()
                    .map(|field| key(&field.name, field.value_in(payload))),
            )
            .collect()
    }
}

// === impl MonitoredField ===

impl MonitoredField {
    /// The field's value in `payload`, as one of [`MonitoredField::values`]: an enum number the
    /// schema does not know counts as unset.
    fn value_in(&self, payload: &DynamicMessage) -> &str {
        let value = payload.get_field_by_number(self.number);
        let index = match value.as_deref() {
            Some(Value::Bool(b)) => usize::from(*b),
            Some(Value::EnumNumber(n)) => self.numbers.iter().position(|m| m == n).unwrap_or(0),
            _ => 0,
        };
        self.values.get(index).map_or("", String::as_str)
    }
}

/// `name` in `message` as a monitored field, or why it cannot be one.
fn coded_field(
    catalogue: &Catalogue,
    message: &prost_reflect::MessageDescriptor,
    name: &str,
) -> Result<MonitoredField, String> {
    let field = message
        .get_field_by_name(name)
        .ok_or_else(|| "does not exist: name a field of the signal itself".to_string())?;
    let classes = catalogue.sensitivities(&field);
    if classes != [Sensitivity::Ordinary] {
        return Err(format!(
            "is classed {classes:?}: the monitor counts only fields classed ORDINARY and nothing else"
        ));
    }
    if field.is_list() || field.is_map() {
        return Err("is repeated: the monitor counts only single coded fields".into());
    }
    let (values, numbers) = match field.kind() {
        Kind::Bool => (vec!["false".into(), "true".into()], Vec::new()),
        Kind::Enum(e) => {
            let mut values: Vec<_> = e.values().collect();
            values.sort_by_key(|v| v.number() != 0);
            (
                values.iter().map(|v| v.name().to_string()).collect(),
                values.iter().map(|v| v.number()).collect(),
            )
        }
        Kind::String => {
            return Err("is free text: the monitor never counts free text".into());
        }
        _ => return Err("is not a coded field: the monitor counts bools and enums only".into()),
    };
    Ok(MonitoredField {
        name: name.to_string(),
        number: field.number(),
        values,
        numbers,
    })
}
