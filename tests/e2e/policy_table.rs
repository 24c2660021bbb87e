//! The whole default policy as a table: for every rule of `config/policy.toml`, a fully
//! populated signal of its type travels over mutual TLS to a recipient for each receiving
//! purpose, and each recipient must receive exactly the leaf fields its purposes allow, with a
//! receipt that withholds exactly the rest.
//!
//! The expected fields are computed here from the rule's path strings and the descriptors,
//! independently of `src/filter.rs` and of the field trees the policy loader builds.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    path::Path,
    time::Duration,
};

use ketenpoort::{
    api::proto::{Delivery, SendRequest},
    catalogue::{Catalogue, Sensitivity, type_url},
    policy::{Policy, Rule},
    registry::{PartnerDef, PartnerStatus, Role},
};
use prost::Message as _;
use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, Value};
use prost_types::Any;

use crate::support::{Harness, ack_request, next_delivery, subscribe};

const WAIT: Duration = Duration::from_secs(10);

/// Leaf field paths ("person.names.surname", no list indices), each with its values in order.
type Leaves = BTreeMap<String, Vec<String>>;

/// What one delivery must hold.
struct Expected {
    rule: String,
    recipient: String,
    purposes: Vec<String>,
    sending_purpose: String,
    sender_oin: String,
    type_url: String,
    leaves: Leaves,
}

