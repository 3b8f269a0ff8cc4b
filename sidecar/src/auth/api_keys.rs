// SPDX-License-Identifier: BUSL-1.1
//! API keys: `rsk_` + a 12-character random prefix (finds the row) + 40 random characters
//! (238 bits). The database keeps a SHA-256 of the whole key, which is enough for a secret of
//! that entropy; it is compared in constant time.
//!
//! Verified keys are cached for RECSYS_KEY_CACHE_SECS (at most until they expire), then
//! looked up again when presented, and forgotten at once when a revocation is announced
//! (NOTIFY recsys_api_keys, see [`listen_for_revocations`]). Prefixes with no valid key are
//! remembered for a minute, and lookups of prefixes in neither cache are rate-limited
//! (RECSYS_KEY_LOOKUPS_PER_SEC) before any database call: random keys cannot take the
//! connections valid requests need, nor the lookups valid keys need.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use subtle::ConstantTimeEq;

use super::{Principal, Role};
use crate::error::ApiError;
use crate::locks::{lock, read, write};
use crate::rate::TokenBucket;

pub(super) const PREFIX_LEN: usize = 12;
pub(super) const SECRET_LEN: usize = 40;
const KEY_LEN: usize = 4 + PREFIX_LEN + SECRET_LEN;
/// Bounds memory when callers present many keys; a full cache is simply cleared.
const CACHE_CAP: usize = 10_000;
/// How long a prefix with no valid key is answered without asking the database.
const UNKNOWN_TTL: Duration = Duration::from_secs(60);
/// The channel recsys.revoke_api_key() notifies, with the key's prefix.
pub const REVOCATIONS: &str = "recsys_api_keys";

