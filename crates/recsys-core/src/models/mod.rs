// SPDX-License-Identifier: BUSL-1.1
//! The `Algorithm` contract, the built-in algorithms, and the registry that finds them by name.
//!
//! A third-party algorithm implements [`Algorithm`], [`Params`] and [`Model`] and is added to
//! a [`Registry`] at build time (see `examples/custom_algo`). Parameters are checked once, at
//! the boundary, in the manner of linfa's `ParamGuard`: [`Algorithm::check`] turns JSON into
//! typed [`Params`], and only those fit, estimate memory or load. The contract is versioned by
//! [`ALGORITHM_API_VERSION`]: a registry refuses an algorithm built against another version.

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::artifact::{Artifact, Blob, DataSummary};
use crate::budget::Shape;
use crate::data::Interactions;
use crate::error::{CoreError, Result};

pub mod als;
pub mod ease;
pub mod itemknn;
pub mod popularity;

/// Version of the `Algorithm`/`Params`/`Model` traits. Bumped on any breaking change to them;
/// a third party adapts when it changes. 2: what depends on parameters moved from `Algorithm`
/// (which took JSON on every call) to the typed [`Params`] that [`Algorithm::check`] returns.
pub const ALGORITHM_API_VERSION: u32 = 2;

/// How far a long fit has come.
#[derive(Clone, Copy, Debug)]
pub struct Progress<'a> {
    pub stage: &'a str,
    pub done: u64,
    pub total: u64,
}

/// What a fit may call back into. The callback runs only on the thread that called `fit`,
/// never on a worker thread, so it may call APIs that are not thread-safe (a PostgreSQL
/// backend's interrupt check). Returning an error (normally [`CoreError::Cancelled`]) stops
/// the fit and the error is returned from it.
pub struct FitContext<'a> {
    pub on_progress: &'a dyn Fn(Progress) -> Result<()>,
}

fn no_progress(_: Progress) -> Result<()> {
    Ok(())
}

impl FitContext<'static> {
    pub fn silent() -> Self {
        FitContext {
            on_progress: &no_progress,
        }
    }
}

impl FitContext<'_> {
    pub fn report(&self, stage: &str, done: u64, total: u64) -> Result<()> {
        (self.on_progress)(Progress { stage, done, total })
    }
}

/// A training procedure: a name, a version, and the check that turns JSON parameters into
/// [`Params`].
pub trait Algorithm: Send + Sync {
    /// Lowercase name used in SQL, REST and the CLI, e.g. `"als"`.
    fn name(&self) -> &'static str;
    /// Version of this algorithm's blobs and semantics; a model saved with another version is
    /// refused at load.
    fn version(&self) -> u32;
    /// The trait version this algorithm was written against; keep the default.
    fn api_version(&self) -> u32 {
        ALGORITHM_API_VERSION
    }
    /// One line for listings.
    fn summary(&self) -> &'static str;
    /// Parses `params` (a JSON object, or null for defaults) and checks every value, once.
    /// Must fail with [`CoreError::InvalidParameter`] on any bad value; [`parse_params`] and
    /// [`ensure`] do most of it.
    fn check(&self, params: &Value) -> Result<Box<dyn Params>>;
}

/// Parameters as the manifest stores them: every value, defaults included. Any `Serialize`
/// struct has it; checking the result again must give the same parameters.
pub trait ToJson {
    fn to_json(&self) -> Value;
}

impl<T: serde::Serialize> ToJson for T {
    fn to_json(&self) -> Value {
        serde_json::to_value(self).expect("a parameter struct serialises")
    }
}

