// SPDX-License-Identifier: Apache-2.0
//! `recsys eval`: several algorithms trained and scored on one split, as a report.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use clap::Args;
use recsys_core::models::Configured;
use recsys_core::offline::Holdout;
use recsys_core::Registry;
use recsys_eval::baseline::Baseline;
use recsys_eval::{Report, ReportRow};
use serde_json::Value;

use super::{parse_params, read, write_file, InputArgs, SplitOptions};
use crate::error::CliError;
use crate::trainer::{fit_and_score, fit_seconds, Trainer};

#[derive(Args)]
pub struct EvalArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Algorithms to compare, comma separated.
    #[arg(
        long,
        short,
        value_delimiter = ',',
        default_value = "popularity,itemknn,als,ease"
    )]
    pub algorithms: Vec<String>,
    /// Parameters of one algorithm, as ALGORITHM=JSON; repeatable.
    #[arg(long = "params", short = 'p')]
    pub params: Vec<String>,
    #[command(flatten)]
    pub split: SplitOptions,
    #[arg(long, short, default_value_t = 10)]
    pub k: usize,
    /// Skip intra-list diversity (the slowest metric on large data).
    #[arg(long)]
    pub no_diversity: bool,
    /// Write a self-contained HTML report.
    #[arg(long)]
    pub html: Option<PathBuf>,
    /// Write a Markdown report.
    #[arg(long)]
    pub markdown: Option<PathBuf>,
    /// Write the report as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Hold the run to a baseline written by --save-baseline: exit 3 when an algorithm loses
    /// more than --max-drop of a ranking metric (precision, recall, NDCG, MAP, hit rate).
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// The share of a metric --baseline lets a run lose (0.01: 1 %).
    #[arg(long, default_value_t = 0.01)]
    pub max_drop: f64,
    /// Write this run's ranking metrics as a baseline (review it before committing).
    #[arg(long)]
    pub save_baseline: Option<PathBuf>,
}

pub fn run(a: EvalArgs, t: &Trainer) -> Result<(), CliError> {
    let configured = configure_each(&t.registry, &a.params, &a.algorithms)?;
    recsys_core::rules::check_k(a.k)?;
    let baseline = a.baseline.as_deref().map(read_baseline).transpose()?;
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
            write_file(path, text)?;
        }
    }
    if let Some(path) = &a.save_baseline {
        let text = serde_json::to_string_pretty(&Baseline::of(&report, a.k))
            .map_err(|e| CliError::Io(format!("cannot encode the baseline: {e}")))?;
        write_file(path, text + "\n")?;
    }
    match baseline {
        Some(baseline) => hold_to(&baseline, &report, a.k, a.max_drop),
        None => Ok(()),
    }
}

fn read_baseline(path: &Path) -> Result<Baseline, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Input(format!("cannot read {}: {e}", path.display())))?;
    serde_json::from_str(&text)
        .map_err(|e| CliError::Input(format!("{} is not a baseline: {e}", path.display())))
}

/// The gate: every metric that fell more than `max_drop` below the baseline, on standard
/// error, and [`CliError::Regression`] if there is any.
fn hold_to(baseline: &Baseline, report: &Report, k: usize, max_drop: f64) -> Result<(), CliError> {
    let regressions = baseline.regressions(report, k, max_drop)?;
    for r in &regressions {
        eprintln!(
            "regression: {} {}@{k} {:.4} -> {:.4} ({:.1} % lower; at most {:.1} % allowed)",
            r.algorithm,
            r.metric,
            r.baseline,
            r.current,
            100.0 * r.drop(),
            100.0 * max_drop
        );
    }
    if regressions.is_empty() {
        Ok(())
    } else {
        Err(CliError::Regression(regressions.len()))
    }
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
