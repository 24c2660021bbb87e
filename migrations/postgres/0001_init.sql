-- PostgreSQL twin of ../sqlite/0001_init.sql: the same tables, columns and meaning.
-- Signals, per-recipient deliveries and the hash-chained audit log.
-- Times are Unix milliseconds (UTC).

CREATE TABLE signals (
    id              TEXT PRIMARY KEY,          -- UUIDv7 given by the gateway
    sender_oin      TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    content_hash    BYTEA NOT NULL,             -- SHA-256 of the envelope as received
    signal_type     TEXT NOT NULL,             -- catalogue message name
    purpose         TEXT NOT NULL,             -- sending purpose code
    case_ref        TEXT NOT NULL,             -- delivered to every recipient; never in audit_log
    rule_name       TEXT NOT NULL,
    policy_version  TEXT NOT NULL,
    accepted_at     BIGINT NOT NULL,
    audit_seq       BIGINT NOT NULL,          -- the signal_accepted audit record, for receipts
    case_ref_hash   TEXT NOT NULL,             -- HMAC-SHA256 under subject_key_id
    subject_type    TEXT,                      -- v_nummer | bsn, when the payload names one
    subject_hash    TEXT,
    subject_key_id  TEXT NOT NULL,
    UNIQUE (sender_oin, idempotency_key)
);

CREATE TABLE deliveries (
    seq           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- stream order
    id            TEXT NOT NULL UNIQUE,                -- UUIDv7
    signal_id     TEXT NOT NULL REFERENCES signals (id),
    position      BIGINT NOT NULL,                    -- index in the envelope's recipients
    recipient_oin TEXT NOT NULL,
    purposes      TEXT NOT NULL,                       -- JSON array of receiving purpose codes
    withheld      TEXT NOT NULL,                       -- JSON array of withheld field paths
    payload       BYTEA NOT NULL,                       -- the recipient's filtered copy
    attempts      BIGINT NOT NULL DEFAULT 0,
    acked_at      BIGINT
);

CREATE INDEX deliveries_pending ON deliveries (recipient_oin, seq) WHERE acked_at IS NULL;
CREATE INDEX deliveries_by_signal ON deliveries (signal_id, position);

-- One record per processing event, after the Logboek Dataverwerkingen idea of a processing
-- record. Never payload values; case references and subject identifiers only as keyed hashes.
CREATE TABLE audit_log (
    seq              BIGINT PRIMARY KEY,  -- gap-free, assigned by the writer holding the chain lock
    id               TEXT NOT NULL UNIQUE, -- UUIDv7 transaction id
    at               BIGINT NOT NULL,
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

CREATE INDEX audit_by_signal ON audit_log (signal_id);
CREATE INDEX audit_by_case ON audit_log (case_ref_hash);
CREATE INDEX audit_by_subject ON audit_log (subject_hash);
CREATE INDEX audit_by_actor ON audit_log (actor_oin, seq);
CREATE INDEX audit_by_counterparty ON audit_log (counterparty_oin, seq);
CREATE INDEX audit_by_time ON audit_log (at);

-- Signed checkpoints: the head of the chain at a sequence number, signed with the gateway's
-- Ed25519 key, so an export can be verified offline with the public key alone.
CREATE TABLE audit_checkpoints (
    seq       BIGINT PRIMARY KEY,         -- last record covered
    at        BIGINT NOT NULL,
    head_hash TEXT NOT NULL,
    key_id    TEXT NOT NULL,
    signature TEXT NOT NULL                -- hex Ed25519 signature over checkpoint_message()
);
