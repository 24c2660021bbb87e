-- Per case, deliveries reach a recipient in the order the gateway accepted them: a stream may
-- not take a delivery while an older one of the same case and recipient is leased to another
-- stream. Leases are cleared when a delivery is acknowledged or expires, so this index holds
-- only the deliveries in flight, and finding the cases held elsewhere stays cheap.
CREATE INDEX deliveries_leased ON deliveries (recipient_oin, seq) WHERE leased_until IS NOT NULL;
