// SPDX-License-Identifier: BUSL-1.1
//! Every request runs in one transaction that first takes the caller's tenant and role, so the
//! database's grants and row-level security decide what it may see and do.

use std::time::Duration;

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};

use crate::auth::Principal;
use crate::config::Config;
use crate::error::ApiResult;

pub type Tx = Transaction<'static, Postgres>;

/// The pool. Every connection starts with the request timeout as its `statement_timeout`,
/// which covers the single-statement reads; transactions set their own.
pub async fn connect(config: &Config) -> Result<PgPool, sqlx::Error> {
    let timeout_ms = config.request_timeout.as_millis().to_string();
    let options = PgConnectOptions::from_str(&config.database_url)?
        .application_name("recsys-sidecar")
        .options([("statement_timeout", timeout_ms.as_str())]);
    PgPoolOptions::new()
        .max_connections(config.db_max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await
}

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

/// The prefix of a read-only call made in one round trip instead of four (BEGIN, settings,
/// query, COMMIT): the settings are made in a subquery the function's arguments depend on, so
/// they take effect before the function runs, and being transaction-local they end with the
/// statement. Only for calling a recsys function: the function's own queries are checked
/// against the switched role and tenant, but tables named in this statement itself would be
/// checked against the sidecar's login role, which is why nothing else may go here.
/// `$1` is the tenant, `$2` the role; the function's first argument must be wrapped as
/// `CASE WHEN s.ready THEN $3 END`.
pub const AS_CALLER: &str = "(SELECT set_config('recsys.tenant', $1, true) IS NOT NULL \
     AND set_config('role', $2, true) IS NOT NULL AS ready) AS s";