/// An algorithm's parameters after [`Algorithm::check`]: typed, in range, defaults filled in.
/// Everything that depends on them is asked of this, never of JSON again.
pub trait Params: ToJson + Send + Sync {
    /// Whether `fit` reads per-interaction timestamps ([`Interactions::timestamps`]). Loaders
    /// skip them when it does not, which saves a third of the training data's memory; keep the
    /// default unless the algorithm never looks at time.
    fn reads_timestamps(&self) -> bool {
        true
    }
    /// Peak bytes a fit needs on data of `shape`, beyond the data itself: working memory, the
    /// fitted model and the two copies serialising it takes (its encoded blobs, then the
    /// artifact). Callers check it against their limit before `fit` ([`crate::budget`]). The
    /// default, 0, counts only the data: override it for any algorithm whose memory grows with
    /// its parameters or the catalogue.
    fn memory_needed(&self, _shape: &Shape) -> u64 {
        0
    }
    /// Trains on `data`.
    fn fit(&self, data: &Interactions, ctx: &FitContext) -> Result<Box<dyn Model>>;
    /// Whether [`Params::update`] can bring a model of these parameters up to date with the
    /// users that changed, instead of a fit on everything (incremental training). Default: no.
    fn updates(&self) -> bool {
        false
    }
    /// Updates the model these parameters' algorithm fitted before with `update`'s changes;
    /// called only when [`Params::updates`] says it can.
    fn update(&self, update: &Update<'_>, _ctx: &FitContext) -> Result<Box<dyn Model>> {
        Err(CoreError::param(
            "incremental",
            format!("{} cannot train incrementally", update.algorithm),
        ))
    }
    /// Rebuilds a model from the blobs it saved, for `n_users` x `n_items` training data.
    fn load(
        &self,
        artifact: &mut Artifact,
        n_users: usize,
        n_items: usize,
    ) -> Result<Box<dyn Model>>;
}

/// A model trained before and what changed since, for [`Params::update`]. Rows of the
/// updated model are the previous model's, in their order, then the new users and items.
pub struct Update<'a> {
    pub algorithm: &'a str,
    pub previous: &'a dyn Model,
    /// The previous model's training data.
    pub previous_data: &'a DataSummary,
    /// The whole current history of every user with new interactions.
    pub histories: &'a Interactions,
    /// The part of `histories` the previous model was trained on.
    pub seen: &'a Interactions,
    /// For each user and item of `histories`, its row in the updated model.
    pub users: Vec<u32>,
    pub items: Vec<u32>,
    /// For each item of `seen`, its row in the updated model.
    pub seen_items: Vec<u32>,
    /// Users and items of the previous model, then of the updated one.
    pub previous_shape: (usize, usize),
    pub shape: (usize, usize),
}

impl Update<'_> {
    /// The latest timestamp of the previous data and the histories.
    pub fn max_timestamp(&self) -> Option<i64> {
        self.previous_data
            .max_timestamp
            .max(self.histories.max_timestamp())
    }

    /// Adds `sign * value(pair)` to `out[item]` for every (user, item) pair of the histories
    /// (sign 1) and of the seen part (sign -1): a per-item sum moved from the previous data
    /// to the current one, as far as these users go.
    pub fn add_pair_changes(&self, out: &mut [f64], value: impl Fn(i64) -> f64) -> Result<()> {
        for (data, items, sign) in [
            (self.histories, &self.items, 1.0),
            (self.seen, &self.seen_items, -1.0),
        ] {
            let stamps = data.timestamps()?;
            for (&item, &t) in data.by_user.indices.iter().zip(stamps) {
                out[items[item as usize] as usize] += sign * value(t);
            }
        }
        Ok(())
    }
}

/// A parameter struct that names its algorithm and checks its own values, in the manner of
/// linfa's `ParamGuard`. With [`Params`] it is a whole algorithm: [`Guarded`] is its
/// [`Algorithm`] (JSON parsed by [`parse_params`], unknown keys refused, then
/// [`ParamGuard::check`]). The built-in algorithms are written this way; implement
/// [`Algorithm`] directly only to parse parameters some other way.
pub trait ParamGuard: Params + DeserializeOwned + Default + 'static {
    /// Lowercase name used in SQL, REST and the CLI, e.g. `"als"`.
    const ALGORITHM: &'static str;
    /// Version of the algorithm's blobs and semantics (see [`Algorithm::version`]).
    const VERSION: u32;
    /// One line for listings.
    const SUMMARY: &'static str;
    /// Refuses any value out of range with [`CoreError::InvalidParameter`] ([`ensure`]).
    fn check(&self) -> Result<()>;
}

/// The [`Algorithm`] of a [`ParamGuard`] parameter struct.
pub struct Guarded<P>(PhantomData<fn() -> P>);

