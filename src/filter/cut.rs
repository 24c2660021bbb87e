//! Cutting a recipient's copy out of the payload's own encoding: field by field, what the
//! recipient's tree allows is copied as it was sent and the messages among it are cut in
//! turn, so no message is built, cloned or encoded again (issue 13).
//!
//! The cut copies the bytes it reads, so it reads an encoding as sent only where that holds
//! what was decoded from it: each field once and in order (a list's items together), no
//! default value written out, one member per oneof, no map. Anything else (a field sent
//! twice is merged or overridden on decoding, a default is as good as absent) makes the read
//! [`Unsure`], and the caller cuts from the decoded message encoded again, which always holds
//! exactly what was decoded.

use prost::encoding::{
    DecodeContext, WireType, decode_key, decode_varint, encode_key, encode_varint, skip_field,
};
use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor, OneofDescriptor};

use super::Paths;
use crate::policy::FieldTree;

/// The encoding as sent does not hold exactly what was decoded from it.
#[derive(Debug)]
pub(super) struct Unsure;

/// Which encoding is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reading {
    /// The payload as the sender encoded it: checked field by field.
    Sent,
    /// The decoded payload encoded again: holds exactly what was decoded.
    Encoded,
}

/// One field as read: its number, wire type, whole encoding and value (for a length-delimited
/// field, the bytes after the length).
struct Field<'a> {
    number: u32,
    wire: WireType,
    whole: &'a [u8],
    value: &'a [u8],
}

/// What a field's value holds for the cut.
enum Inner {
    /// A message of the catalogue's own: cut in turn.
    Message(MessageDescriptor),
    /// A map whose values are such messages: each value cut in turn, under the map's path.
    MapOf(MessageDescriptor),
}

/// A cut in progress: where it is, and what it has found delivered and withheld.
pub(super) struct Cut<'p> {
    pub(super) reading: Reading,
    pub(super) path: String,
    pub(super) paths: &'p mut Paths,
}

// === impl Cut ===

impl Cut<'_> {
    /// Appends to `out` the fields of `bytes` (a `message`) that `tree` allows.
    pub(super) fn message(
        &mut self,
        message: &MessageDescriptor,
        mut bytes: &[u8],
        tree: &FieldTree,
        out: &mut Vec<u8>,
    ) -> Result<(), Unsure> {
        let mut last = 0;
        let mut oneofs = Vec::new();
        while !bytes.is_empty() {
            let read = next(&mut bytes)?;
            // A field the schema does not know (set by a newer client) is never copied.
            let Some(field) = message.get_field(read.number) else {
                continue;
            };
            if self.reading == Reading::Sent {
                as_decoded(&field, &read, last, &mut oneofs)?;
            }
            last = read.number;
            let len = self.path.len();
            if !self.path.is_empty() {
                self.path.push('.');
            }
            self.path.push_str(field.name());
            match tree.child(read.number) {
                None => self.paths.withheld.push(self.path.clone()),
                Some(sub) => self.allowed(&field, &read, sub, out)?,
            }
            self.path.truncate(len);
        }
        Ok(())
    }

    /// Copies an allowed field, or the part of it `tree` allows.
    fn allowed(
        &mut self,
        field: &FieldDescriptor,
        read: &Field<'_>,
        tree: &FieldTree,
        out: &mut Vec<u8>,
    ) -> Result<(), Unsure> {
        let mut copy = Vec::new();
        match inner(field) {
            None => {
                self.paths.delivered.push(self.path.clone());
                out.extend_from_slice(read.whole);
                return Ok(());
            }
            // A message in another wire type does not decode: never copied.
            Some(_) if read.wire != WireType::LengthDelimited => return Ok(()),
            Some(Inner::Message(message)) => self.message(&message, read.value, tree, &mut copy)?,
            Some(Inner::MapOf(message)) => self.entry(&message, read.value, tree, &mut copy)?,
        }
        // Nothing of it may pass: left out, as a message with no field set.
        if !copy.is_empty() {
            encode_key(read.number, WireType::LengthDelimited, out);
            encode_varint(copy.len() as u64, out);
            out.extend_from_slice(&copy);
        }
        Ok(())
    }

    /// Appends to `out` a map entry's key and its value cut by `tree`, when anything of the
    /// value may pass.
    fn entry(
        &mut self,
        value_type: &MessageDescriptor,
        mut bytes: &[u8],
        tree: &FieldTree,
        out: &mut Vec<u8>,
    ) -> Result<(), Unsure> {
        let mut key: &[u8] = &[];
        let mut value = Vec::new();
        while !bytes.is_empty() {
            let read = next(&mut bytes)?;
            match (read.number, read.wire) {
                (1, _) => key = read.whole,
                (2, WireType::LengthDelimited) => {
                    value.clear();
                    self.message(value_type, read.value, tree, &mut value)?;
                }
                _ => {}
            }
        }
        if !value.is_empty() {
            out.extend_from_slice(key);
            encode_key(2, WireType::LengthDelimited, out);
            encode_varint(value.len() as u64, out);
            out.extend_from_slice(&value);
        }
        Ok(())
    }
}

