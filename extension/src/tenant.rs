// SPDX-License-Identifier: BUSL-1.1
//! Who the caller's tenant is: `recsys.current_tenant()`, the function every row-level
//! security policy calls (see sql/tables.sql for the model), and `recsys.current_subject()`,
//! whom a gateway says it serves, for the audit log.
//!
//! The answer is cached for the rest of the transaction, keyed by everything it depends on
//! (the session user and the `recsys.tenant` setting), because the policies call it once per
//! table scan: computing it each time was the largest cost of a `recommend` call.

use std::cell::{Cell, RefCell};
use std::ffi::CStr;
use std::rc::Rc;

use pgrx::prelude::*;
use pgrx::spi::{OwnedPreparedStatement, SpiClient};
use pgrx::{register_xact_callback, PgBuiltInOids, PgOid, PgXactCallbackEvent};

use crate::error::{SqlError, SqlResult};
use crate::spi;

#[derive(Clone, PartialEq)]
struct Key {
    session_user: pg_sys::Oid,
    setting: Option<String>,
}

/// What a session is: its tenant, and whether it may choose one (a gateway or a superuser).
#[derive(Clone)]
struct Resolved {
    tenant: Option<String>,
    gateway: bool,
}

thread_local! {
    static CACHED: RefCell<Option<(Key, Resolved)>> = const { RefCell::new(None) };
    static CLEAR_REGISTERED: Cell<bool> = const { Cell::new(false) };
}

fn setting(name: &CStr) -> Option<String> {
    // SAFETY: a plain GUC lookup with missing_ok; the returned string is owned by the GUC
    // machinery and copied at once.
    let value = unsafe { pg_sys::GetConfigOption(name.as_ptr(), true, false) };
    if value.is_null() {
        return None;
    }
    // SAFETY: non-null GUC values are NUL-terminated strings.
    let s = unsafe { CStr::from_ptr(value) }
        .to_string_lossy()
        .into_owned();
    (!s.is_empty()).then_some(s)
}

fn clear_at_transaction_end() {
    if CLEAR_REGISTERED.with(|r| r.replace(true)) {
        return;
    }
    let clear = || {
        CACHED.with(|c| c.borrow_mut().take());
        CLEAR_REGISTERED.with(|r| r.set(false));
    };
    register_xact_callback(PgXactCallbackEvent::Commit, clear);
    register_xact_callback(PgXactCallbackEvent::Abort, clear);
}

/// Computes the tenant. Runs as the function's owner (SECURITY DEFINER) with a pinned
/// search_path, and every name in the query is schema-qualified, operators included.
fn lookup(key: &Key) -> SqlResult<Resolved> {
    // SAFETY: a catalog lookup of the session's own, existing role.
    if unsafe { pg_sys::superuser_arg(key.session_user) } {
        return Ok(Resolved {
            tenant: key.setting.clone(),
            gateway: true,
        });
    }
    let (gateway, bound) = Spi::connect(|client| -> SqlResult<(Option<bool>, Option<String>)> {
        let statement = lookup_statement(client)?;
        Ok(client
            .select(&*statement, Some(1), &[key.session_user.into()])?
            .first()
            .get_two::<bool, String>()?)
    })?;
    if gateway == Some(true) {
        return Ok(Resolved {
            tenant: key.setting.clone(),
            gateway: true,
        });
    }
    Ok(Resolved {
        tenant: bound,
        gateway: false,
    })
}

thread_local! {
    static LOOKUP: RefCell<Option<Rc<OwnedPreparedStatement>>> = const { RefCell::new(None) };
}

/// Whether a role is a gateway, and its bound tenant, in one planned statement kept for the
/// backend's life: every transaction asks once, and parsing and planning it each time cost
/// more than the lookup.
fn lookup_statement(client: &SpiClient<'_>) -> SqlResult<Rc<OwnedPreparedStatement>> {
    if let Some(s) = LOOKUP.with(|s| s.borrow().clone()) {
        return Ok(s);
    }
    let statement = Rc::new(
        client
            .prepare(
                "SELECT EXISTS (SELECT 1 FROM recsys.gateway_roles g \
                                WHERE g.role_name OPERATOR(pg_catalog.=) $1::pg_catalog.regrole), \
                        (SELECT t.tenant_id::pg_catalog.text FROM recsys.tenant_roles t \
                         WHERE t.role_name OPERATOR(pg_catalog.=) $1::pg_catalog.regrole)",
                &[PgOid::BuiltIn(PgBuiltInOids::OIDOID)],
            )?
            .keep(),
    );
    LOOKUP.with(|s| *s.borrow_mut() = Some(statement.clone()));
    Ok(statement)
}

fn resolve() -> Resolved {
    let key = Key {
        // SAFETY: reads the backend's session user id.
        session_user: unsafe { pg_sys::GetSessionUserId() },
        setting: setting(c"recsys.tenant"),
    };
    let hit = CACHED.with(|c| match &*c.borrow() {
        Some((k, resolved)) if *k == key => Some(resolved.clone()),
        _ => None,
    });
    if let Some(resolved) = hit {
        return resolved;
    }
    let resolved = crate::error::run(|| lookup(&key));
    clear_at_transaction_end();
    CACHED.with(|c| *c.borrow_mut() = Some((key, resolved.clone())));
    resolved
}

/// The tenant of this session: bound to session_user, or chosen with recsys.tenant by a
/// gateway role or a superuser. It reads the two role tables, which no role may read, hence
/// SECURITY DEFINER.
#[pg_extern(stable, parallel_restricted, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn current_tenant() -> Option<String> {
    resolve().tenant
}

/// Whom a gateway serves in this transaction (`recsys.subject`, such as `api_key:12` or
/// `oidc:<subject>`), recorded in the audit log next to the login role. NULL for any other
/// session: only a gateway's word counts, as for the tenant.
#[pg_extern(stable, parallel_restricted, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn current_subject() -> Option<String> {
    if resolve().gateway {
        setting(c"recsys.subject")
    } else {
        None
    }
}

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
