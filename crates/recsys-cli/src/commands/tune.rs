// SPDX-License-Identifier: Apache-2.0
//! `recsys tune`: every combination of a parameter grid trained and scored on one split.

use std::path::PathBuf;

use clap::Args;
use recsys_core::offline::Holdout;
use serde_json::{Map, Value};

use super::{parse_params, read, write_file, InputArgs, SplitOptions};
use crate::error::CliError;
use crate::grid;
use crate::trainer::{fit_and_score, fit_seconds, Trainer};

#[derive(Args)]
pub struct TuneArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// The algorithm whose parameters to search.
    #[arg(long, short, default_value = "als")]
    pub algorithm: String,
    /// A parameter and the values to try, as NAME=V1,V2,…; repeatable; every combination is
    /// trained. Default: the algorithm's own grid (see the CLI reference).
    #[arg(long, short)]
    pub grid: Vec<String>,
    /// Parameters every candidate shares, as a JSON object; the grid's values override them.
    #[arg(long, short, default_value = "{}")]
    pub params: String,
    #[command(flatten)]
    pub split: SplitOptions,
    #[arg(long, short, default_value_t = 10)]
    pub k: usize,
    /// Write every candidate's parameters and metrics, best first, as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

pub fn run(a: TuneArgs, t: &Trainer) -> Result<(), CliError> {
    t.registry.get(&a.algorithm)?;
    recsys_core::rules::check_k(a.k)?;
    let axes = if a.grid.is_empty() {
        grid::default_grid(&a.algorithm)?
    } else {
        a.grid
            .iter()
            .map(|g| grid::parse_axis(g))
            .collect::<Result<_, _>>()?
    };
    let candidates = grid::candidates(&parse_params(&a.params)?, &axes)?;
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
        trials.push(grid::Trial {
            grid,
            fit_seconds: fit_seconds(&model),
            params: model.manifest.params.clone(),
            metrics,
        });
    }
    let mut outcome = grid::Outcome {
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
        write_file(path, text)?;
    }
    Ok(())
}
