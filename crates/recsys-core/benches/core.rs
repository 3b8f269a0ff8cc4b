// SPDX-License-Identifier: BUSL-1.1
//! Micro-benchmarks of the core on generated data, with nothing but std:
//!
//!     cargo bench -p recsys-core --bench core
//!
//! prints the median wall time of top-k selection, ALS and item-kNN fits, and batch
//! recommendation for every user. Without `--bench` (as under `cargo test --all-targets`) it
//! runs each case once on tiny data, as a smoke test.

use std::hint::black_box;
use std::time::{Duration, Instant};

use recsys_core::data::InteractionsBuilder;
use recsys_core::topk::top_k;
use recsys_core::SplitMix64;
use recsys_core::{FitContext, Interactions, Registry, TrainedModel};

struct Scale {
    users: usize,
    items: usize,
    per_user: usize,
    runs: usize,
}

/// Users with `per_user` interactions each; item popularity is skewed (squared uniform), as in
/// real catalogues, so item-kNN has popular items with long neighbour lists.
fn generate(s: &Scale) -> Interactions {
    let mut rng = SplitMix64::new(7);
    let mut b = InteractionsBuilder::new();
    for u in 0..s.users {
        let user = format!("u{u:07}");
        for _ in 0..s.per_user {
            let x = rng.next_f32();
            let item = ((x * x) * s.items as f32) as usize % s.items;
            b.push(&user, &format!("i{item:06}"), 1.0, 0)
                .expect("generated ids and weights are valid");
        }
    }
    b.build().expect("generated data builds")
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn bench<T>(name: &str, runs: usize, mut f: impl FnMut() -> T) {
    let times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            black_box(f());
            start.elapsed()
        })
        .collect();
    println!(
        "{name:<44} median {:>10.3} ms  ({runs} runs)",
        median(times).as_secs_f64() * 1e3
    );
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let scale = if full {
        Scale {
            users: 50_000,
            items: 10_000,
            per_user: 20,
            runs: 5,
        }
    } else {
        Scale {
            users: 300,
            items: 200,
            per_user: 5,
            runs: 1,
        }
    };
    let data = generate(&scale);
    println!(
        "data: {} users x {} items, {} interactions; threads: {}",
        data.n_users(),
        data.n_items(),
        data.nnz(),
        rayon::current_num_threads()
    );

    let mut rng = SplitMix64::new(1);
    let mut scores: Vec<f32> = (0..50_000).map(|_| rng.next_f32()).collect();
    // With no exclusions `top_k` leaves the scores as they were, so one buffer serves all runs.
    bench("top_k: 50k scores, k = 10", scale.runs * 20, || {
        top_k(&mut scores, 10, &[])
    });

    let registry = Registry::builtin();
    let silent = FitContext::silent();
    let als_params = serde_json::json!({"factors": 64, "iterations": 5});
    bench("als fit: 64 factors, 5 iterations", scale.runs, || {
        TrainedModel::train(&registry, "als", &als_params, &data, &silent).expect("als fits")
    });
    let knn_params = serde_json::json!({"neighbors": 50, "shrinkage": 0.0});
    bench("itemknn fit: 50 neighbours", scale.runs, || {
        TrainedModel::train(&registry, "itemknn", &knn_params, &data, &silent)
            .expect("itemknn fits")
    });

    let queries: Vec<_> = {
        let m = TrainedModel::train(
            &registry,
            "popularity",
            &serde_json::Value::Null,
            &data,
            &silent,
        )
        .expect("popularity fits");
        (0..data.n_users() as u32)
            .map(|u| m.query_for_training_user(&data, u))
            .collect()
    };
    for (name, params) in [("als", &als_params), ("itemknn", &knn_params)] {
        let m = TrainedModel::train(&registry, name, params, &data, &silent).expect("model fits");
        bench(
            &format!("{name} recommend_many: every user, k = 10"),
            scale.runs,
            || m.recommend_many(&queries, 10, true).expect("k is valid"),
        );
        // The serving path: one user per call, their items excluded, as recsys.recommend does.
        let some: Vec<_> = queries.iter().step_by(25).collect();
        let seen: Vec<Vec<u32>> = some
            .iter()
            .map(|q| q.history.iter().map(|&(i, _)| i).collect())
            .collect();
        bench(
            &format!("{name} recommend: {} users one at a time", some.len()),
            scale.runs,
            || {
                some.iter()
                    .zip(&seen)
                    .map(|(q, s)| m.recommend(q, 10, s).expect("k is valid").items.len())
                    .sum::<usize>()
            },
        );
    }
}
