//! Limits and the decisions of a limiter.

/// At most `max` events per `window_secs`-second window (fixed windows). `max == 0` is off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Events allowed per window.
    pub max: u32,
    /// Window length in seconds.
    pub window_secs: u64,
}

impl Limit {
    /// `max` events per minute.
    pub const fn per_minute(max: u32) -> Self {
        Self {
            max,
            window_secs: 60,
        }
    }
}

/// Whether an event may proceed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    /// Yes; `count` events (this one included) are in the current window.
    Allowed {
        /// Events counted in the window so far.
        count: u32,
    },
    /// No: try again after this many seconds.
    Limited {
        /// Seconds until the window ends.
        retry_after_secs: u64,
    },
}

/// The limits the server enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// Login, sign-up and refresh attempts per client address.
    pub auth_per_address: Limit,
    /// Failed logins per account before it is locked for the rest of the window (the same for
    /// unknown emails, so a lockout reveals nothing about which accounts exist).
    pub login_failures_per_account: Limit,
    /// Password-reset and verification requests per client address.
    pub email_per_address: Limit,
    /// Reset and verification emails per account address (so nobody is mail-bombed).
    pub email_per_account: Limit,
    /// Requests per authenticated principal (user or API key).
    pub requests_per_principal: Limit,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            auth_per_address: Limit::per_minute(30),
            login_failures_per_account: Limit {
                max: 5,
                window_secs: 15 * 60,
            },
            email_per_address: Limit {
                max: 10,
                window_secs: 15 * 60,
            },
            email_per_account: Limit {
                max: 3,
                window_secs: 60 * 60,
            },
            requests_per_principal: Limit::per_minute(1200),
        }
    }
}
