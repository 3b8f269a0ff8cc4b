// SPDX-License-Identifier: BUSL-1.1
//! A trained model with everything needed to serve it: id maps, a popularity fallback, the
//! manifest, and save/load through the artifact format.

use std::path::Path;
use std::time::Instant;

use serde_json::Value;

use crate::artifact::{Artifact, Blob, DataSummary, Manifest, FORMAT, FORMAT_VERSION};
use crate::data::{IdMap, Interactions};
use crate::error::{CoreError, Result};
use crate::models::{Configured, FitContext, Model, Registry};
use crate::rules::check_k;
use crate::scoring::{popular_order, Ranker, Scratch};
use crate::screening::{top_k_factored, QuantizedItems};
use crate::topk::top_k;
use std::cell::RefCell;
use std::sync::OnceLock;

pub struct TrainedModel {
    pub manifest: Manifest,
    pub users: IdMap,
    pub items: IdMap,
    /// Distinct users per item in the training data; the fallback ranking.
    pub popularity: Vec<f32>,
    /// Items by `popularity`, best first: the fallback list, and the padding of sparse lists.
    popular_order: Vec<u32>,
    model: Box<dyn Model>,
    /// i8 copy of a factor model's item vectors, built on the first single-user request.
    quantized: OnceLock<QuantizedItems>,
}