/// Reads the next field of `bytes`.
fn next<'a>(bytes: &mut &'a [u8]) -> Result<Field<'a>, Unsure> {
    let start = *bytes;
    let (number, wire) = decode_key(bytes).map_err(|_| Unsure)?;
    let value = if wire == WireType::LengthDelimited {
        let len = decode_varint(bytes).map_err(|_| Unsure)?;
        let len = usize::try_from(len).map_err(|_| Unsure)?;
        let value = bytes.get(..len).ok_or(Unsure)?;
        *bytes = &bytes[len..];
        value
    } else {
        let at = *bytes;
        skip_field(wire, number, bytes, DecodeContext::default()).map_err(|_| Unsure)?;
        &at[..at.len() - bytes.len()]
    };
    Ok(Field {
        number,
        wire,
        whole: &start[..start.len() - bytes.len()],
        value,
    })
}

/// What the cut does with a field's value, when it is more than copied.
fn inner(field: &FieldDescriptor) -> Option<Inner> {
    let Kind::Message(message) = field.kind() else {
        return None;
    };
    if !message.is_map_entry() {
        return own(message).map(Inner::Message);
    }
    match message.get_field(2)?.kind() {
        Kind::Message(value) => own(value).map(Inner::MapOf),
        _ => None,
    }
}

/// `message` unless it is a well-known type (a timestamp, say), which passes whole.
fn own(message: MessageDescriptor) -> Option<MessageDescriptor> {
    (message.package_name() != "google.protobuf").then_some(message)
}

/// Whether `read`, a field of the encoding as sent, holds what was decoded from it: in order
/// after the field numbered `last`, in its own wire type, no default written out, the first
/// member of its oneof, not a map.
fn as_decoded(
    field: &FieldDescriptor,
    read: &Field<'_>,
    last: u32,
    oneofs: &mut Vec<OneofDescriptor>,
) -> Result<(), Unsure> {
    let list = field.is_list();
    let in_order = read.number > last || (read.number == last && list);
    let own_wire = field.kind().wire_type();
    let packed = list && read.wire == WireType::LengthDelimited && own_wire != read.wire;
    let default = !field.supports_presence()
        && if list {
            packed && read.value.is_empty()
        } else {
            is_default(read)
        };
    let oneof_again = field.containing_oneof().is_some_and(|oneof| {
        let seen = oneofs.contains(&oneof);
        oneofs.push(oneof);
        seen
    });
    let sure = in_order
        && (read.wire == own_wire || packed)
        && !default
        && !oneof_again
        && !field.is_map();
    sure.then_some(()).ok_or(Unsure)
}

/// Whether a singular value is its type's default: zero, or empty (`-0.0` counts as zero).
fn is_default(read: &Field<'_>) -> bool {
    match read.wire {
        WireType::Varint => read.value.iter().all(|b| b & 0x7f == 0),
        WireType::SixtyFourBit | WireType::ThirtyTwoBit => match read.value.split_last() {
            Some((high, rest)) => high & 0x7f == 0 && rest.iter().all(|b| *b == 0),
            None => true,
        },
        WireType::LengthDelimited => read.value.is_empty(),
        WireType::StartGroup | WireType::EndGroup => false,
    }
}

