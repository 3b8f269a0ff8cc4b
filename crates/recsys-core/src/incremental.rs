// SPDX-License-Identifier: BUSL-1.1
//! Incremental training: a new version made from the model's previous one and what changed
//! since ([`Changes`]), where the algorithm can ([`Params::updates`](crate::models::Params::updates): popularity exactly, ALS
//! by folding in), instead of a fit on everything. Users and items are matched by external
//! id; the ones the previous version never saw get new rows after its own.

use std::collections::HashSet;
use std::time::Instant;

use serde_json::Value;

use crate::artifact::DataSummary;
use crate::data::{IdMap, Interactions, InteractionsBuilder, RawInteraction};
use crate::error::{CoreError, Result};
use crate::models::{Configured, FitContext, Update};
use crate::trained::TrainedModel;

/// Takes the `incremental` flag out of training parameters. It says how to train, not what
/// the model is, so the algorithm never sees it and the version's stored parameters omit it.
pub fn take_incremental(params: &mut Value) -> Result<bool> {
    let Some(object) = params.as_object_mut() else {
        return Ok(false);
    };
    match object.remove("incremental") {
        None => Ok(false),
        Some(Value::Bool(on)) => Ok(on),
        Some(_) => Err(CoreError::param("incremental", "must be true or false")),
    }
}

/// What changed since a previous version, as its source tells: the whole current history of
/// every user with interactions the previous version was not trained on, and the part of
/// those histories it was trained on. Both keep one timestamp per interaction.
pub struct Changes {
    pub histories: Interactions,
    pub seen: Interactions,
}

impl Changes {
    /// Builds both from one pass over the changed users' rows, each told whether the previous
    /// version saw it.
    pub fn builder() -> ChangesBuilder {
        ChangesBuilder {
            histories: InteractionsBuilder::new(),
            seen: InteractionsBuilder::new(),
        }
    }

    /// The changes in `rows` (a whole data set) when rows newer than `previous`'s latest
    /// interaction are the new ones: what a file with no other record of what a version read
    /// can tell. A row as old as that is taken as seen, a late one included.
    pub fn newer_than(rows: &[RawInteraction], previous: &TrainedModel) -> Result<Changes> {
        let latest = previous.manifest.data.max_timestamp;
        let is_new = |r: &RawInteraction| {
            latest.is_none_or(|t| r.timestamp > t) || previous.users.get(&r.user).is_none()
        };
        let changed: HashSet<&str> = rows
            .iter()
            .filter(|r| is_new(r))
            .map(|r| r.user.as_str())
            .collect();
        let mut builder = Changes::builder();
        for r in rows.iter().filter(|r| changed.contains(r.user.as_str())) {
            builder.push(&r.user, &r.item, r.weight, r.timestamp, !is_new(r))?;
        }
        builder.build()
    }

    /// Whether no user changed.
    pub fn is_empty(&self) -> bool {
        self.histories.nnz() == 0
    }
}

pub struct ChangesBuilder {
    histories: InteractionsBuilder,
    seen: InteractionsBuilder,
}

impl ChangesBuilder {
    pub fn push(
        &mut self,
        user: &str,
        item: &str,
        weight: f32,
        timestamp: i64,
        seen: bool,
    ) -> Result<()> {
        self.histories.push(user, item, weight, timestamp)?;
        if seen {
            self.seen.push(user, item, weight, timestamp)?;
        }
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.histories.len()
    }

    pub fn is_empty(&self) -> bool {
        self.histories.is_empty()
    }

    pub fn peak_bytes(&self) -> u64 {
        self.histories.peak_bytes() + self.seen.peak_bytes()
    }

    pub fn build(self) -> Result<Changes> {
        Ok(Changes {
            histories: self.histories.build()?,
            seen: self.seen.build()?,
        })
    }
}

