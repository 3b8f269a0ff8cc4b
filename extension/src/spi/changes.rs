// SPDX-License-Identifier: BUSL-1.1
//! What an incremental training reads: the interactions written since the previous version
//! read its own. Every row carries the transaction that wrote it (`written_xact`, set again
//! by any update); a version keeps the snapshot it read in and the rows it saw, so the rows
//! not visible in that snapshot are the new ones, whatever their `occurred_at` says. When
//! fewer or more of the rows that snapshot saw remain (a delete, an update, a row written
//! with an old transaction id), the changes cannot be told apart and the caller trains on
//! everything.

use pgrx::prelude::*;
use recsys_core::Changes;
use serde_json::{json, Value};

use super::{for_each_row, interaction, required};
use crate::error::SqlResult;
use crate::guc;

/// Where a tenant's interactions stood when a training read them: the snapshot it read in
/// and how many rows it saw. Kept in the version's `manifest.data.source`.
#[derive(Clone, Debug, PartialEq)]
pub struct Source {
    pub snapshot: String,
    pub rows: i64,
}

impl Source {
    pub fn to_json(&self) -> Value {
        json!({"snapshot": self.snapshot, "rows": self.rows})
    }

    /// The source a version recorded; `None` for one trained before versions recorded it (or
    /// by the command-line tool).
    pub fn from_json(value: Option<&Value>) -> Option<Source> {
        let value = value?;
        Some(Source {
            snapshot: value.get("snapshot")?.as_str()?.to_string(),
            rows: value.get("rows")?.as_i64()?,
        })
    }
}

/// What an incremental read found.
pub enum Read {
    /// The histories of the users with new rows, and where the interactions stand now.
    Changes(Box<Changes>, Source),
    /// Rows the previous version saw were deleted or rewritten since: `(then, now)` rows.
    Rewritten(i64, i64),
}

/// The changes of `tenant`'s interactions since `previous`, calling `progress(rows so far)`
/// after each batch. Stops with 53200 once they would need more than
/// `recsys.max_train_memory_mb` beside `held` bytes.
pub fn read_changes(
    tenant: &str,
    previous: &Source,
    held: u64,
    mut progress: impl FnMut(u64),
) -> SqlResult<Read> {
    // One scan: this snapshot, its row count, and how many of the rows the previous
    // version's snapshot saw are still there unchanged.
    let (snapshot, rows, kept): (String, i64, i64) = Spi::connect(|client| -> SqlResult<_> {
        let row = client
            .select(
                "SELECT pg_catalog.pg_current_snapshot()::text, pg_catalog.count(*), \
                        pg_catalog.count(*) FILTER (WHERE pg_catalog.pg_visible_in_snapshot(\
                            written_xact, $2::pg_catalog.pg_snapshot)) \
                 FROM recsys.interactions WHERE tenant_id OPERATOR(pg_catalog.=) $1",
                Some(1),
                &[tenant.into(), previous.snapshot.as_str().into()],
            )?
            .first();
        Ok((
            required(row.get(1)?, "snapshot")?,
            required(row.get(2)?, "count")?,
            required(row.get(3)?, "count")?,
        ))
    })?;
    if kept != previous.rows {
        return Ok(Read::Rewritten(previous.rows, kept));
    }
    let mut builder = Changes::builder();
    for_each_row(
        "WITH changed AS ( \
             SELECT DISTINCT user_id FROM recsys.interactions \
             WHERE tenant_id OPERATOR(pg_catalog.=) $1 \
               AND NOT pg_catalog.pg_visible_in_snapshot(written_xact, $2::pg_catalog.pg_snapshot)) \
         SELECT i.user_id::text, i.item_id::text, i.weight, i.occurred_at, \
                pg_catalog.pg_visible_in_snapshot(i.written_xact, $2::pg_catalog.pg_snapshot) \
         FROM recsys.interactions i \
         WHERE i.tenant_id OPERATOR(pg_catalog.=) $1 \
           AND EXISTS (SELECT FROM changed c WHERE c.user_id OPERATOR(pg_catalog.=) i.user_id)",
        &[tenant.into(), previous.snapshot.as_str().into()],
        &mut builder,
        |builder, row| {
            let (user, item, weight, time) = interaction(&row)?;
            let seen = required(row.get::<bool>(5)?, "visible")?;
            Ok(builder.push(user, item, weight, time, seen)?)
        },
        |builder, rows| {
            guc::check_memory(
                builder.peak_bytes().saturating_add(held),
                "loading the changed interactions",
            )?;
            progress(rows);
            Ok(())
        },
    )?;
    Ok(Read::Changes(
        Box::new(builder.build()?),
        Source { snapshot, rows },
    ))
}
