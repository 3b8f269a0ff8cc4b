// SPDX-License-Identifier: BUSL-1.1
//! A trained model with everything needed to serve it: id maps, a popularity fallback, the
//! manifest, and save/load through the artifact format.

use std::path::Path;
use std::time::Instant;

use rayon::prelude::*;
use serde_json::Value;

use crate::artifact::{Artifact, Blob, DataSummary, Manifest, FORMAT, FORMAT_VERSION};
use crate::data::{IdMap, Interactions};
use crate::error::{CoreError, Result};
use crate::models::{FitContext, Model, Registry};
use crate::topk::top_k;

/// Largest `k` a caller may ask for; more is a bug or an attack, not a recommendation.
pub const MAX_K: usize = 10_000;

pub struct TrainedModel {
    pub manifest: Manifest,
    pub users: IdMap,
    pub items: IdMap,
    /// Distinct users per item in the training data; the fallback ranking.
    pub popularity: Vec<f32>,
    model: Box<dyn Model>,
}

/// One user's recommendations, best first.
#[derive(Clone, Debug, PartialEq)]
pub struct Recommendations {
    pub items: Vec<(u32, f32)>,
    /// True when the model could not score the user and popularity was used instead.
    pub fallback: bool,
}

/// A request for one user: training index if known, and the user's history.
#[derive(Clone, Debug, Default)]
pub struct UserQuery {
    pub user: Option<u32>,
    pub history: Vec<(u32, f32)>,
}

pub fn check_k(k: usize) -> Result<()> {
    if k == 0 || k > MAX_K {
        return Err(CoreError::param(
            "k",
            format!("must be between 1 and {MAX_K}"),
        ));
    }
    Ok(())
}

impl TrainedModel {
    /// Validates parameters, trains and wraps the result.
    pub fn train(
        registry: &Registry,
        algorithm: &str,
        params: &Value,
        data: &Interactions,
        ctx: &FitContext,
    ) -> Result<Self> {
        let algo = registry.get(algorithm)?;
        let params = algo.validate(params)?;
        if data.nnz() == 0 {
            return Err(CoreError::NotEnoughData(
                "there are no interactions to train on".into(),
            ));
        }
        let started = Instant::now();
        let fitted = algo.fit(data, &params, ctx)?;
        let mut metrics = serde_json::Map::new();
        metrics.insert("fit_seconds".into(), started.elapsed().as_secs_f64().into());
        let popularity = (0..data.n_items())
            .map(|i| (data.by_item.indptr[i + 1] - data.by_item.indptr[i]) as f32)
            .collect();
        Ok(TrainedModel {
            manifest: Manifest {
                format: FORMAT.into(),
                format_version: FORMAT_VERSION,
                algorithm: algo.name().into(),
                algorithm_version: algo.version(),
                params: fitted.params,
                data: DataSummary {
                    users: data.n_users(),
                    items: data.n_items(),
                    interactions: data.nnz(),
                    min_timestamp: data.min_timestamp(),
                    max_timestamp: data.max_timestamp(),
                },
                metrics,
                blobs: vec![],
            },
            users: data.users.clone(),
            items: data.items.clone(),
            popularity,
            model: fitted.model,
        })
    }

    pub fn algorithm(&self) -> &str {
        &self.manifest.algorithm
    }

    pub fn n_items(&self) -> usize {
        self.items.len()
    }

