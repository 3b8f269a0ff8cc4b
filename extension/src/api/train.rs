// SPDX-License-Identifier: BUSL-1.1
//! `recsys.train`: load the tenant's interactions, fit, store a new model version.
//!
//! Everything is written at the end, in the caller's transaction: a cancel, a timeout or an
//! error leaves no version and no run behind. Progress goes out as NOTICEs while training.
//! The model's history (run result, version, activation, audit row) is written as the
//! extension's owner (`privileged`): no role can write it with plain SQL. One training per
//! model at a time: it holds a row lock on the model's row, in the tenant's own rows.
//!
//! A caller that trains in the background (the REST sidecar) first commits a `queued` run of
//! its own and passes its id as `run_id`: that row is then completed instead of a new one
//! inserted, and while the fit goes on its status and progress are published from outside
//! this transaction (see `run_progress`), so pollers see one run go from queued through
//! running to succeeded.

use std::cell::Cell;
use std::time::Instant;

use pgrx::prelude::*;
use pgrx::JsonB;
use recsys_core::{FitContext, Progress, TrainedModel};

use crate::error::{run, SqlError, SqlResult};
use crate::jsonb_text::JsonbText;
use crate::{cache, guc, privileged, run_progress, spi, tenant};

/// PostgreSQL's limit for one bytea value, minus headroom.
const MAX_ARTIFACT_BYTES: usize = (1 << 30) - (1 << 20);

type TrainRow = (i64, String, i32, String, String, i64, i64, i64, f64);

/// Trains `model` with `algorithm` and `params` on the caller's tenant and stores a new
/// version, activated unless `activate` is false.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
#[allow(clippy::type_complexity)] // pgrx needs the named columns spelled out here
fn train(
    model: Option<&str>,
    algorithm: default!(Option<&str>, "'als'"),
    params: default!(Option<JsonbText>, "'{}'"),
    activate: default!(Option<bool>, "true"),
    run_id: default!(Option<i64>, "NULL"),
) -> TableIterator<
    'static,
    (
        name!(run_id, i64),
        name!(model, String),
        name!(version, i32),
        name!(algorithm, String),
        name!(status, String),
        name!(users, i64),
        name!(items, i64),
        name!(interactions, i64),
        name!(seconds, f64),
    ),
> {
    let row = run(|| train_impl(model, algorithm, params, activate, run_id));
    TableIterator::once(row)
}

/// A trained model as it is stored.
struct Stored<'a> {
    tenant: &'a str,
    model: &'a str,
    algorithm: &'a str,
    params: &'a serde_json::Value,
    metrics: &'a serde_json::Value,
    manifest: serde_json::Value,
    artifact: &'a [u8],
    /// Users, items and interactions of the training data.
    counts: [i64; 3],
    seconds: f64,
    queued_run: Option<i64>,
    activate: bool,
}

