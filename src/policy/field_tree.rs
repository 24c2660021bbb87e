//! The compiled form of an allowlist: which fields of a message may pass, by field number,
//! with what may pass inside each. The policy loader builds one per receiving purpose of a
//! rule; a [`super::Permit`] carries the union for each recipient; the filter walks it.

use std::collections::BTreeMap;

/// The fields of a message that may pass, by field number, with what may pass inside each.
/// A scalar field's subtree is empty; a message field's subtree lists its allowed fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldTree {
    children: BTreeMap<u32, FieldTree>,
}

// === impl FieldTree ===

impl FieldTree {
    /// A tree allowing one field, with `child` allowed inside it.
    pub fn single(number: u32, child: FieldTree) -> Self {
        Self {
            children: BTreeMap::from([(number, child)]),
        }
    }

    /// What may pass inside field `number`, when that field may pass at all.
    pub fn child(&self, number: u32) -> Option<&FieldTree> {
        self.children.get(&number)
    }

    /// Everything either tree allows.
    pub fn union(&self, other: &FieldTree) -> FieldTree {
        let mut children = self.children.clone();
        for (number, child) in &other.children {
            let merged = match children.get(number) {
                Some(mine) => mine.union(child),
                None => child.clone(),
            };
            children.insert(*number, merged);
        }
        FieldTree { children }
    }

    /// True when the field reached by `numbers` (a path of field numbers) may pass.
    pub fn allows(&self, numbers: &[u32]) -> bool {
        match numbers.split_first() {
            None => true,
            Some((first, rest)) => self
                .children
                .get(first)
                .is_some_and(|child| child.allows(rest)),
        }
    }
}