pub(super) fn hash(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// The prefix of a well-formed key, or None: malformed keys never reach the database.
fn prefix_of(key: &str) -> Option<&str> {
    let rest = key.strip_prefix("rsk_")?;
    (key.len() == KEY_LEN && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then(|| &rest[..PREFIX_LEN])
}

/// A valid key as `recsys.api_key_lookup` returns it.
#[derive(sqlx::FromRow)]
struct KeyRow {
    id: i64,
    key_hash: Vec<u8>,
    tenant_id: String,
    role: String,
    expires_at: Option<DateTime<Utc>>,
}

#[derive(Clone)]
struct Verified {
    hash: [u8; 32],
    principal: Principal,
    until: Instant,
}

/// Verifies keys against `recsys.api_key_lookup()`, with the caches described above.
#[derive(Clone)]
pub struct KeyStore {
    pool: PgPool,
    ttl: Duration,
    known: Arc<RwLock<HashMap<String, Verified>>>,
    unknown: Arc<Mutex<HashMap<String, Instant>>>,
    lookups: Arc<Mutex<TokenBucket>>,
}

impl KeyStore {
    pub fn new(pool: PgPool, ttl: Duration, lookups_per_sec: u32) -> Self {
        KeyStore {
            pool,
            ttl,
            known: Arc::default(),
            unknown: Arc::default(),
            lookups: Arc::new(Mutex::new(TokenBucket::new(
                lookups_per_sec,
                lookups_per_sec.saturating_mul(2),
                Instant::now(),
            ))),
        }
    }

    pub async fn authenticate(&self, key: &str) -> Result<Principal, ApiError> {
        let prefix = prefix_of(key).ok_or_else(invalid)?;
        let presented = hash(key);
        let now = Instant::now();
        let cached = read(&self.known).get(prefix).cloned();
        let entry = match cached {
            Some(c) if c.until > now => c,
            // An expired entry still knows the key's hash (a key never changes, a revocation
            // removes the entry): a wrong secret is refused without a lookup, the right one
            // is looked up again without the limit, which only unknown prefixes face.
            Some(c) if !bool::from(c.hash.ct_eq(&presented)) => return Err(invalid()),
            Some(_) => self.lookup(prefix, now).await?,
            None => {
                let known_unknown = lock(&self.unknown).get(prefix).is_some_and(|&t| t > now);
                if known_unknown {
                    return Err(invalid());
                }
                if let Err(wait) = lock(&self.lookups).take(now) {
                    metrics::counter!("recsys_key_lookups_refused_total").increment(1);
                    return Err(ApiError::too_many_requests(
                        "too many requests with unknown API keys; retry later",
                        wait,
                    ));
                }
                self.lookup(prefix, now).await?
            }
        };
        if bool::from(entry.hash.ct_eq(&presented)) {
            Ok(entry.principal)
        } else {
            Err(invalid())
        }
    }

    /// The valid key with this prefix, cached; one that is unknown, revoked or expired is
    /// forgotten and remembered as unknown.
    async fn lookup(&self, prefix: &str, now: Instant) -> Result<Verified, ApiError> {
        let row: Option<KeyRow> = sqlx::query_as(
            "SELECT id, key_hash, tenant_id, role, expires_at FROM recsys.api_key_lookup($1)",
        )
        .bind(prefix)
        .fetch_optional(&self.pool)
        .await?;
        let Some(KeyRow {
            id,
            key_hash: stored,
            tenant_id: tenant,
            role,
            expires_at,
        }) = row
        else {
            self.forget(prefix);
            remember(&self.unknown, prefix, now + UNKNOWN_TTL);
            return Err(invalid());
        };
        let role = Role::parse(&role).ok_or_else(ApiError::internal)?;
        let hash: [u8; 32] = stored.try_into().map_err(|_| ApiError::internal())?;
        let lifetime = expires_at.map_or(self.ttl, |t| {
            (t - Utc::now()).to_std().unwrap_or_default().min(self.ttl)
        });
        let entry = Verified {
            hash,
            principal: Principal {
                tenant,
                role,
                subject: format!("api_key:{id}"),
            },
            until: now + lifetime,
        };
        let mut known = write(&self.known);
        if known.len() >= CACHE_CAP {
            known.clear();
        }
        known.insert(prefix.to_string(), entry.clone());
        Ok(entry)
    }

    /// Forgets a revoked key's prefix.
    pub fn forget(&self, prefix: &str) {
        write(&self.known).remove(prefix);
    }

    /// Forgets every verified key, when revocations may have been missed.
    pub fn forget_all(&self) {
        write(&self.known).clear();
    }
}

fn invalid() -> ApiError {
    ApiError::unauthorized("the API key is not valid, expired or was revoked")
}

fn remember(unknown: &Mutex<HashMap<String, Instant>>, prefix: &str, until: Instant) {
    let mut unknown = lock(unknown);
    if unknown.len() >= CACHE_CAP {
        unknown.clear();
    }
    unknown.insert(prefix.to_string(), until);
}

/// Forgets revoked keys as their revocations are announced. While the listening connection is
/// down, or after it reconnects (notifications may have been missed), every verified key is
/// forgotten, so a revocation never waits for more than RECSYS_KEY_CACHE_SECS.
pub async fn listen_for_revocations(store: KeyStore, connection: PgPool) {
    loop {
        let mut listener = match PgListener::connect_with(&connection).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for API key revocations; retrying");
                store.forget_all();
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Err(e) = listener.listen(REVOCATIONS).await {
            tracing::warn!(error = %e, "cannot listen for API key revocations; retrying");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        store.forget_all();
        loop {
            match listener.try_recv().await {
                Ok(Some(n)) => store.forget(n.payload()),
                // The connection was lost and will be re-established by the next call.
                Ok(None) => store.forget_all(),
                Err(e) => {
                    tracing::warn!(error = %e, "lost the API key revocation channel");
                    store.forget_all();
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_keys_have_a_prefix() {
        let key = format!("rsk_{}{}", "A".repeat(PREFIX_LEN), "b".repeat(SECRET_LEN));
        assert_eq!(prefix_of(&key), Some("AAAAAAAAAAAA"));
        assert_eq!(prefix_of(&key[..KEY_LEN - 1]), None);
        assert_eq!(prefix_of(&format!("{key}x")), None);
        assert_eq!(prefix_of(&key.replace("rsk_", "xyz_")), None);
        let with_symbol = format!(
            "rsk_{}{}-",
            "A".repeat(PREFIX_LEN),
            "b".repeat(SECRET_LEN - 1)
        );
        assert_eq!(prefix_of(&with_symbol), None);
        // A multi-byte character must not make slicing panic.
        let unicode = format!("rsk_é{}", "b".repeat(SECRET_LEN + PREFIX_LEN - 2));
        assert_eq!(unicode.len(), KEY_LEN);
        assert_eq!(prefix_of(&unicode), None);
    }

    #[test]
    fn hashes_differ_per_key() {
        assert_ne!(hash("rsk_a"), hash("rsk_b"));
        assert_eq!(hash("rsk_a"), hash("rsk_a"));
    }
}
