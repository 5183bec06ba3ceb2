//! Abuse limits of the web chat: new sessions per client address and messages per session, each
//! over a sliding minute, read on the injectable clock. A refused request is answered 429 with
//! `Retry-After` before anything is stored.
//!
//! The client address is the socket's peer, or, only when that peer is one of
//! `[http] trusted_proxies`, the nearest untrusted address in `X-Forwarded-For` (the header is
//! appended to by each proxy, so everything left of the last untrusted hop is the client's own
//! claim and worth nothing).

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;

use axum::extract::ConnectInfo;
use axum::http::request::Parts;

use crate::clock::Millis;

const MINUTE_MS: Millis = 60_000;
/// Past this many tracked keys, keys with no hit in the last minute are dropped.
const PRUNE_AT: usize = 10_000;

/// A sliding-window limit of `per_minute` hits per key; 0 = no limit.
pub struct RateLimit {
    per_minute: u32,
    hits: Mutex<HashMap<String, VecDeque<Millis>>>,
}

impl RateLimit {
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            hits: Mutex::default(),
        }
    }

    /// Counts a hit for `key` at `now`, or refuses it: `Err(seconds)` until the oldest hit in
    /// the window leaves it (at least 1). A refused hit is not counted.
    pub fn check(&self, key: &str, now: Millis) -> Result<(), u64> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let mut hits = self.hits.lock().unwrap_or_else(|p| p.into_inner());
        if hits.len() > PRUNE_AT {
            hits.retain(|_, times| times.back().is_some_and(|t| *t > now - MINUTE_MS));
        }
        let times = hits.entry(key.to_string()).or_default();
        while times.front().is_some_and(|t| *t <= now - MINUTE_MS) {
            times.pop_front();
        }
        if times.len() >= self.per_minute as usize {
            let oldest = *times.front().expect("the window is full");
            let wait_ms = (oldest + MINUTE_MS - now).max(1);
            return Err(((wait_ms + 999) / 1000) as u64);
        }
        times.push_back(now);
        Ok(())
    }
}

/// The web chat's limits, built from `[http]`.
pub struct Limits {
    pub sessions: RateLimit,
    pub messages: RateLimit,
    trusted_proxies: Vec<IpAddr>,
}

impl Limits {
    pub fn new(config: &crate::config::HttpConfig) -> Self {
        Self {
            sessions: RateLimit::new(config.sessions_per_minute_per_ip),
            messages: RateLimit::new(config.messages_per_minute_per_session),
            trusted_proxies: config.trusted_proxy_ips(),
        }
    }

    /// The client's address; `None` when the server was started without connection info.
    pub fn client_ip(&self, parts: &Parts) -> Option<IpAddr> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())?;
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",");
        Some(client_ip(peer, &forwarded, &self.trusted_proxies))
    }
}

/// See the module documentation.
pub fn client_ip(peer: IpAddr, forwarded_for: &str, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let hops: Vec<IpAddr> = forwarded_for
        .split(',')
        .filter_map(|h| h.trim().parse().ok())
        .collect();
    let mut client = peer;
    for hop in hops.into_iter().rev() {
        client = hop;
        if !trusted.contains(&hop) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_slides_and_says_how_long_to_wait() {
        let limit = RateLimit::new(2);
        assert_eq!(limit.check("a", 0), Ok(()));
        assert_eq!(limit.check("a", 10_000), Ok(()));
        assert_eq!(limit.check("a", 20_000), Err(40));
        assert_eq!(limit.check("b", 20_000), Ok(()), "keys are apart");
        // The refused hit was not counted: the first hit leaves the window at 60 s.
        assert_eq!(limit.check("a", 60_000), Ok(()));
        assert_eq!(limit.check("a", 60_001), Err(10));
        assert_eq!(RateLimit::new(0).check("a", 0), Ok(()));
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxy: IpAddr = "10.0.0.2".parse().unwrap();
        let stranger: IpAddr = "203.0.113.9".parse().unwrap();
        let trusted = [proxy];
        assert_eq!(client_ip(stranger, "198.51.100.1", &trusted), stranger);
        assert_eq!(
            client_ip(proxy, "198.51.100.1", &trusted),
            "198.51.100.1".parse::<IpAddr>().unwrap()
        );
        // A client's own claim left of the real hop is ignored.
        assert_eq!(
            client_ip(proxy, "1.2.3.4, 198.51.100.1", &trusted),
            "198.51.100.1".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_ip(proxy, "", &trusted), proxy);
    }
}