fn train_impl(
    model: Option<&str>,
    algorithm: Option<&str>,
    params: Option<JsonbText>,
    activate: Option<bool>,
    queued_run: Option<i64>,
) -> SqlResult<TrainRow> {
    let model = super::model_name(model)?;
    let algorithm = algorithm.ok_or_else(|| SqlError::null("algorithm"))?;
    let params = params
        .ok_or_else(|| SqlError::null("params"))?
        .parse("params")?;
    let activate = activate.ok_or_else(|| SqlError::null("activate"))?;
    if !params.is_object() {
        return Err(SqlError::invalid("params must be a JSON object")
            .hint("for example '{\"factors\": 64}'::jsonb"));
    }
    // Checked once: the parameters with defaults, what the fit reads and needs, the fit.
    let configured = cache::registry(|r| r.configure(algorithm, &params))?;
    let params = configured.params().to_json();
    let tenant = tenant::require()?;
    tenant::require_primary("train")?;
    let started = Instant::now();

    if !spi::lock_model(&tenant, model, algorithm, &params)? {
        return Err(SqlError::new(
            PgSqlErrorCode::ERRCODE_OBJECT_IN_USE,
            format!("model \"{model}\" is being trained by another session"),
        )
        .hint("wait for that training to finish, then retry"));
    }
    if let Some(id) = queued_run {
        spi::require_queued_run(&tenant, model, id)?;
    }
    let abandoned = spi::fail_abandoned_runs(&tenant, model, queued_run)?;
    if abandoned > 0 {
        notice!("recsys: marked {abandoned} abandoned run(s) of model \"{model}\" failed");
    }

    let data = spi::load_interactions(&tenant, configured.params().reads_timestamps(), |n| {
        check_for_interrupts!();
        if n >= 1_000_000 {
            notice!("recsys: loaded {n} interactions");
        }
    })?;
    if data.nnz() == 0 {
        return Err(SqlError::no_data(format!("tenant \"{tenant}\" has no interactions to train on"))
            .hint("insert interactions first: INSERT INTO recsys.interactions (user_id, item_id) VALUES (...)"));
    }
    notice!(
        "recsys: training {algorithm} on {} interactions of {} users and {} items",
        data.nnz(),
        data.n_users(),
        data.n_items()
    );

    guc::check_training(&configured, &data, 0, &format!("training {algorithm}"))?;

    if let Some(id) = queued_run {
        run_progress::publish(id, 0.0);
    }
    let last_decile = Cell::new(0u64);
    let on_progress = |p: Progress<'_>| {
        // Runs on this backend's thread between units of work (never on a worker thread), so
        // a pending cancel or statement_timeout is raised here.
        check_for_interrupts!();
        let decile = p.done * 10 / p.total.max(1);
        if decile > last_decile.get() {
            last_decile.set(decile);
            notice!("recsys: {} {}%", p.stage, decile * 10);
            if let Some(id) = queued_run {
                // A run cancelled meanwhile (recsys.cancel_training) stops here.
                let status = spi::run_status(&tenant, model, id)
                    .map_err(|e| recsys_core::CoreError::InvalidInput(e.message))?;
                if status.as_deref() == Some("cancelled") {
                    return Err(recsys_core::CoreError::Cancelled);
                }
                // 1 is for the stored result, which only this transaction's commit shows.
                run_progress::publish(id, (decile as f32 / 10.0).min(0.95));
            }
        }
        Ok(())
    };
    let trained = TrainedModel::fit(
        &configured,
        &data,
        &FitContext {
            on_progress: &on_progress,
        },
    )?;
    let bytes = trained.to_bytes()?;
    if bytes.len() > MAX_ARTIFACT_BYTES {
        return Err(SqlError::new(
            PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
            format!(
                "the trained model takes {} MiB, more than a PostgreSQL value can hold (1 GiB)",
                bytes.len() >> 20
            ),
        )
        .hint("use fewer factors or neighbors, or, with ease, a smaller catalogue"));
    }
    let seconds = started.elapsed().as_secs_f64();
    // The sealed manifest lists every blob with its checksum, so versions can be compared.
    let manifest = serde_json::to_value(recsys_core::artifact::Artifact::manifest_of(&bytes)?)
        .map_err(|e| SqlError::invalid(e.to_string()))?;
    let metrics = serde_json::Value::Object(trained.manifest.metrics.clone());
    let params_json = trained.manifest.params.clone();
    let algorithm = trained.algorithm().to_string();
    let (users, items, interactions) = (
        data.n_users() as i64,
        data.n_items() as i64,
        data.nnz() as i64,
    );

    let stored = Stored {
        tenant: &tenant,
        model,
        algorithm: &algorithm,
        params: &params_json,
        metrics: &metrics,
        manifest,
        artifact: &bytes,
        counts: [users, items, interactions],
        seconds,
        queued_run,
        activate,
    };
    let (run_id, version) = privileged::as_extension_owner(|| store(&stored))?;
    notice!("recsys: stored {model} version {version} in {seconds:.2} s");
    Ok((
        run_id,
        model.to_string(),
        version,
        algorithm,
        "succeeded".to_string(),
        users,
        items,
        interactions,
        seconds,
    ))
}

