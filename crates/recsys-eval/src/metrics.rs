// SPDX-License-Identifier: Apache-2.0
//! Top-K ranking metrics, each hand-computable from its doc comment.
//!
//! Conventions shared by the per-user functions:
//! - `rec` is ranked best first and assumed duplicate-free; if an item repeats, only its
//!   first position can count as a hit, so every score stays in `[0, 1]`;
//! - a list shorter than `k` is scored as if padded with misses (precision still divides by `k`);
//! - `k == 0` or an empty `relevant` set scores 0 (the aggregate [`evaluate`] rejects `k == 0`).

use std::collections::{HashMap, HashSet};

use rayon::prelude::*;

use crate::error::EvalError;
use crate::split::Event;

/// Ranks (0-based, `< k`) at which `rec` holds a relevant item for the first time.
fn hit_ranks<'a>(
    rec: &'a [u32],
    relevant: &'a HashSet<u32>,
    k: usize,
) -> impl Iterator<Item = usize> + 'a {
    rec.iter()
        .take(k)
        .enumerate()
        .filter(move |&(r, item)| relevant.contains(item) && !rec[..r].contains(item))
        .map(|(r, _)| r)
}

/// Discount of a hit at 0-based rank `r`: `1 / log2(r + 2)`.
fn discount(r: usize) -> f64 {
    1.0 / ((r + 2) as f64).log2()
}

/// `precision@K = hits in the top K / K`.
pub fn precision_at_k(rec: &[u32], relevant: &HashSet<u32>, k: usize) -> f64 {
    if k == 0 {
        return 0.0;
    }
    hit_ranks(rec, relevant, k).count() as f64 / k as f64
}

/// `recall@K = hits in the top K / min(K, |relevant|)`.
///
/// Dividing by `min(K, |relevant|)` rather than `|relevant|` lets a perfect list reach 1
/// when there are more relevant items than slots.
pub fn recall_at_k(rec: &[u32], relevant: &HashSet<u32>, k: usize) -> f64 {
    let ideal = k.min(relevant.len());
    if ideal == 0 {
        return 0.0;
    }
    hit_ranks(rec, relevant, k).count() as f64 / ideal as f64
}

/// Binary NDCG@K = DCG / IDCG, with ranks `r` 0-based:
/// - `DCG = Σ_{r < K, rec[r] relevant} 1 / log2(r + 2)`
/// - `IDCG = Σ_{r < min(K, |relevant|)} 1 / log2(r + 2)`
pub fn ndcg_at_k(rec: &[u32], relevant: &HashSet<u32>, k: usize) -> f64 {
    let ideal = k.min(relevant.len());
    if ideal == 0 {
        return 0.0;
    }
    let dcg: f64 = hit_ranks(rec, relevant, k).map(discount).sum();
    let idcg: f64 = (0..ideal).map(discount).sum();
    dcg / idcg
}

/// `AP@K = (1 / min(K, |relevant|)) · Σ_{r < K, rec[r] relevant} precision@(r + 1)`.
/// MAP@K is its mean over users (see [`evaluate`]).
pub fn average_precision_at_k(rec: &[u32], relevant: &HashSet<u32>, k: usize) -> f64 {
    let ideal = k.min(relevant.len());
    if ideal == 0 {
        return 0.0;
    }
    let sum: f64 = hit_ranks(rec, relevant, k)
        .enumerate()
        .map(|(hits_before, r)| (hits_before + 1) as f64 / (r + 1) as f64)
        .sum();
    sum / ideal as f64
}

/// HitRate@K for one user: 1 if any of the top K is relevant, else 0.
pub fn hit_rate_at_k(rec: &[u32], relevant: &HashSet<u32>, k: usize) -> f64 {
    if hit_ranks(rec, relevant, k).next().is_some() {
        1.0
    } else {
        0.0
    }
}

/// Self-information of recommending an item, in bits: `-log2(max(pop, 1) / n_train_users)`.
/// `pop` is the number of train users who interacted with the item; items nobody saw count
/// as seen once. 0 for an item every train user saw.
pub fn item_novelty(pop: u32, n_train_users: usize) -> f64 {
    -(f64::from(pop.max(1)) / n_train_users as f64).log2()
}

