//! Times on the command line: an RFC 3339 argument as a protobuf timestamp, and a protobuf
//! timestamp as RFC 3339 text.

use ketenpoort::{
    api::{timestamp, unix_ms as proto_ms},
    clock::{rfc3339, unix_ms},
};
use prost_types::Timestamp;

/// A time given on the command line, for a request.
pub fn to_proto(t: humantime::Timestamp) -> Timestamp {
    timestamp(unix_ms(t.into()))
}

/// A timestamp as RFC 3339, when there is one.
pub fn rfc3339_of(t: Option<&Timestamp>) -> Option<String> {
    t.map(|t| rfc3339(proto_ms(t)))
}

/// A timestamp as RFC 3339, or `-` when there is none.
pub fn when(t: Option<&Timestamp>) -> String {
    rfc3339_of(t).unwrap_or_else(|| "-".into())
}

/// A timestamp as RFC 3339, or the epoch when there is none (audit records always have one).
pub fn at(t: Option<&Timestamp>) -> String {
    rfc3339(t.map(proto_ms).unwrap_or_default())
}
