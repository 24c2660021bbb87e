-- PostgreSQL twin of ../sqlite/0002_registry.sql: the same tables, columns and meaning.
-- The partner registry. Seeded from config/partners.toml on first start; the database is the
-- truth after that, changed by operators through AdminService. Every change bumps
-- registry_version, which every gateway replica polls to reload.

CREATE TABLE partners (
    rowid       BIGINT GENERATED ALWAYS AS IDENTITY,  -- registration order
    oin         TEXT PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL,
    purposes    TEXT NOT NULL,   -- JSON array of receiving purpose codes
    status      TEXT NOT NULL,   -- active | suspended
    jwt_keys    TEXT NOT NULL,   -- JSON array of Ed25519 public keys (PEM text)
    audit_scope TEXT NOT NULL,   -- JSON array of partner ids, or ["*"]
    changed_by  TEXT NOT NULL,
    changed_at  BIGINT NOT NULL
);

CREATE TABLE certificates (
    rowid       BIGINT GENERATED ALWAYS AS IDENTITY,  -- registration order
    fingerprint TEXT PRIMARY KEY,          -- SHA-256 of the DER, hex
    partner_oin TEXT NOT NULL REFERENCES partners (oin),
    state       TEXT NOT NULL,             -- active | retiring | revoked
    retire_at   BIGINT,                   -- retiring: refused from this time (Unix ms)
    subject     TEXT,
    issuer      TEXT,
    serial      TEXT,
    not_before  BIGINT,
    not_after   BIGINT,
    changed_by  TEXT NOT NULL,
    changed_at  BIGINT NOT NULL
);

CREATE INDEX certificates_by_partner ON certificates (partner_oin);
CREATE INDEX certificates_by_expiry ON certificates (not_after);

CREATE TABLE registry_version (
    id      BIGINT PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO registry_version (id, version) VALUES (1, 0);
