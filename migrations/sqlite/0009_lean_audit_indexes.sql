-- Fewer indexes on the audit log, so that a `Send`'s commit touches fewer b-trees (issue 13).
-- No query reads audit records by their own id or by signal id: `audit_by_signal` and the
-- UNIQUE index on `id` (ids are UUIDv7 made by the single writer) cost every commit a page
-- each and served nothing. SQLite cannot drop a UNIQUE constraint, so the table is rebuilt
-- with the same columns in the same order and its remaining indexes are made again.
CREATE TABLE audit_log_lean (
    seq              INTEGER PRIMARY KEY,  -- gap-free, assigned by the single writer
    id               TEXT NOT NULL,        -- UUIDv7 transaction id, unique by construction
    at               INTEGER NOT NULL,
    event            TEXT NOT NULL,
    outcome          TEXT NOT NULL,
    actor_oin        TEXT,
    actor_person     TEXT,                 -- JWT sub of the natural person, when known
    counterparty_oin TEXT,
    purpose          TEXT,                 -- processing activity
    legal_basis      TEXT,
    signal_id        TEXT,
    signal_type      TEXT,
    delivery_id      TEXT,
    case_ref_hash    TEXT,
    subject_type     TEXT,
    subject_hash     TEXT,
    subject_key_id   TEXT,
    trace_id         TEXT,                 -- W3C trace context
    span_id          TEXT,
    detail           TEXT NOT NULL,        -- JSON: reasons, field paths, rule, policy version; never values
    prev_hash        TEXT NOT NULL,
    hash             TEXT NOT NULL
);

INSERT INTO audit_log_lean SELECT * FROM audit_log;
DROP TABLE audit_log;
ALTER TABLE audit_log_lean RENAME TO audit_log;

CREATE INDEX audit_by_case ON audit_log (case_ref_hash);
CREATE INDEX audit_by_subject ON audit_log (subject_hash);
CREATE INDEX audit_by_actor ON audit_log (actor_oin, seq);
CREATE INDEX audit_by_counterparty ON audit_log (counterparty_oin, seq);
CREATE INDEX audit_by_time ON audit_log (at);
