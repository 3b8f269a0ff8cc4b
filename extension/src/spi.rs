// SPDX-License-Identifier: BUSL-1.1
//! Every query the extension runs, with bound parameters only. Each query also filters by
//! the resolved tenant explicitly, so superusers and BYPASSRLS roles (which skip row-level
//! security) still see one tenant.

use pgrx::prelude::*;
use pgrx::JsonB;
use recsys_core::{Interactions, RawInteraction};

use crate::error::{SqlError, SqlResult};

/// Rows fetched per cursor round trip while loading interactions.
const BATCH: i64 = 50_000;

fn required<T>(value: Option<T>, column: &str) -> SqlResult<T> {
    value.ok_or_else(|| {
        SqlError::new(
            PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            format!("unexpected null in {column}"),
        )
    })
}

/// One value from a read-only query. `Spi::get_one*` run queries in read-write mode, which
/// assigns a transaction id and so fails on a hot standby; everything that only reads uses this.
pub fn select_one<T: FromDatum + IntoDatum>(
    query: &str,
    args: &[pgrx::datum::DatumWithOid<'_>],
) -> SqlResult<Option<T>> {
    Spi::connect(|client| {
        let table = client.select(query, Some(1), args)?;
        if table.is_empty() {
            return Ok(None);
        }
        Ok(table.first().get_one::<T>()?)
    })
}

/// All interactions of `tenant`, calling `progress(rows so far)` after each batch.
pub fn load_interactions(tenant: &str, mut progress: impl FnMut(u64)) -> SqlResult<Interactions> {
    let raw = Spi::connect(|client| -> SqlResult<Vec<RawInteraction>> {
        let mut cursor = client.try_open_cursor(
            "SELECT user_id::text, item_id::text, weight, extract(epoch FROM occurred_at)::bigint \
             FROM recsys.interactions WHERE tenant_id = $1",
            &[tenant.into()],
        )?;
        let mut out = Vec::new();
        loop {
            let table = cursor.fetch(BATCH)?;
            if table.is_empty() {
                break;
            }
            for row in table {
                out.push(RawInteraction {
                    user: required(row.get::<String>(1)?, "user_id")?,
                    item: required(row.get::<String>(2)?, "item_id")?,
                    weight: required(row.get::<f32>(3)?, "weight")?,
                    timestamp: required(row.get::<i64>(4)?, "occurred_at")?,
                });
            }
            progress(out.len() as u64);
        }
        Ok(out)
    })?;
    Ok(Interactions::from_raw(raw)?)
}

/// The serving version of a model: the named one, or the tenant's most recently trained model
/// with an active version.
pub struct ActiveVersion {
    pub id: i64,
}

pub fn active_version(tenant: &str, model: Option<&str>) -> SqlResult<ActiveVersion> {
    let found = Spi::connect(|client| -> SqlResult<Option<ActiveVersion>> {
        let mut rows = client.select(
            "SELECT v.id FROM recsys.models m \
             JOIN recsys.model_versions v \
               ON v.tenant_id = m.tenant_id AND v.model = m.name AND v.version = m.active_version \
             WHERE m.tenant_id = $1 AND ($2::text IS NULL OR m.name = $2) \
             ORDER BY v.created_at DESC, v.id DESC LIMIT 1",
            None,
            &[tenant.into(), model.into()],
        )?;
        match rows.next() {
            None => Ok(None),
            Some(row) => Ok(Some(ActiveVersion {
                id: required(row.get::<i64>(1)?, "id")?,
            })),
        }
    })?;
    found.ok_or_else(|| match model {
        Some(m) => SqlError::no_data(format!(
            "model \"{m}\" does not exist or has no active version"
        ))
        .hint(format!("train it first: SELECT * FROM recsys.train('{m}')")),
        None => SqlError::no_data("this tenant has no trained model")
            .hint("train one first: SELECT * FROM recsys.train('default')"),
    })
}

pub fn artifact(version_id: i64) -> SqlResult<Vec<u8>> {
    let bytes: Option<Vec<u8>> = select_one(
        "SELECT artifact FROM recsys.model_versions WHERE id = $1",
        &[version_id.into()],
    )?;
    bytes.ok_or_else(|| SqlError::no_data("the model version was deleted while in use"))
}

/// A user's items with summed weights.
pub fn history(tenant: &str, user: &str) -> SqlResult<Vec<(String, f32)>> {
    Spi::connect(|client| {
        let rows = client.select(
            "SELECT item_id::text, sum(weight)::real FROM recsys.interactions \
             WHERE tenant_id = $1 AND user_id = $2 GROUP BY item_id",
            None,
            &[tenant.into(), user.into()],
        )?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push((
                required(row.get::<String>(1)?, "item_id")?,
                required(row.get::<f32>(2)?, "weight")?,
            ));
        }
        Ok(out)
    })
}

pub fn unavailable_items(tenant: &str) -> SqlResult<Vec<String>> {
    Spi::connect(|client| {
        let rows = client.select(
            "SELECT item_id::text FROM recsys.items WHERE tenant_id = $1 AND NOT available",
            None,
            &[tenant.into()],
        )?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push(required(row.get::<String>(1)?, "item_id")?);
        }
        Ok(out)
    })
}

/// The algorithm and parameters of a model's active version: what `recsys.eval` re-trains.
pub fn model_definition(tenant: &str, model: &str) -> SqlResult<(String, serde_json::Value)> {
    let found = Spi::connect(|client| -> SqlResult<(Option<String>, Option<JsonB>)> {
        let table = client.select(
            "SELECT v.algorithm, v.params FROM recsys.models m \
             JOIN recsys.model_versions v \
               ON v.tenant_id = m.tenant_id AND v.model = m.name AND v.version = m.active_version \
             WHERE m.tenant_id = $1 AND m.name = $2",
            Some(1),
            &[tenant.into(), model.into()],
        )?;
        if table.is_empty() {
            return Ok((None, None));
        }
        Ok(table.first().get_two::<String, JsonB>()?)
    })?;
    let (algorithm, params) = found;
    match (algorithm, params) {
        (Some(a), Some(p)) => Ok((a, p.0)),
        _ => Err(
            SqlError::no_data(format!("model \"{model}\" does not exist")).hint(format!(
                "train it first: SELECT * FROM recsys.train('{model}')"
            )),
        ),
    }
}
