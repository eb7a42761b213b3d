//! Rate-limit counters in SQL: exact for the authentication endpoints, batched for the
//! per-request principal limit.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

use async_trait::async_trait;
use bulkhead_domain::limits::{Limit, RateDecision, RateLimiter};
use bulkhead_domain::{DomainError, DomainResult};
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};

use crate::error::to_domain;
use crate::store::Store;

/// Windows older than this are deleted by [`BatchedRateLimiter::flush`].
const KEEP_WINDOWS_SECS: i64 = 24 * 3600;

fn now_secs() -> u64 {
    bulkhead_domain::now().timestamp().max(0) as u64
}

/// The start of the fixed window `now` falls in, and the seconds left in it.
fn window(limit: Limit, now: u64) -> (i64, u64) {
    let length = limit.window_secs.max(1);
    let start = now - now % length;
    (start as i64, start + length - now)
}

fn decide(count: u32, limit: Limit, retry_after_secs: u64) -> RateDecision {
    if count > limit.max {
        RateDecision::Limited { retry_after_secs }
    } else {
        RateDecision::Allowed { count }
    }
}

/// Adds `hits` to the counter of `key` in the window starting at `start`; answers the total.
async fn add(store: &Store, key: &str, start: i64, hits: u32) -> DomainResult<u32> {
    let db = store.connection();
    let backend = db.get_database_backend();
    let sql = match backend {
        DatabaseBackend::Postgres => {
            "INSERT INTO rate_limits (key, window_start, hits) VALUES ($1, $2, $3) \
             ON CONFLICT (key, window_start) DO UPDATE SET hits = rate_limits.hits + EXCLUDED.hits \
             RETURNING hits"
        }
        _ => {
            "INSERT INTO rate_limits (key, window_start, hits) VALUES (?, ?, ?) \
             ON CONFLICT (key, window_start) DO UPDATE SET hits = rate_limits.hits + excluded.hits \
             RETURNING hits"
        }
    };
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [key.into(), start.into(), (hits as i32).into()],
        ))
        .await
        .map_err(to_domain)?
        .ok_or_else(|| DomainError::Internal("rate limit upsert returned nothing".into()))?;
    let total: i32 = row.try_get("", "hits").map_err(to_domain)?;
    Ok(total.max(0) as u32)
}

/// PostgreSQL: adds every pending count and reads every live key's total, in one statement.
/// Keys with nothing pending are only read, so that quiet keys learn what the other instances
/// counted without writing a row version each flush.
async fn add_all(
    store: &Store,
    live: &[((String, i64), u32)],
) -> DomainResult<Vec<((String, i64), u32)>> {
    let (busy, quiet): (Vec<_>, Vec<_>) = live.iter().partition(|(_, hits)| *hits > 0);
    let column = |rows: &[&((String, i64), u32)]| {
        (
            rows.iter().map(|((k, _), _)| k.clone()).collect::<Vec<_>>(),
            rows.iter().map(|((_, s), _)| *s).collect::<Vec<_>>(),
            rows.iter().map(|(_, h)| *h as i32).collect::<Vec<_>>(),
        )
    };
    let (busy_keys, busy_starts, busy_hits) = column(&busy);
    let (quiet_keys, quiet_starts, _) = column(&quiet);
    let rows = store
        .connection()
        .query_all_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "WITH added AS (
               INSERT INTO rate_limits (key, window_start, hits)
                 SELECT * FROM unnest($1::text[], $2::bigint[], $3::int[])
               ON CONFLICT (key, window_start) DO UPDATE SET hits = rate_limits.hits + EXCLUDED.hits
               RETURNING key, window_start, hits)
             SELECT key, window_start, hits FROM added
             UNION ALL
             SELECT r.key, r.window_start, r.hits
               FROM rate_limits r JOIN unnest($4::text[], $5::bigint[]) AS q(key, window_start)
                 ON r.key = q.key AND r.window_start = q.window_start",
            [
                busy_keys.into(),
                busy_starts.into(),
                busy_hits.into(),
                quiet_keys.into(),
                quiet_starts.into(),
            ],
        ))
        .await
        .map_err(to_domain)?;
    rows.iter()
        .map(|row| {
            let key: String = row.try_get("", "key").map_err(to_domain)?;
            let start: i64 = row.try_get("", "window_start").map_err(to_domain)?;
            let hits: i32 = row.try_get("", "hits").map_err(to_domain)?;
            Ok(((key, start), hits.max(0) as u32))
        })
        .collect()
}

/// Exact counters: every event is one upsert, so every instance sees every event at once.
/// For the authentication endpoints, which are rare and expensive anyway (bcrypt).
#[derive(Debug, Clone)]
pub struct SqlRateLimiter {
    store: Store,
}

impl SqlRateLimiter {
    /// Builds the limiter.
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

#[async_trait]
impl RateLimiter for SqlRateLimiter {
    async fn hit(&self, key: &str, limit: Limit) -> DomainResult<RateDecision> {
        let (start, retry_after) = window(limit, now_secs());
        let count = add(&self.store, key, start, 1).await?;
        Ok(decide(count, limit, retry_after))
    }

