// SPDX-License-Identifier: Apache-2.0
//! SplitMix64: a tiny deterministic PRNG that is part of this crate, so a seed gives the same
//! split, and the core the same model, in every release (a `rand` upgrade may change its
//! generators' streams). The one generator of the workspace: the core re-exports it.

/// SplitMix64 (Steele, Lea and Flood, 2014). Not cryptographic; fine for shuffling.
#[derive(Clone, Debug)]
pub struct SplitMix64 {
    state: u64,
}

const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// The SplitMix64 output function: a bijective 64-bit mixer.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// An independent stream for `(seed, stream)`, e.g. one per user, so the draws for one
    /// user do not depend on which other users exist or in which order they are processed.
    pub fn stream(seed: u64, stream: u64) -> Self {
        SplitMix64::new(mix64(seed ^ mix64(stream.wrapping_add(GOLDEN_GAMMA))))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN_GAMMA);
        mix64(self.state)
    }

    /// Uniform in `[0, n)`, without modulo bias (Lemire's multiply-and-reject).
    /// Returns 0 when `n` is 0 or 1.
    pub fn below(&mut self, n: u64) -> u64 {
        if n <= 1 {
            return 0;
        }
        // 2^64 mod n: products whose low half falls below it would over-represent some values.
        let threshold = n.wrapping_neg() % n;
        loop {
            let m = u128::from(self.next_u64()) * u128::from(n);
            if (m as u64) >= threshold {
                return (m >> 64) as u64;
            }
        }
    }

    /// Uniform in `[0, 1)` with 24 bits of precision.
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform in `[0, 1)` with 53 bits of precision.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Fisher–Yates (Durstenfeld) shuffle: every permutation is equally likely.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_values_never_change() {
        // First outputs of SplitMix64 seeded with 0, as published with the algorithm.
        let mut r = SplitMix64::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn floats_are_in_unit_interval() {
        let mut r = SplitMix64::stream(7, 3);
        for _ in 0..10_000 {
            assert!((0.0..1.0).contains(&r.next_f32()));
            assert!((0.0..1.0).contains(&r.next_f64()));
        }
    }

    #[test]
    fn below_stays_in_range_and_hits_every_value() {
        let mut r = SplitMix64::new(7);
        let mut seen = [0usize; 7];
        for _ in 0..7_000 {
            let x = r.below(7) as usize;
            assert!(x < 7);
            seen[x] += 1;
        }
        // Expected 1000 each; a fair generator stays well within ±200.
        assert!(seen.iter().all(|&c| (800..1200).contains(&c)), "{seen:?}");
        assert_eq!(r.below(0), 0);
        assert_eq!(r.below(1), 0);
    }

    #[test]
    fn shuffle_is_a_deterministic_permutation() {
        let mut a: Vec<u32> = (0..50).collect();
        let mut b = a.clone();
        SplitMix64::new(42).shuffle(&mut a);
        SplitMix64::new(42).shuffle(&mut b);
        assert_eq!(a, b);
        assert_ne!(a, (0..50).collect::<Vec<_>>());
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
        // Empty and single-element slices are left alone.
        let mut empty: [u8; 0] = [];
        SplitMix64::new(1).shuffle(&mut empty);
        let mut one = [9];
        SplitMix64::new(1).shuffle(&mut one);
        assert_eq!(one, [9]);
    }

    #[test]
    fn streams_differ_and_floats_are_in_unit_interval() {
        let x = SplitMix64::stream(42, 1).next_u64();
        let y = SplitMix64::stream(42, 2).next_u64();
        let z = SplitMix64::stream(43, 1).next_u64();
        assert!(x != y && x != z && y != z);
        let mut r = SplitMix64::stream(3, 9);
        for _ in 0..10_000 {
            let f = r.next_f64();
            assert!((0.0..1.0).contains(&f));
        }
    }
}
