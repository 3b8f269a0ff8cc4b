// SPDX-License-Identifier: Apache-2.0
//! `recsys score`: metrics of recommendations made elsewhere, against a train/test split.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use clap::Args;
use recsys_core::offline::Holdout;
use recsys_core::{Interactions, RawInteraction};
use recsys_eval::MetricSummary;

use super::read_path;
use crate::error::CliError;
use crate::progress::Bars;

#[derive(Args)]
pub struct ScoreArgs {
    /// Train interactions (for novelty, diversity and the catalogue).
    #[arg(long)]
    pub train: PathBuf,
    /// Test interactions: the relevant items.
    #[arg(long)]
    pub test: PathBuf,
    /// Recommendations as TSV with header: user, item, rank (score optional).
    #[arg(long)]
    pub recommendations: PathBuf,
    #[arg(long, short, default_value_t = 10)]
    pub k: usize,
    #[arg(long)]
    pub no_diversity: bool,
}

pub fn run(a: ScoreArgs, bars: &Bars) -> Result<(), CliError> {
    let metrics = metrics(&a, bars)?;
    println!(
        "{}",
        serde_json::to_string(&metrics).map_err(|e| CliError::Io(e.to_string()))?
    );
    Ok(())
}

fn metrics(a: &ScoreArgs, bars: &Bars) -> Result<MetricSummary, CliError> {
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
    Ok(prepared.score(&lists, a.k, !a.no_diversity)?)
}

/// Reads `user item rank [score]` TSV into ranked lists; unknown ids are dropped.
fn read_ranked_lists(path: &Path, full: &Interactions) -> Result<HashMap<u32, Vec<u32>>, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Input(format!("cannot read {}: {e}", path.display())))?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::fixtures::{quiet, scratch, write, DATA};

    /// u1 is relevant to d, found at rank 1; u2 to c, not found: precision@2 (1/2 + 0) / 2,
    /// recall (1 + 0) / 2, NDCG (1 + 0) / 2, hits 1 of 2.
    #[test]
    fn scores_lists_made_elsewhere_by_hand() {
        let dir = scratch("score");
        let a = ScoreArgs {
            train: write(&dir, "train.tsv", DATA),
            test: write(&dir, "test.tsv", "user\titem\nu1\td\nu2\tc\n"),
            recommendations: write(
                &dir,
                "recs.tsv",
                "user\titem\trank\nu1\td\t1\nu1\te\t2\nu2\te\t1\nu2\tnot-in-catalogue\t2\n",
            ),
            k: 2,
            no_diversity: true,
        };
        let m = metrics(&a, &quiet()).expect("scores");
        assert_eq!(m.users, 2);
        assert!((m.precision - 0.25).abs() < 1e-9, "{m:?}");
        assert!((m.recall - 0.5).abs() < 1e-9, "{m:?}");
        assert!((m.ndcg - 0.5).abs() < 1e-9, "{m:?}");
        assert!((m.hit_rate - 0.5).abs() < 1e-9, "{m:?}");

        let broken = ScoreArgs {
            recommendations: write(&dir, "bad.tsv", "user\titem\trank\nu1\td\n"),
            ..a
        };
        let e = metrics(&broken, &quiet()).expect_err("a line without a rank");
        assert_eq!(e.exit_code(), 2, "{e}");
        std::fs::remove_dir_all(&dir).expect("clean up");
    }
}