    fn all_blobs(&self) -> Vec<Blob> {
        let mut blobs = vec![
            Blob::strings("user_ids", self.users.ids().to_vec()),
            Blob::strings("item_ids", self.items.ids().to_vec()),
            Blob::f32(
                "popularity",
                vec![self.popularity.len()],
                self.popularity.clone(),
            ),
        ];
        blobs.extend(self.model.blobs());
        blobs
    }

    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        Artifact::to_bytes(self.manifest.clone(), &self.all_blobs())
    }

    pub fn save_dir(&self, dir: &Path) -> Result<()> {
        Artifact::save_dir(self.manifest.clone(), &self.all_blobs(), dir)
    }

    pub fn from_bytes(registry: &Registry, bytes: &[u8]) -> Result<Self> {
        Self::from_artifact(registry, Artifact::from_bytes(bytes)?)
    }

    pub fn load_dir(registry: &Registry, dir: &Path) -> Result<Self> {
        Self::from_artifact(registry, Artifact::load_dir(dir)?)
    }

    pub fn from_artifact(registry: &Registry, mut artifact: Artifact) -> Result<Self> {
        let manifest = artifact.manifest.clone();
        let algo = registry.get(&manifest.algorithm).map_err(|_| {
            CoreError::Artifact(format!(
                "the model uses algorithm \"{}\", which this build does not have",
                manifest.algorithm
            ))
        })?;
        if algo.version() != manifest.algorithm_version {
            return Err(CoreError::Artifact(format!(
                "the model was saved by {} version {}, this build reads version {}",
                manifest.algorithm,
                manifest.algorithm_version,
                algo.version()
            )));
        }
        let users = IdMap::from_ids(artifact.take_strings("user_ids")?)
            .map_err(|e| CoreError::Artifact(format!("user_ids: {e}")))?;
        let items = IdMap::from_ids(artifact.take_strings("item_ids")?)
            .map_err(|e| CoreError::Artifact(format!("item_ids: {e}")))?;
        if users.len() != manifest.data.users || items.len() != manifest.data.items {
            return Err(CoreError::Artifact(
                "id maps do not match the data summary".into(),
            ));
        }
        let popularity = artifact.take_f32("popularity", &[items.len()])?;
        let params = algo
            .validate(&manifest.params)
            .map_err(|e| CoreError::Artifact(format!("stored parameters: {e}")))?;
        let model = algo.load(&params, &mut artifact, users.len(), items.len())?;
        Ok(TrainedModel {
            manifest,
            users,
            items,
            popularity,
            model,
        })
    }

    /// Top `k` items for one user, never an item of `exclude`. Falls back to popularity when
    /// the model cannot score the user.
    pub fn recommend(
        &self,
        query: &UserQuery,
        k: usize,
        exclude: &[u32],
    ) -> Result<Recommendations> {
        check_k(k)?;
        let mut scores = vec![0f32; self.n_items()];
        Ok(self.recommend_into(query, k, exclude, &mut scores))
    }

    fn recommend_into(
        &self,
        query: &UserQuery,
        k: usize,
        exclude: &[u32],
        scores: &mut [f32],
    ) -> Recommendations {
        let scored = self.model.score(query.user, &query.history, scores);
        if !scored {
            scores.copy_from_slice(&self.popularity);
        }
        Recommendations {
            items: top_k(scores, k, exclude),
            fallback: !scored,
        }
    }

    /// Recommendations for many users in parallel, in the order of `queries`. With
    /// `exclude_seen`, each user's history is excluded.
    pub fn recommend_many(
        &self,
        queries: &[UserQuery],
        k: usize,
        exclude_seen: bool,
    ) -> Result<Vec<Recommendations>> {
        check_k(k)?;
        let n = self.n_items();
        Ok(queries
            .par_iter()
            .map_init(
                || (vec![0f32; n], Vec::new()),
                |(scores, exclude), q| {
                    exclude.clear();
                    if exclude_seen {
                        exclude.extend(q.history.iter().map(|&(i, _)| i));
                    }
                    self.recommend_into(q, k, exclude, scores)
                },
            )
            .collect())
    }

    /// The `k` items most similar to `item`, or `None` if the model has no item similarity.
    pub fn similar_items(&self, item: u32, k: usize) -> Result<Option<Vec<(u32, f32)>>> {
        check_k(k)?;
        if item as usize >= self.n_items() {
            return Err(CoreError::InvalidInput(format!(
                "item index {item} out of range"
            )));
        }
        let mut scores = vec![0f32; self.n_items()];
        if !self.model.similar(item, &mut scores) {
            return Ok(None);
        }
        Ok(Some(top_k(&mut scores, k, &[item])))
    }

    /// The query for a user of the training data: training index and history.
    pub fn query_for_training_user(&self, data: &Interactions, user: u32) -> UserQuery {
        UserQuery {
            user: Some(user),
            history: data.history(user),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::data::RawInteraction;

    pub(crate) fn toy() -> Interactions {
        // u0: a b c, u1: a b, u2: b c, u3: d
        let pairs = [
            ("u0", "a"),
            ("u0", "b"),
            ("u0", "c"),
            ("u1", "a"),
            ("u1", "b"),
            ("u2", "b"),
            ("u2", "c"),
            ("u3", "d"),
        ];
        Interactions::from_raw(pairs.iter().map(|(u, i)| RawInteraction {
            user: u.to_string(),
            item: i.to_string(),
            weight: 1.0,
            timestamp: 0,
        }))
        .unwrap()
    }

    #[test]
    fn every_builtin_round_trips_through_bytes_and_scores_identically() {
        let registry = Registry::builtin();
        let data = toy();
        for name in registry.names() {
            let params = if name == "als" {
                serde_json::json!({"factors": 4, "iterations": 3})
            } else {
                Value::Null
            };
            let m = TrainedModel::train(&registry, name, &params, &data, &FitContext::silent())
                .unwrap();
            let bytes = m.to_bytes().unwrap();
            let back = TrainedModel::from_bytes(&registry, &bytes).unwrap();
            assert_eq!(back.manifest.params, m.manifest.params);
            for u in 0..data.n_users() as u32 {
                let q = m.query_for_training_user(&data, u);
                assert_eq!(
                    m.recommend(&q, 3, &[]).unwrap(),
                    back.recommend(&q, 3, &[]).unwrap(),
                    "{name}"
                );
            }
        }
    }

    #[test]
    fn unknown_user_without_history_falls_back_to_popularity() {
        let registry = Registry::builtin();
        let m = TrainedModel::train(
            &registry,
            "itemknn",
            &Value::Null,
            &toy(),
            &FitContext::silent(),
        )
        .unwrap();
        let r = m.recommend(&UserQuery::default(), 2, &[]).unwrap();
        assert!(r.fallback);
        // b has 3 users, a and c have 2: b first, then a (lower index on the tie)
        assert_eq!(r.items.iter().map(|x| x.0).collect::<Vec<_>>(), vec![1, 0]);
    }

    #[test]
    fn batch_equals_single_and_excludes_seen() {
        let registry = Registry::builtin();
        let data = toy();
        let m = TrainedModel::train(
            &registry,
            "ease",
            &Value::Null,
            &data,
            &FitContext::silent(),
        )
        .unwrap();
        let queries: Vec<UserQuery> = (0..4)
            .map(|u| m.query_for_training_user(&data, u))
            .collect();
        let batch = m.recommend_many(&queries, 2, true).unwrap();
        for (q, r) in queries.iter().zip(&batch) {
            let seen: Vec<u32> = q.history.iter().map(|x| x.0).collect();
            assert_eq!(r, &m.recommend(q, 2, &seen).unwrap());
            assert!(r.items.iter().all(|(i, _)| !seen.contains(i)));
        }
    }

    #[test]
    fn k_is_bounded() {
        let registry = Registry::builtin();
        let m = TrainedModel::train(
            &registry,
            "popularity",
            &Value::Null,
            &toy(),
            &FitContext::silent(),
        )
        .unwrap();
        assert!(m.recommend(&UserQuery::default(), 0, &[]).is_err());
        assert!(m.recommend(&UserQuery::default(), MAX_K + 1, &[]).is_err());
    }

    #[test]
    fn refuses_model_of_another_algorithm_version() {
        let registry = Registry::builtin();
        let mut m = TrainedModel::train(
            &registry,
            "popularity",
            &Value::Null,
            &toy(),
            &FitContext::silent(),
        )
        .unwrap();
        m.manifest.algorithm_version += 1;
        let err = TrainedModel::from_bytes(&registry, &m.to_bytes().unwrap())
            .err()
            .unwrap();
        assert!(err.to_string().contains("version"), "{err}");
    }
}
