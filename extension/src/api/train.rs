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
use recsys_core::models::Configured;
use recsys_core::{FitContext, Progress, TrainedModel};

use crate::error::{run, SqlError, SqlResult};
use crate::jsonb_text::JsonbText;
use crate::{cache, guc, privileged, run_progress, spi, tenant};

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

fn train_impl(
    model: Option<&str>,
    algorithm: Option<&str>,
    params: Option<JsonbText>,
    activate: Option<bool>,
    queued_run: Option<i64>,
) -> SqlResult<TrainRow> {
    let model = super::model_name(model)?;
    let algorithm = algorithm.ok_or_else(|| SqlError::null("algorithm"))?;
    let mut params = params
        .ok_or_else(|| SqlError::null("params"))?
        .parse("params")?;
    let activate = activate.ok_or_else(|| SqlError::null("activate"))?;
    if !params.is_object() {
        return Err(SqlError::invalid("params must be a JSON object")
            .hint("for example '{\"factors\": 64}'::jsonb"));
    }
    let incremental = recsys_core::take_incremental(&mut params)?;
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

    let fitting = Fitting {
        configured: &configured,
        tenant: &tenant,
        model,
        queued_run,
    };
    let previous = match incremental {
        true => incremental_start(&fitting)?,
        false => None,
    };
    let trained = match previous {
        Some((previous, source, held)) => match update(&fitting, &previous, &source, held)? {
            Some(trained) => trained,
            None => fit(&fitting, held)?,
        },
        None => fit(&fitting, 0)?,
    };
    let bytes = artifact_bytes(&trained)?;
    let seconds = started.elapsed().as_secs_f64();
    // The sealed manifest lists every blob with its checksum, so versions can be compared.
    let manifest = serde_json::to_value(recsys_core::artifact::Artifact::manifest_of(&bytes)?)
        .map_err(|e| SqlError::invalid(e.to_string()))?;
    let metrics = serde_json::Value::Object(trained.manifest.metrics.clone());
    let algorithm = trained.algorithm().to_string();
    let data = &trained.manifest.data;
    let (users, items, interactions) = (
        data.users as i64,
        data.items as i64,
        data.interactions as i64,
    );

    let stored = spi::Stored {
        tenant: &tenant,
        model,
        algorithm: &algorithm,
        params: &params,
        metrics: &metrics,
        manifest,
        artifact: &bytes,
        counts: [users, items, interactions],
        seconds,
        queued_run,
        activate,
    };
    let (run_id, version) = privileged::as_extension_owner(|| spi::store_version(&stored))?;
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

/// What every way of training here shares.
struct Fitting<'a> {
    configured: &'a Configured,
    tenant: &'a str,
    model: &'a str,
    queued_run: Option<i64>,
}

/// Reports rows loaded so far (`what` names them) once past a million, and lets a pending
/// cancel through.
fn loading_progress(what: &'static str) -> impl FnMut(u64) {
    move |n| {
        check_for_interrupts!();
        if n >= 1_000_000 {
            notice!("recsys: loaded {n} {what}");
        }
    }
}

/// Trains on all of the tenant's interactions, recording where they stood for the next
/// incremental training; `held` bytes (an active version in memory) are counted besides.
fn fit(f: &Fitting, held: u64) -> SqlResult<TrainedModel> {
    let (data, source) = spi::load_interactions(
        f.tenant,
        f.configured.params().reads_timestamps(),
        loading_progress("interactions"),
    )?;
    let Some(source) = source else {
        return Err(SqlError::no_data(format!("tenant \"{}\" has no interactions to train on", f.tenant))
            .hint("insert interactions first: INSERT INTO recsys.interactions (user_id, item_id) VALUES (...)"));
    };
    let algorithm = f.configured.algorithm().name();
    notice!(
        "recsys: training {algorithm} on {} interactions of {} users and {} items",
        data.nnz(),
        data.n_users(),
        data.n_items()
    );
    guc::check_training(f.configured, &data, held, &format!("training {algorithm}"))?;
    let mut trained = with_progress(f, |ctx| TrainedModel::fit(f.configured, &data, ctx))?;
    trained.manifest.data.source = Some(source.to_json());
    Ok(trained)
}

