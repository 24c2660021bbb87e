-- Optimistic concurrency for registry changes: each partner record has a version, raised by
-- every change. A change names the version it was made against and is refused, changing
-- nothing, when the record moved on meanwhile (another operator, another replica).
ALTER TABLE partners ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