impl<P> Guarded<P> {
    pub const fn new() -> Self {
        Guarded(PhantomData)
    }
}

impl<P> Default for Guarded<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P: ParamGuard> Algorithm for Guarded<P> {
    fn name(&self) -> &'static str {
        P::ALGORITHM
    }

    fn version(&self) -> u32 {
        P::VERSION
    }

    fn summary(&self) -> &'static str {
        P::SUMMARY
    }

    fn check(&self, params: &Value) -> Result<Box<dyn Params>> {
        let p: P = parse_params(P::ALGORITHM, params)?;
        ParamGuard::check(&p)?;
        Ok(Box::new(p))
    }
}

/// An algorithm together with parameters that passed its check: what trains and loads.
#[derive(Clone)]
pub struct Configured {
    algorithm: Arc<dyn Algorithm>,
    params: Arc<dyn Params>,
}

impl Configured {
    pub fn algorithm(&self) -> &dyn Algorithm {
        self.algorithm.as_ref()
    }

    pub fn params(&self) -> &dyn Params {
        self.params.as_ref()
    }
}

/// A trained model. Scoring never allocates per item beyond `out`.
pub trait Model: Send + Sync {
    /// Writes a score for every item into `out` (`out.len()` = number of items) for a user
    /// given by training index (`None` when the user was not in the training data) and by the
    /// items they interacted with. Returns `false` when it cannot score this user; the caller
    /// then falls back to popularity.
    fn score(&self, user: Option<u32>, history: &[(u32, f32)], out: &mut [f32]) -> bool;
    /// Scores items by similarity to `item` into `out`; items that are not similar at all get
    /// -inf. Returns `false` when the model has no notion of item similarity.
    fn similar(&self, _item: u32, _out: &mut [f32]) -> bool {
        false
    }
    /// Sparse scoring, for models that give most items no score at all for a given user
    /// (item-kNN scores only the neighbours of the user's items). A batch of users then costs
    /// in proportion to the scored items instead of the catalogue.
    ///
    /// Adds scores into `acc` (one slot per item, every slot +0.0 on entry) and appends each
    /// item it writes to `touched` (repeats are allowed). It must write no slot it does not
    /// list: the caller resets only the listed ones. Items not listed have no evidence; they
    /// rank after every scored item, by popularity. Returns `Some(true)` when it scored the
    /// user, `Some(false)` when it cannot (the caller falls back to popularity), and `None`
    /// when the model only scores densely, in which case it must touch neither buffer and
    /// [`Model::score`] is used. The default is `None`.
    fn score_sparse(
        &self,
        _user: Option<u32>,
        _history: &[(u32, f32)],
        _acc: &mut [f32],
        _touched: &mut Vec<u32>,
    ) -> Option<bool> {
        None
    }
    /// For models whose score is the dot product of a user vector and an item vector (matrix
    /// factorisation): the item vectors, row-major `n_items x dim`, and `dim`. Batches of users
    /// are then scored with one matrix product per block of users instead of one
    /// matrix-vector product per user. Scores must equal [`Model::score`] up to rounding.
    /// The default is `None`.
    fn item_vectors(&self) -> Option<(&[f32], usize)> {
        None
    }
    /// The user's vector for [`Model::item_vectors`], written into `out` (`dim` long).
    /// Returns `false` when the model cannot score this user. Only called when
    /// `item_vectors` returns `Some`.
    fn user_vector(&self, _user: Option<u32>, _history: &[(u32, f32)], _out: &mut [f32]) -> bool {
        false
    }
    /// The parameter blobs to save.
    fn blobs(&self) -> Vec<Blob>;
    /// The parameter blobs, moving the parameters instead of copying them when the model is
    /// no longer needed (saving a large model then needs no second copy of it). The default
    /// copies through [`Model::blobs`].
    fn into_blobs(self: Box<Self>) -> Vec<Blob> {
        self.blobs()
    }
}

/// Parses an algorithm's parameter struct from JSON, refusing unknown keys.
pub fn parse_params<T: DeserializeOwned + Default>(algorithm: &str, params: &Value) -> Result<T> {
    match params {
        Value::Null => Ok(T::default()),
        Value::Object(_) => serde_json::from_value(params.clone())
            .map_err(|e| CoreError::param(format!("{algorithm} params"), e.to_string())),
        _ => Err(CoreError::param(
            format!("{algorithm} params"),
            "must be a JSON object",
        )),
    }
}

