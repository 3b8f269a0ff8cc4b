// SPDX-License-Identifier: BUSL-1.1
//! The `recsys` PostgreSQL extension: thin glue between SQL and recsys-core. Each function
//! validates, loads through SPI, calls the core, saves and returns; no math lives here.

use pgrx::prelude::*;

::pgrx::pg_module_magic!(name, version);

mod api;
mod cache;
mod error;
mod guc;
mod jsonb_text;
mod privileged;
mod run_progress;
mod spi;
mod tenant;

// The schema in four parts: roles and domains; the tables, whose policies and defaults call
// the tenant functions defined in Rust; the functions written in SQL; grants on every function.
extension_sql_file!("../../sql/bootstrap.sql", name = "bootstrap", bootstrap);
extension_sql_file!(
    "../../sql/tables.sql",
    name = "tables",
    requires = [tenant::current_tenant, tenant::current_subject]
);
extension_sql_file!(
    "../../sql/functions.sql",
    name = "functions",
    requires = ["tables"]
);
extension_sql_file!("../../sql/grants.sql", name = "grants", finalize);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    // An error's DETAIL would otherwise carry a Rust backtrace whenever the server runs with
    // RUST_BACKTRACE set: internals no SQL client should see. The backend is single-threaded
    // here, before any worker thread exists.
    // SAFETY: no other thread reads the environment yet.
    unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") };
    guc::init();
}
