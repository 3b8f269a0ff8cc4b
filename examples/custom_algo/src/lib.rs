// SPDX-License-Identifier: Apache-2.0
//! "recent": a hello-world recommendation algorithm for recsys.
//!
//! Items are ranked by how recently anyone interacted with them: the score of an item is
//! minus the days between its latest interaction and the latest interaction in the data, so
//! the newest item scores 0 and the others score below it. Items with fewer than `min_users`
//! distinct users are never recommended. Every user gets the same ranking, minus the items
//! they have already seen.
//!
//! It shows the whole contract (algorithm API version 2): [`Algorithm`] (name, version, and
//! the check that turns JSON into typed parameters), [`Params`] (what depends on the checked
//! parameters: fit, load, memory, timestamps) and [`Model`] (score, blobs). See README.md for
//! the walk-through.

use serde::{Deserialize, Serialize};

use recsys_core::artifact::{Artifact, Blob};
use recsys_core::models::{ensure, FitContext, Guarded, Model, ParamGuard, Params};
use recsys_core::{CoreError, Interactions, Result};

/// The parameters, with `#[serde(default)]` so `{}` or `null` means "all defaults" and
/// `deny_unknown_fields` so a typo is an error rather than silently ignored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecentParams {
    /// Only items with at least this many distinct users are recommended.
    pub min_users: u32,
}

impl Default for RecentParams {
    fn default() -> Self {
        RecentParams { min_users: 1 }
    }
}

/// Marks an item that is never recommended in the `age_seconds` blob.
const NOT_ELIGIBLE: u32 = u32::MAX;
const SECONDS_PER_DAY: f32 = 86_400.0;

/// The algorithm: the parameter struct says everything ([`ParamGuard`]); register
/// [`RECENT`] once per [`recsys_core::Registry`].
pub type Recent = Guarded<RecentParams>;
pub const RECENT: Recent = Guarded::new();

/// The trained model: one number per item.
struct RecentModel {
    /// Seconds between the item's latest interaction and the data's latest interaction, or
    /// [`NOT_ELIGIBLE`].
    age_seconds: Vec<u32>,
}

impl ParamGuard for RecentParams {
    const ALGORITHM: &'static str = "recent";
    /// Version 1 of this algorithm's blobs and scoring. Bump it when either changes: a model
    /// saved by another version is then refused at load instead of being misread.
    const VERSION: u32 = 1;
    const SUMMARY: &'static str = "items with the most recent interactions first";

    /// The one place values are checked (after `Guarded` parsed the JSON, refusing unknown
    /// keys): everything after works on the checked struct.
    fn check(&self) -> Result<()> {
        ensure(self.min_users >= 1, "min_users", "must be at least 1")
    }
}

impl Params for RecentParams {
    fn fit(&self, data: &Interactions, ctx: &FitContext) -> Result<Box<dyn Model>> {
        let p = self;
        let n_items = data.n_items();
        // `timestamps()` is aligned with `by_user.indices`: entry k is the latest timestamp of
        // the (user, item) pair stored at position k. They are there because this algorithm
        // keeps the default `reads_timestamps` (true).
        let mut latest = vec![i64::MIN; n_items];
        for (&item, &t) in data.by_user.indices.iter().zip(data.timestamps()?) {
            let slot = &mut latest[item as usize];
            *slot = (*slot).max(t);
        }
        let reference = data.max_timestamp().unwrap_or(0);
        let age_seconds = (0..n_items)
            .map(|i| {
                // by_item is items x users, so a row's length is the item's distinct users.
                let users = data.by_item.indptr[i + 1] - data.by_item.indptr[i];
                if users < p.min_users as usize {
                    NOT_ELIGIBLE
                } else {
                    // Clamped below NOT_ELIGIBLE: an item 136 years old is still eligible.
                    (reference - latest[i]).clamp(0, i64::from(NOT_ELIGIBLE - 1)) as u32
                }
            })
            .collect();
        // Long fits call this regularly; an error (cancel) must be returned from fit.
        ctx.report("recent", 1, 1)?;
        Ok(Box::new(RecentModel { age_seconds }))
    }

    fn load(
        &self,
        artifact: &mut Artifact,
        _n_users: usize,
        n_items: usize,
    ) -> Result<Box<dyn Model>> {
        // Checksums, dtypes and shapes were verified by the artifact reader; what is left to
        // check is what only this algorithm knows: one age per item.
        let age_seconds = artifact.take_u32("age_seconds")?;
        if age_seconds.len() != n_items {
            return Err(CoreError::Artifact(format!(
                "recent: age_seconds has {} entries for {n_items} items",
                age_seconds.len()
            )));
        }
        Ok(Box::new(RecentModel { age_seconds }))
    }
}

impl Model for RecentModel {
    fn score(&self, _user: Option<u32>, _history: &[(u32, f32)], out: &mut [f32]) -> bool {
        for (o, &age) in out.iter_mut().zip(&self.age_seconds) {
            // -inf is never returned by top-k selection.
            *o = if age == NOT_ELIGIBLE {
                f32::NEG_INFINITY
            } else {
                0.0 - age as f32 / SECONDS_PER_DAY
            };
        }
        // The same list for everyone, known or not: never fall back to popularity.
        true
    }

