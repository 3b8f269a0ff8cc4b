// SPDX-License-Identifier: Apache-2.0
//! What the commands that train (`train`, `eval`, `tune`) share: the fit, which checks each
//! training's memory estimate against `--max-memory-mb` before it allocates, and scoring a
//! fit on a holdout.

use recsys_core::models::Configured;
use recsys_core::offline::Holdout;
use recsys_core::{Changes, FitContext, Interactions, Registry, TrainedModel};
use recsys_eval::MetricSummary;
use serde_json::Value;

use crate::error::CliError;
use crate::progress::{self, Bars};

/// What the commands that train share: the algorithms, the progress bars and the memory
/// limit every fit is checked against.
pub struct Trainer<'a> {
    pub registry: Registry,
    pub bars: &'a Bars,
    /// `--max-memory-mb`.
    pub max_memory_mb: u64,
}

impl Trainer<'_> {
    /// Trains after checking the memory estimate against `--max-memory-mb`.
    pub fn fit(
        &self,
        configured: &Configured,
        data: &Interactions,
    ) -> Result<TrainedModel, CliError> {
        let need = recsys_core::budget::training_bytes(configured.params(), data);
        self.with_progress(configured, need, |ctx| {
            TrainedModel::fit(configured, data, ctx)
        })
    }

    /// Updates `previous` with `changes` (incremental training), after checking that the
    /// updated model fits in `--max-memory-mb` beside the previous one.
    pub fn update(
        &self,
        configured: &Configured,
        changes: &Changes,
        previous: &TrainedModel,
    ) -> Result<TrainedModel, CliError> {
        let need = recsys_core::budget::update_bytes(configured.params(), changes, previous);
        self.with_progress(configured, need, |ctx| {
            TrainedModel::update(configured, changes, previous, ctx)
        })
    }

    fn with_progress(
        &self,
        configured: &Configured,
        need: u64,
        train: impl FnOnce(&FitContext) -> recsys_core::Result<TrainedModel>,
    ) -> Result<TrainedModel, CliError> {
        let algorithm = configured.algorithm().name();
        recsys_core::budget::check(
            need,
            self.max_memory_mb,
            &format!("training {algorithm}"),
            "--max-memory-mb",
        )?;
        let bar = self.bars.training(algorithm);
        let on_progress = |p: recsys_core::Progress<'_>| {
            progress::update(&bar, p);
            Ok(())
        };
        let model = train(&FitContext {
            on_progress: &on_progress,
        });
        bar.finish_and_clear();
        Ok(model?)
    }
}

/// Trains on the holdout's train side and scores the test users' top `k`; returns the model,
/// the seconds recommending took and the metrics.
pub fn fit_and_score(
    t: &Trainer,
    configured: &Configured,
    prepared: &Holdout,
    k: usize,
    diversity: bool,
) -> Result<(TrainedModel, f64, MetricSummary), CliError> {
    let model = t.fit(configured, &prepared.train)?;
    let (lists, recommend_seconds) = prepared.recommend_test_users(&model, k)?;
    let metrics = prepared.score(&lists, k, diversity)?;
    Ok((model, recommend_seconds, metrics))
}

pub fn fit_seconds(model: &TrainedModel) -> f64 {
    model
        .manifest
        .metrics
        .get("fit_seconds")
        .and_then(Value::as_f64)
        .unwrap_or(0.0)
}
