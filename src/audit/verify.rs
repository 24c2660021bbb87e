//! Verification of the audit log: recompute every record's hash, follow the chain from record
//! to record, and check every signed checkpoint, stopping at the first problem and naming the
//! record. Works the same on the live database and on an exported file (offline, with only the
//! gateway's public key).

use std::collections::BTreeMap;

use super::{Checkpoint, GENESIS_HASH, StoredRecord, keys::SignatureKey};

/// The outcome of a verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// Records checked.
    pub records: u64,
    /// Checkpoints whose signature was checked.
    pub checkpoints: u64,
    /// The first problem: the sequence number it is about, and what is wrong.
    pub first_problem: Option<(i64, String)>,
    /// Sequence number and hash of the last record seen.
    pub head: Option<(i64, String)>,
    /// For an export limited to one officer's scope: how many times the chain skipped records
    /// outside it (those links cannot be checked).
    pub gaps: u64,
}

/// Walks records in chain order.
pub struct Verifier<'k> {
    key: &'k SignatureKey,
    checkpoints: BTreeMap<i64, Checkpoint>,
    allow_gaps: bool,
    result: Verification,
}

impl<'k> Verifier<'k> {
    /// A verifier for `checkpoints` signed by `key`. With `allow_gaps`, missing records (an
    /// export limited to an officer's scope) are counted instead of reported.
    pub fn new(key: &'k SignatureKey, checkpoints: Vec<Checkpoint>, allow_gaps: bool) -> Self {
        let mut result = Verification {
            records: 0,
            checkpoints: 0,
            first_problem: None,
            head: None,
            gaps: 0,
        };
        let mut map = BTreeMap::new();
        for cp in checkpoints {
            result.checkpoints += 1;
            if result.first_problem.is_none()
                && !key.verify(
                    &Checkpoint::message(cp.seq, cp.at, &cp.head_hash),
                    &hex::decode(&cp.signature).unwrap_or_default(),
                )
            {
                result.first_problem = Some((
                    cp.seq,
                    format!(
                        "checkpoint at record {} does not verify with key {}: the checkpoint was altered or signed by another key",
                        cp.seq,
                        key.key_id()
                    ),
                ));
            }
            map.insert(cp.seq, cp);
        }
        Self {
            key,
            checkpoints: map,
            allow_gaps,
            result,
        }
    }

    /// True once a problem was found; later records are not checked.
    pub fn failed(&self) -> bool {
        self.result.first_problem.is_some()
    }

    /// Notes a record that no longer decodes (a column changed to something no record holds):
    /// the chain is broken there.
    pub fn undecodable(&mut self, seq: i64, reason: &str) {
        if self.failed() {
            return;
        }
        self.result.records += 1;
        self.fail(
            seq,
            format!("record {seq} was changed: it no longer decodes as an audit record ({reason})"),
        );
    }

    /// Checks the next record.
    pub fn push(&mut self, stored: &StoredRecord) {
        if self.failed() {
            return;
        }
        let record = &stored.record;
        let (seq, id) = (record.seq, &record.id);
        self.result.records += 1;
        if record.hash() != stored.hash {
            return self.fail(
                seq,
                format!("record {seq} ({id}) was changed: its content no longer matches its hash"),
            );
        }
        match self.result.head.take() {
            Some((prev_seq, prev_hash)) if seq == prev_seq + 1 => {
                if record.prev_hash != prev_hash {
                    return self.fail(seq, format!("record {seq} ({id}) does not link to record {prev_seq}: records were removed, inserted or reordered"));
                }
            }
            Some((prev_seq, _)) if self.allow_gaps && seq > prev_seq => self.result.gaps += 1,
            Some((prev_seq, _)) if seq > prev_seq => {
                return self.fail(
                    prev_seq + 1,
                    format!(
                        "record {} is missing: record {seq} ({id}) follows record {prev_seq}",
                        prev_seq + 1
                    ),
                );
            }
            Some((prev_seq, _)) => {
                return self.fail(
                    seq,
                    format!("record {seq} ({id}) is out of order: it follows record {prev_seq}"),
                );
            }
            None => self.check_start(stored),
        }
        if self.failed() {
            return;
        }
        if let Some(cp) = self.checkpoints.get(&seq) {
            if cp.head_hash != stored.hash {
                return self.fail(seq, format!("the signed checkpoint at record {seq} names another hash: record {seq} ({id}) or an earlier one was rewritten"));
            }
        }
        self.result.head = Some((seq, stored.hash.clone()));
    }

    fn check_start(&mut self, stored: &StoredRecord) {
        let record = &stored.record;
        let seq = record.seq;
        if seq == 1 {
            if record.prev_hash != GENESIS_HASH {
                self.fail(
                    1,
                    format!("record 1 ({}) does not start the chain", record.id),
                );
            }
            return;
        }
        // A log that starts later was pruned (or the export was limited): the first record
        // must then follow a signed checkpoint, unless gaps are allowed.
        match self.checkpoints.get(&(seq - 1)) {
            Some(cp) if cp.head_hash == record.prev_hash => {}
            _ if self.allow_gaps => self.result.gaps += 1,
            _ => self.fail(1, format!("records 1 to {} are missing: the log starts at record {seq} ({}) without a signed checkpoint before it", seq - 1, record.id)),
        }
    }

    fn fail(&mut self, seq: i64, problem: String) {
        self.result.first_problem = Some((seq, problem));
    }

    /// Ends the walk: checkpoints signed beyond the last record mean records were removed
    /// from the end.
    pub fn finish(mut self) -> Verification {
        if !self.failed() {
            let last = self.result.head.as_ref().map_or(0, |(seq, _)| *seq);
            if let Some((&seq, _)) = self.checkpoints.range(last + 1..).next() {
                if !self.allow_gaps {
                    self.fail(last + 1, format!("records after {last} are missing: a checkpoint was signed at record {seq}"));
                }
            }
        }
        let _ = self.key;
        self.result
    }
}
