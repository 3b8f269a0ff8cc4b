// SPDX-License-Identifier: Apache-2.0
//! `recsys`: train, recommend and evaluate recommenders on interaction files.

mod error;
mod generate;
mod heap;
mod input;
mod progress;
mod tune;

#[global_allocator]
static HEAP: heap::Counting = heap::Counting;

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

use clap::{Args, Parser, Subcommand, ValueEnum};
use recsys_core::{FitContext, Interactions, RawInteraction, Registry, TrainedModel, UserQuery};
use recsys_eval::{MetricSummary, Report, ReportRow, SplitStrategy};
use serde_json::{Map, Value};

use crate::error::CliError;
use crate::input::{read_interactions, read_raw, read_rows, Columns};
use crate::progress::Bars;
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
    MAX_MEMORY_MB.get_or_init(|| cli.max_memory_mb);
    let result = match cli.command {
        Command::Train(a) => train(a, &bars),
        Command::Recommend(a) => recommend(a, &bars),
        Command::Eval(a) => eval(a, &bars),
        Command::Tune(a) => tune(a, &bars),
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

/// `--max-memory-mb`, set once from the command line.
static MAX_MEMORY_MB: OnceLock<u64> = OnceLock::new();

/// Trains after checking the memory estimate against `--max-memory-mb`.
fn fit(
    registry: &Registry,
    algorithm: &str,
    params: &Value,
    data: &Interactions,
    bars: &Bars,
) -> Result<TrainedModel, CliError> {
    let algo = registry.get(algorithm)?;
    let need = recsys_core::budget::training_bytes(algo, &algo.validate(params)?, data);
    let limit = *MAX_MEMORY_MB.get_or_init(|| recsys_core::budget::DEFAULT_LIMIT_MB);
    recsys_core::budget::check(
        need,
        limit,
        &format!("training {algorithm}"),
        "--max-memory-mb",
    )?;
    let bar = bars.training(algorithm);
    let on_progress = |p: recsys_core::Progress<'_>| {
        progress::update(&bar, p);
        Ok(())
    };
    let model = TrainedModel::train(
        registry,
        algorithm,
        params,
        data,
        &FitContext {
            on_progress: &on_progress,
        },
    );
    bar.finish_and_clear();
    Ok(model?)
}

fn create(path: &Path) -> Result<BufWriter<File>, CliError> {
    Ok(BufWriter::new(File::create(path).map_err(|e| {
        CliError::io(&format!("cannot create {}", path.display()), e)
    })?))
}

const MIB: f64 = (1 << 20) as f64;

fn train(a: TrainArgs, bars: &Bars) -> Result<(), CliError> {
    let registry = Registry::builtin();
    let algorithm = registry.get(&a.algorithm)?;
    let params = Value::Object(parse_params(&a.params)?);
    let timestamps = algorithm.reads_timestamps(&algorithm.validate(&params)?);
    let data = read(&a.input, timestamps, bars)?;
    let model = fit(&registry, &a.algorithm, &params, &data, bars)?;
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

fn recommend(a: RecommendArgs, bars: &Bars) -> Result<(), CliError> {
    let registry = Registry::builtin();
    recsys_core::trained::check_k(a.k)?;
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

fn params_by_algorithm(
    pairs: &[String],
    algorithms: &[String],
) -> Result<HashMap<String, Value>, CliError> {
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
        out.insert(name.to_string(), Value::Object(parse_params(json)?));
    }
    Ok(out)
}

fn eval(a: EvalArgs, bars: &Bars) -> Result<(), CliError> {
    let registry = Registry::builtin();
    for name in &a.algorithms {
        registry.get(name)?;
    }
    recsys_core::trained::check_k(a.k)?;
    let params = params_by_algorithm(&a.params, &a.algorithms)?;
    let strategy = a.split.strategy()?;
    let prepared = Holdout::split(&read(&a.input, true, bars)?, &strategy)?;
    let mut rows = Vec::new();
    for name in &a.algorithms {
        let p = params.get(name).cloned().unwrap_or(Value::Null);
        let (model, recommend_seconds, metrics) =
            fit_and_score(&registry, name, &p, &prepared, a.k, !a.no_diversity, bars)?;
        rows.push(ReportRow {
            algorithm: name.clone(),
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
    registry: &Registry,
    algorithm: &str,
    params: &Value,
    prepared: &Holdout,
    k: usize,
    diversity: bool,
    bars: &Bars,
) -> Result<(TrainedModel, f64, MetricSummary), CliError> {
    let model = fit(registry, algorithm, params, &prepared.train, bars)?;
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

fn tune(a: TuneArgs, bars: &Bars) -> Result<(), CliError> {
    let registry = Registry::builtin();
    let algorithm = registry.get(&a.algorithm)?;
    recsys_core::trained::check_k(a.k)?;
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
    for c in &candidates {
        algorithm.validate(c)?;
    }
    let strategy = a.split.strategy()?;
    let prepared = Holdout::split(&read(&a.input, true, bars)?, &strategy)?;
    let (_, _, baseline) = fit_and_score(
        &registry,
        "popularity",
        &Value::Null,
        &prepared,
        a.k,
        false,
        bars,
    )?;
    let total = candidates.len();
    let mut trials = Vec::with_capacity(total);
    for (n, params) in candidates.into_iter().enumerate() {
        let grid: Map<String, Value> = axes
            .iter()
            .map(|x| (x.name.clone(), params[&x.name].clone()))
            .collect();
        if !bars.is_quiet() {
            eprintln!(
                "[{}/{total}] {} {}",
                n + 1,
                a.algorithm,
                Value::Object(grid.clone())
            );
        }
        let (model, _, metrics) = fit_and_score(
            &registry,
            &a.algorithm,
            &params,
            &prepared,
            a.k,
            false,
            bars,
        )?;
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
    recsys_core::trained::check_k(a.k)?;
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
        let defaults = a.validate(&Value::Null)?;
        println!(
            "{:<12} {}\n{:<12} defaults: {defaults}",
            a.name(),
            a.summary(),
            ""
        );
    }
    Ok(())
}
