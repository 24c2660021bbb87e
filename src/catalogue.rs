//! The LVV signal catalogue as compiled descriptors: which messages are signals, and the
//! sensitivity classes of their fields (read from the `ketenpoort.v1.sensitivity` option).
//!
//! The descriptors are compiled from `proto/` by `build.rs` and embedded in the binary, so
//! the gateway, the policy checker and the CLI always agree on the schema. The form each text
//! field's value must have is checked in [`formats`].

mod countries;
mod formats;

pub use countries::{COUNTRY_CODES, is_country_code};
pub use formats::FormatError;

use std::{collections::BTreeMap, fmt};

use prost_reflect::{
    DescriptorPool, DynamicMessage, ExtensionDescriptor, FieldDescriptor, Kind, MessageDescriptor,
    Value,
};

/// The encoded `FileDescriptorSet` of everything in `proto/`, for reflection and decoding.
pub const DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/ketenpoort_descriptor.bin"));
/// Protobuf package of the contract.
pub const PACKAGE: &str = "ketenpoort.v1";
/// Prefix of the type URL of a packed catalogue message.
pub const TYPE_URL_PREFIX: &str = "type.googleapis.com/";

/// Sensitivity class of a field (mirror of `ketenpoort.v1.Sensitivity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Sensitivity {
    /// Ordinary administrative data.
    Ordinary,
    /// Identifies a person.
    Identifying,
    /// Immigration-law position.
    ResidenceStatus,
    /// Reveals ethnic origin (special category, AVG art. 9).
    EthnicOrigin,
    /// Concerns health (special category, AVG art. 9).
    Health,
    /// Criminal or police data (AVG art. 10, Wpg).
    Criminal,
    /// A safety instruction that is not criminal data.
    SafetyInstruction,
    /// Biometric data; never passes.
    Biometric,
}

/// The compiled catalogue.
#[derive(Debug, Clone)]
pub struct Catalogue {
    pool: DescriptorPool,
    sensitivity: ExtensionDescriptor,
    /// The fields that carry a data subject's identifier, by full name, read once at load.
    subject_fields: std::collections::HashMap<String, SubjectIdType>,
    /// The form of every text field that names one, by full name, read once at load: the
    /// check of each `Send` looks it up instead of decoding field options.
    text_forms: std::collections::HashMap<String, formats::TextForm>,
    signals: BTreeMap<String, MessageDescriptor>,
}

/// Kind of identifier of the data subject (mirror of `ketenpoort.v1.SubjectIdType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SubjectIdType {
    /// V-nummer; preferred, as many participants have no BSN.
    VNummer,
    /// Burgerservicenummer.
    Bsn,
}

/// Why the embedded descriptors are unusable (a build defect, reported at start-up).
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    /// The descriptor set does not decode.
    #[error("embedded descriptors do not decode: {0}")]
    Decode(#[from] prost_reflect::DescriptorError),
    /// An option the gateway relies on is missing from `options.proto`.
    #[error("embedded descriptors lack the option {0}")]
    MissingOption(&'static str),
}

/// Why a payload type is not a catalogue signal.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UnknownSignal {
    /// The type URL has no type name after its last '/'.
    #[error(
        "payload type URL must end in a message name, e.g. \"{TYPE_URL_PREFIX}{PACKAGE}.Intake\""
    )]
    Malformed,
    /// The type is not one of the catalogue's signals (named by the catalogue's list; the
    /// caller's type URL is never repeated).
    #[error(
        "payload type URL names no catalogue signal; use {TYPE_URL_PREFIX}{PACKAGE}.<signal>, \
         one of: {0}"
    )]
    NotASignal(String),
}

// === impl Catalogue ===

