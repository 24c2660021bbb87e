//! Properties of the filter over generated payloads, run by plain `cargo test` for a bounded
//! number of cases: for every rule of the default policy and every receiving endpoint, no
//! field path outside the recipient's allowlist ever reaches its copy, no unknown field is
//! copied, and `delivered` names exactly what the copy holds; arbitrary bytes decoded as a
//! signal (a fuzzed payload) never make the filter panic or leak either.

use proptest::prelude::*;
use prost::{
    Message as _,
    encoding::{self, WireType},
};
use prost_reflect::{
    DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, ReflectMessage, Value,
};

use super::{
    Reading, apply, cut, model,
    tests::{catalogue, default_policy, permit, registry},
};
use crate::policy::{FieldTree, Permit};

/// Cases per property: enough to set every field of every signal many times over, few
/// enough to stay within a second or two in a debug build.
const CASES: u32 = 64;

/// A small deterministic generator, so that a failing case is reproduced from its seed.
struct Seeded(u64);

impl Seeded {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A message of type `descriptor` with a random half of its fields set to random values.
fn message(descriptor: &MessageDescriptor, rng: &mut Seeded, depth: u32) -> DynamicMessage {
    let mut message = DynamicMessage::new(descriptor.clone());
    for field in descriptor.fields() {
        if field.is_map() || rng.below(2) == 0 {
            continue;
        }
        let value = if field.is_list() {
            let items = (0..rng.below(4)).filter_map(|_| single(&field, rng, depth));
            Value::List(items.collect())
        } else {
            match single(&field, rng, depth) {
                Some(value) => value,
                None => continue,
            }
        };
        message.set_field(&field, value);
    }
    message
}

fn single(field: &FieldDescriptor, rng: &mut Seeded, depth: u32) -> Option<Value> {
    const TEXTS: [&str; 5] = ["", "1234567890", "Testa Persoon", "é漢字 ü", "GM0344"];
    Some(match field.kind() {
        Kind::String => Value::String(match rng.below(6) {
            5 => "x".repeat(rng.below(300) as usize),
            i => TEXTS[i as usize].to_string(),
        }),
        Kind::Bytes => Value::Bytes(vec![rng.below(256) as u8; rng.below(32) as usize].into()),
        Kind::Bool => Value::Bool(rng.below(2) == 1),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Value::I32(rng.next() as i32),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Value::I64(rng.next() as i64),
        Kind::Uint32 | Kind::Fixed32 => Value::U32(rng.next() as u32),
        Kind::Uint64 | Kind::Fixed64 => Value::U64(rng.next()),
        Kind::Float => Value::F32(rng.next() as f32),
        Kind::Double => Value::F64(rng.next() as f64),
        // Known values and one no schema names.
        Kind::Enum(e) => Value::EnumNumber(match e.values().nth(rng.below(8) as usize) {
            Some(v) => v.number(),
            None => 999,
        }),
        Kind::Message(m) if depth < 4 => Value::Message(message(&m, rng, depth + 1)),
        Kind::Message(_) => return None,
    })
}

/// Every permit of the default policy: per rule, one to every endpoint of the test registry
/// that receives one of its purposes (one of them registered for two).
fn permits() -> Vec<Permit> {
    let policy = default_policy();
    let registry = registry();
    policy
        .rules()
        .iter()
        .map(|rule| {
            let mut endpoints: Vec<String> = rule
                .receive
                .keys()
                .map(|purpose| purpose.to_lowercase().replace('_', "-"))
                .collect();
            if rule.receive.contains_key("GUIDANCE") && rule.receive.contains_key("MONITORING") {
                endpoints.push("guidance-and-monitoring".into());
            }
            let endpoints: Vec<&str> = endpoints
                .iter()
                .map(String::as_str)
                .filter(|id| registry.by_id(id).is_some())
                .collect();
            permit(&policy, &rule.name, &endpoints)
        })
        .collect()
}

/// The number paths of every field set in `message`, with whether the schema knows it.
fn set_paths(message: &DynamicMessage, prefix: &mut Vec<u32>, out: &mut Vec<Vec<u32>>) {
    if message.unknown_fields().next().is_some() {
        out.push(vec![u32::MAX]);
    }
    for (field, value) in message.fields() {
        prefix.push(field.number());
        out.push(prefix.clone());
        let nested: Vec<&DynamicMessage> = match value {
            Value::Message(m) => vec![m],
            Value::List(items) => items.iter().filter_map(Value::as_message).collect(),
            _ => Vec::new(),
        };
        for m in nested {
            set_paths(m, prefix, out);
        }
        prefix.pop();
    }
}

/// The property: each copy holds only what its grant allows, and says so.
fn holds_only_what_is_allowed(
    permit: &Permit,
    payload: &DynamicMessage,
    encoded: &[u8],
) -> Result<(), String> {
    let copies = apply(permit, payload, encoded).map_err(|e| e.to_string())?;
    for (grant, copy) in permit.grants().iter().zip(copies) {
        let decoded = DynamicMessage::decode(payload.descriptor(), copy.payload.as_slice())
            .map_err(|e| format!("a copy does not decode: {e}"))?;
        let mut paths = Vec::new();
        set_paths(&decoded, &mut Vec::new(), &mut paths);
        let allowed: &FieldTree = &grant.fields;
        if let Some(path) = paths.iter().find(|p| !allowed.allows(p)) {
            return Err(format!(
                "{} to {}: field path {path:?} is outside the allowlist",
                permit.signal(),
                grant.recipient.id
            ));
        }
        if copy.delivered.iter().any(|d| copy.withheld.contains(d)) {
            return Err(format!("{copy:?} both delivers and withholds a path"));
        }
    }
    Ok(())
}

/// A payload of type `descriptor` as a careless client might encode it: two messages one
/// after the other (which decode as one, the second merged into the first: fields sent twice,
/// out of order), with some fields written out at their default value.
fn sent_carelessly(descriptor: &MessageDescriptor, rng: &mut Seeded) -> Vec<u8> {
    let mut bytes = message(descriptor, rng, 0).encode_to_vec();
    if rng.below(2) == 0 {
        bytes.extend(message(descriptor, rng, 0).encode_to_vec());
    }
    for field in descriptor.fields() {
        if field.supports_presence() || field.is_list() || field.is_map() || rng.below(3) > 0 {
            continue;
        }
        let wire = field.kind().wire_type();
        encoding::encode_key(field.number(), wire, &mut bytes);
        match wire {
            WireType::SixtyFourBit => bytes.extend([0; 8]),
            WireType::ThirtyTwoBit => bytes.extend([0; 4]),
            _ => bytes.push(0),
        }
    }
    bytes
}

/// The property: the copies cut from `encoded` hold what the decoded message's fields give
/// (a list sent in two runs may be copied so), with the same paths.
fn cut_as_modelled(
    permit: &Permit,
    payload: &DynamicMessage,
    encoded: &[u8],
) -> Result<(), String> {
    let decoded = |copy: &[u8]| DynamicMessage::decode(payload.descriptor(), copy).ok();
    let cut = apply(permit, payload, encoded).map_err(|e| e.to_string())?;
    let modelled = model::filter(permit, payload);
    for (cut, modelled) in cut.iter().zip(&modelled) {
        let held = decoded(&cut.payload).ok_or("a copy does not decode")?;
        if (Some(held), &cut.delivered, &cut.withheld)
            != (
                decoded(&modelled.payload),
                &modelled.delivered,
                &modelled.withheld,
            )
        {
            return Err(format!(
                "{}: cut {cut:?}, modelled {modelled:?}",
                permit.signal()
            ));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: CASES,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn no_field_outside_the_allowlist_reaches_a_copy(seed in any::<u64>()) {
        let mut rng = Seeded(seed);
        for permit in permits() {
            let descriptor = catalogue().signal(permit.signal()).unwrap().clone();
            let payload = message(&descriptor, &mut rng, 0);
            let encoded = payload.encode_to_vec();
            prop_assert_eq!(holds_only_what_is_allowed(&permit, &payload, &encoded), Ok(()));
        }
    }

    #[test]
    fn arbitrary_bytes_as_a_payload_never_leak(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        for permit in permits() {
            let descriptor = catalogue().signal(permit.signal()).unwrap().clone();
            // Most arbitrary bytes are no message; those that decode must filter cleanly.
            if let Ok(payload) = DynamicMessage::decode(descriptor, bytes.as_slice()) {
                prop_assert_eq!(holds_only_what_is_allowed(&permit, &payload, &bytes), Ok(()));
                prop_assert_eq!(cut_as_modelled(&permit, &payload, &bytes), Ok(()));
            }
        }
    }

    #[test]
    fn a_generated_payload_round_trips_through_its_encoding(seed in any::<u64>()) {
        // The generator's payloads are what a client could send: they survive the wire.
        let mut rng = Seeded(seed);
        for permit in permits() {
            let descriptor = catalogue().signal(permit.signal()).unwrap().clone();
            let payload = message(&descriptor, &mut rng, 0);
            let decoded = DynamicMessage::decode(descriptor, payload.encode_to_vec().as_slice());
            prop_assert!(decoded.is_ok());
        }
    }

    #[test]
    fn a_payload_is_cut_as_its_decoded_fields_give(seed in any::<u64>()) {
        let mut rng = Seeded(seed);
        for permit in permits() {
            let descriptor = catalogue().signal(permit.signal()).unwrap().clone();
            let encoded = message(&descriptor, &mut rng, 0).encode_to_vec();
            // An encoding as prost-reflect (or any library) writes it is cut as sent.
            for grant in permit.grants() {
                let as_sent = cut(Reading::Sent, &encoded, &descriptor, &grant.fields);
                prop_assert!(as_sent.is_ok(), "{} is encoded again", permit.signal());
            }
            let payload = DynamicMessage::decode(descriptor, encoded.as_slice()).unwrap();
            prop_assert_eq!(cut_as_modelled(&permit, &payload, &encoded), Ok(()));
        }
    }

    #[test]
    fn a_carelessly_encoded_payload_is_cut_as_decoded(seed in any::<u64>()) {
        let mut rng = Seeded(seed);
        for permit in permits() {
            let descriptor = catalogue().signal(permit.signal()).unwrap().clone();
            let encoded = sent_carelessly(&descriptor, &mut rng);
            let payload = DynamicMessage::decode(descriptor, encoded.as_slice()).unwrap();
            prop_assert_eq!(holds_only_what_is_allowed(&permit, &payload, &encoded), Ok(()));
            prop_assert_eq!(cut_as_modelled(&permit, &payload, &encoded), Ok(()));
        }
    }
}