    async fn peek(&self, key: &str, limit: Limit) -> DomainResult<RateDecision> {
        let (start, retry_after) = window(limit, now_secs());
        let db = self.store.connection();
        let backend = db.get_database_backend();
        let sql = match backend {
            DatabaseBackend::Postgres => {
                "SELECT hits FROM rate_limits WHERE key = $1 AND window_start = $2"
            }
            _ => "SELECT hits FROM rate_limits WHERE key = ? AND window_start = ?",
        };
        let count = db
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                sql,
                [key.into(), start.into()],
            ))
            .await
            .map_err(to_domain)?
            .map(|row| row.try_get::<i32>("", "hits"))
            .transpose()
            .map_err(to_domain)?
            .unwrap_or(0)
            .max(0) as u32;
        Ok(decide(count + 1, limit, retry_after))
    }
}

#[derive(Debug, Default)]
struct Tally {
    /// Events counted here and not yet added to the shared counter.
    pending: u32,
    /// The shared counter as of the last flush (every instance's events).
    shared: u32,
    limit: Option<Limit>,
}

/// Counters for the per-principal request limit, which is consulted on every request: events
/// are counted in memory and added to the shared counters by [`BatchedRateLimiter::flush`]
/// (every half second in the server), so a request costs no extra round trip. Across
/// instances the limit is therefore approximate: each may admit up to one flush interval's
/// worth of requests beyond it.
#[derive(Debug)]
pub struct BatchedRateLimiter {
    store: Store,
    tallies: Mutex<HashMap<(String, i64), Tally>>,
    /// The minute (Unix time / 60) of the last deletion of old windows.
    cleaned_in_minute: AtomicI64,
}

impl BatchedRateLimiter {
    /// Builds the limiter.
    pub fn new(store: Store) -> Self {
        Self {
            store,
            tallies: Mutex::new(HashMap::new()),
            cleaned_in_minute: AtomicI64::new(i64::MIN),
        }
    }

    fn tallies(&self) -> std::sync::MutexGuard<'_, HashMap<(String, i64), Tally>> {
        // A panic while holding the lock leaves counts that are still usable.
        self.tallies
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds the pending counts to the shared counters, learns the other instances' counts,
    /// forgets ended windows, and (once a minute) deletes windows older than a day from the
    /// store. On PostgreSQL all of it but the deletion is one statement, whatever the number
    /// of principals.
    pub async fn flush(&self) -> DomainResult<()> {
        let now = now_secs();
        let live: Vec<((String, i64), u32)> = {
            let mut tallies = self.tallies();
            tallies.retain(|(_, start), tally| {
                let length = tally.limit.map_or(60, |l| l.window_secs.max(1)) as i64;
                start + length > now as i64 || tally.pending > 0
            });
            tallies
                .iter_mut()
                .map(|(k, t)| (k.clone(), std::mem::take(&mut t.pending)))
                .collect()
        };
        let totals = if self.store.is_postgres() {
            add_all(&self.store, &live).await?
        } else {
            let mut totals = Vec::with_capacity(live.len());
            for ((key, start), hits) in live {
                // Adding nothing still answers the total, so keys quiet here learn what the
                // other instances counted.
                let shared = add(&self.store, &key, start, hits).await?;
                totals.push(((key, start), shared));
            }
            totals
        };
        {
            let mut tallies = self.tallies();
            for (key, shared) in totals {
                if let Some(tally) = tallies.get_mut(&key) {
                    tally.shared = shared;
                }
            }
        }
        let minute = now as i64 / 60;
        if self.cleaned_in_minute.swap(minute, Ordering::Relaxed) == minute {
            return Ok(());
        }
        let db = self.store.connection();
        let backend = db.get_database_backend();
        let sql = match backend {
            DatabaseBackend::Postgres => "DELETE FROM rate_limits WHERE window_start < $1",
            _ => "DELETE FROM rate_limits WHERE window_start < ?",
        };
        db.execute_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [(now as i64 - KEEP_WINDOWS_SECS).into()],
        ))
        .await
        .map_err(to_domain)?;
        Ok(())
    }
}

#[async_trait]
impl RateLimiter for BatchedRateLimiter {
    async fn hit(&self, key: &str, limit: Limit) -> DomainResult<RateDecision> {
        let (start, retry_after) = window(limit, now_secs());
        let mut tallies = self.tallies();
        let tally = tallies.entry((key.to_owned(), start)).or_default();
        tally.limit = Some(limit);
        let count = tally.shared + tally.pending + 1;
        let decision = decide(count, limit, retry_after);
        if let RateDecision::Allowed { .. } = decision {
            tally.pending += 1;
        }
        Ok(decision)
    }

    async fn peek(&self, key: &str, limit: Limit) -> DomainResult<RateDecision> {
        let (start, retry_after) = window(limit, now_secs());
        let tallies = self.tallies();
        let count = tallies
            .get(&(key.to_owned(), start))
            .map_or(0, |t| t.shared + t.pending);
        Ok(decide(count + 1, limit, retry_after))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_fixed_and_say_how_long_is_left() {
        let limit = Limit::per_minute(3);
        assert_eq!(window(limit, 120), (120, 60));
        assert_eq!(window(limit, 179), (120, 1));
        assert_eq!(decide(3, limit, 5), RateDecision::Allowed { count: 3 });
        assert_eq!(
            decide(4, limit, 5),
            RateDecision::Limited {
                retry_after_secs: 5
            }
        );
    }
}