/// Intra-list diversity of one list: the mean over unordered pairs `{i, j}` of the top K of
/// `1 - sim(i, j)`. `None` for fewer than 2 items (no pair to compare).
pub fn intra_list_diversity(rec: &[u32], k: usize, sim: &dyn Fn(u32, u32) -> f64) -> Option<f64> {
    let top = &rec[..k.min(rec.len())];
    if top.len() < 2 {
        return None;
    }
    let mut sum = 0.0;
    for (a, &i) in top.iter().enumerate() {
        for &j in &top[a + 1..] {
            sum += 1.0 - sim(i, j);
        }
    }
    let pairs = top.len() * (top.len() - 1) / 2;
    Some(sum / pairs as f64)
}

/// What [`evaluate`] needs to know besides the lists.
pub struct EvalContext<'a> {
    /// Catalogue size; item ids are `0..n_items`.
    pub n_items: usize,
    /// Distinct train users per item, `n_items` long (see [`item_popularity`]).
    pub item_popularity: &'a [u32],
    /// Distinct users in train (see [`distinct_users`]).
    pub n_train_users: usize,
    /// Item-item similarity in `[0, 1]` for intra-list diversity; `None` skips diversity.
    pub similarity: Option<&'a (dyn Fn(u32, u32) -> f64 + Sync)>,
}

/// Metrics at one K, averaged over the evaluated users.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MetricSummary {
    pub k: usize,
    /// Users evaluated: those with at least one relevant (test) item.
    pub users: usize,
    pub precision: f64,
    pub recall: f64,
    pub ndcg: f64,
    pub map: f64,
    pub hit_rate: f64,
    /// |distinct items in any evaluated user's top K| / n_items.
    pub coverage: f64,
    /// Mean self-information in bits over all recommended (user, item) pairs in the top K.
    pub novelty: f64,
    /// Mean over users with at least 2 recommendations of their intra-list diversity;
    /// `None` without a similarity, or when no user has 2 recommendations.
    pub diversity: Option<f64>,
}

/// Per-user scores, summed afterwards in ascending user order.
struct UserScores {
    precision: f64,
    recall: f64,
    ndcg: f64,
    ap: f64,
    hit: f64,
    novelty_sum: f64,
    recommended: usize,
    diversity: Option<f64>,
}