impl TrainedModel {
    /// The algorithm's [`Params::update`](crate::models::Params::update) of `previous` with `changes`; `manifest.metrics`
    /// says `"incremental": true`. Fails for an algorithm that cannot ([`Params::updates`](crate::models::Params::updates):
    /// the caller trains on everything instead) or one other than `previous`'s.
    pub fn update(
        configured: &Configured,
        changes: &Changes,
        previous: &TrainedModel,
        ctx: &FitContext,
    ) -> Result<Self> {
        require_same_algorithm(previous.algorithm(), configured)?;
        let name = configured.algorithm().name();
        let started = Instant::now();
        let Changes { histories, seen } = changes;
        let users = merged(&previous.users, &histories.users)?;
        let items = merged(&previous.items, &histories.items)?;
        let update = Update {
            algorithm: name,
            previous: previous.model(),
            previous_data: &previous.manifest.data,
            histories,
            seen,
            users: rows_in(&histories.users, &users)?,
            items: rows_in(&histories.items, &items)?,
            seen_items: rows_in(&seen.items, &items)?,
            previous_shape: (previous.users.len(), previous.items.len()),
            shape: (users.len(), items.len()),
        };
        let model = configured.params().update(&update, ctx)?;
        let mut popularity: Vec<f64> = previous.popularity.iter().map(|&p| f64::from(p)).collect();
        popularity.resize(items.len(), 0.0);
        update.add_pair_changes(&mut popularity, |_| 1.0)?;
        let popularity: Vec<f32> = popularity.into_iter().map(|p| p.max(0.0) as f32).collect();
        let data = summary(&previous.manifest.data, changes, users.len(), items.len());
        let mut trained =
            Self::assemble(configured, data, users, items, popularity, model, started);
        trained
            .manifest
            .metrics
            .insert("incremental".into(), true.into());
        Ok(trained)
    }
}

/// Refuses `configured` when it names another algorithm than `previous` (the algorithm of
/// the version to update): an incremental training continues a model, it cannot change what
/// it is.
pub fn require_same_algorithm(previous: &str, configured: &Configured) -> Result<()> {
    let name = configured.algorithm().name();
    if previous == name {
        return Ok(());
    }
    Err(CoreError::param(
        "incremental",
        format!(
            "the active version was trained with {previous}, not {name}; train without \
             \"incremental\" to change the algorithm"
        ),
    ))
}

/// `old`'s ids, then those of `new` it lacks, in `new`'s order.
fn merged(old: &IdMap, new: &IdMap) -> Result<IdMap> {
    let mut ids = old.ids().to_vec();
    ids.extend(new.ids().iter().filter(|id| old.get(id).is_none()).cloned());
    IdMap::from_ids(ids)
}

/// For each id of `part`, its index in `whole`, which holds them all.
fn rows_in(part: &IdMap, whole: &IdMap) -> Result<Vec<u32>> {
    part.ids()
        .iter()
        .map(|id| {
            whole.get(id).ok_or_else(|| {
                CoreError::InvalidInput(format!("{id} is missing from the merged ids"))
            })
        })
        .collect()
}

/// The previous data with the changed users' histories in place of what it had of them.
fn summary(previous: &DataSummary, changes: &Changes, users: usize, items: usize) -> DataSummary {
    let h = &changes.histories;
    DataSummary {
        users,
        items,
        interactions: (previous.interactions + h.nnz()).saturating_sub(changes.seen.nnz()),
        min_timestamp: option_min(previous.min_timestamp, h.min_timestamp()),
        max_timestamp: previous.max_timestamp.max(h.max_timestamp()),
        source: None,
    }
}

