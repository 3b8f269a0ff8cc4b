// SPDX-License-Identifier: Apache-2.0
//! `recsys split`: one train/test split written as two interaction files.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;
use recsys_core::offline::events_of;
use recsys_core::Interactions;

use super::{create, read, InputArgs, SplitOptions};
use crate::error::CliError;
use crate::progress::Bars;

#[derive(Args)]
pub struct SplitArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub split: SplitOptions,
    #[arg(long)]
    pub train_out: PathBuf,
    #[arg(long)]
    pub test_out: PathBuf,
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

pub fn run(a: SplitArgs, bars: &Bars) -> Result<(), CliError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::fixtures::{input, quiet, rows, scratch, write, DATA};
    use crate::commands::SplitKind;

    fn split(kind: SplitKind, test_fraction: f64) -> (Vec<Vec<String>>, Vec<Vec<String>>) {
        let dir = scratch(&format!("split-{test_fraction}"));
        let (train_out, test_out) = (dir.join("train.tsv"), dir.join("test.tsv"));
        run(
            SplitArgs {
                input: input(&write(&dir, "data.tsv", DATA)),
                split: SplitOptions {
                    split: kind,
                    test_fraction,
                    min_user_items: 2,
                    seed: 42,
                    cut: None,
                },
                train_out: train_out.clone(),
                test_out: test_out.clone(),
            },
            &quiet(),
        )
        .expect("splits");
        let sides = (rows(&train_out), rows(&test_out));
        std::fs::remove_dir_all(&dir).expect("clean up");
        sides
    }

    #[test]
    fn leave_last_out_holds_out_each_users_latest_item() {
        let (train, test) = split(SplitKind::Last, 0.2);
        let pairs = |side: &[Vec<String>]| -> Vec<String> {
            side.iter().map(|f| format!("{} {}", f[0], f[1])).collect()
        };
        assert_eq!(pairs(&test), ["u1 c", "u2 b", "u3 d", "u4 e"]);
        assert_eq!(train.len(), 7);
        assert!(pairs(&train).iter().all(|p| !pairs(&test).contains(p)));
    }

    /// round(n / 2) of each user's n items, at least 1 and at most n - 1: 2 + 1 + 2 + 1.
    #[test]
    fn random_holdout_holds_out_the_share_of_each_user() {
        let (train, test) = split(SplitKind::Random, 0.5);
        assert_eq!((train.len(), test.len()), (5, 6));
        for user in ["u1", "u2", "u3", "u4"] {
            assert!(
                train.iter().any(|f| f[0] == user),
                "{user} keeps a train item"
            );
        }
    }
}