#[cfg(test)]
mod tests {
    use prost::Message as _;
    use prost_reflect::{DescriptorPool, DynamicMessage, MapKey, Value};
    use prost_types::{
        DescriptorProto, FieldDescriptorProto, FileDescriptorProto, FileDescriptorSet,
        MessageOptions,
        field_descriptor_proto::{Label, Type},
    };

    use super::super::{FilteredCopy, Reading, cut};
    use crate::policy::FieldTree;

    fn field(name: &str, number: i32, kind: Type, type_name: Option<&str>) -> FieldDescriptorProto {
        FieldDescriptorProto {
            name: Some(name.into()),
            number: Some(number),
            label: Some(Label::Optional as i32),
            r#type: Some(kind as i32),
            type_name: type_name.map(Into::into),
            ..Default::default()
        }
    }

    /// `test.Holder`: a map of `test.Item` messages, which the catalogue has none of yet.
    fn holder() -> prost_reflect::MessageDescriptor {
        let item = DescriptorProto {
            name: Some("Item".into()),
            field: vec![
                field("a", 1, Type::String, None),
                field("b", 2, Type::String, None),
            ],
            ..Default::default()
        };
        let entry = DescriptorProto {
            name: Some("ItemsEntry".into()),
            field: vec![
                field("key", 1, Type::String, None),
                field("value", 2, Type::Message, Some(".test.Item")),
            ],
            options: Some(MessageOptions {
                map_entry: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut items = field("items", 1, Type::Message, Some(".test.Holder.ItemsEntry"));
        items.label = Some(Label::Repeated as i32);
        let holder = DescriptorProto {
            name: Some("Holder".into()),
            field: vec![items],
            nested_type: vec![entry],
            ..Default::default()
        };
        let file = FileDescriptorProto {
            name: Some("test.proto".into()),
            package: Some("test".into()),
            syntax: Some("proto3".into()),
            message_type: vec![item, holder],
            ..Default::default()
        };
        let pool = DescriptorPool::from_file_descriptor_set(FileDescriptorSet { file: vec![file] });
        pool.unwrap().get_message_by_name("test.Holder").unwrap()
    }

    #[test]
    fn a_map_of_messages_is_cut_per_value_under_the_maps_path() {
        let holder = holder();
        let item_type = holder.parent_pool().get_message_by_name("test.Item");
        let item = |fields: &[(&str, &str)]| {
            let mut item = DynamicMessage::new(item_type.clone().unwrap());
            for (name, text) in fields {
                item.set_field_by_name(name, Value::String((*text).into()));
            }
            Value::Message(item)
        };
        let mut sent = DynamicMessage::new(holder.clone());
        sent.set_field_by_name(
            "items",
            Value::Map(
                [
                    (MapKey::String("x".into()), item(&[("a", "1"), ("b", "2")])),
                    (MapKey::String("y".into()), item(&[("b", "3")])),
                ]
                .into(),
            ),
        );
        let encoded = sent.encode_to_vec();
        // items, and inside each value only `a`.
        let tree = FieldTree::single(1, FieldTree::single(1, FieldTree::default()));

        // Maps are never read as sent: a key sent twice is overridden on decoding.
        assert!(cut(Reading::Sent, &encoded, &holder, &tree).is_err());
        let FilteredCopy {
            payload,
            delivered,
            withheld,
        } = cut(Reading::Encoded, &encoded, &holder, &tree).unwrap();
        let copy = DynamicMessage::decode(holder.clone(), payload.as_slice()).unwrap();
        let mut expected = DynamicMessage::new(holder);
        expected.set_field_by_name(
            "items",
            Value::Map([(MapKey::String("x".into()), item(&[("a", "1")]))].into()),
        );
        assert_eq!(copy, expected, "y holds nothing that may pass: left out");
        assert_eq!(
            (delivered, withheld),
            (vec!["items.a".into()], vec!["items.b".into()])
        );
    }
}
