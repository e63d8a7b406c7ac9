//! Rate limits: one mechanism (governor's keyed GCRA limiters, in memory) for everything that
//! checks a secret, sends mail or costs a password hash. Each limit has its quota here, in one
//! table; callers name the limit and the key (a client address, an email, an account).
//!
//! The counters live in each app server's memory. With N servers behind a load balancer, a
//! client spread over all of them gets up to N times each quota: the quotas below are set so
//! that even three times them stays harmless (see the README's deployment notes).

use std::{collections::HashMap, num::NonZeroU32, time::Duration};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// What is being limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    /// Password logins from one client address.
    LoginPerClient,
    /// Password logins to one account (guessing one password from many addresses).
    LoginPerAccount,
    /// New accounts from one client address: each costs a password hash (19 MiB, tens of ms).
    SignupPerClient,
    /// Mail sent to one address (sign-in and library links).
    MailPerAddress,
    /// Mail asked for by one client address, whatever the addresses.
    MailPerClient,
    /// Wrong guesses at a secret in a URL (download tokens) from one client address.
    GuessPerClient,
    /// Wallet PIN tries on one account.
    PinPerAccount,
    /// Wallets started at a link page from one client address.
    BuyerStartPerClient,
    /// Two-step sign-in codes tried on one account, right or wrong, from anywhere: 6 at once,
    /// then one every 20 s. With three six-digit codes valid at a time, that is about a 1 in 80
    /// chance a day for someone who has the password and guesses all day.
    SecondStepPerAccount,
    /// New tabs opened from one client address: a tab is credit (1.00 each, see
    /// `wallet::tab::FIRST_TAB_LIMIT`).
    NewTabPerClient,
    /// New tabs opened with addresses of one email domain (one mail server's throwaway
    /// addresses).
    NewTabPerEmailDomain,
    /// New tabs opened from one browser (`wallet::device`), whatever its address.
    NewTabPerDevice,
}

impl Limit {
    const ALL: [Limit; 12] = [
        Limit::LoginPerClient,
        Limit::LoginPerAccount,
        Limit::SignupPerClient,
        Limit::MailPerAddress,
        Limit::MailPerClient,
        Limit::GuessPerClient,
        Limit::PinPerAccount,
        Limit::BuyerStartPerClient,
        Limit::SecondStepPerAccount,
        Limit::NewTabPerClient,
        Limit::NewTabPerEmailDomain,
        Limit::NewTabPerDevice,
    ];

    /// The quota: `burst` at once, then one more every `every`.
    fn quota(self) -> (u32, Duration) {
        const MINUTE: Duration = Duration::from_secs(60);
        match self {
            Limit::LoginPerClient => (30, MINUTE / 30),
            Limit::LoginPerAccount => (5, MINUTE / 5),
            Limit::SignupPerClient => (5, MINUTE * 3),
            Limit::MailPerAddress => (3, MINUTE * 10),
            Limit::MailPerClient => (10, MINUTE * 2),
            Limit::GuessPerClient => (30, MINUTE / 30),
            Limit::PinPerAccount => (5, MINUTE / 5),
            Limit::BuyerStartPerClient => (5, MINUTE * 3),
            Limit::SecondStepPerAccount => (6, MINUTE / 3),
            // 5 at once, then 10 a day; 50 a day per domain (large webmail domains share it,
            // so it is a backstop against one throwaway domain, not a per-person limit).
            Limit::NewTabPerClient => (5, MINUTE * 144),
            Limit::NewTabPerEmailDomain => (50, MINUTE * 29),
            // A household's browser may open a few: 3 at once, then 3 a day.
            Limit::NewTabPerDevice => (3, MINUTE * 480),
        }
    }
}

pub struct Limits {
    limiters: HashMap<Limit, DefaultKeyedRateLimiter<String>>,
}

impl Limits {
    /// The quotas of the table above.
    pub fn new() -> Limits {
        Limits::scaled(1)
    }

    /// Every quota `scale` times as generous (`CLINK_RATE_LIMIT_SCALE`): for a test deployment
    /// whose browser journeys all come from one address. Production keeps 1.
    pub fn scaled(scale: u32) -> Limits {
        Limits::configured(scale, &[])
    }

    /// `scaled`, with the operator's own quotas for some limits, each as so many a day (all at
    /// once, then one every day / n): the new-tab limits, which the operator's risk appetite
    /// decides (`CLINK_NEW_TABS_PER_*`).
    pub fn configured(scale: u32, per_day: &[(Limit, u32)]) -> Limits {
        const DAY: Duration = Duration::from_secs(24 * 3600);
        let scale = scale.max(1);
        let limiters = Limit::ALL
            .into_iter()
            .map(|limit| {
                let (burst, every) = match per_day.iter().find(|(l, _)| *l == limit) {
                    Some(&(_, n)) => (n.max(1), DAY / n.max(1)),
                    None => limit.quota(),
                };
                let (burst, every) = (burst.saturating_mul(scale), every / scale);
                let quota = Quota::with_period(every)
                    .expect("every period is non-zero")
                    .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN));
                (limit, RateLimiter::keyed(quota))
            })
            .collect();
        Limits { limiters }
    }

    /// Takes one from `key`'s allowance under `limit`; false when it is used up.
    pub fn allow(&self, limit: Limit, key: impl std::fmt::Display) -> bool {
        let allowed = self.limiters.get(&limit).is_none_or(|l| l.check_key(&key.to_string()).is_ok());
        if !allowed {
            tracing::warn!(?limit, "rate limited");
        }
        allowed
    }

    /// Forgets keys whose allowance has fully recovered, so the maps don't grow without bound.
    pub fn forget_idle(&self) {
        for limiter in self.limiters.values() {
            limiter.retain_recent();
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_operators_quota_replaces_the_default() {
        let limits = Limits::configured(1, &[(Limit::NewTabPerDevice, 1)]);
        assert!(limits.allow(Limit::NewTabPerDevice, "d"));
        assert!(!limits.allow(Limit::NewTabPerDevice, "d"), "one a day");
        for _ in 0..5 {
            assert!(limits.allow(Limit::NewTabPerClient, "c"), "the others keep theirs");
        }
        let limits = Limits::configured(1, &[(Limit::NewTabPerDevice, 7)]);
        assert!((0..7).all(|_| limits.allow(Limit::NewTabPerDevice, "d")));
        assert!(!limits.allow(Limit::NewTabPerDevice, "d"));
    }

    #[test]
    fn each_limit_allows_its_burst_then_refuses_per_key() {
        let limits = Limits::new();
        for _ in 0..3 {
            assert!(limits.allow(Limit::MailPerAddress, "a@example.com"));
        }
        assert!(!limits.allow(Limit::MailPerAddress, "a@example.com"));
        assert!(limits.allow(Limit::MailPerAddress, "b@example.com"), "another key has its own allowance");
        assert!(limits.allow(Limit::MailPerClient, "a@example.com"), "another limit too");
    }
}
