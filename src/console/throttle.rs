//! Sign-ins bounded per client address: every attempt to sign in to the console counts
//! against its address, so that a browser or script cannot try tokens (or fill the audit log
//! with refused sign-ins) faster than an officer types, while officers behind other addresses
//! sign in as before. Counted per gateway replica, like the handshakes per address of
//! `[limits]`; the addresses are kept in memory only, never logged or audited.

use std::{
    net::{IpAddr, SocketAddr},
    num::NonZeroU32,
    time::Duration,
};

use axum::{extract::connect_info::Connected, serve::IncomingStream};
use governor::{
    DefaultKeyedRateLimiter, Quota, RateLimiter,
    clock::{Clock, DefaultClock},
};

use super::listener::TlsListener;

/// Sign-ins per minute from one address, and the burst above it.
#[derive(Debug)]
pub struct SignInLimit {
    rate: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
}

/// The address a console connection comes from.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

// === impl SignInLimit ===

impl SignInLimit {
    /// `per_minute` sign-ins from one address, all of them at once at most (0 is taken as 1).
    pub fn new(per_minute: u32) -> Self {
        let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        Self {
            rate: RateLimiter::keyed(Quota::per_minute(per_minute)),
            clock: DefaultClock::default(),
        }
    }

    /// Admits one more sign-in from `addr`, or says how long until the next is admitted.
    pub fn admit(&self, addr: IpAddr) -> Result<(), Duration> {
        // Addresses whose allowance is full again are forgotten, so the map stays small.
        if self.rate.len() > 10_000 {
            self.rate.retain_recent();
        }
        self.rate
            .check_key(&addr)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

// === impl PeerAddr ===

impl Connected<IncomingStream<'_, TlsListener>> for PeerAddr {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Self {
        PeerAddr(*stream.remote_addr())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_beyond_its_sign_ins_waits_and_others_do_not() {
        let limit = SignInLimit::new(2);
        let one: IpAddr = [192, 0, 2, 1].into();
        assert!(limit.admit(one).is_ok());
        assert!(limit.admit(one).is_ok());
        let wait = limit.admit(one).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        assert!(limit.admit([192, 0, 2, 2].into()).is_ok());
    }
}
