-- The case and subject indexes of the audit log hold only the records that are not about one
-- delivery (issue 13). Case and subject hashes are random, so every index entry lands on a
-- page of its own: with every record indexed, a `Send` and its copies' created, streamed and
-- acknowledged records wrote some eight random pages per index, and a group commit under the
-- outside benchmark's load wrote 235 pages of `audit_by_case` alone (of 482). A record about
-- one delivery (`delivery_id` set) carries its signal's case and subject, and is found
-- through that signal (`audit_by_signal`, whose UUIDv7 keys are written in time order): an
-- officer's query by case or subject reads the records the partial indexes hold, then the
-- delivery records of their signals (src/store/audit_log.rs).
DROP INDEX IF EXISTS audit_by_case;
DROP INDEX IF EXISTS audit_by_subject;
CREATE INDEX audit_by_case ON audit_log (case_ref_hash) WHERE delivery_id IS NULL;
CREATE INDEX audit_by_subject ON audit_log (subject_hash) WHERE delivery_id IS NULL;
CREATE INDEX audit_by_signal ON audit_log (signal_id) WHERE delivery_id IS NOT NULL;
