// SPDX-License-Identifier: Apache-2.0
//! `recsys`: train, recommend and evaluate recommenders on interaction files.

mod error;
mod generate;
mod heap;
mod input;
mod progress;
mod training;
mod tune;

#[global_allocator]
static HEAP: heap::Counting = heap::Counting;

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Args, Parser, Subcommand, ValueEnum};
use recsys_core::{Interactions, RawInteraction, Registry, TrainedModel, UserQuery};
use recsys_eval::SplitStrategy;
use serde_json::{Map, Value};

use crate::error::CliError;
use crate::input::{read_interactions, read_raw, read_rows, Columns};
use crate::progress::Bars;
use crate::training::Trainer;
use recsys_core::offline::{events_of, Holdout};

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
    Train(TrainArgs),
    /// Recommend items to users with a saved model.
    Recommend(RecommendArgs),
    /// Train several algorithms on one split and compare them.
    Eval(EvalArgs),
    /// Search a grid of one algorithm's parameters on one split; print the best.
    Tune(TuneArgs),
    /// Split an interaction file into train and test files (to evaluate other tools on the same split).
    Split(SplitArgs),
    /// Score recommendations made elsewhere against a test file, with the same metrics as `eval`.
    Score(ScoreArgs),
    /// Write a synthetic interaction file (and item catalogue) with learnable structure.
    Generate(GenerateArgs),
    /// List the algorithms and their default parameters.
    Algorithms,
}

#[derive(Args)]
struct InputArgs {
    /// Interactions: CSV or TSV with a header naming user and item columns, optionally weight and timestamp.
    #[arg(long, short)]
    input: PathBuf,
    /// Column to use as weight (default: a column named "weight" if present, otherwise 1).
    #[arg(long)]
    weight_column: Option<String>,
}

#[derive(Args)]
struct TrainArgs {
    #[command(flatten)]
    input: InputArgs,
    /// popularity, itemknn, als or ease.
    #[arg(long, short, default_value = "als")]
    algorithm: String,
    /// Parameters as a JSON object, e.g. '{"factors": 64}'.
    #[arg(long, short, default_value = "{}")]
    params: String,
    /// Model directory to write (manifest.json + blobs/).
    #[arg(long, short)]
    output: PathBuf,
}

