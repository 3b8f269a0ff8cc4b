// SPDX-License-Identifier: BUSL-1.1
//! The `recsys` PostgreSQL extension: thin glue between SQL and recsys-core. Each function
//! validates, loads through SPI, calls the core, saves and returns; no math lives here.

use pgrx::prelude::*;

::pgrx::pg_module_magic!(name, version);

mod api;
mod cache;
mod error;
mod jsonb_text;
mod run_progress;
mod spi;
mod tenant;

extension_sql_file!("../../sql/schema.sql", name = "schema", bootstrap);
extension_sql_file!("../../sql/grants.sql", name = "grants", finalize);

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
