// SPDX-License-Identifier: BUSL-1.1
//! Every request runs in one transaction that first takes the caller's tenant, role and
//! subject, so the database's grants and row-level security decide what it may see and do.
//!
//! Connections pin `search_path` to pg_catalog: a tenant may create functions and operators
//! (in `public`, or in schemas of its own), and none of them may ever be what a statement of
//! the sidecar resolves to; the sidecar's SQL names every recsys object with its schema.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgArguments, PgConnectOptions, PgPoolOptions};
use sqlx::query::QueryAs;
use sqlx::{Acquire, PgConnection, PgPool, Postgres, Transaction};

use crate::auth::Principal;
use crate::config::Config;
use crate::error::ApiResult;

pub type Tx = Transaction<'static, Postgres>;

/// The serving pool. Every connection starts with the request timeout as its
/// `statement_timeout`, which covers the single-statement reads; transactions set their own.
pub async fn connect(config: &Config) -> Result<PgPool, sqlx::Error> {
    pool(config, config.db_max_connections).await
}

/// The pool of long work (trainings, evaluations), apart from the serving pool so that no
/// amount of long work can take the connections recommendations need.
pub async fn connect_work(config: &Config) -> Result<PgPool, sqlx::Error> {
    let size = config.training_workers + config.eval_concurrency;
    pool(config, size as u32).await
}

/// One connection of its own, made when first used, for listening to notifications (a
/// listener holds its connection for good, so it must not hold one of a pool's).
pub fn listener(config: &Config) -> Result<PgPool, sqlx::Error> {
    Ok(PgPoolOptions::new()
        .max_connections(1)
        .connect_lazy_with(options(config)?))
}

async fn pool(config: &Config, size: u32) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new()
        .max_connections(size)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options(config)?)
        .await
}

fn options(config: &Config) -> Result<PgConnectOptions, sqlx::Error> {
    let timeout_ms = config.request_timeout.as_millis().to_string();
    Ok(PgConnectOptions::from_str(&config.database_url)?
        .application_name("recsys-sidecar")
        .options([
            ("statement_timeout", timeout_ms.as_str()),
            ("search_path", "pg_catalog,pg_temp"),
        ]))
}

/// Begins a transaction as `principal`: `recsys.tenant`, `recsys.subject` and `role` are
/// transaction-local, so nothing leaks to the next user of the pooled connection, even if the
/// commit never happens. The connection's `statement_timeout` (the request timeout) applies.
pub async fn begin(pool: &PgPool, principal: &Principal) -> ApiResult<Tx> {
    let mut tx = pool.begin().await?;
    set_caller(&mut tx, principal).await?;
    Ok(tx)
}

/// As [`begin`], on a connection the caller holds (a trainer names it the run's owner).
pub async fn begin_on<'c>(
    conn: &'c mut PgConnection,
    principal: &Principal,
) -> ApiResult<Transaction<'c, Postgres>> {
    let mut tx = conn.begin().await?;
    set_caller(&mut tx, principal).await?;
    Ok(tx)
}

async fn set_caller(tx: &mut Transaction<'_, Postgres>, principal: &Principal) -> ApiResult<()> {
    sqlx::query(
        "SELECT pg_catalog.set_config('recsys.tenant', $1, true), \
                pg_catalog.set_config('role', $2, true), \
                pg_catalog.set_config('recsys.subject', $3, true)",
    )
    .bind(&principal.tenant)
    .bind(principal.role.db_role())
    .bind(&principal.subject)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// `SELECT {columns} FROM recsys.{function}($4, ...)` made as the caller in one round trip
/// instead of four (BEGIN, settings, query, COMMIT): the settings are made in a subquery the
/// function's first argument depends on, so they take effect before the function runs, and
/// being transaction-local they end with the statement. Only for calling a recsys function:
/// PostgreSQL checks EXECUTE on it as the sidecar's login, before the role switches, so the
/// function checks it again as the role it runs as; tables named in this statement itself
/// would be checked against the login, which is why nothing else may go here. Bind the caller
/// with [`bind_caller`], then the function's `args` arguments.
pub fn caller_call_sql(columns: &str, function: &str, args: usize) -> String {
    let rest: String = (5..args + 4).map(|i| format!(", ${i}")).collect();
    format!(
        "SELECT {columns} FROM (SELECT pg_catalog.set_config('recsys.tenant', $1, true) IS NOT NULL \
             AND pg_catalog.set_config('role', $2, true) IS NOT NULL \
             AND pg_catalog.set_config('recsys.subject', $3, true) IS NOT NULL AS ready) AS s, \
         LATERAL recsys.{function}(CASE WHEN s.ready THEN $4 END{rest}) AS r"
    )
}

/// Binds `principal` as the first three parameters of a [`caller_call_sql`] statement.
pub fn bind_caller<'q, O>(
    query: QueryAs<'q, Postgres, O, PgArguments>,
    principal: &'q Principal,
) -> QueryAs<'q, Postgres, O, PgArguments> {
    query
        .bind(&principal.tenant)
        .bind(principal.role.db_role())
        .bind(&principal.subject)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_call_binds_the_function_after_the_settings() {
        let sql = caller_call_sql("r.item_id", "similar_items", 3);
        assert!(
            sql.ends_with(
                "LATERAL recsys.similar_items(CASE WHEN s.ready THEN $4 END, $5, $6) AS r"
            ),
            "{sql}"
        );
        assert!(
            sql.starts_with(
                "SELECT r.item_id FROM (SELECT pg_catalog.set_config('recsys.tenant', $1, true)"
            ),
            "{sql}"
        );
        assert!(
            sql.contains("pg_catalog.set_config('recsys.subject', $3, true)"),
            "{sql}"
        );
    }
}