#[derive(Args)]
struct RecommendArgs {
    /// Model directory written by `recsys train`.
    #[arg(long, short)]
    model: PathBuf,
    /// Interactions giving each user's history (scoring input and items to exclude).
    #[command(flatten)]
    input: InputArgs,
    /// Users to recommend for, comma separated. Default: every user of the input.
    #[arg(long, value_delimiter = ',')]
    users: Vec<String>,
    /// Recommend for the users of this interaction file (e.g. a test split).
    #[arg(long, conflicts_with = "users")]
    users_from: Option<PathBuf>,
    #[arg(long, short, default_value_t = 10)]
    k: usize,
    /// Also recommend items the user already interacted with.
    #[arg(long)]
    include_seen: bool,
    /// TSV to write (user, item, rank, score); default standard output.
    #[arg(long, short)]
    output: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum SplitKind {
    /// Per user, hold out a random share of items.
    Random,
    /// Per user, hold out the latest item.
    Last,
    /// Everything at or after --cut is test.
    Time,
}

#[derive(Args)]
struct SplitOptions {
    #[arg(long, value_enum, default_value = "random")]
    split: SplitKind,
    /// Share of each user's items held out (random split).
    #[arg(long, default_value_t = 0.2)]
    test_fraction: f64,
    /// Users with fewer distinct items stay wholly in train.
    #[arg(long, default_value_t = 5)]
    min_user_items: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Unix time of the cut (time split).
    #[arg(long)]
    cut: Option<i64>,
}

impl SplitOptions {
    fn strategy(&self) -> Result<SplitStrategy, CliError> {
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

#[derive(Args)]
struct EvalArgs {
    #[command(flatten)]
    input: InputArgs,
    /// Algorithms to compare, comma separated.
    #[arg(
        long,
        short,
        value_delimiter = ',',
        default_value = "popularity,itemknn,als,ease"
    )]
    algorithms: Vec<String>,
    /// Parameters of one algorithm, as ALGORITHM=JSON; repeatable.
    #[arg(long = "params", short = 'p')]
    params: Vec<String>,
    #[command(flatten)]
    split: SplitOptions,
    #[arg(long, short, default_value_t = 10)]
    k: usize,
    /// Skip intra-list diversity (the slowest metric on large data).
    #[arg(long)]
    no_diversity: bool,
    /// Write a self-contained HTML report.
    #[arg(long)]
    html: Option<PathBuf>,
    /// Write a Markdown report.
    #[arg(long)]
    markdown: Option<PathBuf>,
    /// Write the report as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Args)]
struct TuneArgs {
    #[command(flatten)]
    input: InputArgs,
    /// The algorithm whose parameters to search.
    #[arg(long, short, default_value = "als")]
    algorithm: String,
    /// A parameter and the values to try, as NAME=V1,V2,…; repeatable; every combination is
    /// trained. Default: the algorithm's own grid (see the CLI reference).
    #[arg(long, short)]
    grid: Vec<String>,
    /// Parameters every candidate shares, as a JSON object; the grid's values override them.
    #[arg(long, short, default_value = "{}")]
    params: String,
    #[command(flatten)]
    split: SplitOptions,
    #[arg(long, short, default_value_t = 10)]
    k: usize,
    /// Write every candidate's parameters and metrics, best first, as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Args)]
struct SplitArgs {
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    split: SplitOptions,
    #[arg(long)]
    train_out: PathBuf,
    #[arg(long)]
    test_out: PathBuf,
}

#[derive(Args)]
struct ScoreArgs {
    /// Train interactions (for novelty, diversity and the catalogue).
    #[arg(long)]
    train: PathBuf,
    /// Test interactions: the relevant items.
    #[arg(long)]
    test: PathBuf,
    /// Recommendations as TSV with header: user, item, rank (score optional).
    #[arg(long)]
    recommendations: PathBuf,
    #[arg(long, short, default_value_t = 10)]
    k: usize,
    #[arg(long)]
    no_diversity: bool,
}

#[derive(Args)]
struct GenerateArgs {
    #[arg(long, default_value_t = 1000)]
    users: usize,
    #[arg(long, default_value_t = 500)]
    items: usize,
    /// Approximate number of distinct (user, item) interactions.
    #[arg(long, default_value_t = 20_000)]
    interactions: usize,
    #[arg(long, default_value_t = 10)]
    genres: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Add a weight column (1-5).
    #[arg(long)]
    weights: bool,
    /// Interaction file to write.
    #[arg(long, short)]
    output: PathBuf,
    /// Also write the item catalogue (item, title, genre) here.
    #[arg(long)]
    items_output: Option<PathBuf>,
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
        Command::Train(a) => training::train(a, &trainer()),
        Command::Recommend(a) => recommend(a, &bars),
        Command::Eval(a) => training::eval(a, &trainer()),
        Command::Tune(a) => training::tune(a, &trainer()),
        Command::Split(a) => split(a, &bars),
        Command::Score(a) => score(a, &bars),
        Command::Generate(a) => generate_data(a),
        Command::Algorithms => algorithms(),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(e.exit_code());
    }
}

/// Reads the input file; `timestamps` keeps one per interaction (splits and time-aware
/// algorithms need them), otherwise only their range.
fn read(args: &InputArgs, timestamps: bool, bars: &Bars) -> Result<Interactions, CliError> {
    let bar = bars.reading(&args.input.display().to_string());
    let columns = Columns {
        weight: args.weight_column.clone(),
    };
    let data = read_interactions(&args.input, &columns, timestamps, |n| bar.set_position(n));
    bar.finish_and_clear();
    data
}

fn read_path(path: &Path, bars: &Bars) -> Result<Vec<RawInteraction>, CliError> {
    let bar = bars.reading(&path.display().to_string());
    let rows = read_raw(path, &Columns::default(), |n| bar.set_position(n));
    bar.finish_and_clear();
    rows
}

/// The distinct users of an interaction file, sorted.
fn read_user_ids(path: &Path, bars: &Bars) -> Result<Vec<String>, CliError> {
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

fn parse_params(text: &str) -> Result<Map<String, Value>, CliError> {
    match serde_json::from_str(text) {
        Ok(Value::Object(o)) => Ok(o),
        Ok(_) => Err(CliError::Input(
            "--params must be a JSON object such as '{\"factors\": 32}'".into(),
        )),
        Err(e) => Err(CliError::Input(format!("--params is not valid JSON: {e}"))),
    }
}

fn create(path: &Path) -> Result<BufWriter<File>, CliError> {
    Ok(BufWriter::new(File::create(path).map_err(|e| {
        CliError::io(&format!("cannot create {}", path.display()), e)
    })?))
}

fn recommend(a: RecommendArgs, bars: &Bars) -> Result<(), CliError> {
    let registry = Registry::builtin();
    recsys_core::rules::check_k(a.k)?;
    let model = TrainedModel::load_dir(&registry, &a.model)?;
    let data = read(&a.input, false, bars)?;
    let users: Vec<String> = if let Some(path) = &a.users_from {
        read_user_ids(path, bars)?
    } else if a.users.is_empty() {
        data.users.ids().to_vec()
    } else {
        a.users.clone()
    };
    // The input's item indices mapped into the model's.
    let to_model: Vec<Option<u32>> = data
        .items
        .ids()
        .iter()
        .map(|id| model.items.get(id))
        .collect();
    let queries: Vec<UserQuery> = users
        .iter()
        .map(|id| UserQuery {
            user: model.users.get(id),
            history: data
                .users
                .get(id)
                .map(|u| {
                    data.history(u)
                        .into_iter()
                        .filter_map(|(i, w)| to_model[i as usize].map(|m| (m, w)))
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect();
    let started = Instant::now();
    let lists = model.recommend_many(&queries, a.k, !a.include_seen)?;
    let seconds = started.elapsed().as_secs_f64();
    let mut out: Box<dyn Write> = match &a.output {
        Some(p) => Box::new(create(p)?),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    let write_err = |e| CliError::io("cannot write recommendations", e);
    writeln!(out, "user\titem\trank\tscore").map_err(write_err)?;
    let mut fallbacks = 0usize;
    for (id, r) in users.iter().zip(&lists) {
        fallbacks += r.fallback as usize;
        for (rank, (item, score)) in r.items.iter().enumerate() {
            writeln!(
                out,
                "{id}\t{}\t{}\t{score}",
                model.items.id(*item),
                rank + 1
            )
            .map_err(write_err)?;
        }
    }
    out.flush().map_err(write_err)?;
    if !bars.is_quiet() {
        let summary =
            serde_json::json!({"users": users.len(), "fallbacks": fallbacks, "seconds": seconds});
        eprintln!("{summary}");
    }
    Ok(())
}

fn write_events(
    path: &Path,
    data: &Interactions,
    events: &[recsys_eval::Event],
) -> Result<(), CliError> {
    let mut out = create(path)?;
    let err = |e| CliError::io(&format!("cannot write {}", path.display()), e);
    writeln!(out, "user\titem\tweight\ttimestamp").map_err(err)?;
    for e in events {
        writeln!(
            out,
            "{}\t{}\t{}\t{}",
            data.users.id(e.user),
            data.items.id(e.item),
            e.weight,
            e.timestamp
        )
        .map_err(err)?;
    }
    out.flush().map_err(err)
}

fn split(a: SplitArgs, bars: &Bars) -> Result<(), CliError> {
    let strategy = a.split.strategy()?;
    let full = read(&a.input, true, bars)?;
    let s = recsys_eval::split(&events_of(&full)?, &strategy)?;
    write_events(&a.train_out, &full, &s.train)?;
    write_events(&a.test_out, &full, &s.test)?;
    println!(
        "{}",
        serde_json::json!({"split": strategy.describe(), "train": s.train.len(), "test": s.test.len()})
    );
    Ok(())
}

fn score(a: ScoreArgs, bars: &Bars) -> Result<(), CliError> {
    recsys_core::rules::check_k(a.k)?;
    let train_raw = read_path(&a.train, bars)?;
    let test_raw = read_path(&a.test, bars)?;
    // One index space over train and test, as in `eval`.
    let full = Interactions::from_raw(train_raw.iter().chain(&test_raw).cloned())?;
    let index = |rows: &[RawInteraction]| -> Vec<recsys_eval::Event> {
        rows.iter()
            .filter_map(|r| {
                Some(recsys_eval::Event {
                    user: full.users.get(&r.user)?,
                    item: full.items.get(&r.item)?,
                    weight: r.weight,
                    timestamp: r.timestamp,
                })
            })
            .collect()
    };
    let (train_events, test_events) = (index(&train_raw), index(&test_raw));
    let prepared = Holdout::from_events(&full.users, &full.items, train_events, test_events)?;
    let lists = read_ranked_lists(&a.recommendations, &full)?;
    let metrics = prepared.score(&lists, a.k, !a.no_diversity)?;
    println!(
        "{}",
        serde_json::to_string(&metrics).map_err(|e| CliError::Io(e.to_string()))?
    );
    Ok(())
}

/// Reads `user item rank [score]` TSV into ranked lists; unknown ids are dropped.
fn read_ranked_lists(path: &Path, full: &Interactions) -> Result<HashMap<u32, Vec<u32>>, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::io(&format!("cannot read {}", path.display()), e))?;
    let mut ranked: HashMap<u32, Vec<(u32, u32)>> = HashMap::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        let bad = || {
            CliError::Input(format!(
                "{}:{}: expected user, item, rank",
                path.display(),
                n + 1
            ))
        };
        if f.len() < 3 {
            return Err(bad());
        }
        let rank: u32 = f[2].trim().parse().map_err(|_| bad())?;
        if let (Some(u), Some(i)) = (full.users.get(f[0]), full.items.get(f[1])) {
            ranked.entry(u).or_default().push((rank, i));
        }
    }
    Ok(ranked
        .into_iter()
        .map(|(u, mut v)| {
            v.sort_unstable();
            let mut seen = HashSet::new();
            (
                u,
                v.into_iter()
                    .map(|(_, i)| i)
                    .filter(|i| seen.insert(*i))
                    .collect(),
            )
        })
        .collect())
}

fn generate_data(a: GenerateArgs) -> Result<(), CliError> {
    if a.users == 0 || a.items == 0 || a.interactions == 0 {
        return Err(CliError::Input(
            "--users, --items and --interactions must be positive".into(),
        ));
    }
    let spec = generate::Spec {
        users: a.users,
        items: a.items,
        interactions: a.interactions,
        genres: a.genres,
        seed: a.seed,
        weights: a.weights,
    };
    let g = generate::generate(&spec);
    let mut out = create(&a.output)?;
    let err = |e| CliError::io("cannot write generated data", e);
    generate::write_interactions(&mut out, &g, a.weights).map_err(err)?;
    out.flush().map_err(err)?;
    if let Some(path) = &a.items_output {
        let mut out = create(path)?;
        generate::write_items(&mut out, &g).map_err(err)?;
        out.flush().map_err(err)?;
    }
    println!(
        "{}",
        serde_json::json!({"interactions": g.interactions.len(), "users": a.users, "items": a.items})
    );
    Ok(())
}

fn algorithms() -> Result<(), CliError> {
    for a in Registry::builtin().iter() {
        let defaults = a.check(&Value::Null)?.to_json();
        println!(
            "{:<12} {}\n{:<12} defaults: {defaults}",
            a.name(),
            a.summary(),
            ""
        );
    }
    Ok(())
}
