-- Fewer indexes on the audit log, so that a `Send`'s commit touches fewer b-trees (issue 13).
-- No query reads audit records by their own id or by signal id: `audit_by_signal` and the
-- UNIQUE index on `id` (ids are UUIDv7 made by the single writer) cost every commit a page
-- each and served nothing.
ALTER TABLE audit_log DROP CONSTRAINT IF EXISTS audit_log_id_key;
DROP INDEX IF EXISTS audit_by_signal;
