// SPDX-License-Identifier: BUSL-1.1
//! Writes no role may make with plain SQL, made by recsys functions as the extension's owner:
//! a stored model version, its training run's result, an activation and their audit rows. A
//! role that could insert versions or set `active_version` itself could serve a forged model
//! or skip the audit trail (docs/explanation/security.md).
//!
//! Like a SECURITY DEFINER function, but only around statements this crate wrote: the
//! statements bind the caller's tenant explicitly, and the function around them pins
//! search_path. `SET ROLE` is refused while it lasts (SECURITY_LOCAL_USERID_CHANGE).

use std::cell::Cell;

use pgrx::prelude::*;

use crate::error::{SqlError, SqlResult};
use crate::spi;

thread_local! {
    static OWNER: Cell<Option<pg_sys::Oid>> = const { Cell::new(None) };
}

fn extension_owner() -> SqlResult<pg_sys::Oid> {
    if let Some(owner) = OWNER.with(Cell::get) {
        return Ok(owner);
    }
    let owner: Option<pg_sys::Oid> = spi::select_one(
        "SELECT e.extowner FROM pg_catalog.pg_extension e \
         WHERE e.extname OPERATOR(pg_catalog.=) 'recsys'",
        &[],
    )?;
    let owner = owner.ok_or_else(|| {
        SqlError::new(
            PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
            "the recsys extension is not installed in this database",
        )
    })?;
    OWNER.with(|o| o.set(Some(owner)));
    Ok(owner)
}

/// Restores the caller's user and security context, also when an error unwinds through.
struct Restore(pg_sys::Oid, i32);

impl Drop for Restore {
    fn drop(&mut self) {
        // SAFETY: puts back the values read in `as_extension_owner`.
        unsafe { pg_sys::SetUserIdAndSecContext(self.0, self.1) }
    }
}

/// Runs `f` as the extension's owner.
pub fn as_extension_owner<T>(f: impl FnOnce() -> SqlResult<T>) -> SqlResult<T> {
    let owner = extension_owner()?;
    let (mut user, mut context) = (pg_sys::Oid::INVALID, 0i32);
    // SAFETY: reads the backend's current user and security context into locals.
    unsafe { pg_sys::GetUserIdAndSecContext(&mut user, &mut context) };
    let _restore = Restore(user, context);
    // Not a security-restricted operation: setting active_version queues a deferred foreign
    // key check, which PostgreSQL refuses inside one.
    let local = context | pg_sys::SECURITY_LOCAL_USERID_CHANGE as i32;
    // SAFETY: the same call a SECURITY DEFINER function makes on entry; undone by `_restore`.
    unsafe { pg_sys::SetUserIdAndSecContext(owner, local) };
    f()
}