/// Writes the model row, the run's result, the new version, its activation and the audit row;
/// returns the run id and the version. Runs as the extension's owner.
fn store(s: &Stored<'_>) -> SqlResult<(i64, i32)> {
    let [users, items, interactions] = s.counts;
    Spi::connect_mut(|client| -> SqlResult<(i64, i32)> {
        client.update(
            "INSERT INTO recsys.models (tenant_id, name, algorithm, params) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id, name) DO UPDATE SET algorithm = EXCLUDED.algorithm, params = EXCLUDED.params",
            None,
            &[s.tenant.into(), s.model.into(), s.algorithm.into(), JsonB(s.params.clone()).into()],
        )?;
        let version: i32 = client
            .select(
                "SELECT coalesce(max(version), 0) + 1 FROM recsys.model_versions \
                 WHERE tenant_id OPERATOR(pg_catalog.=) $1 AND model = $2",
                None,
                &[s.tenant.into(), s.model.into()],
            )?
            .first()
            .get_one()?
            .unwrap_or(1);
        let run_values = [
            s.tenant.into(),
            s.model.into(),
            s.algorithm.into(),
            JsonB(s.params.clone()).into(),
            version.into(),
            users.into(),
            items.into(),
            interactions.into(),
            JsonB(s.metrics.clone()).into(),
            s.seconds.into(),
            s.queued_run.into(),
            s.activate.into(),
        ];
        let run_sql = if s.queued_run.is_some() {
            "UPDATE recsys.training_runs SET algorithm = $3, params = $4, status = 'succeeded', \
               progress = 1, version = $5, users = $6, items = $7, interactions = $8, metrics = $9, \
               finished_at = clock_timestamp(), seconds = $10, activate = $12 \
             WHERE id = $11 AND tenant_id OPERATOR(pg_catalog.=) $1 AND model = $2 \
               AND status IN ('queued', 'running') \
             RETURNING id"
        } else {
            "INSERT INTO recsys.training_runs \
               (tenant_id, model, algorithm, params, status, progress, version, users, items, interactions, \
                metrics, finished_at, seconds, started_at, activate) \
             VALUES ($1, $2, $3, $4, 'succeeded', 1, $5, $6, $7, $8, $9, clock_timestamp(), $10, \
                    clock_timestamp() - make_interval(secs => $10), $12) \
             RETURNING id"
        };
        let run_id: i64 = client
            .update(run_sql, None, &run_values)?
            .first()
            .get_one()?
            .ok_or_else(|| {
                SqlError::new(
                    PgSqlErrorCode::ERRCODE_QUERY_CANCELED,
                    "the training run was cancelled while it trained; nothing was stored",
                )
            })?;
        client.update(
            "INSERT INTO recsys.model_versions \
               (tenant_id, model, version, algorithm, params, manifest, artifact, training_run_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            None,
            &[
                s.tenant.into(),
                s.model.into(),
                version.into(),
                s.algorithm.into(),
                JsonB(s.params.clone()).into(),
                JsonB(s.manifest.clone()).into(),
                s.artifact.into(),
                run_id.into(),
            ],
        )?;
        if s.activate {
            client.update(
                "UPDATE recsys.models SET active_version = $3 \
                 WHERE tenant_id OPERATOR(pg_catalog.=) $1 AND name = $2",
                None,
                &[s.tenant.into(), s.model.into(), version.into()],
            )?;
        }
        client.update(
            "INSERT INTO recsys.audit_log (tenant_id, action, object, details) VALUES ($1, 'train', $2, $3)",
            None,
            &[
                s.tenant.into(),
                s.model.into(),
                JsonB(serde_json::json!({"version": version, "run_id": run_id, "activated": s.activate}))
                    .into(),
            ],
        )?;
        Ok((run_id, version))
    })
}
