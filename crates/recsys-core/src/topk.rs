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

/// A running selection of the `k` best `(item, score)` pairs, for scores that arrive in
/// pieces: tiles of a matrix product, or the few items a sparse model scored. NaN and -inf
/// are never selected; at equal score the lower item index wins, whatever the arrival order.
#[derive(Debug)]
pub struct TopK {
    k: usize,
    heap: BinaryHeap<Worst>,
    /// Score of the worst kept candidate once `k` are kept, -inf before.
    threshold: f32,
}

impl TopK {
    pub fn new(k: usize) -> Self {
        TopK {
            k,
            heap: BinaryHeap::with_capacity(k + 1),
            threshold: f32::NEG_INFINITY,
        }
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// The score of the worst kept candidate once `k` are kept; -inf before.
    pub fn threshold(&self) -> f32 {
        self.threshold
    }

    /// Offers one candidate.
    #[inline]
    pub fn offer(&mut self, item: u32, score: f32) {
        if score.is_nan() || score < self.threshold || score == f32::NEG_INFINITY {
            return;
        }
        let candidate = Worst { score, item };
        if self.heap.len() < self.k {
            self.heap.push(candidate);
        } else if let Some(mut worst) = self.heap.peek_mut() {
            if candidate < *worst {
                *worst = candidate;
            } else {
                return;
            }
        } else {
            return; // k == 0
        }
        if self.heap.len() == self.k {
            self.threshold = self.heap.peek().map_or(self.threshold, |w| w.score);
        }
    }

    /// Offers `scores[j]` for item `first + j`, for every `j`.
    #[inline]
    pub fn offer_run(&mut self, first: u32, scores: &[f32]) {
        const LANES: usize = 16;
        let mut chunks = scores.chunks_exact(LANES);
        let mut base = first;
        for chunk in &mut chunks {
            // Once k are kept, almost every score is below the threshold: a branch-free test
            // of 16 at a time (one or two SIMD compares) skips them without a branch each.
            let mut any = false;
            for &s in chunk {
                any |= s >= self.threshold;
            }
            if any {
                self.offer_each(base, chunk);
            }
            base += LANES as u32;
        }
        self.offer_each(base, chunks.remainder());
    }

    #[inline]
    fn offer_each(&mut self, first: u32, scores: &[f32]) {
        for (j, &s) in scores.iter().enumerate() {
            if s.is_nan() || s < self.threshold {
                continue;
            }
            self.offer(first + j as u32, s);
        }
    }

    /// The selection, best first; leaves `self` empty for reuse with the same `k`.
    pub fn take_sorted(&mut self) -> Vec<(u32, f32)> {
        let mut out: Vec<(u32, f32)> = self.heap.drain().map(|w| (w.item, w.score)).collect();
        out.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        self.threshold = f32::NEG_INFINITY;
        out
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
    let mut best = TopK::new(k);
    best.offer_run(0, scores);
    best.take_sorted()
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
        let mut rng = recsys_eval::SplitMix64::new(3);
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

    #[test]
    fn running_selection_ignores_arrival_order() {
        // Ties at 0.5 resolve to the lower index even when the higher one arrives first.
        let mut best = TopK::new(3);
        for (item, score) in [
            (9, 0.5),
            (4, 0.1),
            (7, 0.9),
            (2, 0.5),
            (5, f32::NAN),
            (1, 0.2),
        ] {
            best.offer(item, score);
        }
        best.offer(3, f32::NEG_INFINITY);
        assert_eq!(best.take_sorted(), vec![(7, 0.9), (2, 0.5), (9, 0.5)]);
        assert!(best.is_empty());
        // Reused after take_sorted: the old threshold must not reject new candidates.
        best.offer_run(10, &[0.01, 0.02]);
        assert_eq!(best.take_sorted(), vec![(11, 0.02), (10, 0.01)]);
    }

    #[test]
    fn runs_in_pieces_equal_one_scan() {
        let mut rng = recsys_eval::SplitMix64::new(11);
        let scores: Vec<f32> = (0..500).map(|_| (rng.next_f32() * 30.0).floor()).collect();
        let whole = top_k(&mut scores.clone(), 17, &[]);
        let mut best = TopK::new(17);
        for (t, tile) in scores.chunks(64).enumerate() {
            best.offer_run((t * 64) as u32, tile);
        }
        assert_eq!(best.take_sorted(), whole);
    }
}