#[tokio::test]
async fn every_rule_of_the_default_policy_delivers_exactly_the_allowed_fields() {
    let h = Harness::start_with_partners(extra_endpoints()).await;
    let catalogue = &h.catalogue;
    let policy = Policy::load(Path::new("config/policy.toml"), catalogue).unwrap();
    let mut problems = Vec::new();
    let mut expected: HashMap<String, Expected> = HashMap::new();
    let mut clients = HashMap::new();
    for rule in policy.rules() {
        let signal = catalogue.signal(&rule.signal).unwrap();
        let payload = populated(signal, "");
        let sender = h
            .partners
            .iter()
            .find(|p| p.role == rule.sender_role)
            .unwrap_or_else(|| panic!("rule {}: no {} partner", rule.name, rule.sender_role));
        let recipients = recipients_for(rule, sender, &h.partners);
        let covered: BTreeSet<&String> = recipients.iter().flat_map(|p| &p.purposes).collect();
        let uncovered: Vec<&String> = rule
            .receive
            .keys()
            .filter(|c| !covered.contains(c))
            .collect();
        assert!(
            uncovered.is_empty(),
            "rule {}: no recipient for {uncovered:?}",
            rule.name
        );
        if !clients.contains_key(&sender.id) {
            clients.insert(sender.id.clone(), h.client(&sender.id).await);
        }
        let request = SendRequest {
            idempotency_key: format!("policy-table-{}", rule.name),
            case_ref: "LVV-TEST-TABLE".into(),
            purpose: rule.purpose.clone(),
            recipients: recipients.iter().map(|p| p.oin.to_string()).collect(),
            payload: Some(Any {
                type_url: type_url(signal),
                value: payload.encode_to_vec(),
            }),
        };
        let receipt = clients
            .get_mut(&sender.id)
            .unwrap()
            .send(request)
            .await
            .unwrap_or_else(|s| panic!("rule {}: send refused: {s:?}", rule.name))
            .into_inner()
            .receipt
            .unwrap();
        assert_eq!(
            receipt.recipients.len(),
            recipients.len(),
            "rule {}",
            rule.name
        );
        let sent = leaves(&payload);
        for (recipient, given) in recipients.iter().zip(&receipt.recipients) {
            let purposes: Vec<String> = rule
                .receive
                .keys()
                .filter(|code| recipient.purposes.contains(code))
                .cloned()
                .collect();
            let allowed = allowed_leaves(catalogue, signal, rule, &purposes);
            let mut withheld = BTreeSet::new();
            expected_withheld(&payload, "", &allowed, &mut withheld);
            let context = format!(
                "rule {}, recipient {} ({})",
                rule.name,
                recipient.id,
                purposes.join("+")
            );
            if given.purposes != purposes {
                problems.push(format!("{context}: receipt purposes {:?}", given.purposes));
            }
            let given_withheld: BTreeSet<String> = given.withheld_fields.iter().cloned().collect();
            compare(
                &context,
                "withheld_fields",
                &withheld,
                &given_withheld,
                &mut problems,
            );
            let leaves = sent
                .iter()
                .filter(|(path, _)| allowed.contains(*path))
                .map(|(path, values)| (path.clone(), values.clone()))
                .collect();
            expected.insert(
                given.delivery_id.clone(),
                Expected {
                    rule: rule.name.clone(),
                    recipient: recipient.id.clone(),
                    purposes,
                    sending_purpose: rule.purpose.clone(),
                    sender_oin: sender.oin.to_string(),
                    type_url: type_url(signal),
                    leaves,
                },
            );
        }
    }

    let mut per_recipient: BTreeMap<String, usize> = BTreeMap::new();
    for e in expected.values() {
        *per_recipient.entry(e.recipient.clone()).or_default() += 1;
    }
    for (id, count) in per_recipient {
        let mut client = h.client(&id).await;
        let mut stream = subscribe(&mut client).await;
        for received in 0..count {
            let delivery = next_delivery(&mut stream, WAIT)
                .await
                .unwrap_or_else(|| panic!("{id}: received {received} of {count} deliveries"));
            client
                .ack(ack_request(delivery.delivery_id.clone()))
                .await
                .unwrap();
            let want = expected
                .remove(&delivery.delivery_id)
                .unwrap_or_else(|| panic!("{id}: unexpected delivery {}", delivery.delivery_id));
            check_delivery(catalogue, &want, &delivery, &mut problems);
        }
    }
    problems.sort();
    assert!(
        problems.is_empty(),
        "{} mismatches between policy and deliveries:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// Further endpoints, so that every receiving purpose of every rule has a recipient other than
/// the sender (DT&V sends to RETURN, IND to RESIDENCE, police to SUPERVISION, the NGO to
/// GUIDANCE), and one endpoint registered for several purposes, which must see their union.
fn extra_endpoints() -> Vec<PartnerDef> {
    let endpoint = |id: &str, oin: &str, role, purposes: &[&str]| PartnerDef {
        id: id.into(),
        oin: oin.parse().unwrap(),
        name: format!("test endpoint {id}"),
        role,
        purposes: purposes.iter().map(|p| p.to_string()).collect(),
        status: PartnerStatus::Active,
        certificates: vec![],
        fingerprints: vec![],
        jwt_keys: vec![],
        audit_scope: vec![],
        logboek_url: None,
    };
    vec![
        endpoint(
            "test-return",
            "00000099900000010000",
            Role::Dtv,
            &["RETURN"],
        ),
        endpoint(
            "test-residence",
            "00000099900000020000",
            Role::Ind,
            &["RESIDENCE"],
        ),
        endpoint(
            "test-supervision",
            "00000099900000030000",
            Role::Police,
            &["SUPERVISION"],
        ),
        endpoint(
            "test-guidance",
            "00000099900000040000",
            Role::Ngo,
            &["GUIDANCE"],
        ),
        endpoint(
            "test-several-purposes",
            "00000099900000050000",
            Role::Monitor,
            &["SUPERVISION", "GUIDANCE", "MONITORING"],
        ),
    ]
}

/// The first partner registered for each receiving purpose of `rule`, other than the sender,
/// and every endpoint registered for several purposes that the rule reaches.
fn recipients_for<'a>(
    rule: &Rule,
    sender: &PartnerDef,
    partners: &'a [PartnerDef],
) -> Vec<&'a PartnerDef> {
    let mut chosen: Vec<&PartnerDef> = Vec::new();
    let mut choose = |p: &'a PartnerDef| {
        if !chosen.iter().any(|c| c.id == p.id) {
            chosen.push(p);
        }
    };
    let others = || partners.iter().filter(|p| p.id != sender.id);
    for code in rule.receive.keys() {
        if let Some(p) = others().find(|p| p.purposes.contains(code)) {
            choose(p);
        }
    }
    for p in others().filter(|p| p.purposes.len() > 1) {
        if rule.receive.keys().any(|code| p.purposes.contains(code)) {
            choose(p);
        }
    }
    chosen
}