/// Fails with `InvalidParameter` unless `ok`.
pub fn ensure(ok: bool, name: &str, reason: &str) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(CoreError::param(name, reason))
    }
}

/// Checks `params` and fits, for the algorithms' own tests.
#[cfg(test)]
fn fit_json(
    algorithm: &dyn Algorithm,
    data: &Interactions,
    params: &Value,
) -> Result<Box<dyn Model>> {
    algorithm.check(params)?.fit(data, &FitContext::silent())
}

/// The algorithms a build knows, by name.
#[derive(Clone, Default)]
pub struct Registry {
    algorithms: BTreeMap<&'static str, Arc<dyn Algorithm>>,
}

impl Registry {
    pub fn empty() -> Self {
        Registry::default()
    }

    /// popularity, itemknn, als and ease.
    pub fn builtin() -> Self {
        let mut r = Registry::empty();
        for a in [
            Arc::new(popularity::POPULARITY) as Arc<dyn Algorithm>,
            Arc::new(itemknn::ITEMKNN),
            Arc::new(als::ALS),
            Arc::new(ease::EASE),
        ] {
            r.register(a).expect("built-in algorithms are valid");
        }
        r
    }

    pub fn register(&mut self, algorithm: Arc<dyn Algorithm>) -> Result<()> {
        let name = algorithm.name();
        if algorithm.api_version() != ALGORITHM_API_VERSION {
            return Err(CoreError::InvalidInput(format!(
                "algorithm \"{name}\" targets algorithm API version {}, this build has {ALGORITHM_API_VERSION}",
                algorithm.api_version()
            )));
        }
        let valid = !name.is_empty()
            && name.len() <= 32
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid {
            return Err(CoreError::InvalidInput(format!(
                "algorithm name \"{name}\" must be 1-32 characters of a-z, 0-9 and _"
            )));
        }
        if self.algorithms.contains_key(name) {
            return Err(CoreError::InvalidInput(format!(
                "algorithm \"{name}\" is already registered"
            )));
        }
        self.algorithms.insert(name, algorithm);
        Ok(())
    }

    pub fn get(&self, name: &str) -> Result<&dyn Algorithm> {
        self.find(name).map(|a| a.as_ref())
    }

    fn find(&self, name: &str) -> Result<&Arc<dyn Algorithm>> {
        self.algorithms
            .get(name)
            .ok_or_else(|| CoreError::UnknownAlgorithm(name.to_string()))
    }

    /// The algorithm `name` with `params` checked: the one way to train or load.
    pub fn configure(&self, name: &str, params: &Value) -> Result<Configured> {
        let algorithm = self.find(name)?;
        let params = algorithm.check(params)?;
        Ok(Configured {
            algorithm: Arc::clone(algorithm),
            params: params.into(),
        })
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.algorithms.keys().copied().collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = &dyn Algorithm> {
        self.algorithms.values().map(|a| a.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_registry_has_four_algorithms() {
        let r = Registry::builtin();
        assert_eq!(r.names(), vec!["als", "ease", "itemknn", "popularity"]);
        assert!(matches!(r.get("svd"), Err(CoreError::UnknownAlgorithm(_))));
    }

    #[test]
    fn registry_refuses_duplicates_and_bad_names() {
        let mut r = Registry::builtin();
        assert!(r.register(Arc::new(als::ALS)).is_err());
    }

    #[test]
    fn every_builtin_refuses_unknown_and_mistyped_params() {
        let r = Registry::builtin();
        for a in r.iter() {
            assert!(
                a.check(&serde_json::json!({"no_such_param": 1})).is_err(),
                "{}",
                a.name()
            );
            assert!(a.check(&serde_json::json!([1, 2])).is_err(), "{}", a.name());
            let defaults = a.check(&Value::Null).unwrap().to_json();
            assert_eq!(
                a.check(&defaults).unwrap().to_json(),
                defaults,
                "{}",
                a.name()
            );
        }
    }
}