impl Catalogue {
    /// Loads the embedded catalogue.
    pub fn load() -> Result<Self, CatalogueError> {
        let pool = DescriptorPool::decode(DESCRIPTOR_SET)?;
        let option = |name: &'static str| {
            pool.get_extension_by_name(name)
                .ok_or(CatalogueError::MissingOption(name))
        };
        let sensitivity = option("ketenpoort.v1.sensitivity")?;
        let signal = option("ketenpoort.v1.signal")?;
        let subject_id = option("ketenpoort.v1.subject_id")?;
        let subject_fields = pool
            .all_messages()
            .flat_map(|m| m.fields().collect::<Vec<_>>())
            .filter_map(|field| {
                let kind = match field.options().get_extension(&subject_id).as_enum_number() {
                    Some(1) => SubjectIdType::VNummer,
                    Some(2) => SubjectIdType::Bsn,
                    _ => return None,
                };
                Some((field.full_name().to_string(), kind))
            })
            .collect();
        let text_forms = formats::text_forms(
            &pool,
            &option("ketenpoort.v1.format")?,
            &option("ketenpoort.v1.max_length")?,
        );
        let signals = pool
            .all_messages()
            .filter(|m| m.package_name() == PACKAGE)
            .filter(|m| m.options().get_extension(&signal).as_bool() == Some(true))
            .map(|m| (m.name().to_string(), m))
            .collect();
        Ok(Self {
            pool,
            sensitivity,
            subject_fields,
            text_forms,
            signals,
        })
    }

    /// The descriptor pool of the whole contract.
    pub fn pool(&self) -> &DescriptorPool {
        &self.pool
    }

    /// A signal by its message name, e.g. `Intake`.
    pub fn signal(&self, name: &str) -> Option<&MessageDescriptor> {
        self.signals.get(name)
    }

    /// Names of all signals, sorted.
    pub fn signal_names(&self) -> impl Iterator<Item = &str> {
        self.signals.keys().map(String::as_str)
    }

    /// The signal a payload's type URL names.
    pub fn signal_for_type_url(&self, type_url: &str) -> Result<&MessageDescriptor, UnknownSignal> {
        let full_name = type_url.rsplit_once('/').map_or(type_url, |(_, name)| name);
        let name = full_name
            .strip_prefix(PACKAGE)
            .and_then(|rest| rest.strip_prefix('.'));
        match name {
            _ if full_name.is_empty() => Err(UnknownSignal::Malformed),
            Some(name) if self.signals.contains_key(name) => Ok(&self.signals[name]),
            _ => Err(UnknownSignal::NotASignal(
                self.signal_names().collect::<Vec<_>>().join(", "),
            )),
        }
    }

    /// The identifier of the data subject a payload carries, if any: the first V-nummer found
    /// (depth first), else the first BSN.
    pub fn subject_of(&self, payload: &DynamicMessage) -> Option<(SubjectIdType, String)> {
        let mut found = Vec::new();
        self.collect_subjects(payload, &mut found, 0);
        found.sort_by_key(|(kind, _)| *kind);
        found.into_iter().next()
    }

    fn collect_subjects(
        &self,
        message: &DynamicMessage,
        found: &mut Vec<(SubjectIdType, String)>,
        depth: usize,
    ) {
        if depth > 8 {
            return;
        }
        for (field, value) in message.fields() {
            let kind = self.subject_fields.get(field.full_name()).copied();
            match (kind, value) {
                (Some(kind), Value::String(id)) if !id.is_empty() => found.push((kind, id.clone())),
                (_, Value::Message(nested)) => self.collect_subjects(nested, found, depth + 1),
                (_, Value::List(items)) => {
                    for nested in items.iter().filter_map(Value::as_message) {
                        self.collect_subjects(nested, found, depth + 1);
                    }
                }
                _ => {}
            }
        }
    }

    /// The sensitivity classes a field is annotated with (empty for message-typed fields).
    pub fn sensitivities(&self, field: &FieldDescriptor) -> Vec<Sensitivity> {
        match &*field.options().get_extension(&self.sensitivity) {
            Value::List(values) => values
                .iter()
                .filter_map(Value::as_enum_number)
                .filter_map(Sensitivity::from_number)
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// A leaf field of a signal, reached through nested messages.
#[derive(Debug, Clone)]
pub struct LeafField {
    /// Dotted path of field names, e.g. `person.bsn`.
    pub path: String,
    /// Field numbers along the path.
    pub numbers: Vec<u32>,
    /// Sensitivity classes of the leaf.
    pub sensitivities: Vec<Sensitivity>,
}

impl Catalogue {
    /// Every leaf field of `message`, depth first in field order.
    pub fn leaf_fields(&self, message: &MessageDescriptor) -> Vec<LeafField> {
        let mut out = Vec::new();
        self.collect_leaves(message, "", &mut Vec::new(), &mut out);
        out
    }

    fn collect_leaves(
        &self,
        message: &MessageDescriptor,
        prefix: &str,
        numbers: &mut Vec<u32>,
        out: &mut Vec<LeafField>,
    ) {
        // The catalogue is not recursive; the bound only guards against a future schema that is.
        if numbers.len() > 8 {
            return;
        }
        for field in message.fields() {
            let path = if prefix.is_empty() {
                field.name().to_string()
            } else {
                format!("{prefix}.{}", field.name())
            };
            numbers.push(field.number());
            match message_kind(&field) {
                Some(nested) => self.collect_leaves(&nested, &path, numbers, out),
                None => out.push(LeafField {
                    path,
                    numbers: numbers.clone(),
                    sensitivities: self.sensitivities(&field),
                }),
            }
            numbers.pop();
        }
    }
}

/// The type URL of a catalogue signal.
pub fn type_url(message: &MessageDescriptor) -> String {
    format!("{TYPE_URL_PREFIX}{}", message.full_name())
}

/// The message type a field holds (singular, repeated, or as map values), if the filter must
/// descend into it. Well-known types such as `google.protobuf.Timestamp` count as leaves: their
/// sensitivity is that of the field holding them.
pub fn message_kind(field: &FieldDescriptor) -> Option<MessageDescriptor> {
    let kind = if field.is_map() {
        match field.kind() {
            Kind::Message(entry) => entry.map_entry_value_field().kind(),
            other => other,
        }
    } else {
        field.kind()
    };
    match kind {
        Kind::Message(m) if m.package_name() != "google.protobuf" => Some(m),
        _ => None,
    }
}

// === impl SubjectIdType ===

impl SubjectIdType {
    /// The name stored in audit records.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::VNummer => "v_nummer",
            Self::Bsn => "bsn",
        }
    }
}

