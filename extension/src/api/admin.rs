// SPDX-License-Identifier: BUSL-1.1
//! Introspection: the algorithms this build has, and the backend's model cache.

use pgrx::prelude::*;
use pgrx::JsonB;

use crate::cache;

/// Every algorithm with its version, a summary and its default parameters.
#[pg_extern(immutable, parallel_safe)]
#[search_path(pg_catalog, pg_temp)]
fn algorithms() -> TableIterator<
    'static,
    (
        name!(name, String),
        name!(version, i32),
        name!(summary, String),
        name!(defaults, JsonB),
    ),
> {
    let rows: Vec<_> = cache::registry(|r| {
        r.iter()
            .map(|a| {
                let defaults = a
                    .check(&serde_json::Value::Null)
                    .map(|p| p.to_json())
                    .unwrap_or_default();
                (
                    a.name().to_string(),
                    a.version() as i32,
                    a.summary().to_string(),
                    JsonB(defaults),
                )
            })
            .collect()
    });
    TableIterator::new(rows)
}

/// Number of decoded models cached in this backend.
#[pg_extern(volatile, parallel_restricted)]
#[search_path(pg_catalog, pg_temp)]
fn cached_models() -> i64 {
    cache::len() as i64
}
