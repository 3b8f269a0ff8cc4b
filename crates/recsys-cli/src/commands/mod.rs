// SPDX-License-Identifier: Apache-2.0
//! One module per subcommand, cargo-style: each holds its arguments and its `run`. What
//! several share lives here: the input file's arguments, the split options and the readers.

pub mod algorithms;
pub mod eval;
#[cfg(test)]
mod fixtures;
pub mod generate;
pub mod recommend;
pub mod score;
pub mod split;
pub mod train;
pub mod tune;

use std::collections::HashSet;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use recsys_core::{Interactions, RawInteraction};
use recsys_eval::SplitStrategy;
use serde_json::{Map, Value};

use crate::error::CliError;
use crate::input::{read_interactions, read_raw, read_rows, Columns};
use crate::progress::Bars;

#[derive(Args)]
pub struct InputArgs {
    /// Interactions: CSV or TSV with a header naming user and item columns, optionally weight and timestamp.
    #[arg(long, short)]
    pub input: PathBuf,
    /// Column to use as weight (default: a column named "weight" if present, otherwise 1).
    #[arg(long)]
    pub weight_column: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum SplitKind {
    /// Per user, hold out a random share of items.
    Random,
    /// Per user, hold out the latest item.
    Last,
    /// Everything at or after --cut is test.
    Time,
}

#[derive(Args)]
pub struct SplitOptions {
    #[arg(long, value_enum, default_value = "random")]
    pub split: SplitKind,
    /// Share of each user's items held out (random split).
    #[arg(long, default_value_t = 0.2)]
    pub test_fraction: f64,
    /// Users with fewer distinct items stay wholly in train.
    #[arg(long, default_value_t = 5)]
    pub min_user_items: usize,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Unix time of the cut (time split).
    #[arg(long)]
    pub cut: Option<i64>,
}

impl SplitOptions {
    pub fn strategy(&self) -> Result<SplitStrategy, CliError> {
        Ok(match self.split {
            SplitKind::Random => SplitStrategy::RandomHoldout {
                test_fraction: self.test_fraction,
                min_user_items: self.min_user_items,
                seed: self.seed,
            },
            SplitKind::Last => SplitStrategy::LeaveLastOut {
                min_user_items: self.min_user_items,
            },
            SplitKind::Time => SplitStrategy::TimeCut {
                cut: self.cut.ok_or_else(|| {
                    CliError::Input("--split time needs --cut <unix seconds>".into())
                })?,
            },
        })
    }
}

/// Reads the input file; `timestamps` keeps one per interaction (splits and time-aware
/// algorithms need them), otherwise only their range.
pub fn read(args: &InputArgs, timestamps: bool, bars: &Bars) -> Result<Interactions, CliError> {
    let bar = bars.reading(&args.input.display().to_string());
    let data = read_interactions(&args.input, &columns(args), timestamps, |n| {
        bar.set_position(n)
    });
    bar.finish_and_clear();
    data
}

/// Every row of the input file, with the input's columns.
pub fn read_raw_input(args: &InputArgs, bars: &Bars) -> Result<Vec<RawInteraction>, CliError> {
    read_raw_with_bar(&args.input, &columns(args), bars)
}

pub fn read_path(path: &Path, bars: &Bars) -> Result<Vec<RawInteraction>, CliError> {
    read_raw_with_bar(path, &Columns::default(), bars)
}

fn columns(args: &InputArgs) -> Columns {
    Columns {
        weight: args.weight_column.clone(),
    }
}

fn read_raw_with_bar(
    path: &Path,
    columns: &Columns,
    bars: &Bars,
) -> Result<Vec<RawInteraction>, CliError> {
    let bar = bars.reading(&path.display().to_string());
    let rows = read_raw(path, columns, |n| bar.set_position(n));
    bar.finish_and_clear();
    rows
}

/// The distinct users of an interaction file, sorted.
pub fn read_user_ids(path: &Path, bars: &Bars) -> Result<Vec<String>, CliError> {
    let bar = bars.reading(&path.display().to_string());
    let mut ids: HashSet<String> = HashSet::new();
    let read = read_rows(
        path,
        &Columns::default(),
        |n| bar.set_position(n),
        |r| {
            if !ids.contains(r.user) {
                ids.insert(r.user.to_string());
            }
            Ok(())
        },
    );
    bar.finish_and_clear();
    read?;
    let mut ids: Vec<String> = ids.into_iter().collect();
    ids.sort_unstable();
    Ok(ids)
}

pub fn parse_params(text: &str) -> Result<Map<String, Value>, CliError> {
    match serde_json::from_str(text) {
        Ok(Value::Object(o)) => Ok(o),
        Ok(_) => Err(CliError::Input(
            "--params must be a JSON object such as '{\"factors\": 32}'".into(),
        )),
        Err(e) => Err(CliError::Input(format!("--params is not valid JSON: {e}"))),
    }
}

/// Writes a whole output file.
pub fn write_file(path: &Path, text: String) -> Result<(), CliError> {
    std::fs::write(path, text)
        .map_err(|e| CliError::io(&format!("cannot write {}", path.display()), e))
}

pub fn create(path: &Path) -> Result<BufWriter<File>, CliError> {
    Ok(BufWriter::new(File::create(path).map_err(|e| {
        CliError::io(&format!("cannot create {}", path.display()), e)
    })?))
}
