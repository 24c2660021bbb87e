-- The case and subject indexes of the audit log hold the first 16 hex digits (64 bits) of
-- each keyed hash instead of all 64 (issue 13). Hashes are random, so every `Send`'s
-- `signal_accepted` record lands on a page of its own in each index; an index a third the
-- size keeps more of itself in the writer's page cache as the log grows (on a store of 1.5
-- million signals: 108 MiB for the full `audit_by_case`). A query names the prefix and the
-- whole hash (src/store/audit_log.rs): the prefix finds the records, the hash keeps only
-- the right ones.
DROP INDEX IF EXISTS audit_by_case;
DROP INDEX IF EXISTS audit_by_subject;
CREATE INDEX audit_by_case ON audit_log (substr(case_ref_hash, 1, 16)) WHERE delivery_id IS NULL;
CREATE INDEX audit_by_subject ON audit_log (substr(subject_hash, 1, 16)) WHERE delivery_id IS NULL;
