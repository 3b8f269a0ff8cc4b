// SPDX-License-Identifier: BUSL-1.1
//! Offline evaluation of trained models: split interactions, train on one side, recommend to
//! the test users excluding their train items, score the lists with recsys-eval. The CLI's
//! `eval` and the extension's `recsys.eval` both run this, so their numbers agree.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use recsys_eval::metrics::{
    distinct_users, evaluate, item_popularity, relevant_from_events, EvalContext,
};
use recsys_eval::{Event, MetricSummary, SplitStrategy};

use crate::data::{IdMap, Interactions};
use crate::error::Result;
use crate::trained::{TrainedModel, UserQuery};

/// A dataset split into train and test, in one index space (the full data's id maps).
pub struct Holdout {
    pub train: Interactions,
    pub train_events: Vec<Event>,
    pub test_events: Vec<Event>,
    pub relevant: HashMap<u32, HashSet<u32>>,
}

pub fn events_of(data: &Interactions) -> Result<Vec<Event>> {
    let stamps = data.timestamps()?;
    let mut out = Vec::with_capacity(data.nnz());
    for u in 0..data.n_users() {
        let (items, weights) = data.by_user.row(u);
        let base = data.by_user.indptr[u];
        for (k, (&item, &weight)) in items.iter().zip(weights).enumerate() {
            out.push(Event {
                user: u as u32,
                item,
                weight,
                timestamp: stamps[base + k],
            });
        }
    }
    Ok(out)
}

pub fn interactions_of(users: &IdMap, items: &IdMap, events: &[Event]) -> Result<Interactions> {
    let triples = events
        .iter()
        .map(|e| (e.user, e.item, e.weight, e.timestamp))
        .collect();
    Interactions::from_indexed(users.clone(), items.clone(), triples)
}

impl Holdout {
    pub fn split(full: &Interactions, strategy: &SplitStrategy) -> Result<Holdout> {
        let split = recsys_eval::split(&events_of(full)?, strategy)?;
        Self::from_events(&full.users, &full.items, split.train, split.test)
    }

    /// From train and test events already split (e.g. two files).
    pub fn from_events(
        users: &IdMap,
        items: &IdMap,
        train_events: Vec<Event>,
        test_events: Vec<Event>,
    ) -> Result<Holdout> {
        Ok(Holdout {
            train: interactions_of(users, items, &train_events)?,
            relevant: relevant_from_events(&test_events),
            train_events,
            test_events,
        })
    }

    /// Ranks `k` items for every test user, excluding their train items; returns the lists
    /// and the seconds it took.
    pub fn recommend_test_users(
        &self,
        model: &TrainedModel,
        k: usize,
    ) -> Result<(HashMap<u32, Vec<u32>>, f64)> {
        let mut users: Vec<u32> = self.relevant.keys().copied().collect();
        users.sort_unstable();
        let started = Instant::now();
        let queries: Vec<UserQuery> = users
            .iter()
            .map(|&u| model.query_for_training_user(&self.train, u))
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

    /// Scores ranked lists (user → items, best first) against the test set.
    pub fn score(
        &self,
        recommendations: &HashMap<u32, Vec<u32>>,
        k: usize,
        diversity: bool,
    ) -> Result<MetricSummary> {
        let n_items = self.train.n_items();
        let popularity = item_popularity(&self.train_events, n_items);
        let cosine = cooccurrence_cosine(&self.train);
        let ctx = EvalContext {
            n_items,
            item_popularity: &popularity,
            n_train_users: distinct_users(&self.train_events),
            similarity: if diversity { Some(&cosine) } else { None },
        };
        Ok(evaluate(recommendations, &self.relevant, &ctx, k)?)
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::RawInteraction;
    use crate::models::{FitContext, Registry};

    fn two_groups() -> Interactions {
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
        Interactions::from_raw(out).unwrap()
    }

    #[test]
    fn split_keeps_test_items_out_of_train_histories() {
        let h = Holdout::split(&two_groups(), &SplitStrategy::default_protocol()).unwrap();
        assert_eq!(h.train_events.len() + h.test_events.len(), 320);
        for e in &h.test_events {
            assert!(!h.train.by_user.row(e.user as usize).0.contains(&e.item));
        }
    }

    #[test]
    fn a_model_of_the_structure_beats_popularity() {
        // Two disjoint groups: itemknn only recommends the user's own group's items.
        let h = Holdout::split(&two_groups(), &SplitStrategy::default_protocol()).unwrap();
        let registry = Registry::builtin();
        let score = |name: &str| {
            let m = TrainedModel::train(
                &registry,
                name,
                &serde_json::Value::Null,
                &h.train,
                &FitContext::silent(),
            )
            .unwrap();
            let (lists, _) = h.recommend_test_users(&m, 5).unwrap();
            h.score(&lists, 5, true).unwrap()
        };
        let (knn, pop) = (score("itemknn"), score("popularity"));
        assert!(knn.ndcg > pop.ndcg, "{knn:?} vs {pop:?}");
        assert_eq!(knn.users, 40);
        assert!(knn.diversity.is_some());
    }
}
