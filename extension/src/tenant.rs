// SPDX-License-Identifier: BUSL-1.1
//! Who the caller's tenant is. The answer comes from `recsys.current_tenant()` (see
//! sql/schema.sql), the same function the row-level security policies use.

use pgrx::prelude::*;

use crate::error::{SqlError, SqlResult};
use crate::spi;

/// The session's tenant, or 42501 when none is bound.
pub fn require() -> SqlResult<String> {
    let tenant: Option<String> = spi::select_one("SELECT recsys.current_tenant()", &[])?;
    tenant.ok_or_else(no_tenant)
}

pub fn no_tenant() -> SqlError {
    SqlError::new(
        PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
        "no recsys tenant is bound to this session",
    )
    .hint("an administrator binds a login role to a tenant: SELECT recsys.bind_role('app_user', 'acme'); a gateway role sets it per transaction: SELECT set_config('recsys.tenant', 'acme', true)")
}

/// Training and evaluation write; in a read-only transaction or on a hot standby, say so
/// before doing any work.
pub fn require_primary(what: &str) -> SqlResult<()> {
    let (in_recovery, read_only) = Spi::connect(|client| {
        client
            .select(
                "SELECT pg_is_in_recovery(), current_setting('transaction_read_only')::bool",
                Some(1),
                &[],
            )?
            .first()
            .get_two::<bool, bool>()
    })?;
    if in_recovery == Some(true) {
        return Err(SqlError::new(
            PgSqlErrorCode::ERRCODE_READ_ONLY_SQL_TRANSACTION,
            format!("recsys.{what} cannot run on a hot standby"),
        )
        .hint("run it on the primary; recommend and similar_items work on standbys"));
    }
    if read_only == Some(true) {
        return Err(SqlError::new(
            PgSqlErrorCode::ERRCODE_READ_ONLY_SQL_TRANSACTION,
            format!("recsys.{what} cannot run in a read-only transaction"),
        ));
    }
    Ok(())
}
