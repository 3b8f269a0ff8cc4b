// SPDX-License-Identifier: Apache-2.0
//! `recsys`: train, recommend and evaluate recommenders on interaction files.

mod commands;
mod error;
mod grid;
mod heap;
mod input;
mod progress;
mod synthetic;
mod trainer;

#[global_allocator]
static HEAP: heap::Counting = heap::Counting;

use clap::{Parser, Subcommand};
use recsys_core::Registry;

use crate::commands::{algorithms, eval, generate, recommend, score, split, train, tune};
use crate::progress::Bars;
use crate::trainer::Trainer;

#[derive(Parser)]
#[command(
    name = "recsys",
    version,
    about = "Train, recommend and evaluate recommenders on interaction files."
)]
struct Cli {
    /// No progress bars.
    #[arg(long, short, global = true)]
    quiet: bool,
    /// Refuse a training whose memory estimate exceeds this many MiB (the extension's
    /// recsys.max_train_memory_mb has the same default).
    #[arg(long, global = true, default_value_t = recsys_core::budget::DEFAULT_LIMIT_MB,
          value_parser = clap::value_parser!(u64).range(1..))]
    max_memory_mb: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a model on an interaction file and save it as a model directory.
    Train(train::TrainArgs),
    /// Recommend items to users with a saved model.
    Recommend(recommend::RecommendArgs),
    /// Train several algorithms on one split and compare them.
    Eval(eval::EvalArgs),
    /// Search a grid of one algorithm's parameters on one split; print the best.
    Tune(tune::TuneArgs),
    /// Split an interaction file into train and test files (to evaluate other tools on the same split).
    Split(split::SplitArgs),
    /// Score recommendations made elsewhere against a test file, with the same metrics as `eval`.
    Score(score::ScoreArgs),
    /// Write a synthetic interaction file (and item catalogue) with learnable structure.
    Generate(generate::GenerateArgs),
    /// List the algorithms and their default parameters.
    Algorithms,
}

fn main() {
    let cli = Cli::parse();
    let bars = Bars::new(cli.quiet);
    let trainer = || Trainer {
        registry: Registry::builtin(),
        bars: &bars,
        max_memory_mb: cli.max_memory_mb,
    };
    let result = match cli.command {
        Command::Train(a) => train::run(a, &trainer()),
        Command::Recommend(a) => recommend::run(a, &bars),
        Command::Eval(a) => eval::run(a, &trainer()),
        Command::Tune(a) => tune::run(a, &trainer()),
        Command::Split(a) => split::run(a, &bars),
        Command::Score(a) => score::run(a, &bars),
        Command::Generate(a) => generate::run(a),
        Command::Algorithms => algorithms::run(),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(e.exit_code());
    }
}
