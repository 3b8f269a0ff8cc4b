// SPDX-License-Identifier: BUSL-1.1
//! API keys: `rsk_` + a 12-character random prefix (finds the row) + 40 random characters
//! (238 bits). The database keeps a SHA-256 of the whole key, which is enough for a secret of
//! that entropy; it is compared in constant time. Verified keys are cached for a few seconds
//! (RECSYS_KEY_CACHE_SECS), so a revocation takes effect within that time.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rand::distr::{Alphanumeric, SampleString};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use subtle::ConstantTimeEq;

use super::{valid_tenant, Principal, Role};
use crate::error::ApiError;

const PREFIX_LEN: usize = 12;
const SECRET_LEN: usize = 40;
const KEY_LEN: usize = 4 + PREFIX_LEN + SECRET_LEN;
/// Bounds memory when callers present many valid keys; the cache is simply cleared when full.
const CACHE_CAP: usize = 10_000;

/// A key as shown once to its owner.
#[derive(Debug)]
pub struct NewKey {
    pub id: i64,
    pub key: String,
}

#[derive(Debug, sqlx::FromRow)]
pub struct KeyInfo {
    pub id: i64,
    pub prefix: String,
    pub tenant_id: String,
    pub role: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

fn hash(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// The prefix of a well-formed key, or None: malformed keys never reach the database.
fn prefix_of(key: &str) -> Option<&str> {
    let rest = key.strip_prefix("rsk_")?;
    (key.len() == KEY_LEN && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then(|| &rest[..PREFIX_LEN])
}

pub async fn create(pool: &PgPool, tenant: &str, role: Role, name: &str) -> Result<NewKey, String> {
    if !valid_tenant(tenant) {
        return Err(format!(
            "invalid tenant {tenant:?}: 1-63 letters, digits, '_', '.' or '-', starting with a letter or digit"
        ));
    }
    let mut rng = rand::rng();
    let prefix = Alphanumeric.sample_string(&mut rng, PREFIX_LEN);
    let key = format!(
        "rsk_{prefix}{}",
        Alphanumeric.sample_string(&mut rng, SECRET_LEN)
    );
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO recsys.api_keys (prefix, key_hash, tenant_id, role, name) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(&prefix)
    .bind(hash(&key).as_slice())
    .bind(tenant)
    .bind(role.as_str())
    .bind(name)
    .fetch_one(pool)
    .await
    .map_err(|e| e.to_string())?;
    Ok(NewKey { id, key })
}

pub async fn list(pool: &PgPool) -> Result<Vec<KeyInfo>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, prefix, tenant_id::text, role, name, created_at, revoked_at \
         FROM recsys.api_keys ORDER BY id",
    )
    .fetch_all(pool)
    .await
}

/// Revokes a key; false if there is no such unrevoked key.
pub async fn revoke(pool: &PgPool, id: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE recsys.api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL",
    )
    .bind(id)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[derive(Clone)]
struct Cached {
    hash: [u8; 32],
    principal: Principal,
    until: Instant,
}

/// Verifies keys against `recsys.api_keys`, with a short-lived cache of verified keys.
#[derive(Clone)]
pub struct KeyStore {
    pool: PgPool,
    ttl: Duration,
    cache: Arc<RwLock<HashMap<String, Cached>>>,
}

impl KeyStore {
    pub fn new(pool: PgPool, ttl: Duration) -> Self {
        KeyStore {
            pool,
            ttl,
            cache: Arc::default(),
        }
    }

    pub async fn authenticate(&self, key: &str) -> Result<Principal, ApiError> {
        let invalid = || ApiError::unauthorized("the API key is not valid or was revoked");
        let prefix = prefix_of(key).ok_or_else(invalid)?;
        let presented = hash(key);
        let now = Instant::now();
        let cached = self
            .cache
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(prefix)
            .filter(|c| c.until > now)
            .cloned();
        let entry = match cached {
            Some(c) => c,
            None => {
                let row: Option<(Vec<u8>, String, String)> = sqlx::query_as(
                    "SELECT key_hash, tenant_id::text, role FROM recsys.api_keys \
                     WHERE prefix = $1 AND revoked_at IS NULL",
                )
                .bind(prefix)
                .fetch_optional(&self.pool)
                .await?;
                let (stored, tenant, role) = row.ok_or_else(invalid)?;
                let role = Role::parse(&role).ok_or_else(ApiError::internal)?;
                let hash: [u8; 32] = stored.try_into().map_err(|_| ApiError::internal())?;
                let entry = Cached {
                    hash,
                    principal: Principal { tenant, role },
                    until: now + self.ttl,
                };
                let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
                if cache.len() >= CACHE_CAP {
                    cache.clear();
                }
                cache.insert(prefix.to_string(), entry.clone());
                entry
            }
        };
        if bool::from(entry.hash.ct_eq(&presented)) {
            Ok(entry.principal)
        } else {
            Err(invalid())
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
