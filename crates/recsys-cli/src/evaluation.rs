// SPDX-License-Identifier: Apache-2.0
//! Glue between the core and recsys-eval: split interactions, train, recommend for the test
//! users excluding their train items, and score the lists.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use recsys_core::{IdMap, Interactions, RawInteraction, TrainedModel, UserQuery};
use recsys_eval::metrics::{
    distinct_users, evaluate, item_popularity, relevant_from_events, EvalContext,
};
use recsys_eval::{Event, MetricSummary, SplitStrategy};

use crate::error::CliError;

/// A dataset split into train and test, in one index space (the full data's id maps).
pub struct Prepared {
    pub train: Interactions,
    pub train_events: Vec<Event>,
    pub test_events: Vec<Event>,
    pub relevant: HashMap<u32, HashSet<u32>>,
}

pub fn events_of(data: &Interactions) -> Vec<Event> {
    let mut out = Vec::with_capacity(data.nnz());
    for u in 0..data.n_users() {
        let (items, weights) = data.by_user.row(u);
        let base = data.by_user.indptr[u];
        for (k, (&item, &weight)) in items.iter().zip(weights).enumerate() {
            out.push(Event {
                user: u as u32,
                item,
                weight,
                timestamp: data.timestamps[base + k],
            });
        }
    }
    out
}

pub fn interactions_of(
    users: &IdMap,
    items: &IdMap,
    events: &[Event],
) -> Result<Interactions, CliError> {
    let triples = events
        .iter()
        .map(|e| (e.user, e.item, e.weight, e.timestamp))
        .collect();
    Ok(Interactions::from_indexed(
        users.clone(),
        items.clone(),
        triples,
    )?)
}

pub fn prepare(raw: Vec<RawInteraction>, strategy: &SplitStrategy) -> Result<Prepared, CliError> {
    let full = Interactions::from_raw(raw)?;
    let split = recsys_eval::split(&events_of(&full), strategy)?;
    let train = interactions_of(&full.users, &full.items, &split.train)?;
    let relevant = relevant_from_events(&split.test);
    Ok(Prepared {
        train,
        train_events: split.train,
        test_events: split.test,
        relevant,
    })
}

/// Cosine similarity of two items' train user sets, for intra-list diversity.
pub fn cooccurrence_cosine(train: &Interactions) -> impl Fn(u32, u32) -> f64 + Sync + '_ {
    move |a, b| {
        let (ua, ub) = (
            train.by_item.row(a as usize).0,
            train.by_item.row(b as usize).0,
        );
        if ua.is_empty() || ub.is_empty() {
            return 0.0;
        }
        let (mut i, mut j, mut common) = (0, 0, 0usize);
        while i < ua.len() && j < ub.len() {
            match ua[i].cmp(&ub[j]) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    common += 1;
                    i += 1;
                    j += 1;
                }
            }
        }
        common as f64 / ((ua.len() * ub.len()) as f64).sqrt()
    }
}

/// Scores ranked lists (user → items, best first) against the test set.
pub fn score_lists(
    prepared: &Prepared,
    recommendations: &HashMap<u32, Vec<u32>>,
    k: usize,
    diversity: bool,
) -> Result<MetricSummary, CliError> {
    let n_items = prepared.train.n_items();
    let popularity = item_popularity(&prepared.train_events, n_items);
    let cosine = cooccurrence_cosine(&prepared.train);
    let ctx = EvalContext {
        n_items,
        item_popularity: &popularity,
        n_train_users: distinct_users(&prepared.train_events),
        similarity: if diversity { Some(&cosine) } else { None },
    };
    Ok(evaluate(recommendations, &prepared.relevant, &ctx, k)?)
}

/// Recommends `k` items to every test user, excluding their train items; returns the lists
/// and the seconds it took.
pub fn recommend_test_users(
    model: &TrainedModel,
    prepared: &Prepared,
    k: usize,
) -> Result<(HashMap<u32, Vec<u32>>, f64), CliError> {
    let mut users: Vec<u32> = prepared.relevant.keys().copied().collect();
    users.sort_unstable();
    let started = Instant::now();
    let queries: Vec<UserQuery> = users
        .iter()
        .map(|&u| model.query_for_training_user(&prepared.train, u))
        .collect();
    let lists = model.recommend_many(&queries, k, true)?;
    let seconds = started.elapsed().as_secs_f64();
    let out = users
        .into_iter()
        .zip(lists)
        .map(|(u, r)| (u, r.items.into_iter().map(|(i, _)| i).collect()))
        .collect();
    Ok((out, seconds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use recsys_core::{FitContext, Registry};

    fn raw() -> Vec<RawInteraction> {
        let mut out = Vec::new();
        for u in 0..40 {
            for i in 0..8 {
                let item = if u % 2 == 0 { i } else { 8 + i };
                out.push(RawInteraction {
                    user: format!("u{u}"),
                    item: format!("i{item:02}"),
                    weight: 1.0,
                    timestamp: i as i64,
                });
            }
        }
        out
    }

    #[test]
    fn split_keeps_test_items_out_of_train_histories() {
        let p = prepare(raw(), &SplitStrategy::default_protocol()).unwrap();
        assert_eq!(p.train_events.len() + p.test_events.len(), 320);
        for e in &p.test_events {
            let (items, _) = p.train.by_user.row(e.user as usize);
            assert!(!items.contains(&e.item));
        }
    }

    #[test]
    fn a_model_of_the_structure_beats_popularity() {
        // Two disjoint groups: itemknn only recommends the user's own group's items.
        let p = prepare(raw(), &SplitStrategy::default_protocol()).unwrap();
        let registry = Registry::builtin();
        let ndcg = |name: &str| {
            let m = TrainedModel::train(
                &registry,
                name,
                &serde_json::Value::Null,
                &p.train,
                &FitContext::silent(),
            )
            .unwrap();
            let (lists, _) = recommend_test_users(&m, &p, 5).unwrap();
            score_lists(&p, &lists, 5, true).unwrap()
        };
        let (knn, pop) = (ndcg("itemknn"), ndcg("popularity"));
        assert!(knn.ndcg > pop.ndcg, "{knn:?} vs {pop:?}");
        assert_eq!(knn.users, 40);
        assert!(knn.diversity.is_some());
    }
}
