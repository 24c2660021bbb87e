-- The programme monitor's aggregate counters (src/monitor/): one row per quarter, LVV region,
-- signal type, monitored field and coded value, added to in the transaction that accepts a
-- signal. Nothing here names a case, a person or a date finer than the quarter. `field` is
-- empty for the count of signals of the type itself.
CREATE TABLE monitor_counters (
    quarter     TEXT NOT NULL,
    region      TEXT NOT NULL,
    signal_type TEXT NOT NULL,
    field       TEXT NOT NULL,
    value       TEXT NOT NULL,
    count       BIGINT NOT NULL,
    PRIMARY KEY (quarter, region, signal_type, field, value)
);
