// SPDX-License-Identifier: Apache-2.0
//! `recsys generate`: synthetic interactions (and a catalogue) with learnable structure.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::create;
use crate::error::CliError;
use crate::synthetic;

#[derive(Args)]
pub struct GenerateArgs {
    #[arg(long, default_value_t = 1000)]
    pub users: usize,
    #[arg(long, default_value_t = 500)]
    pub items: usize,
    /// Approximate number of distinct (user, item) interactions.
    #[arg(long, default_value_t = 20_000)]
    pub interactions: usize,
    #[arg(long, default_value_t = 10)]
    pub genres: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Add a weight column (1-5).
    #[arg(long)]
    pub weights: bool,
    /// Interaction file to write.
    #[arg(long, short)]
    pub output: PathBuf,
    /// Also write the item catalogue (item, title, genre) here.
    #[arg(long)]
    pub items_output: Option<PathBuf>,
}

pub fn run(a: GenerateArgs) -> Result<(), CliError> {
    if a.users == 0 || a.items == 0 || a.interactions == 0 {
        return Err(CliError::Input(
            "--users, --items and --interactions must be positive".into(),
        ));
    }
    let spec = synthetic::Spec {
        users: a.users,
        items: a.items,
        interactions: a.interactions,
        genres: a.genres,
        seed: a.seed,
        weights: a.weights,
    };
    let g = synthetic::generate(&spec);
    let mut out = create(&a.output)?;
    let err = |e| CliError::io("cannot write generated data", e);
    synthetic::write_interactions(&mut out, &g, a.weights).map_err(err)?;
    out.flush().map_err(err)?;
    if let Some(path) = &a.items_output {
        let mut out = create(path)?;
        synthetic::write_items(&mut out, &g).map_err(err)?;
        out.flush().map_err(err)?;
    }
    println!(
        "{}",
        serde_json::json!({"interactions": g.interactions.len(), "users": a.users, "items": a.items})
    );
    Ok(())
}
