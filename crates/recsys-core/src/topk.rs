// SPDX-License-Identifier: BUSL-1.1
//! Top-k selection over a dense score vector, with exclusions.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// A heap entry ordered so that the *worst* candidate is the heap's maximum: lower score is
/// worse, and at equal score the higher index is worse (ties resolve to the lower index).
#[derive(Clone, Copy, Debug)]
struct Worst {
    score: f32,
    item: u32,
}

impl PartialEq for Worst {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Worst {}
impl PartialOrd for Worst {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Worst {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .score
            .total_cmp(&self.score)
            .then(self.item.cmp(&other.item))
    }
}

/// The `k` best `(item, score)` pairs, best first. Items listed in `exclude` and scores that
/// are NaN or -inf are never returned. `scores` is used as scratch: excluded entries are
/// overwritten with -inf.
pub fn top_k(scores: &mut [f32], k: usize, exclude: &[u32]) -> Vec<(u32, f32)> {
    for &e in exclude {
        if let Some(s) = scores.get_mut(e as usize) {
            *s = f32::NEG_INFINITY;
        }
    }
    if k == 0 {
        return Vec::new();
    }
    let mut heap: BinaryHeap<Worst> = BinaryHeap::with_capacity(k + 1);
    let mut threshold = f32::NEG_INFINITY;
    for (i, &s) in scores.iter().enumerate() {
        // Items arrive in ascending order, so an equal score never beats the current worst.
        if s.is_nan() || s <= threshold {
            continue;
        }
        heap.push(Worst {
            score: s,
            item: i as u32,
        });
        if heap.len() > k {
            heap.pop();
        }
        if heap.len() == k {
            threshold = heap.peek().map_or(threshold, |w| w.score);
        }
    }
    let mut out: Vec<(u32, f32)> = heap.into_iter().map(|w| (w.item, w.score)).collect();
    out.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_best_with_ties_by_lower_index() {
        let mut s = vec![0.5, 0.9, 0.5, 0.1, 0.9, 0.7];
        assert_eq!(top_k(&mut s, 3, &[]), vec![(1, 0.9), (4, 0.9), (5, 0.7)]);
        let mut s = vec![0.5, 0.5, 0.5];
        assert_eq!(top_k(&mut s, 2, &[]), vec![(0, 0.5), (1, 0.5)]);
    }

    #[test]
    fn excludes_items_nan_and_negative_infinity() {
        let mut s = vec![1.0, f32::NAN, 3.0, f32::NEG_INFINITY, 2.0];
        assert_eq!(top_k(&mut s, 10, &[2, 99]), vec![(4, 2.0), (0, 1.0)]);
    }

    #[test]
    fn k_zero_and_negative_scores() {
        let mut s = vec![-3.0, -1.0, -2.0];
        assert!(top_k(&mut s.clone(), 0, &[]).is_empty());
        assert_eq!(top_k(&mut s, 2, &[]), vec![(1, -1.0), (2, -2.0)]);
    }

    #[test]
    fn matches_full_sort_on_pseudo_random_scores() {
        let mut rng = crate::rng::SplitMix64::new(3);
        for round in 0..50 {
            let n = 1 + round * 7;
            let scores: Vec<f32> = (0..n).map(|_| (rng.next_f32() * 20.0).floor()).collect();
            let k = round % 12;
            let mut want: Vec<(u32, f32)> = scores
                .iter()
                .enumerate()
                .map(|(i, &s)| (i as u32, s))
                .collect();
            want.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            want.truncate(k);
            assert_eq!(top_k(&mut scores.clone(), k, &[]), want);
        }
    }
}
