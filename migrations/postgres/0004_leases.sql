-- A streamed delivery is leased to one stream until leased_until (Unix ms): another stream of
-- the same endpoint, on any replica, does not get it meanwhile; when the lease ends or the
-- stream closes, an unacknowledged delivery is offered again.
ALTER TABLE deliveries ADD COLUMN leased_until BIGINT;
ALTER TABLE deliveries ADD COLUMN leased_by TEXT;

-- Settled signals are forgotten by age (Store::forget).
CREATE INDEX signals_by_accepted ON signals (accepted_at);
