//! Purpose-bound field filtering: from a [`Permit`], build each recipient's own copy of a
//! payload holding only the fields its purposes allow, and name the fields withheld.
//!
//! The filter is an allowlist. A field passes only if its number is in the recipient's
//! [`FieldTree`]; everything else is withheld, and fields unknown to the schema (set by a newer
//! client) are never copied. Biometric fields cannot be in a tree: the policy loader leaves
//! them out of wildcards and refuses them when named.
//!
//! Each copy is cut from the payload's encoding as sent ([`cut`]): the allowed fields' bytes
//! are copied, the messages among them cut in turn. An encoding that does not hold exactly
//! what was decoded from it (a field sent twice, a default written out) is cut from the
//! decoded payload encoded again instead.

use prost::Message as _;
use prost_reflect::{DynamicMessage, MessageDescriptor, ReflectMessage};

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

/// Why a payload cannot be filtered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// A payload of another signal type than the one its permit was granted for: each type
    /// has its own allowlists, so a permit cannot filter a payload of another type.
    #[error("the permit was granted for {permitted}, not for {given}")]
    WrongSignal {
        /// The signal type of the permit.
        permitted: String,
        /// The type of the payload.
        given: String,
    },
    /// The decoded payload, encoded again, does not read field by field (never expected).
    #[error("the payload's encoding does not read field by field")]
    Unreadable,
}

/// Builds every recipient's copy, in the permit's recipient order, from `encoded`: the
/// encoding `payload` was decoded from. Refuses a payload of another type than the permit's.
pub fn apply(
    permit: &Permit,
    payload: &DynamicMessage,
    encoded: &[u8],
) -> Result<Vec<FilteredCopy>, FilterError> {
    let given = payload.descriptor();
    if given.name() != permit.signal() {
        return Err(FilterError::WrongSignal {
            permitted: permit.signal().to_string(),
            given: given.name().to_string(),
        });
    }
    // The payload encoded again, once the encoding as sent turned out not to be cut as is.
    let mut again: Option<Vec<u8>> = None;
    let mut copies = Vec::with_capacity(permit.grants().len());
    for grant in permit.grants() {
        let as_sent = match &again {
            None => cut(Reading::Sent, encoded, &given, &grant.fields).ok(),
            Some(_) => None,
        };
        let copy = match as_sent {
            Some(copy) => copy,
            None => {
                let bytes = again.get_or_insert_with(|| payload.encode_to_vec());
                cut(Reading::Encoded, bytes, &given, &grant.fields)
                    .map_err(|Unsure| FilterError::Unreadable)?
            }
        };
        copies.push(copy);
    }
    Ok(copies)
}

/// One recipient's copy of `encoded`, a `message`, as `tree` allows.
fn cut(
    reading: Reading,
    encoded: &[u8],
    message: &MessageDescriptor,
    tree: &FieldTree,
) -> Result<FilteredCopy, Unsure> {
    let mut paths = Paths::default();
    let mut copy = Vec::with_capacity(encoded.len());
    Cut {
        reading,
        path: String::new(),
        paths: &mut paths,
    }
    .message(message, encoded, tree, &mut copy)?;
    for list in [&mut paths.delivered, &mut paths.withheld] {
        list.sort();
        list.dedup();
    }
    Ok(FilteredCopy {
        payload: copy,
        delivered: paths.delivered,
        withheld: paths.withheld,
    })
}

mod cut;

use cut::{Cut, Reading, Unsure};

#[cfg(test)]
mod model;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod properties;