fn option_min(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::Registry;
    use serde_json::json;

    fn configure(algorithm: &str, params: Value) -> Configured {
        Registry::builtin().configure(algorithm, &params).unwrap()
    }

    /// Users of community A (even) like items a0.., of B (odd) b0.., each missing one; at
    /// time `t`.
    fn communities(
        users: std::ops::Range<u32>,
        items_per_side: u32,
        t: i64,
    ) -> Vec<RawInteraction> {
        let mut rows = Vec::new();
        for u in users {
            let side = if u % 2 == 0 { "a" } else { "b" };
            for i in 0..items_per_side {
                if i != u % items_per_side {
                    rows.push(RawInteraction {
                        user: format!("u{u:03}"),
                        item: format!("{side}{i}"),
                        weight: 1.0,
                        timestamp: t,
                    });
                }
            }
        }
        rows
    }

    fn data(rows: &[RawInteraction]) -> Interactions {
        Interactions::from_raw(rows.iter().cloned()).unwrap()
    }

    fn user_vector(model: &TrainedModel, user: &str, f: usize) -> Vec<f32> {
        let mut out = vec![0.0; f];
        assert!(model
            .model()
            .user_vector(model.users.get(user), &[], &mut out));
        out
    }

    /// 40 users on items 0-3 at time 0, then at time 100 two new users and a new item on
    /// each side, which the even users of A also take.
    fn before_and_after() -> (Vec<RawInteraction>, Vec<RawInteraction>) {
        let before = communities(0..40, 4, 0);
        let mut after = before.clone();
        after.extend(communities(40..42, 5, 100));
        after.extend((0..40).step_by(2).map(|u| RawInteraction {
            user: format!("u{u:03}"),
            item: "a4".into(),
            weight: 2.0,
            timestamp: 100 + i64::from(u),
        }));
        (before, after)
    }

    fn updated(algorithm: &str, params: Value) -> (TrainedModel, TrainedModel, Interactions) {
        let configured = configure(algorithm, params);
        let ctx = FitContext::silent();
        let (before, after) = before_and_after();
        let previous = TrainedModel::fit(&configured, &data(&before), &ctx).unwrap();
        let changes = Changes::newer_than(&after, &previous).unwrap();
        let updated = TrainedModel::update(&configured, &changes, &previous, &ctx).unwrap();
        (previous, updated, data(&after))
    }

    #[test]
    fn takes_the_flag_out_of_the_parameters() {
        let mut params = json!({"factors": 8, "incremental": true});
        assert!(take_incremental(&mut params).unwrap());
        assert_eq!(params, json!({"factors": 8}));
        assert!(!take_incremental(&mut json!({"incremental": false})).unwrap());
        assert!(!take_incremental(&mut json!({})).unwrap());
        let err = take_incremental(&mut json!({"incremental": "yes"})).unwrap_err();
        assert!(matches!(err, CoreError::InvalidParameter { .. }), "{err}");
    }

    #[test]
    fn changes_are_the_whole_histories_of_users_with_newer_rows() {
        let (before, after) = before_and_after();
        let pop = configure("popularity", Value::Null);
        let previous = TrainedModel::fit(&pop, &data(&before), &FitContext::silent()).unwrap();
        let changes = Changes::newer_than(&after, &previous).unwrap();
        // The 20 users of A and the two new ones; the B users of the old data did not change.
        assert_eq!(changes.histories.n_users(), 22);
        assert!(changes.histories.users.get("u001").is_none());
        let u0 = changes.histories.users.get("u000").unwrap() as usize;
        assert_eq!(changes.histories.by_user.row(u0).0.len(), 4);
        assert_eq!(changes.seen.n_users(), 20);
        assert!(changes.seen.items.get("a4").is_none());
        assert_eq!(changes.seen.nnz(), 20 * 3);
        assert!(Changes::newer_than(&before, &previous).unwrap().is_empty());
    }

    #[test]
    fn popularity_updates_to_what_a_full_fit_gives() {
        for params in [json!({}), json!({"half_life_days": 0.001})] {
            let (_, updated, all) = updated("popularity", params.clone());
            let full = TrainedModel::fit(
                &configure("popularity", params.clone()),
                &all,
                &FitContext::silent(),
            )
            .unwrap();
            assert_eq!(updated.manifest.metrics["incremental"], json!(true));
            assert_eq!(
                updated.manifest.data.interactions,
                full.manifest.data.interactions
            );
            assert_eq!(
                updated.manifest.data.max_timestamp,
                full.manifest.data.max_timestamp
            );
            let score = |m: &TrainedModel| {
                let mut out = vec![0.0; m.n_items()];
                assert!(m.model().score(None, &[], &mut out));
                let mut by_id: Vec<(String, f32)> =
                    m.items.ids().iter().cloned().zip(out).collect();
                by_id.sort_by(|a, b| a.0.cmp(&b.0));
                by_id
            };
            for ((id, a), (_, b)) in score(&updated).into_iter().zip(score(&full)) {
                assert!(
                    (a - b).abs() <= 1e-4 * b.abs().max(1.0),
                    "{params}: {id} {a} vs {b}"
                );
            }
            for id in full.items.ids() {
                let (u, f) = (updated.items.get(id).unwrap(), full.items.get(id).unwrap());
                assert_eq!(
                    updated.popularity[u as usize], full.popularity[f as usize],
                    "{id}"
                );
            }
        }
    }

    #[test]
    fn als_folds_in_new_users_and_items_and_keeps_the_rest() {
        let (previous, resumed, all) = updated("als", json!({"factors": 4, "iterations": 20}));
        assert_eq!(resumed.manifest.metrics["incremental"], json!(true));
        assert_eq!(resumed.users.len(), 42);
        // An unchanged user keeps its factors exactly; a changed one moves.
        assert_eq!(
            user_vector(&previous, "u001", 4),
            user_vector(&resumed, "u001", 4)
        );
        assert_ne!(
            user_vector(&previous, "u000", 4),
            user_vector(&resumed, "u000", 4)
        );
        for (user, own, other) in [("u040", "a", "b"), ("u041", "b", "a")] {
            let query = resumed.query_for_training_user(&all, all.users.get(user).unwrap());
            let recs = resumed.recommend(&query, 10, &[]).unwrap();
            assert!(!recs.fallback, "{user} fell back to popularity");
            let rank = |prefix: &str| {
                recs.items
                    .iter()
                    .position(|(i, _)| resumed.items.id(*i).starts_with(prefix))
                    .unwrap()
            };
            assert!(rank(own) < rank(other), "{user}: {:?}", recs.items);
        }
        // The new item a4 scores high for an A user who does not have it yet, above B's.
        let mut scores = vec![0.0; resumed.n_items()];
        let u = resumed.users.get("u040").unwrap();
        assert!(resumed.model().score(Some(u), &[], &mut scores));
        let item = |id: &str| resumed.items.get(id).unwrap() as usize;
        assert!(scores[item("a4")] > scores[item("b1")], "{scores:?}");
    }

    #[test]
    fn refuses_another_algorithm_a_factor_count_or_one_that_cannot_update() {
        let (before, after) = before_and_after();
        let ctx = FitContext::silent();
        let previous = TrainedModel::fit(
            &configure("als", json!({"factors": 4})),
            &data(&before),
            &ctx,
        )
        .unwrap();
        let changes = Changes::newer_than(&after, &previous).unwrap();
        for other in [
            configure("als", json!({"factors": 8})),
            configure("itemknn", Value::Null),
        ] {
            let err = TrainedModel::update(&other, &changes, &previous, &ctx)
                .err()
                .expect("refused");
            assert!(matches!(err, CoreError::InvalidParameter { .. }), "{err}");
        }
        let knn = configure("itemknn", Value::Null);
        assert!(!knn.params().updates());
        let previous = TrainedModel::fit(&knn, &data(&before), &ctx).unwrap();
        let err = TrainedModel::update(&knn, &changes, &previous, &ctx)
            .err()
            .expect("refused");
        assert!(
            err.to_string().contains("cannot train incrementally"),
            "{err}"
        );
    }
}
