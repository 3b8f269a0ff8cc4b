// SPDX-License-Identifier: Apache-2.0
//! The commands that train: `train` (saves a model), `eval` (compares algorithms on one
//! split) and `tune` (searches one algorithm's grid), and the fit they share, which checks
//! each training's memory estimate against `--max-memory-mb` before it allocates.

use std::collections::HashMap;
use std::path::Path;

use recsys_core::models::Configured;
use recsys_core::offline::Holdout;
use recsys_core::{FitContext, Interactions, Registry, TrainedModel};
use recsys_eval::{MetricSummary, Report, ReportRow};
use serde_json::{Map, Value};

use super::{parse_params, read, EvalArgs, TrainArgs, TuneArgs};
use crate::error::CliError;
use crate::progress::{self, Bars};
use crate::{heap, tune};

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
    fn fit(&self, configured: &Configured, data: &Interactions) -> Result<TrainedModel, CliError> {
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
        let model = TrainedModel::fit(
            configured,
            data,
            &FitContext {
                on_progress: &on_progress,
            },
        );
        bar.finish_and_clear();
        Ok(model?)
    }
}

const MIB: f64 = (1 << 20) as f64;

pub fn train(a: TrainArgs, t: &Trainer) -> Result<(), CliError> {
    let configured = t
        .registry
        .configure(&a.algorithm, &Value::Object(parse_params(&a.params)?))?;
    let data = read(&a.input, configured.params().reads_timestamps(), t.bars)?;
    let model = t.fit(&configured, &data)?;
    let mut summary = serde_json::json!({
        "model": a.output,
        "algorithm": model.algorithm(),
        "params": model.manifest.params,
        "users": data.n_users(),
        "items": data.n_items(),
        "interactions": data.nnz(),
        "fit_seconds": model.manifest.metrics.get("fit_seconds"),
        "data_mib": data.matrix_bytes() as f64 / MIB,
        "ids_mib": (data.users.heap_bytes() + data.items.heap_bytes()) as f64 / MIB,
    });
    // Done with the data and the model: free the one and move the other into the files, so
    // saving needs no second copy of either.
    drop(data);
    model.into_dir(&a.output)?;
    summary["model_mib"] = (dir_bytes(&a.output) as f64 / MIB).into();
    summary["peak_heap_mib"] = (heap::peak_bytes() as f64 / MIB).into();
    if let Some(rss) = heap::peak_rss_bytes() {
        summary["peak_rss_mib"] = (rss as f64 / MIB).into();
    }
    println!("{summary}");
    Ok(())
}

/// Total size of the regular files under `dir`.
fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Each of `algorithms` with its `--params` (defaults where it has none), checked.
fn configure_each(
    registry: &Registry,
    pairs: &[String],
    algorithms: &[String],
) -> Result<Vec<Configured>, CliError> {
    let mut out = HashMap::new();
    for pair in pairs {
        let (name, json) = pair.split_once('=').ok_or_else(|| {
            CliError::Input(format!(
                "--params \"{pair}\" must look like als='{{\"factors\": 32}}'"
            ))
        })?;
        if !algorithms.iter().any(|a| a == name) {
            return Err(CliError::Input(format!(
                "--params for \"{name}\", which is not in --algorithms"
            )));
        }
        out.insert(name, Value::Object(parse_params(json)?));
    }
    algorithms
        .iter()
        .map(|name| {
            let params = out.get(name.as_str()).unwrap_or(&Value::Null);
            Ok(registry.configure(name, params)?)
        })
        .collect()
}