/// Evaluates ranked `recommendations` (user → items, best first) against `relevant`
/// (user → test items) at cut-off `k`.
///
/// Every user of `relevant` with at least one relevant item is evaluated; a user without
/// recommendations scores zero. Recommendations for users not evaluated are ignored
/// everywhere, coverage and novelty included. Averages are summed in ascending user order,
/// so the result is bit-for-bit reproducible.
///
/// Errors: `InvalidParameter` for `k == 0`, `n_items == 0`, `n_train_users == 0`, an
/// `item_popularity` that is not `n_items` long or counts more users than `n_train_users`,
/// or a recommended item `>= n_items`; `EmptyData` when no user has a relevant item.
pub fn evaluate(
    recommendations: &HashMap<u32, Vec<u32>>,
    relevant: &HashMap<u32, HashSet<u32>>,
    ctx: &EvalContext,
    k: usize,
) -> Result<MetricSummary, EvalError> {
    validate_context(ctx, k)?;
    let mut users: Vec<u32> = relevant
        .iter()
        .filter(|(_, items)| !items.is_empty())
        .map(|(&user, _)| user)
        .collect();
    if users.is_empty() {
        return Err(EvalError::EmptyData(
            "no user has a relevant item to evaluate against".into(),
        ));
    }
    users.sort_unstable();

    let top_k = |user: u32| -> &[u32] {
        recommendations
            .get(&user)
            .map_or(&[][..], |rec| &rec[..k.min(rec.len())])
    };

    // Coverage and the item-range check, sequentially so the reported error is stable.
    let mut recommended = vec![false; ctx.n_items];
    for &user in &users {
        for &item in top_k(user) {
            let slot = recommended.get_mut(item as usize).ok_or_else(|| {
                EvalError::param(
                    "recommendations",
                    format!(
                        "user {user} was recommended item {item}, outside the catalogue of {} items",
                        ctx.n_items
                    ),
                )
            })?;
            *slot = true;
        }
    }
    let covered = recommended.iter().filter(|&&seen| seen).count();

    let no_items = HashSet::new();
    let scores: Vec<UserScores> = users
        .par_iter()
        .map(|&user| {
            let rec = top_k(user);
            let rel = relevant.get(&user).unwrap_or(&no_items);
            UserScores {
                precision: precision_at_k(rec, rel, k),
                recall: recall_at_k(rec, rel, k),
                ndcg: ndcg_at_k(rec, rel, k),
                ap: average_precision_at_k(rec, rel, k),
                hit: hit_rate_at_k(rec, rel, k),
                novelty_sum: rec
                    .iter()
                    .map(|&i| item_novelty(ctx.item_popularity[i as usize], ctx.n_train_users))
                    .sum(),
                recommended: rec.len(),
                diversity: ctx
                    .similarity
                    .and_then(|sim| intra_list_diversity(rec, k, sim)),
            }
        })
        .collect();

    let n = users.len() as f64;
    let mean = |f: fn(&UserScores) -> f64| scores.iter().map(f).sum::<f64>() / n;
    let pairs: usize = scores.iter().map(|s| s.recommended).sum();
    let novelty = if pairs == 0 {
        0.0
    } else {
        scores.iter().map(|s| s.novelty_sum).sum::<f64>() / pairs as f64
    };
    let diversities: Vec<f64> = scores.iter().filter_map(|s| s.diversity).collect();
    let diversity = (!diversities.is_empty())
        .then(|| diversities.iter().sum::<f64>() / diversities.len() as f64);

    Ok(MetricSummary {
        k,
        users: users.len(),
        precision: mean(|s| s.precision),
        recall: mean(|s| s.recall),
        ndcg: mean(|s| s.ndcg),
        map: mean(|s| s.ap),
        hit_rate: mean(|s| s.hit),
        coverage: covered as f64 / ctx.n_items as f64,
        novelty,
        diversity,
    })
}

fn validate_context(ctx: &EvalContext, k: usize) -> Result<(), EvalError> {
    if k == 0 {
        return Err(EvalError::param("k", "must be at least 1"));
    }
    if ctx.n_items == 0 {
        return Err(EvalError::param("n_items", "must be at least 1"));
    }
    if ctx.n_train_users == 0 {
        return Err(EvalError::param("n_train_users", "must be at least 1"));
    }
    if ctx.item_popularity.len() != ctx.n_items {
        return Err(EvalError::param(
            "item_popularity",
            format!(
                "has {} entries for a catalogue of {} items",
                ctx.item_popularity.len(),
                ctx.n_items
            ),
        ));
    }
    if let Some((item, &pop)) = ctx
        .item_popularity
        .iter()
        .enumerate()
        .find(|(_, &pop)| pop as usize > ctx.n_train_users)
    {
        return Err(EvalError::param(
            "item_popularity",
            format!(
                "item {item} has {pop} users, more than the {} train users",
                ctx.n_train_users
            ),
        ));
    }
    Ok(())
}

/// Test items per user: the relevance judgements for [`evaluate`].
pub fn relevant_from_events(test: &[Event]) -> HashMap<u32, HashSet<u32>> {
    let mut relevant: HashMap<u32, HashSet<u32>> = HashMap::new();
    for e in test {
        relevant.entry(e.user).or_default().insert(e.item);
    }
    relevant
}

/// Distinct train users per item, `n_items` long. Events with `item >= n_items` are ignored.
pub fn item_popularity(train: &[Event], n_items: usize) -> Vec<u32> {
    let pairs: HashSet<(u32, u32)> = train
        .iter()
        .filter(|e| (e.item as usize) < n_items)
        .map(|e| (e.user, e.item))
        .collect();
    let mut popularity = vec![0u32; n_items];
    for (_, item) in pairs {
        popularity[item as usize] += 1;
    }
    popularity
}

