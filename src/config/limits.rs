//! `[limits]`: what one connection or one partner may cost the gateway, so that a careless or
//! hostile partner cannot crowd out the others. Each limit has a documented default and must
//! be at least 1. Counted per gateway replica.

use serde::Deserialize;

/// `[limits]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Connections open at once, in a TLS handshake or established; one more is closed at
    /// once. By default 1024.
    pub max_connections: usize,
    /// New connections per second from one network address, with twice as many in a burst;
    /// more are closed before their TLS handshake, the costly part of a connection. A partner
    /// keeps its connection open, so only a reconnecting flood meets this. Raise it when
    /// partners reach the gateway through one address (a NAT or proxy). By default 20.
    pub handshakes_per_second_per_address: u32,
    /// Seconds of silence before TCP keepalive probes look for a dead peer. By default 60.
    pub tcp_keepalive_secs: u64,
    /// A connection from which no byte arrived for this many seconds is closed (HTTP/2
    /// keepalive answers count, so only a peer that stopped talking is cut). By default 300.
    pub connection_idle_secs: u64,
    /// A connection is closed at this age in seconds, whatever it does; clients reconnect
    /// (and `Subscribe` resumes with what was not acknowledged). By default 86400.
    pub connection_max_age_secs: u64,
    /// `Send` calls per second one partner endpoint may make, sustained; more are refused
    /// with `RESOURCE_EXHAUSTED` and a `retry-after-ms` hint. By default 50 (LVV partners send
    /// hundreds a day; a bulk load of 180,000 an hour still fits).
    pub send_per_second: u32,
    /// `Send` calls one partner endpoint may make in a burst above that rate. By default 100.
    pub send_burst: u32,
    /// `Send` calls of one partner endpoint in progress at once; one more is refused with
    /// `RESOURCE_EXHAUSTED` and a `retry-after-ms` hint. By default 128.
    pub send_in_flight: usize,
    /// Deliveries waiting for one receiver (not yet acknowledged) beyond which a `Send` that
    /// would add to them is refused with `RESOURCE_EXHAUSTED`; the receiver shows on the
    /// health endpoint as a warning from half of it. By default 100000.
    pub max_pending_per_receiver: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            handshakes_per_second_per_address: 20,
            tcp_keepalive_secs: 60,
            connection_idle_secs: 300,
            connection_max_age_secs: 86_400,
            send_per_second: 50,
            send_burst: 100,
            send_in_flight: 128,
            max_pending_per_receiver: 100_000,
        }
    }
}

impl LimitsConfig {
    /// Every limit set to 0, by its key.
    pub fn problems(&self) -> Vec<String> {
        let values = [
            ("max_connections", self.max_connections as u64),
            (
                "handshakes_per_second_per_address",
                u64::from(self.handshakes_per_second_per_address),
            ),
            ("tcp_keepalive_secs", self.tcp_keepalive_secs),
            ("connection_idle_secs", self.connection_idle_secs),
            ("connection_max_age_secs", self.connection_max_age_secs),
            ("send_per_second", u64::from(self.send_per_second)),
            ("send_burst", u64::from(self.send_burst)),
            ("send_in_flight", self.send_in_flight as u64),
            ("max_pending_per_receiver", self.max_pending_per_receiver),
        ];
        values
            .into_iter()
            .filter(|(_, value)| *value == 0)
            .map(|(key, _)| format!("limits.{key} must be at least 1"))
            .collect()
    }
}
