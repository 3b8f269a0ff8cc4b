// SPDX-License-Identifier: BUSL-1.1
//! Every request runs in one transaction that first takes the caller's tenant and role, so the
//! database's grants and row-level security decide what it may see and do.

use std::time::Duration;

use sqlx::{PgPool, Postgres, Transaction};

use crate::auth::Principal;
use crate::error::ApiResult;

pub type Tx = Transaction<'static, Postgres>;

/// Begins a transaction as `principal`: `recsys.tenant` and `role` are transaction-local, so
/// nothing leaks to the next user of the pooled connection, even if the commit never happens.
pub async fn begin(
    pool: &PgPool,
    principal: &Principal,
    timeout: Option<Duration>,
) -> ApiResult<Tx> {
    let mut tx = pool.begin().await?;
    let timeout_ms = timeout.map_or(0, |t| t.as_millis().min(i32::MAX as u128) as i64);
    sqlx::query(
        "SELECT set_config('recsys.tenant', $1, true), set_config('role', $2, true), \
                set_config('statement_timeout', $3, true)",
    )
    .bind(&principal.tenant)
    .bind(principal.role.db_role())
    .bind(timeout_ms.to_string())
    .execute(&mut *tx)
    .await?;
    Ok(tx)
}
