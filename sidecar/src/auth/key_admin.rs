// SPDX-License-Identifier: BUSL-1.1
//! Creating, listing and revoking API keys (`recsys-sidecar keys ...`). This needs a login
//! with `recsys_key_admin`, not the sidecar's own: the serving sidecar may only look keys up.
//! Creation and revocation go through recsys functions, which audit them; a revocation
//! reaches every running sidecar at once (NOTIFY recsys_api_keys).

use chrono::{DateTime, Utc};
use rand::distr::{Alphanumeric, SampleString};
use sqlx::PgPool;

use super::api_keys::{hash, PREFIX_LEN, SECRET_LEN};
use super::{valid_tenant, Role};

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
    pub expires_at: Option<DateTime<Utc>>,
}

/// Creates a key for `tenant` with `role`, valid until `expires_at` (or until revoked).
pub async fn create(
    pool: &PgPool,
    tenant: &str,
    role: Role,
    name: &str,
    expires_at: Option<DateTime<Utc>>,
) -> Result<NewKey, String> {
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
    let id: i64 = sqlx::query_scalar("SELECT recsys.create_api_key($1, $2, $3, $4, $5, $6)")
        .bind(&prefix)
        .bind(hash(&key).as_slice())
        .bind(tenant)
        .bind(role.as_str())
        .bind(name)
        .bind(expires_at)
        .fetch_one(pool)
        .await
        .map_err(|e| e.to_string())?;
    Ok(NewKey { id, key })
}

pub async fn list(pool: &PgPool) -> Result<Vec<KeyInfo>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, prefix, tenant_id::text, role, name, created_at, revoked_at, expires_at \
         FROM recsys.api_keys ORDER BY id",
    )
    .fetch_all(pool)
    .await
}

/// Revokes a key; false if there is no such unrevoked key.
pub async fn revoke(pool: &PgPool, id: i64) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT recsys.revoke_api_key($1)")
        .bind(id)
        .fetch_one(pool)
        .await
}
