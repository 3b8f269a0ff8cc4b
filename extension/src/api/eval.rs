// SPDX-License-Identifier: BUSL-1.1
//! `recsys.eval`: offline evaluation of a model's algorithm and parameters on the tenant's
//! interactions, with the same split and metric code as the `recsys eval` CLI.

use std::time::Instant;

use pgrx::prelude::*;
use recsys_core::offline::Holdout;
use recsys_core::{FitContext, TrainedModel};
use recsys_eval::SplitStrategy;

use crate::error::{run, SqlError, SqlResult};
use crate::jsonb_text::JsonbText;
use crate::{cache, guc, spi, tenant};

type EvalRow = (
    i64,
    String,
    String,
    i32,
    i64,
    f64,
    f64,
    f64,
    f64,
    f64,
    f64,
    f64,
    f64,
);

/// Splits the tenant's interactions (`split`, default: 20 % of each user's items with at least
/// 5, seed 42), trains `model`'s algorithm and parameters on the train side, and scores the
/// top `k` against the test side. Stores and returns the metrics.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
#[allow(clippy::type_complexity)] // pgrx needs the named columns spelled out here
fn eval(
    model: Option<&str>,
    k: default!(Option<i32>, 10),
    split: default!(Option<JsonbText>, "'{}'"),
) -> TableIterator<
    'static,
    (
        name!(eval_id, i64),
        name!(model, String),
        name!(algorithm, String),
        name!(k, i32),
        name!(users, i64),
        name!(precision, f64),
        name!(recall, f64),
        name!(ndcg, f64),
        name!(map, f64),
        name!(hit_rate, f64),
        name!(coverage, f64),
        name!(novelty, f64),
        name!(seconds, f64),
    ),
> {
    TableIterator::once(run(|| eval_impl(model, k, split)))
}

fn strategy(split: Option<JsonbText>) -> SqlResult<SplitStrategy> {
    let split = split
        .ok_or_else(|| SqlError::null("split"))?
        .parse("split")?;
    match &split {
        serde_json::Value::Object(o) if o.is_empty() => Ok(SplitStrategy::default_protocol()),
        serde_json::Value::Object(_) => serde_json::from_value(split.clone()).map_err(|e| {
            SqlError::invalid(format!("invalid split: {e}")).hint(
                r#"for example '{"kind": "random_holdout", "test_fraction": 0.2, "min_user_items": 5, "seed": 42}', '{"kind": "leave_last_out", "min_user_items": 5}' or '{"kind": "time_cut", "cut": 1700000000}'"#,
            )
        }),
        _ => Err(SqlError::invalid("split must be a JSON object")),
    }
}

fn eval_impl(model: Option<&str>, k: Option<i32>, split: Option<JsonbText>) -> SqlResult<EvalRow> {
    let model = super::model_name(model)?;
    let k = super::k(k)?;
    let strategy = strategy(split)?;
    let tenant = tenant::require()?;
    tenant::require_primary("eval")?;
    let started = Instant::now();
    let (algorithm, params) = spi::model_definition(&tenant, model)?;
    let configured = cache::registry(|r| r.configure(&algorithm, &params))?;
    // Splits by time need the timestamps, and every split goes through the same events.
    let (data, _) = spi::load_interactions(&tenant, true, |_| {
        check_for_interrupts!();
    })?;
    if data.nnz() == 0 {
        return Err(SqlError::no_data(format!(
            "tenant \"{tenant}\" has no interactions to evaluate on"
        )));
    }
    let holdout = Holdout::split(&data, &strategy)?;
    // The split keeps the data and adds its two sides; then the fit on the train side.
    guc::check_training(
        &configured,
        &holdout.train,
        2 * data.matrix_bytes() as u64,
        &format!("evaluating {algorithm}"),
    )?;
    let on_progress = |_: recsys_core::Progress<'_>| {
        check_for_interrupts!();
        Ok(())
    };
    let trained = TrainedModel::fit(
        &configured,
        &holdout.train,
        &FitContext {
            on_progress: &on_progress,
        },
    )?;
    check_for_interrupts!();
    let (lists, _) = holdout.recommend_test_users(&trained, k)?;
    let m = holdout.score(&lists, k, true)?;
    let seconds = started.elapsed().as_secs_f64();
    let metrics = serde_json::to_value(&m).map_err(|e| SqlError::invalid(e.to_string()))?;
    let split_json =
        serde_json::to_value(&strategy).map_err(|e| SqlError::invalid(e.to_string()))?;
    let eval_id = spi::record_eval(
        &tenant,
        model,
        &algorithm,
        &trained.manifest.params,
        split_json,
        k as i32,
        metrics,
        seconds,
    )?;
    Ok((
        eval_id,
        model.to_string(),
        algorithm,
        k as i32,
        m.users as i64,
        m.precision,
        m.recall,
        m.ndcg,
        m.map,
        m.hit_rate,
        m.coverage,
        m.novelty,
        seconds,
    ))
}
