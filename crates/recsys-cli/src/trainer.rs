// SPDX-License-Identifier: Apache-2.0
//! What the commands that train (`train`, `eval`, `tune`) share: the fit, which checks each
//! training's memory estimate against `--max-memory-mb` before it allocates, and scoring a
//! fit on a holdout.

use recsys_core::models::Configured;
use recsys_core::offline::Holdout;
use recsys_core::{FitContext, Interactions, Registry, TrainedModel};
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
        self.fit_from(configured, data, None)
    }

    /// [`Trainer::fit`], starting from `previous` when given (incremental training).
    pub fn fit_from(
        &self,
        configured: &Configured,
        data: &Interactions,
        previous: Option<&TrainedModel>,
    ) -> Result<TrainedModel, CliError> {
        let algorithm = configured.algorithm().name();
        let need = recsys_core::budget::training_bytes(configured.params(), data);
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
        let model = TrainedModel::fit_from(
            configured,
            data,
            previous,
            &FitContext {
                on_progress: &on_progress,
            },
        );
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
