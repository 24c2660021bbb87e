-- Deliveries not acknowledged within [delivery] expire_after_days expire: they are no longer
-- streamed, their filtered copy is erased, and a delivery_expired audit record says so.
ALTER TABLE deliveries ADD COLUMN expired_at INTEGER;  -- Unix ms; the payload is then empty

DROP INDEX deliveries_pending;
CREATE INDEX deliveries_pending ON deliveries (recipient_oin, seq)
    WHERE acked_at IS NULL AND expired_at IS NULL;