/// Compares what a recipient received with what it should have.
fn check_delivery(
    catalogue: &Catalogue,
    want: &Expected,
    got: &Delivery,
    problems: &mut Vec<String>,
) {
    let context = format!(
        "rule {}, recipient {} ({})",
        want.rule,
        want.recipient,
        want.purposes.join("+")
    );
    if got.receiving_purposes != want.purposes
        || got.purpose != want.sending_purpose
        || got.sender != want.sender_oin
    {
        problems.push(format!(
            "{context}: delivery envelope: purposes {:?}, sending purpose {}, sender {}",
            got.receiving_purposes, got.purpose, got.sender
        ));
    }
    let any = got.payload.as_ref().expect("a payload");
    assert_eq!(any.type_url, want.type_url, "{context}");
    let signal = catalogue.signal_for_type_url(&any.type_url).unwrap();
    let payload = DynamicMessage::decode(signal.clone(), any.value.as_slice()).unwrap();
    let got_leaves = leaves(&payload);
    let want_paths: BTreeSet<String> = want.leaves.keys().cloned().collect();
    let got_paths: BTreeSet<String> = got_leaves.keys().cloned().collect();
    compare(
        &context,
        "delivered leaf paths",
        &want_paths,
        &got_paths,
        problems,
    );
    for (path, values) in &got_leaves {
        if let Some(sent) = want.leaves.get(path).filter(|sent| *sent != values) {
            problems.push(format!("{context}: {path} is {values:?}, sent {sent:?}"));
        }
    }
}

/// Records the difference between two sets of paths, if any.
fn compare(
    context: &str,
    what: &str,
    expected: &BTreeSet<String>,
    actual: &BTreeSet<String>,
    problems: &mut Vec<String>,
) {
    let missing: Vec<&String> = expected.difference(actual).collect();
    let unexpected: Vec<&String> = actual.difference(expected).collect();
    if !missing.is_empty() || !unexpected.is_empty() {
        problems.push(format!(
            "{context}: {what}: missing {missing:?}, unexpected {unexpected:?}"
        ));
    }
}

// === expected fields, from the policy's path strings ===

/// The leaf paths that `purposes` of `rule` allow: the union of their expanded paths.
fn allowed_leaves(
    catalogue: &Catalogue,
    signal: &MessageDescriptor,
    rule: &Rule,
    purposes: &[String],
) -> BTreeSet<String> {
    purposes
        .iter()
        .flat_map(|code| &rule.receive[code].paths)
        .flat_map(|path| expand_path(catalogue, signal, path))
        .collect()
}

/// The leaf paths one policy path allows: "a.b" one field, "a.*" or a message field's name all
/// of it; biometric fields never.
fn expand_path(catalogue: &Catalogue, signal: &MessageDescriptor, path: &str) -> BTreeSet<String> {
    let mut message = signal.clone();
    let mut prefix = String::new();
    for segment in path.split('.') {
        if segment == "*" {
            break;
        }
        let field = message
            .get_field_by_name(segment)
            .unwrap_or_else(|| panic!("policy path {path} does not exist in {}", signal.name()));
        prefix = join(&prefix, segment);
        match field.kind() {
            Kind::Message(nested) => message = nested,
            _ if is_biometric(catalogue, &field) => return BTreeSet::new(),
            _ => return BTreeSet::from([prefix]),
        }
    }
    all_leaves(catalogue, &message, &prefix)
}

/// Every non-biometric leaf path under `message`.
fn all_leaves(
    catalogue: &Catalogue,
    message: &MessageDescriptor,
    prefix: &str,
) -> BTreeSet<String> {
    message
        .fields()
        .flat_map(|field| {
            let at = join(prefix, field.name());
            match field.kind() {
                Kind::Message(nested) => all_leaves(catalogue, &nested, &at),
                _ if is_biometric(catalogue, &field) => BTreeSet::new(),
                _ => BTreeSet::from([at]),
            }
        })
        .collect()
}

fn is_biometric(catalogue: &Catalogue, field: &FieldDescriptor) -> bool {
    catalogue
        .sensitivities(field)
        .contains(&Sensitivity::Biometric)
}

/// The filter's report granularity: a set field no allowed leaf lies in is withheld by its own
/// path (a whole message as "person"); inside a field that is partly allowed, the same per field.
fn expected_withheld(
    message: &DynamicMessage,
    prefix: &str,
    allowed: &BTreeSet<String>,
    out: &mut BTreeSet<String>,
) {
    for (field, value) in message.fields() {
        let at = join(prefix, field.name());
        let below = format!("{at}.");
        if !allowed
            .iter()
            .any(|leaf| *leaf == at || leaf.starts_with(&below))
        {
            out.insert(at);
            continue;
        }
        match value {
            Value::Message(nested) => expected_withheld(nested, &at, allowed, out),
            Value::List(items) => {
                for nested in items.iter().filter_map(Value::as_message) {
                    expected_withheld(nested, &at, allowed, out);
                }
            }
            _ => {}
        }
    }
}

