// SPDX-License-Identifier: BUSL-1.1
//! What a training and an evaluation leave behind: the model row, the run's result, the new
//! version, its activation and the audit row; the evaluation's row. Written at the end, in
//! the caller's transaction, so a cancel or an error leaves none of it.

use pgrx::prelude::*;
use pgrx::JsonB;

use crate::error::{SqlError, SqlResult};

/// A trained model as it is stored.
pub struct Stored<'a> {
    pub tenant: &'a str,
    pub model: &'a str,
    pub algorithm: &'a str,
    pub params: &'a serde_json::Value,
    pub metrics: &'a serde_json::Value,
    pub manifest: serde_json::Value,
    pub artifact: &'a [u8],
    /// Users, items and interactions of the training data.
    pub counts: [i64; 3],
    pub seconds: f64,
    pub queued_run: Option<i64>,
    pub activate: bool,
}

/// Writes the model row, the run's result, the new version, its activation and the audit row;
/// returns the run id and the version. Runs as the extension's owner.
pub fn store_version(s: &Stored<'_>) -> SqlResult<(i64, i32)> {
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
        // A run another session stopped meanwhile (cancel_training, the sidecar's time limit)
        // is no longer queued or running: the update finds no row and nothing is stored.
        let updated = client.update(run_sql, None, &run_values)?;
        let run_id: Option<i64> = if updated.is_empty() {
            None
        } else {
            updated.first().get_one()?
        };
        let run_id = run_id.ok_or_else(|| {
            SqlError::new(
                PgSqlErrorCode::ERRCODE_QUERY_CANCELED,
                "the training run was cancelled or failed while it trained; nothing was stored",
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

/// Records an evaluation; returns its id.
#[allow(clippy::too_many_arguments)] // one column each
pub fn record_eval(
    tenant: &str,
    model: &str,
    algorithm: &str,
    params: &serde_json::Value,
    split: serde_json::Value,
    k: i32,
    metrics: serde_json::Value,
    seconds: f64,
) -> SqlResult<i64> {
    Spi::connect_mut(|client| -> SqlResult<Option<i64>> {
        Ok(client
            .update(
                "INSERT INTO recsys.eval_runs (tenant_id, model, algorithm, params, split, k, metrics, seconds) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                None,
                &[
                    tenant.into(),
                    model.into(),
                    algorithm.into(),
                    JsonB(params.clone()).into(),
                    JsonB(split).into(),
                    k.into(),
                    JsonB(metrics).into(),
                    seconds.into(),
                ],
            )?
            .first()
            .get_one()?)
    })?
    .ok_or_else(|| SqlError::invalid("evaluation run was not recorded"))
}