/// The active version an incremental training updates, what it read and the bytes it holds;
/// `None` (with a NOTICE why) when the training has to start from scratch.
fn incremental_start(
    f: &Fitting,
) -> SqlResult<Option<(std::rc::Rc<TrainedModel>, spi::Source, u64)>> {
    let (model, algorithm) = (f.model, f.configured.algorithm().name());
    let Some((id, bytes, active_algorithm)) = spi::active_version(f.tenant, model)? else {
        notice!(
            "recsys: model \"{model}\" has no active version to start from; training from scratch"
        );
        return Ok(None);
    };
    // Both refusals come before the version is read and decoded.
    recsys_core::require_same_algorithm(&active_algorithm, f.configured)?;
    if !f.configured.params().updates() {
        notice!("recsys: {algorithm} cannot train incrementally; training from scratch");
        return Ok(None);
    }
    // The stored bytes and the decoded model are both in memory for a moment.
    let held = (bytes as u64).saturating_mul(2);
    guc::check_memory(held, "reading the active version")?;
    let previous = cache::model(f.tenant, id)?;
    let Some(source) = spi::Source::from_json(previous.manifest.data.source.as_ref()) else {
        notice!("recsys: the active version of \"{model}\" does not record what it was trained on; training from scratch");
        return Ok(None);
    };
    Ok(Some((previous, source, held)))
}

/// Updates `previous` with what changed since `source`; `None` (with a NOTICE why) when the
/// changes cannot be told and the training has to start from scratch.
fn update(
    f: &Fitting,
    previous: &TrainedModel,
    source: &spi::Source,
    held: u64,
) -> SqlResult<Option<TrainedModel>> {
    let read = spi::read_changes(
        f.tenant,
        source,
        held,
        loading_progress("interactions of changed users"),
    )?;
    let (changes, now) = match read {
        spi::Read::Changes(changes, now) => (changes, now),
        spi::Read::Rewritten(then, kept) => {
            notice!(
                "recsys: {} of the {then} interactions the active version was trained on were deleted or updated since; training from scratch",
                then - kept.min(then)
            );
            return Ok(None);
        }
    };
    let algorithm = f.configured.algorithm().name();
    notice!(
        "recsys: training {algorithm} incrementally: {} users with new interactions ({} interactions in all)",
        changes.histories.n_users(),
        changes.histories.nnz()
    );
    let need = recsys_core::budget::update_bytes(f.configured.params(), &changes, previous);
    guc::check_memory(
        need.saturating_add(held),
        &format!("training {algorithm} incrementally"),
    )?;
    let mut trained = with_progress(f, |ctx| {
        TrainedModel::update(f.configured, &changes, previous, ctx)
    })?;
    trained.manifest.data.source = Some(now.to_json());
    Ok(Some(trained))
}

/// Trains, sending progress as NOTICEs (and to the queued run, which a cancel stops).
fn with_progress(
    f: &Fitting,
    train: impl FnOnce(&FitContext) -> recsys_core::Result<TrainedModel>,
) -> SqlResult<TrainedModel> {
    let (tenant, model, queued_run) = (f.tenant, f.model, f.queued_run);
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
                // A run stopped meanwhile (recsys.cancel_training, or failed by the sidecar's
                // time limit) stops here.
                let status = spi::run_status(tenant, model, id)
                    .map_err(|e| recsys_core::CoreError::InvalidInput(e.message))?;
                if matches!(status.as_deref(), Some("cancelled" | "failed")) {
                    return Err(recsys_core::CoreError::Cancelled);
                }
                // 1 is for the stored result, which only this transaction's commit shows.
                run_progress::publish(id, (decile as f32 / 10.0).min(0.95));
            }
        }
        Ok(())
    };
    Ok(train(&FitContext {
        on_progress: &on_progress,
    })?)
}

/// The model as one artifact, refused above `recsys.max_model_mb` (at most what one
/// PostgreSQL value holds).
fn artifact_bytes(trained: &TrainedModel) -> SqlResult<Vec<u8>> {
    let bytes = trained.to_bytes()?;
    let limit = guc::max_model_bytes();
    if bytes.len() > limit {
        return Err(SqlError::new(
            PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
            format!(
                "the trained model takes {:.1} MiB, more than recsys.max_model_mb ({} MiB)",
                bytes.len() as f64 / f64::from(1 << 20),
                limit >> 20
            ),
        )
        .hint("use fewer factors or neighbors, or, with ease, a smaller catalogue; a superuser may raise recsys.max_model_mb up to 1023"));
    }
    Ok(bytes)
}
