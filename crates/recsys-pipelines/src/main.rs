// SPDX-License-Identifier: Apache-2.0
//! The `recsys-pipelines` command: `run`, `backfill` and `status` of a pipeline.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};

use recsys_pipelines::catalogue::Destination;
use recsys_pipelines::format::Format;
use recsys_pipelines::metrics::Counters;
use recsys_pipelines::run::{self, Options, Range};
use recsys_pipelines::sink::Sink;
use recsys_pipelines::source::files::Folder;
use recsys_pipelines::source::kafka::Topic;
use recsys_pipelines::source::objects::{ObjectSource, Order};
use recsys_pipelines::source::postgres::{Relation, Rows};
use recsys_pipelines::source::s3::{self, Bucket, Endpoint};
use recsys_pipelines::{PipelineError, Result};

#[derive(Parser, Debug)]
#[command(
    name = "recsys-pipelines",
    version,
    about = "Bring events into recsys, exactly once"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// How log lines are written on standard error.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Read the source from the pipeline's checkpoint to its end, committing batch by batch.
    Run(RunArgs),
    /// Read the whole source again and write the events that occurred in [--from, --to);
    /// events already stored are skipped and the checkpoint does not move.
    Backfill {
        #[command(flatten)]
        run: RunArgs,
        /// Start of the range (RFC 3339), included.
        #[arg(long)]
        from: DateTime<Utc>,
        /// End of the range (RFC 3339), excluded.
        #[arg(long)]
        to: DateTime<Utc>,
    },
    /// Print the pipeline's state (position, watermark, counts) as JSON.
    Status(Target),
}

#[derive(Args, Debug)]
struct Target {
    /// The pipeline's name: its checkpoint's key, unique within the tenant.
    #[arg(long)]
    pipeline: String,
    /// The recsys database; the role decides the tenant and what may be written.
    #[arg(long, env = "RECSYS_DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// For a gateway role: the tenant to write for (ignored by a role bound to a tenant).
    #[arg(long, env = "RECSYS_TENANT")]
    tenant: Option<String>,
}

#[derive(Args, Debug)]
struct RunArgs {
    #[command(flatten)]
    target: Target,
    /// Where events come from: `s3://bucket/prefix`, `kafka://host:port[,host:port…]/topic`,
    /// `postgres://user@host/database` (with --table or --query, and --cursor), or a local
    /// folder (`file:///path` or a path).
    #[arg(long)]
    source: String,
    /// PostgreSQL: the table (`name` or `schema.name`) whose rows are events.
    #[arg(long, conflicts_with = "query")]
    table: Option<String>,
    /// PostgreSQL: a query whose rows are events.
    #[arg(long)]
    query: Option<String>,
    /// PostgreSQL: the column that grows with every new row (an identity, an insertion time);
    /// rows are read in its order and the position is its last value.
    #[arg(long)]
    cursor: Option<String>,
    /// Kafka: keep waiting for new messages (until SIGINT or SIGTERM) instead of ending once
    /// every partition is read to its end.
    #[arg(long)]
    follow: bool,
    /// Kafka: seconds a request to an unreachable broker is retried before the run fails.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    kafka_retry_seconds: u64,
    /// The format of objects whose names do not say it (.csv, .tsv, .jsonl, each optionally .gz or .zst).
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// The order in which objects are read, and new ones picked up.
    #[arg(long, value_enum, default_value_t = Order::Key)]
    order: Order,
    /// An S3-compatible endpoint (MinIO, s3s-fs, …); AWS's standard settings otherwise.
    #[arg(long, env = "RECSYS_S3_ENDPOINT")]
    s3_endpoint: Option<String>,
    /// The S3 region, if the standard AWS settings do not name one.
    #[arg(long, env = "RECSYS_S3_REGION")]
    s3_region: Option<String>,
    /// What the records are: events for recsys.interactions, or catalogue items for
    /// recsys.items (an item id, `available`, and every other field as an attribute).
    #[arg(long, value_enum, default_value_t = Destination::Interactions)]
    into: Destination,
    /// Records per transaction.
    #[arg(long, default_value_t = 50_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    batch_size: u32,
    /// Stop when this run has written more dead letters (the batch that crosses it is not committed).
    #[arg(long)]
    max_dead_letters: Option<u64>,
    /// Write counters in Prometheus' text format to this file after every batch.
    #[arg(long)]
    metrics_file: Option<PathBuf>,
    /// After a run that inserted events, train this model (`recsys.train`; the role needs
    /// recsys_operator). Not with --follow, which has no end.
    #[arg(long, value_name = "MODEL", conflicts_with = "follow")]
    train: Option<String>,
    /// The algorithm of --train.
    #[arg(long, default_value = "als", requires = "train")]
    train_algorithm: String,
    /// The parameters of --train, a JSON object; '{"incremental": true}' starts from the
    /// model's active version.
    #[arg(long, default_value = "{}", requires = "train")]
    train_params: String,
}

/// `--train`: what to train after a run that inserted events.
struct TrainStep {
    model: String,
    algorithm: String,
    params: serde_json::Value,
}

