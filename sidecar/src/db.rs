// SPDX-License-Identifier: BUSL-1.1
//! Every request runs in one transaction that first takes the caller's tenant and role, so the
//! database's grants and row-level security decide what it may see and do.

use std::str::FromStr;
use std::time::Duration;

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
/// The connection's `statement_timeout` (the request timeout) applies.
pub async fn begin(pool: &PgPool, principal: &Principal) -> ApiResult<Tx> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT set_config('recsys.tenant', $1, true), set_config('role', $2, true)")
        .bind(&principal.tenant)
        .bind(principal.role.db_role())
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// As `begin`, without a statement timeout: for background training only.
pub async fn begin_unbounded(pool: &PgPool, principal: &Principal) -> ApiResult<Tx> {
    let mut tx = begin(pool, principal).await?;
    sqlx::query("SET LOCAL statement_timeout = 0")
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// `SELECT {columns} FROM recsys.{function}($3, ...)` made as the caller in one round trip
/// instead of four (BEGIN, settings, query, COMMIT): the settings are made in a subquery the
/// function's first argument depends on, so they take effect before the function runs, and
/// being transaction-local they end with the statement. Only for calling a recsys function:
/// the function's own queries are checked against the switched role and tenant, but tables
/// named in this statement itself would be checked against the sidecar's login role, which is
/// why nothing else may go here. Bind the tenant as `$1`, the role as `$2`, then the
/// function's `args` arguments.
pub fn caller_call_sql(columns: &str, function: &str, args: usize) -> String {
    let rest: String = (4..args + 3).map(|i| format!(", ${i}")).collect();
    format!(
        "SELECT {columns} FROM (SELECT set_config('recsys.tenant', $1, true) IS NOT NULL \
             AND set_config('role', $2, true) IS NOT NULL AS ready) AS s, \
         LATERAL recsys.{function}(CASE WHEN s.ready THEN $3 END{rest}) AS r"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_call_binds_the_function_after_the_settings() {
        let sql = caller_call_sql("r.item_id", "similar_items", 3);
        assert!(
            sql.ends_with(
                "LATERAL recsys.similar_items(CASE WHEN s.ready THEN $3 END, $4, $5) AS r"
            ),
            "{sql}"
        );
        assert!(
            sql.starts_with("SELECT r.item_id FROM (SELECT set_config('recsys.tenant', $1, true)"),
            "{sql}"
        );
    }
}
