// SPDX-License-Identifier: Apache-2.0
//! `recsys train`: fit one algorithm on an interaction file and save the model directory.

use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::Value;

use super::{parse_params, read, read_raw_input, InputArgs};
use crate::error::CliError;
use crate::heap;
use crate::trainer::Trainer;
use recsys_core::{Changes, Interactions, TrainedModel};

#[derive(Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// popularity, itemknn, als or ease.
    #[arg(long, short, default_value = "als")]
    pub algorithm: String,
    /// Parameters as a JSON object, e.g. '{"factors": 64}'.
    #[arg(long, short, default_value = "{}")]
    pub params: String,
    /// Model directory to write (manifest.json + blobs/).
    #[arg(long, short)]
    pub output: PathBuf,
    /// Train incrementally: update this model directory (same algorithm) with the users who
    /// have interactions newer than its latest, where the algorithm can (ALS, popularity),
    /// instead of training from scratch.
    #[arg(long, value_name = "DIR")]
    pub incremental_from: Option<PathBuf>,
}

const MIB: f64 = (1 << 20) as f64;

pub fn run(a: TrainArgs, t: &Trainer) -> Result<(), CliError> {
    let mut params = Value::Object(parse_params(&a.params)?);
    if recsys_core::take_incremental(&mut params)? && a.incremental_from.is_none() {
        return Err(CliError::Input(
            "\"incremental\" needs --incremental-from DIR, the model to start from".into(),
        ));
    }
    let configured = t.registry.configure(&a.algorithm, &params)?;
    let previous = match &a.incremental_from {
        Some(dir) => Some(TrainedModel::load_dir(&t.registry, dir)?),
        None => None,
    };
    if let Some(previous) = &previous {
        recsys_core::require_same_algorithm(previous.algorithm(), &configured)?;
    }
    // An algorithm that cannot update trains on everything, as without a previous model.
    let (model, read_mib) = match previous.filter(|_| configured.params().updates()) {
        Some(previous) => {
            let rows = read_raw_input(&a.input, t.bars)?;
            let changes = Changes::newer_than(&rows, &previous)?;
            drop(rows);
            let model = t.update(&configured, &changes, &previous)?;
            let data = [&changes.histories, &changes.seen];
            (
                model,
                data.map(mib_read)
                    .iter()
                    .fold([0.0; 2], |s, m| [s[0] + m[0], s[1] + m[1]]),
            )
        }
        None => {
            let data = read(&a.input, configured.params().reads_timestamps(), t.bars)?;
            let model = t.fit(&configured, &data)?;
            (model, mib_read(&data))
        }
    };
    let data = &model.manifest.data;
    let mut summary = serde_json::json!({
        "model": a.output,
        "algorithm": model.algorithm(),
        "params": model.manifest.params,
        "users": data.users,
        "items": data.items,
        "interactions": data.interactions,
        "fit_seconds": model.manifest.metrics.get("fit_seconds"),
        "incremental": model.manifest.metrics.get("incremental").unwrap_or(&false.into()),
        "data_mib": read_mib[0],
        "ids_mib": read_mib[1],
    });
    // Move the model into the files, so saving needs no second copy of it.
    model.into_dir(&a.output)?;
    summary["model_mib"] = (dir_bytes(&a.output) as f64 / MIB).into();
    summary["peak_heap_mib"] = (heap::peak_bytes() as f64 / MIB).into();
    if let Some(rss) = heap::peak_rss_bytes() {
        summary["peak_rss_mib"] = (rss as f64 / MIB).into();
    }
    println!("{summary}");
    Ok(())
}

/// MiB of the matrices and of the ids of data read.
fn mib_read(data: &Interactions) -> [f64; 2] {
    [
        data.matrix_bytes() as f64 / MIB,
        (data.users.heap_bytes() + data.items.heap_bytes()) as f64 / MIB,
    ]
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::fixtures::{input, quiet, scratch, write, DATA};
    use recsys_core::{Registry, UserQuery};

    fn train(dir: &Path, algorithm: &str, params: &str) -> Result<PathBuf, CliError> {
        train_from(dir, algorithm, params, None, algorithm)
    }

    fn train_from(
        dir: &Path,
        algorithm: &str,
        params: &str,
        incremental_from: Option<PathBuf>,
        name: &str,
    ) -> Result<PathBuf, CliError> {
        let bars = quiet();
        let trainer = Trainer {
            registry: Registry::builtin(),
            bars: &bars,
            max_memory_mb: 64,
        };
        let output = dir.join(name);
        run(
            TrainArgs {
                input: input(&write(dir, "data.tsv", DATA)),
                algorithm: algorithm.into(),
                params: params.into(),
                output: output.clone(),
                incremental_from,
            },
            &trainer,
        )?;
        Ok(output)
    }

    #[test]
    fn saves_a_model_that_loads_and_recommends() {
        let dir = scratch("train");
        let path = train(&dir, "popularity", "{}").expect("trains");
        let model = TrainedModel::load_dir(&Registry::builtin(), &path).expect("loads");
        assert_eq!(model.algorithm(), "popularity");
        assert_eq!(model.manifest.data.interactions, 11);
        assert_eq!(
            model.manifest.params,
            serde_json::json!({"half_life_days": null, "reference_time": null})
        );
        let top = model
            .recommend(&UserQuery::default(), 1, &[])
            .expect("recommends");
        assert_eq!(model.items.id(top.items[0].0), "a");
        std::fs::remove_dir_all(&dir).expect("clean up");
    }

    #[test]
    fn refuses_bad_parameters_before_writing() {
        let dir = scratch("train-refused");
        let e = train(&dir, "als", r#"{"factors": 0}"#).expect_err("refused");
        assert_eq!(e.exit_code(), 2, "{e}");
        let e = train(&dir, "als", "[1]").expect_err("refused");
        assert_eq!(e.exit_code(), 2, "{e}");
        assert!(!dir.join("als").exists());
        std::fs::remove_dir_all(&dir).expect("clean up");
    }

    #[test]
    fn trains_incrementally_from_a_model_directory() {
        let dir = scratch("train-incremental");
        let first = train(&dir, "als", r#"{"factors": 4}"#).expect("trains");
        let e = train(&dir, "als", r#"{"factors": 4, "incremental": true}"#).expect_err("no dir");
        assert_eq!(e.exit_code(), 2, "{e}");
        let next = train_from(
            &dir,
            "als",
            r#"{"factors": 4}"#,
            Some(first.clone()),
            "next",
        )
        .expect("trains from the first");
        let model = TrainedModel::load_dir(&Registry::builtin(), &next).expect("loads");
        assert_eq!(
            model.manifest.metrics["incremental"],
            serde_json::json!(true)
        );
        let e = train_from(&dir, "itemknn", "{}", Some(first), "knn").expect_err("other algorithm");
        assert_eq!(e.exit_code(), 2, "{e}");
        std::fs::remove_dir_all(&dir).expect("clean up");
    }
}
