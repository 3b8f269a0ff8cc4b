// SPDX-License-Identifier: Apache-2.0
//! `recsys recommend`: top-k lists for users from a saved model and their histories.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use recsys_core::{Registry, TrainedModel, UserQuery};

use super::{create, read, read_user_ids, InputArgs};
use crate::error::CliError;
use crate::progress::Bars;

#[derive(Args)]
pub struct RecommendArgs {
    /// Model directory written by `recsys train`.
    #[arg(long, short)]
    pub model: PathBuf,
    /// Interactions giving each user's history (scoring input and items to exclude).
    #[command(flatten)]
    pub input: InputArgs,
    /// Users to recommend for, comma separated. Default: every user of the input.
    #[arg(long, value_delimiter = ',')]
    pub users: Vec<String>,
    /// Recommend for the users of this interaction file (e.g. a test split).
    #[arg(long, conflicts_with = "users")]
    pub users_from: Option<PathBuf>,
    #[arg(long, short, default_value_t = 10)]
    pub k: usize,
    /// Also recommend items the user already interacted with.
    #[arg(long)]
    pub include_seen: bool,
    /// TSV to write (user, item, rank, score); default standard output.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

pub fn run(a: RecommendArgs, bars: &Bars) -> Result<(), CliError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::fixtures::{input, quiet, rows, scratch, write, DATA};
    use recsys_core::FitContext;

    fn recommend(include_seen: bool) -> Vec<Vec<String>> {
        let dir = scratch(&format!("recommend-{include_seen}"));
        let data = write(&dir, "data.tsv", DATA);
        let interactions =
            crate::input::read_interactions(&data, &Default::default(), false, |_| {})
                .expect("reads");
        TrainedModel::train(
            &Registry::builtin(),
            "popularity",
            &serde_json::Value::Null,
            &interactions,
            &FitContext::silent(),
        )
        .and_then(|m| m.save_dir(&dir.join("m")))
        .expect("trains");
        let output = dir.join("recs.tsv");
        run(
            RecommendArgs {
                model: dir.join("m"),
                input: input(&data),
                users: vec!["u2".into(), "stranger".into()],
                users_from: None,
                k: 2,
                include_seen,
                output: Some(output.clone()),
            },
            &quiet(),
        )
        .expect("recommends");
        let r = rows(&output);
        std::fs::remove_dir_all(&dir).expect("clean up");
        r
    }

    /// Popularity a 4, b 3, c 2, d 1, e 1: u2 has a and b.
    #[test]
    fn writes_k_ranked_items_per_user_without_seen_ones() {
        let r = recommend(false);
        assert_eq!(r.len(), 4, "{r:?}");
        assert_eq!(
            (r[0][0].as_str(), r[0][1].as_str(), r[0][2].as_str()),
            ("u2", "c", "1")
        );
        assert_eq!(r[1][2], "2");
        assert!(r[..2].iter().all(|f| f[1] != "a" && f[1] != "b"), "{r:?}");
        // A user the model never saw gets the most popular items.
        assert_eq!((r[2][0].as_str(), r[2][1].as_str()), ("stranger", "a"));
    }

    #[test]
    fn include_seen_keeps_the_users_items() {
        let r = recommend(true);
        assert_eq!((r[0][1].as_str(), r[1][1].as_str()), ("a", "b"), "{r:?}");
    }
}
