-- Per case, deliveries reach a recipient in the order the gateway accepted them: a stream may
-- not take a delivery while an older one of the same case and recipient is leased to another
-- stream. This index finds a case's signals.
CREATE INDEX signals_by_case ON signals (case_ref);