// === payloads ===

/// A message with every field set to a distinctive non-default value: strings and bytes hold
/// their own path, repeated fields two elements, nested messages are populated, enums non-zero.
fn populated(descriptor: &MessageDescriptor, path: &str) -> DynamicMessage {
    let mut message = DynamicMessage::new(descriptor.clone());
    for field in descriptor.fields() {
        let real_oneof = field.containing_oneof().is_some_and(|o| !o.is_synthetic());
        assert!(
            !field.is_map() && !real_oneof,
            "{}: maps and oneofs are not populated yet",
            field.full_name()
        );
        let at = join(path, field.name());
        let value = if field.is_list() {
            Value::List(
                (0..2)
                    .map(|i| sample(&field, &format!("{at}[{i}]"), i))
                    .collect(),
            )
        } else {
            sample(&field, &at, 0)
        };
        message.set_field(&field, value);
    }
    message
}

/// The `i`-th sample value of one field.
fn sample(field: &FieldDescriptor, at: &str, i: usize) -> Value {
    let n = i as u32 + 7;
    match field.kind() {
        Kind::Message(m) => Value::Message(populated(&m, at)),
        Kind::String => Value::String(text_sample(field, at)),
        Kind::Bytes => Value::Bytes(at.as_bytes().to_vec().into()),
        Kind::Bool => Value::Bool(true),
        Kind::Enum(e) => {
            let mut values = e.values().filter(|v| v.number() != 0);
            let value = values.nth(i).or_else(|| e.values().last()).unwrap();
            Value::EnumNumber(value.number())
        }
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Value::I32(n as i32),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Value::I64(n.into()),
        Kind::Uint32 | Kind::Fixed32 => Value::U32(n),
        Kind::Uint64 | Kind::Fixed64 => Value::U64(n.into()),
        Kind::Float => Value::F32(n as f32 + 0.5),
        Kind::Double => Value::F64(f64::from(n) + 0.5),
    }
}

/// A distinctive value of a text field in the form its schema gives (`ketenpoort.v1.format`):
/// free text holds its own path; dates, codes and numbers are derived from it.
fn text_sample(field: &FieldDescriptor, at: &str) -> String {
    let format = field
        .parent_pool()
        .get_extension_by_name("ketenpoort.v1.format")
        .and_then(|ext| field.options().get_extension(&ext).as_enum_number());
    let h = at
        .bytes()
        .fold(17u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    match format {
        // A date, or a partial one: a day that exists in every year.
        Some(1 | 2) => format!("{}-{:02}-{:02}", 1950 + h % 70, 1 + h % 12, 1 + h / 12 % 28),
        Some(3) => {
            let codes = ketenpoort::catalogue::COUNTRY_CODES;
            codes[(h % codes.len() as u64) as usize].to_string()
        }
        Some(4) => format!("{:010}", h % 10_000_000_000),
        // A BSN: eight digits and the check digit the eleven-test asks for.
        Some(5) => (0..10u64)
            .map(|k| format!("{:08}", (h + k) % 100_000_000))
            .find_map(|eight| {
                let sum: u64 = eight
                    .bytes()
                    .zip((2..=9).rev())
                    .map(|(b, w)| u64::from(b - b'0') * w)
                    .sum();
                let check = sum % 11;
                (check < 10 && sum > 0).then(|| format!("{eight}{check}"))
            })
            .unwrap(),
        _ => at.to_string(),
    }
}

/// The set leaf fields of a message, by path, with their values in order.
fn leaves(message: &DynamicMessage) -> Leaves {
    let mut out = Leaves::new();
    collect_leaves(message, "", &mut out);
    out
}

fn collect_leaves(message: &DynamicMessage, prefix: &str, out: &mut Leaves) {
    for (field, value) in message.fields() {
        let at = join(prefix, field.name());
        let items = match value {
            Value::List(items) => items.as_slice(),
            single => std::slice::from_ref(single),
        };
        for item in items {
            match item {
                Value::Message(nested) => collect_leaves(nested, &at, out),
                leaf => out.entry(at.clone()).or_default().push(format!("{leaf:?}")),
            }
        }
    }
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}
