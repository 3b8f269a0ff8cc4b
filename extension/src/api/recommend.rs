// SPDX-License-Identifier: BUSL-1.1
//! `recsys.recommend` and `recsys.similar_items`: read-only, so they also run on a hot
//! standby. Models come from the per-backend cache.

use pgrx::prelude::*;
use recsys_core::UserQuery;

use crate::error::{run, SqlResult};
use crate::{cache, spi};

type RecommendRow = (String, f32, i32, bool);
type SimilarRow = (String, f32, i32);

/// The top `k` items for `user_id` from `model` (default: the tenant's latest trained model).
/// Items the user has interacted with are excluded unless `exclude_seen` is false; unavailable
/// items are always excluded. A user the model cannot score gets popular items, with
/// `fallback` true.
#[pg_extern(stable, parallel_restricted)]
#[search_path(pg_catalog, pg_temp)]
fn recommend(
    fcinfo: pg_sys::FunctionCallInfo,
    user_id: Option<&str>,
    k: default!(Option<i32>, 10),
    model: default!(Option<&str>, "NULL"),
    exclude_seen: default!(Option<bool>, "true"),
) -> TableIterator<
    'static,
    (
        name!(item_id, String),
        name!(score, f32),
        name!(rank, i32),
        name!(fallback, bool),
    ),
> {
    let function = called_function(fcinfo);
    TableIterator::new(run(|| {
        recommend_impl(function, user_id, k, model, exclude_seen)
    }))
}

/// The oid of the SQL function being called.
fn called_function(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Oid {
    // SAFETY: PostgreSQL passes a valid call info with its function's lookup data.
    unsafe { (*(*fcinfo).flinfo).fn_oid }
}

fn recommend_impl(
    function: pg_sys::Oid,
    user_id: Option<&str>,
    k: Option<i32>,
    model: Option<&str>,
    exclude_seen: Option<bool>,
) -> SqlResult<Vec<RecommendRow>> {
    let user_id = super::external_id("user_id", user_id)?;
    let k = super::k(k)?;
    let model = super::optional_model_name(model)?;
    let exclude_seen = exclude_seen.ok_or_else(|| crate::error::SqlError::null("exclude_seen"))?;
    let (tenant, version) = spi::serving_version(model, function)?;
    let trained = cache::model(&tenant, version)?;
    let context = spi::user_context(&tenant, user_id)?;
    let history: Vec<(u32, f32)> = context
        .history
        .into_iter()
        .filter_map(|(item, w)| trained.items.get(&item).map(|i| (i, w)))
        .collect();
    let mut exclude: Vec<u32> = context
        .unavailable
        .iter()
        .filter_map(|item| trained.items.get(item))
        .collect();
    if exclude_seen {
        exclude.extend(history.iter().map(|&(i, _)| i));
    }
    let query = UserQuery {
        user: trained.users.get(user_id),
        history,
    };
    let recs = trained.recommend(&query, k, &exclude)?;
    Ok(recs
        .items
        .into_iter()
        .enumerate()
        .map(|(rank, (item, score))| {
            (
                trained.items.id(item).to_string(),
                score,
                rank as i32 + 1,
                recs.fallback,
            )
        })
        .collect())
}

/// The `k` items most similar to `item_id` according to `model`. Empty when the item is not
/// in the model or the model has no notion of similarity (popularity).
#[pg_extern(stable, parallel_restricted)]
#[search_path(pg_catalog, pg_temp)]
fn similar_items(
    fcinfo: pg_sys::FunctionCallInfo,
    item_id: Option<&str>,
    k: default!(Option<i32>, 10),
    model: default!(Option<&str>, "NULL"),
) -> TableIterator<'static, (name!(item_id, String), name!(score, f32), name!(rank, i32))> {
    let function = called_function(fcinfo);
    TableIterator::new(run(|| similar_impl(function, item_id, k, model)))
}

fn similar_impl(
    function: pg_sys::Oid,
    item_id: Option<&str>,
    k: Option<i32>,
    model: Option<&str>,
) -> SqlResult<Vec<SimilarRow>> {
    let item_id = super::external_id("item_id", item_id)?;
    let k = super::k(k)?;
    let model = super::optional_model_name(model)?;
    let (tenant, version) = spi::serving_version(model, function)?;
    let trained = cache::model(&tenant, version)?;
    let Some(item) = trained.items.get(item_id) else {
        return Ok(Vec::new());
    };
    let unavailable: std::collections::HashSet<u32> = spi::unavailable_items(&tenant)?
        .iter()
        .filter_map(|i| trained.items.get(i))
        .collect();
    let want = (k + unavailable.len()).min(recsys_core::rules::MAX_K);
    let similar = trained.similar_items(item, want)?.unwrap_or_default();
    Ok(similar
        .into_iter()
        .filter(|(i, _)| !unavailable.contains(i))
        .take(k)
        .enumerate()
        .map(|(rank, (i, score))| (trained.items.id(i).to_string(), score, rank as i32 + 1))
        .collect())
}