// === impl Sensitivity ===

impl Sensitivity {
    fn from_number(n: i32) -> Option<Self> {
        Some(match n {
            1 => Self::Ordinary,
            2 => Self::Identifying,
            3 => Self::ResidenceStatus,
            4 => Self::EthnicOrigin,
            5 => Self::Health,
            6 => Self::Criminal,
            7 => Self::SafetyInstruction,
            8 => Self::Biometric,
            _ => return None,
        })
    }
}

impl fmt::Display for Sensitivity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ordinary => "ordinary",
            Self::Identifying => "identifying",
            Self::ResidenceStatus => "residence_status",
            Self::EthnicOrigin => "ethnic_origin",
            Self::Health => "health",
            Self::Criminal => "criminal",
            Self::SafetyInstruction => "safety_instruction",
            Self::Biometric => "biometric",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_leaf_field_of_every_signal_is_annotated() {
        let catalogue = Catalogue::load().unwrap();
        assert!(catalogue.signal("Intake").is_some());
        let mut missing = Vec::new();
        let mut stack: Vec<MessageDescriptor> = catalogue.signals.values().cloned().collect();
        while let Some(message) = stack.pop() {
            for field in message.fields() {
                match message_kind(&field) {
                    Some(nested) => stack.push(nested),
                    None if catalogue.sensitivities(&field).is_empty() => {
                        missing.push(field.full_name().to_string())
                    }
                    None => {}
                }
            }
        }
        assert!(
            missing.is_empty(),
            "fields without sensitivity: {missing:?}"
        );
    }

    #[test]
    fn type_urls_resolve_only_to_signals() {
        let catalogue = Catalogue::load().unwrap();
        let intake = catalogue
            .signal_for_type_url("type.googleapis.com/ketenpoort.v1.Intake")
            .unwrap();
        assert_eq!(type_url(intake), "type.googleapis.com/ketenpoort.v1.Intake");
        assert!(matches!(
            catalogue.signal_for_type_url("type.googleapis.com/ketenpoort.v1.Person"),
            Err(UnknownSignal::NotASignal(..))
        ));
        assert_eq!(
            catalogue.signal_for_type_url(""),
            Err(UnknownSignal::Malformed)
        );
    }
}
