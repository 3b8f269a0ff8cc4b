// SPDX-License-Identifier: BUSL-1.1
//! Incremental training: a new version started from the model's previous one instead of from
//! scratch, where the algorithm can resume ([`Params::refit`]: ALS from its factors). Users
//! and items are matched by external id, so rows added, removed or reordered since are fine;
//! the ones the previous version never saw start fresh.

use std::time::Instant;

use serde_json::Value;

use crate::data::{IdMap, Interactions};
use crate::error::{CoreError, Result};
use crate::models::{Configured, FitContext, WarmStart};
use crate::trained::{require_data, TrainedModel};

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

impl TrainedModel {
    /// [`TrainedModel::refit`] from `previous` when given, else [`TrainedModel::fit`]: what a
    /// caller that takes an optional previous version calls.
    pub fn fit_from(
        configured: &Configured,
        data: &Interactions,
        previous: Option<&TrainedModel>,
        ctx: &FitContext,
    ) -> Result<Self> {
        match previous {
            Some(previous) => Self::refit(configured, data, previous, ctx),
            None => Self::fit(configured, data, ctx),
        }
    }

    /// Trains on `data` starting from `previous` where the algorithm can, else from scratch;
    /// `manifest.metrics["incremental"]` says which it was.
    pub fn refit(
        configured: &Configured,
        data: &Interactions,
        previous: &TrainedModel,
        ctx: &FitContext,
    ) -> Result<Self> {
        let name = configured.algorithm().name();
        if previous.algorithm() != name {
            return Err(CoreError::param(
                "incremental",
                format!(
                    "the active version was trained with {}, not {name}; train without \
                     \"incremental\" to change the algorithm",
                    previous.algorithm()
                ),
            ));
        }
        require_data(data)?;
        let warm = WarmStart {
            model: previous.model(),
            users: rows_in(&data.users, &previous.users),
            items: rows_in(&data.items, &previous.items),
        };
        let started = Instant::now();
        let params = configured.params();
        let (model, resumed) = match params.refit(data, &warm, ctx)? {
            Some(model) => (model, true),
            None => (params.fit(data, ctx)?, false),
        };
        let mut trained = Self::wrap(configured, data, model, started);
        trained
            .manifest
            .metrics
            .insert("incremental".into(), resumed.into());
        Ok(trained)
    }
}

/// For each id of `new`, its index in `old`.
fn rows_in(new: &IdMap, old: &IdMap) -> Vec<Option<u32>> {
    new.ids().iter().map(|id| old.get(id)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::RawInteraction;
    use crate::models::Registry;
    use serde_json::json;

    fn configure(algorithm: &str, params: Value) -> Configured {
        Registry::builtin().configure(algorithm, &params).unwrap()
    }

    /// Users of community A (even) like items a0-a4, of B (odd) b0-b4, each missing one.
    fn communities(users: std::ops::Range<u32>, items_per_side: u32) -> Vec<RawInteraction> {
        let mut rows = Vec::new();
        for u in users {
            let side = if u % 2 == 0 { "a" } else { "b" };
            for i in 0..items_per_side {
                if i != u % items_per_side {
                    rows.push(RawInteraction {
                        user: format!("u{u:03}"),
                        item: format!("{side}{i}"),
                        weight: 1.0,
                        timestamp: 0,
                    });
                }
            }
        }
        rows
    }

    fn data(rows: Vec<RawInteraction>) -> Interactions {
        Interactions::from_raw(rows).unwrap()
    }

    fn user_vector(model: &TrainedModel, user: &str, f: usize) -> Vec<f32> {
        let mut out = vec![0.0; f];
        assert!(model
            .model()
            .user_vector(model.users.get(user), &[], &mut out));
        out
    }

    fn distance(a: &[f32], b: &[f32]) -> f32 {
        let d: f32 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
        d.sqrt() / a.iter().map(|x| x * x).sum::<f32>().sqrt()
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
    fn als_resumes_from_the_previous_factors() {
        let als = configure("als", json!({"factors": 4, "iterations": 30}));
        let d = data(communities(0..40, 5));
        let ctx = FitContext::silent();
        let previous = TrainedModel::fit(&als, &d, &ctx).unwrap();
        let resumed = TrainedModel::refit(&als, &d, &previous, &ctx).unwrap();
        assert_eq!(resumed.manifest.metrics["incremental"], json!(true));
        let two_sweeps = configure("als", json!({"factors": 4, "iterations": 2}));
        let scratch = TrainedModel::fit(&two_sweeps, &d, &ctx).unwrap();
        let before = user_vector(&previous, "u007", 4);
        // Converged factors barely move in two more sweeps; two sweeps from scratch land
        // elsewhere.
        assert!(distance(&before, &user_vector(&resumed, "u007", 4)) < 0.05);
        assert!(distance(&before, &user_vector(&scratch, "u007", 4)) > 0.2);
    }

    #[test]
    fn new_users_and_items_are_solved_not_left_at_zero() {
        let als = configure("als", json!({"factors": 4, "iterations": 20}));
        let ctx = FitContext::silent();
        let previous = TrainedModel::fit(&als, &data(communities(0..40, 4)), &ctx).unwrap();
        // Two new users, and a fifth item on each side that previous never saw.
        let d = data(communities(0..42, 5));
        let resumed = TrainedModel::refit(&als, &d, &previous, &ctx).unwrap();
        for (user, own, other) in [("u040", "a", "b"), ("u041", "b", "a")] {
            let query = resumed.query_for_training_user(&d, d.users.get(user).unwrap());
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
        let mut scores = vec![0.0; resumed.n_items()];
        let u = resumed.users.get("u001").unwrap();
        assert!(resumed.model().score(Some(u), &[], &mut scores));
        let new_b = resumed.items.get("b4").unwrap() as usize;
        let old_a = resumed.items.get("a1").unwrap() as usize;
        assert!(scores[new_b] > scores[old_a], "{scores:?}");
    }

    #[test]
    fn an_algorithm_without_a_warm_start_fits_from_scratch() {
        let pop = configure("popularity", Value::Null);
        let d = data(communities(0..10, 5));
        let ctx = FitContext::silent();
        let previous = TrainedModel::fit(&pop, &data(communities(0..6, 5)), &ctx).unwrap();
        let refit = TrainedModel::refit(&pop, &d, &previous, &ctx).unwrap();
        assert_eq!(refit.manifest.metrics["incremental"], json!(false));
        let full = TrainedModel::fit(&pop, &d, &ctx).unwrap();
        let mut a = vec![0.0; d.n_items()];
        let mut b = a.clone();
        assert!(refit.model().score(None, &[(0, 1.0)], &mut a));
        assert!(full.model().score(None, &[(0, 1.0)], &mut b));
        assert_eq!(a, b);
    }

    #[test]
    fn refuses_another_algorithm_or_factor_count() {
        let d = data(communities(0..10, 5));
        let ctx = FitContext::silent();
        let previous =
            TrainedModel::fit(&configure("als", json!({"factors": 4})), &d, &ctx).unwrap();
        for other in [
            configure("als", json!({"factors": 8})),
            configure("itemknn", Value::Null),
        ] {
            let err = TrainedModel::refit(&other, &d, &previous, &ctx)
                .err()
                .expect("refused");
            assert!(matches!(err, CoreError::InvalidParameter { .. }), "{err}");
        }
    }
}