thread_local! {
    /// Screening scores of the single-user factor path, reused between calls.
    static SCREEN: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
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

pub(crate) fn require_data(data: &Interactions) -> Result<()> {
    if data.nnz() == 0 {
        return Err(CoreError::NotEnoughData(
            "there are no interactions to train on".into(),
        ));
    }
    Ok(())
}

impl TrainedModel {
    /// Checks parameters, trains and wraps the result.
    pub fn train(
        registry: &Registry,
        algorithm: &str,
        params: &Value,
        data: &Interactions,
        ctx: &FitContext,
    ) -> Result<Self> {
        Self::fit(&registry.configure(algorithm, params)?, data, ctx)
    }

    /// Trains an algorithm whose parameters are checked already, and wraps the result.
    pub fn fit(configured: &Configured, data: &Interactions, ctx: &FitContext) -> Result<Self> {
        require_data(data)?;
        let started = Instant::now();
        let model = configured.params().fit(data, ctx)?;
        Ok(Self::wrap(configured, data, model, started))
    }

    /// A fitted `model` of `data` with its id maps, fallback and manifest; the fit started at
    /// `started`.
    fn wrap(
        configured: &Configured,
        data: &Interactions,
        model: Box<dyn Model>,
        started: Instant,
    ) -> Self {
        let popularity: Vec<f32> = (0..data.n_items())
            .map(|i| (data.by_item.indptr[i + 1] - data.by_item.indptr[i]) as f32)
            .collect();
        let summary = DataSummary {
            users: data.n_users(),
            items: data.n_items(),
            interactions: data.nnz(),
            min_timestamp: data.min_timestamp(),
            max_timestamp: data.max_timestamp(),
            source: None,
        };
        let (users, items) = (data.users.clone(), data.items.clone());
        Self::assemble(
            configured, summary, users, items, popularity, model, started,
        )
    }

    /// A `model` of `configured` trained on `data` (`users` x `items`, each item with its
    /// fallback `popularity`); the fit started at `started`.
    pub(crate) fn assemble(
        configured: &Configured,
        data: DataSummary,
        users: IdMap,
        items: IdMap,
        popularity: Vec<f32>,
        model: Box<dyn Model>,
        started: Instant,
    ) -> Self {
        let (algo, params) = (configured.algorithm(), configured.params());
        let mut metrics = serde_json::Map::new();
        metrics.insert("fit_seconds".into(), started.elapsed().as_secs_f64().into());
        TrainedModel {
            manifest: Manifest {
                format: FORMAT.into(),
                format_version: FORMAT_VERSION,
                algorithm: algo.name().into(),
                algorithm_version: algo.version(),
                params: params.to_json(),
                data,
                metrics,
                blobs: vec![],
            },
            users,
            items,
            popular_order: popular_order(&popularity),
            popularity,
            model,
            quantized: OnceLock::new(),
        }
    }

    pub(crate) fn model(&self) -> &dyn Model {
        self.model.as_ref()
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

    /// [`TrainedModel::save_dir`] for a model that is no longer needed: its parameters move
    /// into the artifact instead of being copied, so saving a large model does not need
    /// memory for a second copy of it.
    pub fn into_dir(self, dir: &Path) -> Result<()> {
        let TrainedModel {
            manifest,
            users,
            items,
            popularity,
            model,
            ..
        } = self;
        let n = popularity.len();
        let mut blobs = vec![
            Blob::strings("user_ids", users.into_ids()),
            Blob::strings("item_ids", items.into_ids()),
            Blob::f32("popularity", vec![n], popularity),
        ];
        blobs.extend(model.into_blobs());
        Artifact::save_dir(manifest, &blobs, dir)
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
            CoreError::Incompatible(format!(
                "the model uses algorithm \"{}\", which this build does not have",
                manifest.algorithm
            ))
        })?;
        if algo.version() != manifest.algorithm_version {
            return Err(CoreError::Incompatible(format!(
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
            .check(&manifest.params)
            .map_err(|e| CoreError::Artifact(format!("stored parameters: {e}")))?;
        let model = params.load(&mut artifact, users.len(), items.len())?;
        Ok(TrainedModel {
            manifest,
            users,
            items,
            popular_order: popular_order(&popularity),
            popularity,
            model,
            quantized: OnceLock::new(),
        })
    }

    /// Top `k` items for one user, never an item of `exclude`. Falls back to popularity when
    /// the model cannot score the user (`fallback` is then true).
    ///
    /// A sparse model (item-kNN) scores only the neighbours of the user's items. When fewer
    /// than `k` items get a score, the list goes on with the most popular remaining items,
    /// each with score 0 ("no evidence"), so a user always gets `k` items when the catalogue
    /// has `k` items outside `exclude`. `fallback` stays false: the head of the list is the
    /// model's.
    pub fn recommend(
        &self,
        query: &UserQuery,
        k: usize,
        exclude: &[u32],
    ) -> Result<Recommendations> {
        check_k(k)?;
        if let Some((items, dim)) = self.model.item_vectors() {
            let mut x = vec![0f32; dim];
            if dim > 0
                && items.len() == dim * self.n_items()
                && self.model.user_vector(query.user, &query.history, &mut x)
            {
                let quantized = self
                    .quantized
                    .get_or_init(|| QuantizedItems::new(items, dim));
                let items = SCREEN.with(|buf| {
                    top_k_factored(items, quantized, &x, k, exclude, &mut buf.borrow_mut())
                });
                return Ok(Recommendations {
                    items,
                    fallback: false,
                });
            }
        }
        let mut scratch = Scratch::new(self.n_items());
        Ok(self.ranker().one(query, k, exclude, &mut scratch))
    }

    fn ranker(&self) -> Ranker<'_> {
        Ranker {
            model: self.model.as_ref(),
            popularity: &self.popularity,
            popular_order: &self.popular_order,
        }
    }

    /// Recommendations for many users in parallel, in the order of `queries`. With
    /// `exclude_seen`, each user's history is excluded. Each list is the one
    /// [`TrainedModel::recommend`] gives, with one exception: factor models (ALS) are scored
    /// by a blocked matrix product whose rounding differs from the single-user path in the
    /// last bits, so scores may differ by that much and two items whose scores are that
    /// close may swap.
    pub fn recommend_many(
        &self,
        queries: &[UserQuery],
        k: usize,
        exclude_seen: bool,
    ) -> Result<Vec<Recommendations>> {
        check_k(k)?;
        Ok(self.ranker().many(queries, k, exclude_seen))
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
    fn into_dir_writes_what_save_dir_writes() {
        let registry = Registry::builtin();
        let data = toy();
        let base = std::env::temp_dir().join(format!("recsys-into-dir-{}", std::process::id()));
        for name in registry.names() {
            let m =
                TrainedModel::train(&registry, name, &Value::Null, &data, &FitContext::silent())
                    .unwrap();
            let (a, b) = (
                base.join(format!("{name}-a")),
                base.join(format!("{name}-b")),
            );
            m.save_dir(&a).unwrap();
            m.into_dir(&b).unwrap();
            for file in [
                "manifest.json",
                "blobs/user_ids.bin",
                "blobs/popularity.bin",
            ] {
                assert_eq!(
                    std::fs::read(a.join(file)).unwrap(),
                    std::fs::read(b.join(file)).unwrap(),
                    "{name} {file}"
                );
            }
            TrainedModel::load_dir(&registry, &b).unwrap();
        }
        std::fs::remove_dir_all(&base).unwrap();
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
        for name in ["ease", "itemknn", "popularity"] {
            let m =
                TrainedModel::train(&registry, name, &Value::Null, &data, &FitContext::silent())
                    .unwrap();
            let mut queries: Vec<UserQuery> = (0..4)
                .map(|u| m.query_for_training_user(&data, u))
                .collect();
            queries.push(UserQuery::default());
            for k in [1, 2, 4] {
                let batch = m.recommend_many(&queries, k, true).unwrap();
                for (q, r) in queries.iter().zip(&batch) {
                    let seen: Vec<u32> = q.history.iter().map(|x| x.0).collect();
                    assert_eq!(r, &m.recommend(q, k, &seen).unwrap(), "{name}");
                    assert!(r.items.iter().all(|(i, _)| !seen.contains(i)), "{name}");
                    // Every item that is not excluded can be recommended: lists are full.
                    assert_eq!(r.items.len(), k.min(4 - seen.len()), "{name} k={k}");
                }
            }
        }
    }

    #[test]
    fn itemknn_lists_are_padded_with_popular_items() {
        // Popularity: b 3 users, a 2, c 2, d 1.
        let registry = Registry::builtin();
        let data = toy();
        let m = TrainedModel::train(
            &registry,
            "itemknn",
            &serde_json::json!({"shrinkage": 0.0}),
            &data,
            &FitContext::silent(),
        )
        .unwrap();
        // u1 saw a and b: only c is a neighbour, score sim(a,c) + sim(b,c) = 1/2 + 2/sqrt(6);
        // d has no similarity to anything and comes from popularity, with score 0.
        let q = m.query_for_training_user(&data, 1);
        let r = m.recommend(&q, 3, &[0, 1]).unwrap();
        assert!(!r.fallback);
        assert_eq!(r.items.len(), 2);
        assert_eq!(r.items[0].0, 2);
        assert!((r.items[0].1 - (0.5 + 2.0 / 6f32.sqrt())).abs() < 1e-6);
        assert_eq!(r.items[1], (3, 0.0));
        // u3 saw only d, which has no neighbours: the whole list is popularity order
        // (b, then a before c on the tie), not item order.
        let q = m.query_for_training_user(&data, 3);
        let r = m.recommend(&q, 3, &[3]).unwrap();
        assert_eq!(r.items, vec![(1, 0.0), (0, 0.0), (2, 0.0)]);
        // Without exclusions, the user's own items are scored too and padding skips them.
        let q = m.query_for_training_user(&data, 1);
        let items: Vec<u32> = m
            .recommend(&q, 4, &[])
            .unwrap()
            .items
            .iter()
            .map(|x| x.0)
            .collect();
        assert_eq!(items.len(), 4);
        assert_eq!(items[3], 3);
    }

    /// `users` x `items` with about `per_user` random items each, and random weights, so that
    /// factor scores have no ties.
    fn random_data(users: usize, items: usize, per_user: usize, seed: u64) -> Interactions {
        let mut rng = recsys_eval::SplitMix64::new(seed);
        let mut rows = Vec::new();
        for u in 0..users {
            for _ in 0..per_user {
                let i = (rng.next_f32() * items as f32) as usize % items;
                rows.push(RawInteraction {
                    user: format!("u{u:04}"),
                    item: format!("i{i:05}"),
                    weight: 1.0 + (rng.next_f32() * 4.0).floor(),
                    timestamp: 0,
                });
            }
        }
        Interactions::from_raw(rows).unwrap()
    }

    #[test]
    fn als_batch_matches_single_user_scoring() {
        // More users than one block and more items than one tile, so partial blocks, tile
        // edges and exclusions that straddle tiles are all exercised.
        let data = random_data(150, 2600, 30, 5);
        let registry = Registry::builtin();
        let m = TrainedModel::train(
            &registry,
            "als",
            &serde_json::json!({"factors": 8, "iterations": 3}),
            &data,
            &FitContext::silent(),
        )
        .unwrap();
        let mut queries: Vec<UserQuery> = (0..data.n_users() as u32)
            .map(|u| m.query_for_training_user(&data, u))
            .collect();
        // An unknown user with a history is folded in; one with nothing gets popularity.
        queries.insert(
            70,
            UserQuery {
                user: None,
                history: data.history(3),
            },
        );
        queries.insert(10, UserQuery::default());
        for exclude_seen in [true, false] {
            let batch = m.recommend_many(&queries, 10, exclude_seen).unwrap();
            assert_eq!(batch.len(), queries.len());
            for (q, r) in queries.iter().zip(&batch) {
                let seen: Vec<u32> = q.history.iter().map(|x| x.0).collect();
                let exclude = if exclude_seen { &seen[..] } else { &[] };
                let single = m.recommend(q, 10, exclude).unwrap();
                let ids = |r: &Recommendations| r.items.iter().map(|x| x.0).collect::<Vec<_>>();
                assert_eq!(ids(r), ids(&single));
                assert_eq!(r.fallback, single.fallback);
                for (a, b) in r.items.iter().zip(&single.items) {
                    assert!(
                        (a.1 - b.1).abs() <= 1e-5 * b.1.abs().max(1.0),
                        "{a:?} {b:?}"
                    );
                }
            }
        }
        assert!(m.recommend_many(&queries, 10, true).unwrap()[10].fallback);
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
        assert!(m
            .recommend(&UserQuery::default(), crate::rules::MAX_K + 1, &[])
            .is_err());
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
        assert!(matches!(err, CoreError::Incompatible(_)), "{err}");
        assert!(err.to_string().contains("version"), "{err}");
    }
}