    fn blobs(&self) -> Vec<Blob> {
        vec![Blob::u32("age_seconds", self.age_seconds.clone())]
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use recsys_core::models::Algorithm;
    use recsys_core::{RawInteraction, Registry, TrainedModel, UserQuery};
    use serde_json::json;

    use super::*;
    use serde_json::Value;

    fn registry() -> Registry {
        let mut r = Registry::builtin();
        r.register(Arc::new(RECENT)).unwrap();
        r
    }

    /// Items a..d, latest interaction at t = 100, 300, 200, 50 (seconds);
    /// users: a {u1}, b {u1, u2}, c {u2, u3}, d {u3}.
    fn tiny() -> Interactions {
        let rows = [
            ("u1", "a", 100),
            ("u1", "b", 10),
            ("u2", "b", 300),
            ("u2", "c", 150),
            ("u3", "c", 200),
            ("u3", "d", 50),
        ];
        Interactions::from_raw(rows.iter().map(|&(u, i, t)| RawInteraction {
            user: u.into(),
            item: i.into(),
            weight: 1.0,
            timestamp: t,
        }))
        .unwrap()
    }

    fn train(params: Value) -> TrainedModel {
        TrainedModel::train(
            &registry(),
            "recent",
            &params,
            &tiny(),
            &FitContext::silent(),
        )
        .unwrap()
    }

    /// Recommended item ids for a user of `tiny()` (or an unknown user), seen items excluded.
    fn ids(model: &TrainedModel, user: Option<&str>, k: usize) -> Vec<String> {
        let data = tiny();
        let query = match user.and_then(|u| data.users.get(u)) {
            Some(u) => model.query_for_training_user(&data, u),
            None => UserQuery::default(),
        };
        let seen: Vec<u32> = query.history.iter().map(|&(i, _)| i).collect();
        let recs = model.recommend(&query, k, &seen).unwrap();
        assert!(!recs.fallback, "recent scores every user");
        recs.items
            .iter()
            .map(|&(i, _)| model.items.id(i).to_string())
            .collect()
    }

    #[test]
    fn registry_refuses_a_duplicate_name() {
        let mut r = registry();
        assert!(r.names().contains(&"recent"));
        let err = r.register(Arc::new(RECENT)).unwrap_err().to_string();
        assert!(err.contains("already registered"), "{err}");
    }

    #[test]
    fn recommends_the_most_recent_items_first() {
        let m = train(Value::Null);
        assert_eq!(ids(&m, None, 10), ["b", "c", "a", "d"]);
        // u1 has seen a and b.
        assert_eq!(ids(&m, Some("u1"), 10), ["c", "d"]);
        // Scores are minus the age in days: b is newest (0), c is 100 s older.
        let r = m.recommend(&UserQuery::default(), 2, &[]).unwrap();
        assert_eq!(r.items[0].1, 0.0);
        assert_eq!(r.items[1].1, -100.0 / 86_400.0);
    }

    #[test]
    fn min_users_filters_items() {
        let m = train(json!({"min_users": 2}));
        assert_eq!(ids(&m, None, 10), ["b", "c"]);
        assert_eq!(ids(&m, Some("u2"), 10), Vec::<String>::new());
    }

    #[test]
    fn validates_params() {
        assert_eq!(
            RECENT.check(&Value::Null).unwrap().to_json(),
            json!({"min_users": 1})
        );
        for bad in [
            json!({"min_users": 0}),
            json!({"min_users": -1}),
            json!({"min_user": 2}),
            json!([2]),
        ] {
            assert!(RECENT.check(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn round_trips_through_bytes() {
        let m = train(json!({"min_users": 1}));
        let bytes = m.to_bytes().unwrap();
        let back = TrainedModel::from_bytes(&registry(), &bytes).unwrap();
        assert_eq!(back.manifest.algorithm, "recent");
        assert_eq!(back.manifest.params, m.manifest.params);
        for user in [None, Some("u1"), Some("u2"), Some("u3")] {
            assert_eq!(ids(&back, user, 10), ids(&m, user, 10));
        }
    }

    #[test]
    fn round_trips_through_a_directory() {
        let m = train(Value::Null);
        let dir = std::env::temp_dir().join(format!("custom-algo-{}", std::process::id()));
        m.save_dir(&dir).unwrap();
        let back = TrainedModel::load_dir(&registry(), &dir);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(ids(&back.unwrap(), None, 10), ["b", "c", "a", "d"]);
    }

    #[test]
    fn loading_refuses_unknown_algorithm_and_other_versions() {
        let mut m = train(Value::Null);
        // A build without the algorithm cannot serve the model.
        let err = TrainedModel::from_bytes(&Registry::builtin(), &m.to_bytes().unwrap())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("does not have"), "{err}");
        // Nor can a build with another version of it.
        m.manifest.algorithm_version = 2;
        let err = TrainedModel::from_bytes(&registry(), &m.to_bytes().unwrap())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("version"), "{err}");
    }
}