/// Number of distinct users in `events` (e.g. `n_train_users` for [`EvalContext`]).
pub fn distinct_users(events: &[Event]) -> usize {
    events.iter().map(|e| e.user).collect::<HashSet<_>>().len()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is the failure report in a test
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    const EPS: f64 = 1e-12;

    fn set(items: &[u32]) -> HashSet<u32> {
        items.iter().copied().collect()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < EPS
    }

    #[test]
    fn worked_example_from_the_docs() {
        let rec = [1, 2, 3, 4];
        let rel = set(&[2, 4, 9]);
        // Hits at ranks 1 and 3 (0-based): items 2 and 4.
        // precision = 2 / 4
        assert!(close(precision_at_k(&rec, &rel, 4), 0.5));
        // recall = 2 / min(4, 3)
        assert!(close(recall_at_k(&rec, &rel, 4), 2.0 / 3.0));
        // DCG = 1/log2(3) + 1/log2(5); IDCG = 1/log2(2) + 1/log2(3) + 1/log2(4) = 1 + 1/log2(3) + 0.5
        let dcg = 1.0 / 3f64.log2() + 1.0 / 5f64.log2();
        let idcg = 1.0 + 1.0 / 3f64.log2() + 0.5;
        assert!(close(ndcg_at_k(&rec, &rel, 4), dcg / idcg));
        assert!((ndcg_at_k(&rec, &rel, 4) - 0.498_19).abs() < 1e-5);
        // AP = (1/3) (1/2 + 2/4) = 1/3
        assert!(close(average_precision_at_k(&rec, &rel, 4), 1.0 / 3.0));
        assert!(close(hit_rate_at_k(&rec, &rel, 4), 1.0));
    }

    #[test]
    fn fewer_recommendations_than_k() {
        let rec = [2];
        let rel = set(&[2, 4]);
        // precision = 1 / 5: the missing slots count as misses.
        assert!(close(precision_at_k(&rec, &rel, 5), 0.2));
        // recall = 1 / min(5, 2)
        assert!(close(recall_at_k(&rec, &rel, 5), 0.5));
        // DCG = 1/log2(2) = 1; IDCG = 1 + 1/log2(3)
        assert!(close(
            ndcg_at_k(&rec, &rel, 5),
            1.0 / (1.0 + 1.0 / 3f64.log2())
        ));
        // AP = (1/2) (1/1)
        assert!(close(average_precision_at_k(&rec, &rel, 5), 0.5));
        assert!(close(hit_rate_at_k(&rec, &rel, 5), 1.0));
        // An empty list scores 0 everywhere.
        assert_eq!(precision_at_k(&[], &rel, 3), 0.0);
        assert_eq!(ndcg_at_k(&[], &rel, 3), 0.0);
        assert_eq!(hit_rate_at_k(&[], &rel, 3), 0.0);
    }

    #[test]
    fn k_cuts_a_longer_list() {
        let rec = [9, 2, 4];
        let rel = set(&[2, 4]);
        // k = 1: only item 9, a miss.
        for f in [
            precision_at_k,
            recall_at_k,
            ndcg_at_k,
            average_precision_at_k,
            hit_rate_at_k,
        ] {
            assert_eq!(f(&rec, &rel, 1), 0.0);
        }
        // k = 2: hit at rank 1. P = 1/2, R = 1/min(2,2), NDCG = (1/log2 3) / (1 + 1/log2 3),
        // AP = (1/2)(1/2).
        assert!(close(precision_at_k(&rec, &rel, 2), 0.5));
        assert!(close(recall_at_k(&rec, &rel, 2), 0.5));
        let d1 = 1.0 / 3f64.log2();
        assert!(close(ndcg_at_k(&rec, &rel, 2), d1 / (1.0 + d1)));
        assert!(close(average_precision_at_k(&rec, &rel, 2), 0.25));
        // k = 10 > list length: P = 2/10, R = 2/min(10,2) = 1, AP = (1/2)(1/2 + 2/3).
        assert!(close(precision_at_k(&rec, &rel, 10), 0.2));
        assert!(close(recall_at_k(&rec, &rel, 10), 1.0));
        assert!(close(
            average_precision_at_k(&rec, &rel, 10),
            0.5 * (0.5 + 2.0 / 3.0)
        ));
    }

    #[test]
    fn repeated_items_count_once() {
        // The lists are assumed duplicate-free; if not, a repeat is never a second hit.
        let rec = [2, 2, 2];
        let rel = set(&[2]);
        assert!(close(precision_at_k(&rec, &rel, 3), 1.0 / 3.0));
        assert!(close(recall_at_k(&rec, &rel, 3), 1.0));
        assert!(close(ndcg_at_k(&rec, &rel, 3), 1.0));
        assert!(close(average_precision_at_k(&rec, &rel, 3), 1.0));
    }

    #[test]
    fn degenerate_inputs_score_zero() {
        let rec = [1, 2];
        for f in [
            precision_at_k,
            recall_at_k,
            ndcg_at_k,
            average_precision_at_k,
            hit_rate_at_k,
        ] {
            assert_eq!(f(&rec, &set(&[1]), 0), 0.0, "k = 0");
            assert_eq!(f(&rec, &HashSet::new(), 2), 0.0, "no relevant items");
        }
    }

    #[test]
    fn novelty_and_diversity_per_item_and_list() {
        // -log2(4/4) = 0, -log2(2/4) = 1, -log2(max(0,1)/4) = 2
        assert!(close(item_novelty(4, 4), 0.0));
        assert!(close(item_novelty(2, 4), 1.0));
        assert!(close(item_novelty(0, 4), 2.0));
        let sim = |a: u32, b: u32| if a % 2 == b % 2 { 1.0 } else { 0.0 };
        // Pairs of [1, 2, 3]: (1,2) -> 1, (1,3) -> 0, (2,3) -> 1; mean 2/3.
        assert!(close(
            intra_list_diversity(&[1, 2, 3], 3, &sim).unwrap(),
            2.0 / 3.0
        ));
        // k = 2 keeps only (1,2).
        assert!(close(
            intra_list_diversity(&[1, 2, 3], 2, &sim).unwrap(),
            1.0
        ));
        assert_eq!(intra_list_diversity(&[1], 3, &sim), None);
        assert_eq!(intra_list_diversity(&[1, 2], 1, &sim), None);
    }

    fn tiny_case() -> (HashMap<u32, Vec<u32>>, HashMap<u32, HashSet<u32>>) {
        let recs = HashMap::from([
            (1, vec![0, 1, 2]),
            (2, vec![3, 4]),
            (9, vec![5]), // not evaluated: ignored everywhere
        ]);
        let relevant = HashMap::from([
            (1, set(&[1])),
            (2, set(&[3, 5])),
            (3, set(&[0])),      // evaluated without recommendations
            (4, HashSet::new()), // nothing to judge: skipped
        ]);
        (recs, relevant)
    }

    const POPULARITY: [u32; 6] = [4, 2, 1, 0, 1, 2];

    #[test]
    fn evaluate_tiny_case_by_hand() {
        let (recs, relevant) = tiny_case();
        let sim = |a: u32, b: u32| f64::from(a.min(b)) / 10.0;
        let ctx = EvalContext {
            n_items: 6,
            item_popularity: &POPULARITY,
            n_train_users: 4,
            similarity: Some(&sim),
        };
        let m = evaluate(&recs, &relevant, &ctx, 2).unwrap();
        // User 1, top 2 = [0, 1], relevant {1}: P 1/2, R 1/1, NDCG (1/log2 3)/1, AP (1/1)(1/2), HR 1.
        // User 2, top 2 = [3, 4], relevant {3, 5}: P 1/2, R 1/2, NDCG 1/(1 + 1/log2 3), AP (1/2)(1/1), HR 1.
        // User 3: no recommendations, all zero. Three users evaluated.
        let d1 = 1.0 / 3f64.log2();
        assert_eq!(m.k, 2);
        assert_eq!(m.users, 3);
        assert!(close(m.precision, (0.5 + 0.5) / 3.0));
        assert!(close(m.recall, (1.0 + 0.5) / 3.0));
        assert!(close(m.ndcg, (d1 + 1.0 / (1.0 + d1)) / 3.0));
        assert!(close(m.map, (0.5 + 0.5) / 3.0));
        assert!(close(m.hit_rate, 2.0 / 3.0));
        // Items {0, 1, 3, 4} of 6 (item 2 is beyond K, item 5 belongs to user 9).
        assert!(close(m.coverage, 4.0 / 6.0));
        // Pairs: item 0 (pop 4): 0 bits; item 1 (pop 2): 1; item 3 (pop 0 -> 1): 2; item 4 (pop 1): 2.
        // Mean (0 + 1 + 2 + 2) / 4 = 1.25.
        assert!(close(m.novelty, 1.25));
        // User 1: 1 - sim(0,1) = 1 - 0 = 1; user 2: 1 - sim(3,4) = 1 - 0.3 = 0.7; user 3 skipped.
        assert!(close(m.diversity.unwrap(), 0.85));
    }

    #[test]
    fn evaluate_is_reproducible_and_diversity_optional() {
        let (recs, relevant) = tiny_case();
        let ctx = EvalContext {
            n_items: 6,
            item_popularity: &POPULARITY,
            n_train_users: 4,
            similarity: None,
        };
        let a = evaluate(&recs, &relevant, &ctx, 3).unwrap();
        let b = evaluate(&recs, &relevant, &ctx, 3).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.diversity, None);
        // With a similarity but only single-item lists, diversity is undefined.
        let sim = |_: u32, _: u32| 0.0;
        let ctx = EvalContext {
            similarity: Some(&sim),
            ..ctx
        };
        assert_eq!(evaluate(&recs, &relevant, &ctx, 1).unwrap().diversity, None);
    }

    #[test]
    fn evaluate_rejects_bad_input() {
        let (recs, relevant) = tiny_case();
        let ctx = EvalContext {
            n_items: 6,
            item_popularity: &POPULARITY,
            n_train_users: 4,
            similarity: None,
        };
        let param = |r: Result<MetricSummary, EvalError>| match r {
            Err(EvalError::InvalidParameter { name, .. }) => name,
            other => panic!("expected an invalid parameter, got {other:?}"),
        };
        assert_eq!(param(evaluate(&recs, &relevant, &ctx, 0)), "k");
        let short = EvalContext {
            item_popularity: &POPULARITY[..5],
            ..ctx
        };
        assert_eq!(
            param(evaluate(&recs, &relevant, &short, 2)),
            "item_popularity"
        );
        let few_users = EvalContext {
            n_train_users: 3,
            ..ctx
        };
        assert_eq!(
            param(evaluate(&recs, &relevant, &few_users, 2)),
            "item_popularity"
        );
        let no_users = EvalContext {
            n_train_users: 0,
            ..ctx
        };
        assert_eq!(
            param(evaluate(&recs, &relevant, &no_users, 2)),
            "n_train_users"
        );
        let empty_catalogue = EvalContext {
            n_items: 0,
            item_popularity: &[],
            ..ctx
        };
        assert_eq!(
            param(evaluate(&recs, &relevant, &empty_catalogue, 2)),
            "n_items"
        );
        let outside = HashMap::from([(1, vec![6])]);
        let err = evaluate(&outside, &relevant, &ctx, 2).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid parameter \"recommendations\": user 1 was recommended item 6, outside the catalogue of 6 items"
        );
        // Empty judgements, or only empty sets.
        assert!(matches!(
            evaluate(&recs, &HashMap::new(), &ctx, 2),
            Err(EvalError::EmptyData(_))
        ));
        let hollow = HashMap::from([(1, HashSet::new())]);
        assert!(matches!(
            evaluate(&recs, &hollow, &ctx, 2),
            Err(EvalError::EmptyData(_))
        ));
    }

    #[test]
    fn helpers_from_events() {
        let ev = |user, item| Event {
            user,
            item,
            weight: 1.0,
            timestamp: 0,
        };
        let events = [ev(1, 0), ev(1, 0), ev(2, 0), ev(2, 3), ev(3, 9)];
        // Item 0: users {1, 2}; item 3: {2}; item 9 is outside n_items = 4 and ignored.
        assert_eq!(item_popularity(&events, 4), vec![2, 0, 0, 1]);
        assert_eq!(distinct_users(&events), 3);
        let rel = relevant_from_events(&events);
        assert_eq!(rel.len(), 3);
        assert_eq!(rel[&1], set(&[0]));
        assert_eq!(rel[&2], set(&[0, 3]));
    }

    /// Property-style: random lists and judgements from a fixed seed, plain loops.
    #[test]
    fn metrics_stay_in_unit_interval_and_perfect_lists_score_one() {
        let mut rng = SplitMix64::new(2024);
        let n_items = 40u32;
        let mut catalogue: Vec<u32> = (0..n_items).collect();
        for _ in 0..500 {
            rng.shuffle(&mut catalogue);
            let rec_len = rng.below(15) as usize;
            let rec = catalogue[..rec_len].to_vec();
            rng.shuffle(&mut catalogue);
            let rel_len = 1 + rng.below(10) as usize;
            let rel: HashSet<u32> = catalogue[..rel_len].iter().copied().collect();
            let k = 1 + rng.below(20) as usize;
            for f in [
                precision_at_k,
                recall_at_k,
                ndcg_at_k,
                average_precision_at_k,
                hit_rate_at_k,
            ] {
                let v = f(&rec, &rel, k);
                assert!((0.0..=1.0).contains(&v), "{v} for {rec:?} / {rel:?} @ {k}");
            }
            // The relevant set itself, sorted, is an ideal ranking at every K.
            let mut ideal: Vec<u32> = rel.iter().copied().collect();
            ideal.sort_unstable();
            assert!(close(ndcg_at_k(&ideal, &rel, k), 1.0));
            assert!(close(recall_at_k(&ideal, &rel, k), 1.0));
            assert!(close(average_precision_at_k(&ideal, &rel, k), 1.0));
            assert!(close(precision_at_k(&ideal, &rel, rel.len()), 1.0));
        }

        // The aggregate too, with a similarity in [0, 1].
        let sim = |a: u32, b: u32| f64::from((a * 7 + b * 7) % 11) / 10.0;
        for round in 0..20 {
            let mut recs = HashMap::new();
            let mut relevant = HashMap::new();
            for user in 0..(5 + round) {
                rng.shuffle(&mut catalogue);
                recs.insert(user, catalogue[..rng.below(12) as usize].to_vec());
                rng.shuffle(&mut catalogue);
                let n = rng.below(6) as usize;
                relevant.insert(user, catalogue[..n].iter().copied().collect::<HashSet<_>>());
            }
            relevant.insert(1_000, set(&[0])); // at least one evaluable user
            let popularity: Vec<u32> = (0..n_items).map(|_| rng.below(31) as u32).collect();
            let ctx = EvalContext {
                n_items: n_items as usize,
                item_popularity: &popularity,
                n_train_users: 30,
                similarity: Some(&sim),
            };
            let k = 1 + rng.below(12) as usize;
            let m = evaluate(&recs, &relevant, &ctx, k).unwrap();
            for v in [m.precision, m.recall, m.ndcg, m.map, m.hit_rate, m.coverage] {
                assert!((0.0..=1.0).contains(&v), "{m:?}");
            }
            assert!(m.novelty >= 0.0 && m.novelty <= 30f64.log2() + EPS, "{m:?}");
            if let Some(d) = m.diversity {
                assert!((0.0..=1.0).contains(&d), "{m:?}");
            }
        }
    }
}
