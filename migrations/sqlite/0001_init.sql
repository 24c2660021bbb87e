-- Signals, per-recipient deliveries and the hash-chained audit log.
-- Times are Unix milliseconds (UTC).

CREATE TABLE signals (
    id              TEXT PRIMARY KEY,          -- UUIDv7 given by the gateway
    sender_oin      TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    content_hash    BLOB NOT NULL,             -- SHA-256 of the envelope as received
    signal_type     TEXT NOT NULL,             -- catalogue message name
    purpose         TEXT NOT NULL,             -- sending purpose code
    case_ref        TEXT NOT NULL,             -- delivered to every recipient; never in audit_log
    rule_name       TEXT NOT NULL,
    policy_version  TEXT NOT NULL,
    accepted_at     INTEGER NOT NULL,
    UNIQUE (sender_oin, idempotency_key)
);

CREATE TABLE deliveries (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,  -- stream order
    id            TEXT NOT NULL UNIQUE,                -- UUIDv7
    signal_id     TEXT NOT NULL REFERENCES signals (id),
    position      INTEGER NOT NULL,                    -- index in the envelope's recipients
    recipient_oin TEXT NOT NULL,
    purposes      TEXT NOT NULL,                       -- JSON array of receiving purpose codes
    withheld      TEXT NOT NULL,                       -- JSON array of withheld field paths
    payload       BLOB NOT NULL,                       -- the recipient's filtered copy
    attempts      INTEGER NOT NULL DEFAULT 0,
    acked_at      INTEGER
);

CREATE INDEX deliveries_pending ON deliveries (recipient_oin, seq) WHERE acked_at IS NULL;
CREATE INDEX deliveries_by_signal ON deliveries (signal_id, position);

CREATE TABLE audit_log (
    seq              INTEGER PRIMARY KEY,  -- gap-free, assigned by the single writer
    id               TEXT NOT NULL UNIQUE, -- UUIDv7
    at               INTEGER NOT NULL,
    event            TEXT NOT NULL,
    outcome          TEXT NOT NULL,
    actor_oin        TEXT,
    counterparty_oin TEXT,
    purpose          TEXT,
    legal_basis      TEXT,
    signal_id        TEXT,
    signal_type      TEXT,
    delivery_id      TEXT,
    detail           TEXT NOT NULL,        -- JSON: reasons, field paths, rule, policy version; never values
    prev_hash        TEXT NOT NULL,
    hash             TEXT NOT NULL
);

CREATE INDEX audit_by_signal ON audit_log (signal_id);