impl RunArgs {
    fn train_step(&self) -> Result<Option<TrainStep>> {
        let Some(model) = &self.train else {
            return Ok(None);
        };
        let params = match serde_json::from_str(&self.train_params) {
            Ok(params @ serde_json::Value::Object(_)) => params,
            _ => {
                return Err(PipelineError::Usage(format!(
                    "--train-params {:?} is not a JSON object such as '{{\"incremental\": true}}'",
                    self.train_params
                )))
            }
        };
        Ok(Some(TrainStep {
            model: model.clone(),
            algorithm: self.train_algorithm.clone(),
            params,
        }))
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RECSYS_LOG")
                .unwrap_or_else(|_| "info,rskafka=warn".into()),
        );
    match cli.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(execute(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, hint = e.hint().unwrap_or(""), "stopped");
            eprintln!("error: {e}");
            if let Some(hint) = e.hint() {
                eprintln!("hint: {hint}");
            }
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

async fn execute(command: Command) -> Result<()> {
    let (args, range) = match command {
        Command::Status(target) => {
            let mut sink =
                Sink::connect(&target.database_url, &target.pipeline, target.tenant).await?;
            let state = sink.status().await?.ok_or_else(|| {
                PipelineError::Usage(format!(
                    "no pipeline named {} in this tenant",
                    target.pipeline
                ))
            })?;
            println!("{state:#}");
            return Ok(());
        }
        Command::Run(args) => (args, None),
        Command::Backfill { run, from, to } => {
            if run.into == Destination::Items {
                return Err(PipelineError::Usage(
                    "backfill selects events by time; catalogue items have none: run the pipeline again from a new name instead".into(),
                ));
            }
            if from >= to {
                return Err(PipelineError::Usage(format!(
                    "--from {from} is not before --to {to}"
                )));
            }
            (run, Some(Range { from, to }))
        }
    };
    check_pipeline_name(&args.target.pipeline)?;
    let train = args.train_step()?;
    let stop = Arc::new(AtomicBool::new(false));
    watch_signals(stop.clone());
    let counters = Counters::new(&args.target.pipeline, args.metrics_file.clone());
    let options = Options {
        batch_size: args.batch_size as usize,
        max_dead_letters: args.max_dead_letters,
    };
    let mut sink = Sink::connect(
        &args.target.database_url,
        &args.target.pipeline,
        args.target.tenant.clone(),
    )
    .await?;
    let is_postgres =
        args.source.starts_with("postgres://") || args.source.starts_with("postgresql://");
    if !is_postgres && (args.table.is_some() || args.query.is_some() || args.cursor.is_some()) {
        return Err(PipelineError::Usage(
            "--table, --query and --cursor are for postgres:// sources".into(),
        ));
    }
    if args.follow && !args.source.starts_with("kafka://") {
        return Err(PipelineError::Usage(
            "--follow is for kafka:// sources".into(),
        ));
    }
    let outcome = if args.source.starts_with("kafka://") {
        let mut source = Topic::connect(
            &args.source,
            args.follow.then_some(500),
            Duration::from_secs(args.kafka_retry_seconds),
        )
        .await?
        .reading(args.into);
        run::read(&mut source, &mut sink, range, &options, &counters, &stop).await
    } else if is_postgres {
        let relation = match (args.table.clone(), args.query.clone()) {
            (Some(table), None) => Relation::Table(table),
            (None, Some(query)) => Relation::Query(query),
            _ => {
                return Err(PipelineError::Usage(
                    "a postgres:// source needs --table or --query".into(),
                ))
            }
        };
        let cursor = args
            .cursor
            .as_deref()
            .ok_or_else(|| PipelineError::Usage("a postgres:// source needs --cursor".into()))?;
        let mut source = Rows::connect(&args.source, relation, cursor)
            .await?
            .reading(args.into);
        run::read(&mut source, &mut sink, range, &options, &counters, &stop).await
    } else if args.source.starts_with("s3://") {
        let endpoint = Endpoint {
            url: args.s3_endpoint.clone(),
            region: args.s3_region.clone(),
        };
        let bucket = Bucket::new(s3::client(&endpoint).await, &args.source)?;
        let mut source = ObjectSource::new(bucket, args.order, args.format, args.into);
        run::read(&mut source, &mut sink, range, &options, &counters, &stop).await
    } else {
        let path = args.source.strip_prefix("file://").unwrap_or(&args.source);
        let folder = Folder::new(path.as_ref())?;
        let mut source = ObjectSource::new(folder, args.order, args.format, args.into);
        run::read(&mut source, &mut sink, range, &options, &counters, &stop).await
    };
    counters.finish();
    let mut summary = counters.summary();
    let outcome = match outcome {
        // Following has no end: a signal is how a followed run is meant to stop.
        Err(PipelineError::Interrupted) if args.follow => Ok(()),
        other => other,
    };
    if let (Ok(()), Some(step)) = (&outcome, &train) {
        match train_after(&mut sink, step, counters.inserted()).await {
            Ok(trained) => summary["trained"] = trained,
            Err(e) => {
                println!("{summary}");
                return Err(e);
            }
        }
    }
    println!("{summary}");
    outcome
}

/// Runs `--train` when the run inserted events; what it trained, or null.
async fn train_after(
    sink: &mut Sink,
    step: &TrainStep,
    inserted: u64,
) -> Result<serde_json::Value> {
    if inserted == 0 {
        tracing::info!(model = %step.model, "no new events: not training");
        return Ok(serde_json::Value::Null);
    }
    tracing::info!(model = %step.model, algorithm = %step.algorithm, "training");
    let trained = sink
        .train(&step.model, &step.algorithm, &step.params)
        .await?;
    tracing::info!(model = %step.model, version = trained.version, seconds = trained.seconds, "trained");
    Ok(serde_json::json!({
        "model": step.model,
        "version": trained.version,
        "seconds": trained.seconds,
    }))
}

/// The rule `recsys.pipeline_state` checks, here for a clear message before connecting.
fn check_pipeline_name(name: &str) -> Result<()> {
    let ok = name.len() <= 64
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(PipelineError::Usage(format!(
            "pipeline name {name:?}: 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit"
        )))
    }
}

/// SIGINT and SIGTERM stop the run after the batch being committed.
fn watch_signals(stop: Arc<AtomicBool>) {
    tokio::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return,
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::warn!("signal received: stopping after the current batch");
        stop.store(true, Ordering::Relaxed);
    });
}
