// SPDX-License-Identifier: Apache-2.0
//! Trains the "recent" algorithm on an interaction file, recommends, and round-trips the model
//! through the artifact format.
//!
//!     cargo run -p custom-algo-example -- [INTERACTIONS.tsv] [--save-dir DIR] [--save-bytes FILE]
//!
//! INTERACTIONS defaults to examples/data/interactions.tsv: a TSV with a header that has
//! `user`, `item` and `timestamp` columns.

use std::error::Error;
use std::path::PathBuf;
use std::sync::Arc;

use custom_algo_example::RECENT;
use recsys_core::{FitContext, Interactions, RawInteraction, Registry, TrainedModel, UserQuery};
use serde_json::json;

fn main() -> Result<(), Box<dyn Error>> {
    let mut input = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../data/interactions.tsv"
    ));
    let (mut save_dir, mut save_bytes) = (None, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--save-dir" => save_dir = Some(PathBuf::from(args.next().ok_or("--save-dir DIR")?)),
            "--save-bytes" => {
                save_bytes = Some(PathBuf::from(args.next().ok_or("--save-bytes FILE")?))
            }
            _ => input = PathBuf::from(arg),
        }
    }

    // 1. A registry with the built-in algorithms plus ours.
    let mut registry = Registry::builtin();
    registry.register(Arc::new(RECENT))?;
    println!("algorithms: {}", registry.names().join(", "));

    // 2. Data: the core takes (user, item, weight, timestamp) records.
    let data = Interactions::from_raw(read_tsv(&input)?)?;
    println!(
        "data: {} users, {} items, {} interactions",
        data.n_users(),
        data.n_items(),
        data.nnz()
    );

    // 3. Train through the same entry point the CLI and the extension use.
    let params = json!({"min_users": 3});
    let model = TrainedModel::train(&registry, "recent", &params, &data, &FitContext::silent())?;
    println!("params stored in the manifest: {}", model.manifest.params);

    // 4. Recommend: for a user nobody knows, and for a training user without what they saw.
    let show = |label: &str, query: &UserQuery| -> Result<(), Box<dyn Error>> {
        let seen: Vec<u32> = query.history.iter().map(|&(i, _)| i).collect();
        let recs = model.recommend(query, 5, &seen)?;
        let list: Vec<String> = recs
            .items
            .iter()
            .map(|&(i, s)| format!("{} ({s:.2} days)", model.items.id(i)))
            .collect();
        println!("{label}: {}", list.join(", "));
        Ok(())
    };
    show("new user", &UserQuery::default())?;
    let first = data.users.id(0).to_string();
    show(&first, &model.query_for_training_user(&data, 0))?;

    // 5. Save and load: the packed single byte string (what the extension stores) ...
    let bytes = model.to_bytes()?;
    let back = TrainedModel::from_bytes(&registry, &bytes)?;
    let q = model.query_for_training_user(&data, 0);
    if back.recommend(&q, 5, &[])? != model.recommend(&q, 5, &[])? {
        return Err("the reloaded model recommends differently".into());
    }
    println!("round trip through {} bytes: identical", bytes.len());
    if let Some(path) = save_bytes {
        std::fs::write(&path, &bytes)?;
        println!("wrote {}", path.display());
    }
    // ... or a directory with manifest.json and blobs/ (what the CLI writes).
    if let Some(dir) = save_dir {
        model.save_dir(&dir)?;
        TrainedModel::load_dir(&registry, &dir)?;
        println!("wrote {}", dir.display());
    }
    Ok(())
}

/// Reads a TSV with a header naming `user`, `item` and `timestamp` columns (others ignored).
fn read_tsv(path: &PathBuf) -> Result<Vec<RawInteraction>, Box<dyn Error>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().ok_or("empty file")?.split('\t').collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .ok_or_else(|| format!("no \"{name}\" column in the header"))
    };
    let (u, i, t) = (column("user")?, column("item")?, column("timestamp")?);
    let mut rows = Vec::new();
    for (n, line) in lines.enumerate().filter(|(_, l)| !l.is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        let bad = || format!("{}:{}: malformed line", path.display(), n + 2);
        rows.push(RawInteraction {
            user: f.get(u).ok_or_else(bad)?.to_string(),
            item: f.get(i).ok_or_else(bad)?.to_string(),
            weight: 1.0,
            timestamp: f.get(t).ok_or_else(bad)?.parse().map_err(|_| bad())?,
        });
    }
    Ok(rows)
}
