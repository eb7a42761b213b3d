//! A per-process cache of what members hold, so that authenticating a request with an access
//! token costs no round trip to PostgreSQL.
//!
//! The cache only decides what a request may attempt; it never has the last word. The first
//! statement of every unit of work reads the member's grant again and refuses (401) a request
//! authorized with anything the member no longer holds ([`crate::tx`]). So a stale entry can
//! only ever under-grant, for as long as it takes to notice the change:
//! - changes made through this process are forgotten when they commit;
//! - changes made by another process, or directly in the database, reach every process through
//!   PostgreSQL's `NOTIFY` (triggers on memberships and roles, migration 13);
//! - while no listener is connected, nothing is cached, since changes could go unnoticed;
//! - every entry expires after [`TIME_TO_LIVE`] in any case.
//!
//! Only PostgreSQL uses it: SQLite reads the grant inside the request's own transaction anyway.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bulkhead_domain::{Grant, OrganizationId, SessionId, UserId};
use moka::sync::Cache;
use sea_orm::sqlx::postgres::{PgListener, PgPool};

/// The channel the migration's triggers notify, with the organization id as payload.
pub(crate) const CHANNEL: &str = "bulkhead_grants";

/// How long an entry may be served without being read again.
const TIME_TO_LIVE: Duration = Duration::from_secs(30);

/// Entries kept at most (about 100 bytes each).
const CAPACITY: u64 = 100_000;

/// A session's grant in one organization.
type Key = (OrganizationId, UserId, SessionId);

/// The cache; see the module documentation for why it is safe.
pub(crate) struct GrantCache {
    entries: Cache<Key, Grant>,
    /// Bumped by every forgetting, so that a grant read before a change is not stored after it.
    generation: AtomicU64,
    /// Whether a listener is receiving the notifications right now.
    live: AtomicBool,
}

impl fmt::Debug for GrantCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrantCache")
            .field("entries", &self.entries.entry_count())
            .field("live", &self.live.load(Ordering::Acquire))
            .finish()
    }
}

impl GrantCache {
    pub(crate) fn new() -> Self {
        Self {
            entries: Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(TIME_TO_LIVE)
                .support_invalidation_closures()
                .build(),
            generation: AtomicU64::new(0),
            live: AtomicBool::new(false),
        }
    }

    /// The grant last read for `key`, while the cache is live.
    pub(crate) fn get(&self, key: &Key) -> Option<Grant> {
        if self.live.load(Ordering::Acquire) {
            self.entries.get(key)
        } else {
            None
        }
    }

    /// Taken before reading a grant from the database; [`GrantCache::store`] then keeps the
    /// grant only if nothing was forgotten in between.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Keeps `grant` for `key`, read from the database after `generation` was taken.
    pub(crate) fn store(&self, key: Key, grant: Grant, generation: u64) {
        if !self.live.load(Ordering::Acquire) || self.generation() != generation {
            return;
        }
        self.entries.insert(key, grant);
        // A change forgotten between the check above and the insert must not leave this
        // (possibly older) grant behind.
        if self.generation() != generation {
            self.entries.invalidate(&key);
        }
    }

    /// Drops `key`'s entry.
    pub(crate) fn forget(&self, key: &Key) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries.invalidate(key);
    }

    /// Drops every entry of `organization`: a role or membership there changed.
    pub(crate) fn forget_organization(&self, organization: OrganizationId) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        // Fails only without `support_invalidation_closures`, which `new` sets; dropping
        // everything is the safe answer anyway.
        if self
            .entries
            .invalidate_entries_if(move |key, _| key.0 == organization)
            .is_err()
        {
            self.entries.invalidate_all();
        }
    }

    fn forget_all(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries.invalidate_all();
    }

    fn set_live(&self, live: bool) {
        self.forget_all();
        self.live.store(live, Ordering::Release);
    }

    /// Subscribes to the changes of grants; on success the cache is live from now on.
    pub(crate) async fn subscribe(&self, pool: &PgPool) -> Option<PgListener> {
        let subscribed = async {
            let mut listener = PgListener::connect_with(pool).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sea_orm::sqlx::Error>(listener)
        }
        .await;
        match subscribed {
            Ok(listener) => {
                self.set_live(true);
                Some(listener)
            }
            Err(err) => {
                tracing::warn!(error = %err, "grant cache: cannot listen for role changes; caching is off until it can");
                None
            }
        }
    }

    /// Forgets what `listener` reports changed, for as long as the task runs. When the
    /// connection is lost the cache is emptied and off (notifications sent meanwhile are
    /// lost) until a new subscription, tried every second, succeeds.
    pub(crate) async fn follow(&self, pool: &PgPool, mut listener: Option<PgListener>) {
        loop {
            if let Some(mut current) = listener.take() {
                loop {
                    match current.try_recv().await {
                        Ok(Some(notification)) => {
                            match notification.payload().parse::<uuid::Uuid>() {
                                Ok(id) => self.forget_organization(OrganizationId::from_uuid(id)),
                                // Not from our triggers; forgetting everything is safe.
                                Err(_) => self.forget_all(),
                            }
                        }
                        Ok(None) => break,
                        Err(err) => {
                            tracing::warn!(error = %err, "grant cache: listener failed");
                            break;
                        }
                    }
                }
                self.set_live(false);
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            listener = self.subscribe(pool).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bulkhead_domain::Role;

    fn key() -> Key {
        (OrganizationId::new(), UserId::new(), SessionId::new())
    }

    fn live() -> GrantCache {
        let cache = GrantCache::new();
        cache.set_live(true);
        cache
    }

    #[test]
    fn nothing_is_served_while_no_listener_is_connected() {
        let cache = GrantCache::new();
        let k = key();
        cache.store(k, Grant::system(Role::Admin), cache.generation());
        assert_eq!(cache.get(&k), None);
        cache.set_live(true);
        cache.store(k, Grant::system(Role::Admin), cache.generation());
        assert_eq!(cache.get(&k), Some(Grant::system(Role::Admin)));
        cache.set_live(false);
        assert_eq!(cache.get(&k), None);
    }

    #[test]
    fn a_grant_read_before_a_change_is_not_kept() {
        let cache = live();
        let k = key();
        let before = cache.generation();
        cache.forget_organization(k.0);
        cache.store(k, Grant::system(Role::Owner), before);
        assert_eq!(cache.get(&k), None);
    }

    #[test]
    fn forgetting_an_organization_keeps_the_others() {
        let cache = live();
        let (a, b) = (key(), key());
        cache.store(a, Grant::system(Role::Viewer), cache.generation());
        cache.store(b, Grant::system(Role::Viewer), cache.generation());
        cache.forget_organization(a.0);
        assert_eq!(cache.get(&a), None);
        assert_eq!(cache.get(&b), Some(Grant::system(Role::Viewer)));
        cache.forget(&b);
        assert_eq!(cache.get(&b), None);
    }
}