pub fn eval(a: EvalArgs, t: &Trainer) -> Result<(), CliError> {
    let configured = configure_each(&t.registry, &a.params, &a.algorithms)?;
    recsys_core::rules::check_k(a.k)?;
    let strategy = a.split.strategy()?;
    let prepared = Holdout::split(&read(&a.input, true, t.bars)?, &strategy)?;
    let mut rows = Vec::new();
    for c in &configured {
        let (model, recommend_seconds, metrics) =
            fit_and_score(t, c, &prepared, a.k, !a.no_diversity)?;
        rows.push(ReportRow {
            algorithm: c.algorithm().name().to_string(),
            params: model.manifest.params.clone(),
            fit_seconds: fit_seconds(&model),
            recommend_seconds,
            metrics,
        });
    }
    let report = Report {
        title: "recsys evaluation".into(),
        dataset: a.input.input.display().to_string(),
        split: strategy.describe(),
        train_events: prepared.train_events.len(),
        test_events: prepared.test_events.len(),
        rows,
    };
    print!("{}", report.to_markdown());
    for (path, text) in [
        (&a.html, report.to_html()),
        (&a.markdown, report.to_markdown()),
        (&a.json, report.to_json()),
    ] {
        if let Some(path) = path {
            std::fs::write(path, text)
                .map_err(|e| CliError::io(&format!("cannot write {}", path.display()), e))?;
        }
    }
    Ok(())
}

/// Trains on the holdout's train side and scores the test users' top `k`; returns the model,
/// the seconds recommending took and the metrics.
fn fit_and_score(
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

fn fit_seconds(model: &TrainedModel) -> f64 {
    model
        .manifest
        .metrics
        .get("fit_seconds")
        .and_then(Value::as_f64)
        .unwrap_or(0.0)
}

pub fn tune(a: TuneArgs, t: &Trainer) -> Result<(), CliError> {
    t.registry.get(&a.algorithm)?;
    recsys_core::rules::check_k(a.k)?;
    let axes = if a.grid.is_empty() {
        tune::default_grid(&a.algorithm)?
    } else {
        a.grid
            .iter()
            .map(|g| tune::parse_axis(g))
            .collect::<Result<_, _>>()?
    };
    let candidates = tune::candidates(&parse_params(&a.params)?, &axes)?;
    // Every candidate is checked before the first is trained, so a bad value fails at once.
    let configured = candidates
        .iter()
        .map(|c| t.registry.configure(&a.algorithm, c))
        .collect::<Result<Vec<_>, _>>()?;
    let strategy = a.split.strategy()?;
    let prepared = Holdout::split(&read(&a.input, true, t.bars)?, &strategy)?;
    let popularity = t.registry.configure("popularity", &Value::Null)?;
    let (_, _, baseline) = fit_and_score(t, &popularity, &prepared, a.k, false)?;
    let total = candidates.len();
    let mut trials = Vec::with_capacity(total);
    for (n, (params, configured)) in candidates.iter().zip(&configured).enumerate() {
        let grid: Map<String, Value> = axes
            .iter()
            .map(|x| (x.name.clone(), params[&x.name].clone()))
            .collect();
        if !t.bars.is_quiet() {
            eprintln!(
                "[{}/{total}] {} {}",
                n + 1,
                a.algorithm,
                Value::Object(grid.clone())
            );
        }
        let (model, _, metrics) = fit_and_score(t, configured, &prepared, a.k, false)?;
        trials.push(tune::Trial {
            grid,
            fit_seconds: fit_seconds(&model),
            params: model.manifest.params.clone(),
            metrics,
        });
    }
    let mut outcome = tune::Outcome {
        algorithm: a.algorithm.clone(),
        dataset: a.input.input.display().to_string(),
        split: strategy.describe(),
        train_events: prepared.train_events.len(),
        test_events: prepared.test_events.len(),
        k: a.k,
        baseline,
        trials,
    };
    outcome.rank();
    print!("{}", outcome.to_markdown(&axes));
    if let Some(path) = &a.json {
        let text = serde_json::to_string_pretty(&outcome)
            .map_err(|e| CliError::Io(format!("cannot encode the results: {e}")))?;
        std::fs::write(path, text)
            .map_err(|e| CliError::io(&format!("cannot write {}", path.display()), e))?;
    }
    Ok(())
}
