//! What the SQLite writer remembers of the copies it leased to streams and has not seen
//! settled: the facts an acknowledgement's audit record needs (its signal, sender, type,
//! purposes and subject), so that acknowledging such a copy reads nothing back in the
//! transaction's opening. Before, every acknowledged copy was read again joined to its signal,
//! some 70 rows a commit under `ketenpoort bench` (BENCHMARKS.md).
//!
//! Only the writer changes a copy on SQLite, so a copy it remembers is unsettled: it forgets
//! a copy when it acknowledges or expires it. With PostgreSQL another replica may acknowledge
//! it, so there the writer remembers nothing. At most [`CAPACITY`] copies are remembered,
//! the oldest forgotten first (a stalled client's copies, for instance): those are read back
//! as before.

use std::collections::{HashMap, VecDeque};

use super::known::KnownDelivery;
use crate::{ids::Oin, store::PendingDelivery};

/// Most copies remembered.
const CAPACITY: usize = 65_536;

/// Leased copies not seen settled, by delivery id, with their recipient.
#[derive(Default)]
pub(super) struct LeasedCopies {
    copies: HashMap<String, (Oin, KnownDelivery)>,
    /// Ids in the order they were remembered; some may be forgotten already.
    order: VecDeque<String>,
}

// === impl LeasedCopies ===

impl LeasedCopies {
    /// Remembers `copy`, leased to a stream of `recipient`.
    pub fn remember(&mut self, recipient: &Oin, copy: &PendingDelivery) {
        let known = KnownDelivery {
            acked: false,
            expired: false,
            signal_id: copy.signal_id.clone(),
            sender: copy.sender.clone(),
            signal_type: copy.signal_type.clone(),
            purposes: copy.purposes.join(","),
            subject: copy.subject.clone(),
        };
        if self
            .copies
            .insert(copy.id.clone(), (recipient.clone(), known))
            .is_none()
        {
            self.order.push_back(copy.id.clone());
        }
        while self.copies.len() > CAPACITY {
            match self.order.pop_front() {
                Some(oldest) => {
                    self.copies.remove(&oldest);
                }
                None => break,
            }
        }
        if self.order.len() > 2 * CAPACITY {
            // Ids forgotten since pile up behind the remembered ones: drop them.
            let copies = &self.copies;
            self.order.retain(|id| copies.contains_key(id));
        }
    }

    /// The copy `id` of `recipient`, if remembered.
    pub fn get(&self, recipient: &Oin, id: &str) -> Option<&KnownDelivery> {
        self.copies
            .get(id)
            .filter(|(to, _)| to == recipient)
            .map(|(_, known)| known)
    }

    /// Forgets the copy `id`: acknowledged or expired.
    pub fn forget(&mut self, id: &str) {
        self.copies.remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Subject;

    fn copy(id: usize) -> PendingDelivery {
        PendingDelivery {
            seq: 0,
            id: format!("delivery-{id}"),
            signal_id: format!("signal-{id}"),
            sender: "00000099300000010000".into(),
            purpose: "INTAKE".into(),
            case_ref: "LVV-TEST-0001".into(),
            signal_type: "Intake".into(),
            accepted_at: 0,
            purposes: vec!["RETURN".into(), "SAFETY".into()],
            payload: Vec::new(),
            attempts: 0,
            subject: Subject::default(),
        }
    }

    #[test]
    fn a_copy_is_known_for_its_recipient_until_forgotten() {
        let dtv: Oin = "00000099100000010000".parse().unwrap();
        let ngo: Oin = "00000099500000010000".parse().unwrap();
        let mut leased = LeasedCopies::default();
        leased.remember(&dtv, &copy(1));
        let known = leased.get(&dtv, "delivery-1").unwrap();
        assert_eq!(known.purposes, "RETURN,SAFETY");
        assert!(!known.acked && !known.expired);
        assert!(leased.get(&ngo, "delivery-1").is_none());
        leased.forget("delivery-1");
        assert!(leased.get(&dtv, "delivery-1").is_none());
    }

    #[test]
    fn at_most_capacity_copies_are_remembered_the_oldest_forgotten_first() {
        let dtv: Oin = "00000099100000010000".parse().unwrap();
        let mut leased = LeasedCopies::default();
        for id in 0..=CAPACITY {
            leased.remember(&dtv, &copy(id));
        }
        assert_eq!(leased.copies.len(), CAPACITY);
        assert!(leased.get(&dtv, "delivery-0").is_none());
        assert!(leased.get(&dtv, &format!("delivery-{CAPACITY}")).is_some());
        // Forgotten ids do not pile up in the order kept for eviction.
        for id in 1..=CAPACITY {
            leased.forget(&format!("delivery-{id}"));
        }
        for id in 0..=2 * CAPACITY {
            leased.remember(&dtv, &copy(CAPACITY + 1 + id));
        }
        assert!(leased.order.len() <= 2 * CAPACITY + 1);
    }
}
