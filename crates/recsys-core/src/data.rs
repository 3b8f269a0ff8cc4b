// SPDX-License-Identifier: BUSL-1.1
//! Interactions as sparse matrices: users x items (CSR, [`csr`]) and its transpose, with the
//! maps between external string ids and dense indices ([`ids`]) and their builder.

use crate::error::{CoreError, Result};

mod build;
mod csr;
mod ids;

pub use build::InteractionsBuilder;
use build::RowScatter;
pub use csr::Csr;
use ids::IdTable;
pub use ids::{validate_id, IdMap, MAX_ID_BYTES};

/// One interaction as it arrives from outside.
#[derive(Clone, Debug, PartialEq)]
pub struct RawInteraction {
    pub user: String,
    pub item: String,
    pub weight: f32,
    pub timestamp: i64,
}

/// The training data: a users x items matrix of summed weights, with the latest timestamp per
/// pair unless they were read without (see [`InteractionsBuilder::without_timestamps`]).
#[derive(Clone, Debug)]
pub struct Interactions {
    pub users: IdMap,
    pub items: IdMap,
    /// users x items, values are summed weights of repeated (user, item) pairs.
    pub by_user: Csr,
    /// Latest timestamp of each entry of `by_user`, aligned with `by_user.indices`.
    timestamps: Option<Vec<i64>>,
    /// Earliest and latest timestamp of every interaction read, kept even without `timestamps`.
    time_range: Option<(i64, i64)>,
    /// items x users, the transpose of `by_user`.
    pub by_item: Csr,
}

impl Interactions {
    pub fn n_users(&self) -> usize {
        self.users.len()
    }

    pub fn n_items(&self) -> usize {
        self.items.len()
    }

    pub fn nnz(&self) -> usize {
        self.by_user.nnz()
    }

    /// The earliest timestamp of any interaction read, repeats included.
    pub fn min_timestamp(&self) -> Option<i64> {
        self.time_range.map(|(min, _)| min)
    }

    /// The latest timestamp of any interaction read.
    pub fn max_timestamp(&self) -> Option<i64> {
        self.time_range.map(|(_, max)| max)
    }

    /// The latest timestamp of each entry of `by_user`, aligned with `by_user.indices`. Fails
    /// when the data were read without them, which a loader does only for an algorithm whose
    /// [`reads_timestamps`](crate::models::Algorithm::reads_timestamps) said it needs none.
    pub fn timestamps(&self) -> Result<&[i64]> {
        self.timestamps.as_deref().ok_or_else(|| {
            CoreError::InvalidInput(
                "these interactions were read without timestamps; the algorithm must say it \
                 reads them (Algorithm::reads_timestamps)"
                    .into(),
            )
        })
    }

    /// Builds from interactions with external ids. Repeated (user, item) pairs are summed.
    /// Weights must be finite and positive: a zero or negative confidence has no meaning for
    /// implicit feedback and silently breaks ALS.
    pub fn from_raw(raw: impl IntoIterator<Item = RawInteraction>) -> Result<Self> {
        let mut builder = InteractionsBuilder::new();
        for r in raw {
            builder.push(&r.user, &r.item, r.weight, r.timestamp)?;
        }
        builder.build()
    }

    /// Builds from interactions already mapped to dense indices of `users` and `items`.
    pub fn from_indexed(
        users: IdMap,
        items: IdMap,
        triples: Vec<(u32, u32, f32, i64)>,
    ) -> Result<Self> {
        let mut counts = vec![0usize; users.len() + 1];
        for &(u, i, w, _) in &triples {
            if u as usize >= users.len() || i as usize >= items.len() {
                return Err(CoreError::InvalidInput("index out of range".into()));
            }
            validate_weight(w)?;
            counts[u as usize + 1] += 1;
        }
        let mut rows = RowScatter::new(counts, true);
        let mut time_range = TimeRange::default();
        for (u, i, w, ts) in triples {
            time_range.add(ts);
            rows.place(u, i, w, ts);
        }
        let (by_user, timestamps) = rows.finish(items.len());
        Ok(Self::assemble(
            users, items, by_user, timestamps, time_range,
        ))
    }

    fn assemble(
        users: IdMap,
        items: IdMap,
        by_user: Csr,
        timestamps: Option<Vec<i64>>,
        time_range: TimeRange,
    ) -> Self {
        let by_item = by_user.transpose();
        Interactions {
            users,
            items,
            by_user,
            timestamps,
            time_range: time_range.0,
            by_item,
        }
    }

    /// Heap bytes of the matrices (both orientations and any timestamps), without the id maps.
    pub fn matrix_bytes(&self) -> usize {
        let csr =
            |m: &Csr| m.indptr.capacity() * 8 + m.indices.capacity() * 4 + m.values.capacity() * 4;
        let stamps = self.timestamps.as_ref().map_or(0, |t| t.capacity() * 8);
        csr(&self.by_user) + csr(&self.by_item) + stamps
    }

    /// The (item, weight) pairs of one user, for scoring.
    pub fn history(&self, user: u32) -> Vec<(u32, f32)> {
        let (items, weights) = self.by_user.row(user as usize);
        items.iter().copied().zip(weights.iter().copied()).collect()
    }
}

/// The earliest and latest of the timestamps added.
#[derive(Clone, Copy, Default)]
struct TimeRange(Option<(i64, i64)>);

impl TimeRange {
    fn add(&mut self, t: i64) {
        self.0 = Some(match self.0 {
            None => (t, t),
            Some((min, max)) => (min.min(t), max.max(t)),
        });
    }
}

pub fn validate_weight(w: f32) -> Result<()> {
    if !w.is_finite() || w <= 0.0 {
        return Err(CoreError::InvalidInput(format!(
            "weight {w} is not a finite positive number"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(u: &str, i: &str, w: f32, ts: i64) -> RawInteraction {
        RawInteraction {
            user: u.into(),
            item: i.into(),
            weight: w,
            timestamp: ts,
        }
    }

    #[test]
    fn builds_sorted_deduplicated_matrix() {
        let data = Interactions::from_raw(vec![
            raw("u2", "b", 1.0, 5),
            raw("u1", "c", 2.0, 1),
            raw("u1", "a", 1.0, 2),
            raw("u2", "b", 0.5, 9),
        ])
        .unwrap();
        assert_eq!(data.users.ids(), ["u1", "u2"]);
        assert_eq!(data.items.ids(), ["a", "b", "c"]);
        assert_eq!(data.by_user.indptr, vec![0, 2, 3]);
        assert_eq!(data.by_user.indices, vec![0, 2, 1]);
        assert_eq!(data.by_user.values, vec![1.0, 2.0, 1.5]);
        assert_eq!(data.timestamps().unwrap(), [2, 1, 9]);
        assert_eq!(
            (data.min_timestamp(), data.max_timestamp()),
            (Some(1), Some(9))
        );
        assert_eq!(data.by_item.indptr, vec![0, 1, 2, 3]);
        assert_eq!(data.by_item.indices, vec![0, 1, 0]);
        assert_eq!(data.by_item.values, vec![1.0, 1.5, 2.0]);
    }

    #[test]
    fn input_order_does_not_change_the_result() {
        let a = vec![
            raw("x", "1", 1.0, 0),
            raw("y", "2", 1.0, 0),
            raw("x", "2", 3.0, 0),
        ];
        let mut b = a.clone();
        b.reverse();
        let (a, b) = (
            Interactions::from_raw(a).unwrap(),
            Interactions::from_raw(b).unwrap(),
        );
        assert_eq!(a.by_user, b.by_user);
        assert_eq!(a.users, b.users);
    }

    #[test]
    fn rejects_bad_weights_and_ids() {
        for w in [0.0, -1.0, f32::NAN, f32::INFINITY] {
            assert!(
                Interactions::from_raw(vec![raw("u", "i", w, 0)]).is_err(),
                "{w}"
            );
        }
        assert!(Interactions::from_raw(vec![raw("", "i", 1.0, 0)]).is_err());
        assert!(Interactions::from_raw(vec![raw("u\0", "i", 1.0, 0)]).is_err());
        let long = "x".repeat(MAX_ID_BYTES + 1);
        assert!(Interactions::from_raw(vec![raw("u", &long, 1.0, 0)]).is_err());
    }

    #[test]
    fn builder_equals_from_raw_and_sums_repeats_in_arrival_order() {
        let rows = vec![
            raw("u2", "b", 1.0, 5),
            raw("u1", "c", 2.0, 1),
            raw("u1", "a", 1.0, 2),
            raw("u2", "b", 0.5, 9),
            raw("u2", "a", 4.0, 3),
            raw("u2", "b", 0.25, 7),
        ];
        let mut b = InteractionsBuilder::new();
        for r in &rows {
            b.push(&r.user, &r.item, r.weight, r.timestamp).unwrap();
        }
        assert_eq!(b.len(), 6);
        let built = b.build().unwrap();
        let raw = Interactions::from_raw(rows).unwrap();
        assert_eq!(built.by_user, raw.by_user);
        assert_eq!(built.by_item, raw.by_item);
        assert_eq!(built.timestamps().unwrap(), raw.timestamps().unwrap());
        // u2 holds a then b (1.0 + 0.5 + 0.25, latest 9), though b arrived first.
        assert_eq!(built.by_user.row(1), (&[0u32, 1][..], &[4.0f32, 1.75][..]));
        assert_eq!(built.timestamps().unwrap(), [2, 1, 3, 9]);
        assert_eq!(built.users.get("u2"), Some(1));
        assert_eq!(built.items.get("zz"), None);
        assert_eq!(built.matrix_bytes(), (3 + 4) * 8 + 4 * 8 + 4 * 8 + 4 * 8);
    }

    #[test]
    fn builder_without_timestamps_gives_the_same_matrix_and_window() {
        let rows = [
            ("u2", "b", 1.0, 5),
            ("u1", "c", 2.0, 1),
            ("u2", "b", 0.5, 9),
            ("u1", "a", 1.0, -4),
        ];
        let (mut with, mut without) = (
            InteractionsBuilder::new(),
            InteractionsBuilder::without_timestamps(),
        );
        for (u, i, w, t) in rows {
            with.push(u, i, w, t).unwrap();
            without.push(u, i, w, t).unwrap();
        }
        let (with, without) = (with.build().unwrap(), without.build().unwrap());
        assert_eq!(without.by_user, with.by_user);
        assert_eq!(without.by_item, with.by_item);
        assert_eq!(
            (without.min_timestamp(), without.max_timestamp()),
            (Some(-4), Some(9))
        );
        assert_eq!(
            (with.min_timestamp(), with.max_timestamp()),
            (Some(-4), Some(9))
        );
        assert!(matches!(
            without.timestamps(),
            Err(CoreError::InvalidInput(_))
        ));
        assert_eq!(with.matrix_bytes() - without.matrix_bytes(), 3 * 8);
    }

    #[test]
    fn an_empty_builder_builds_empty_data() {
        let empty = InteractionsBuilder::new().build().unwrap();
        assert_eq!((empty.nnz(), empty.n_users(), empty.n_items()), (0, 0, 0));
        assert_eq!(empty.users.get("anyone"), None);
    }

    #[test]
    fn builder_peak_covers_the_built_matrices_and_grows() {
        let mut b = InteractionsBuilder::without_timestamps();
        let empty = b.peak_bytes();
        for n in 0..1000 {
            b.push(&format!("u{}", n % 97), &format!("i{}", n % 31), 1.0, 0)
                .unwrap();
        }
        let peak = b.peak_bytes();
        assert!(peak > empty);
        let built = b.build().unwrap();
        assert!(
            peak >= built.matrix_bytes() as u64,
            "{peak} < {}",
            built.matrix_bytes()
        );
    }

    #[test]
    fn builder_refuses_bad_rows_without_adding_them() {
        let mut b = InteractionsBuilder::new();
        b.push("u", "i", 1.0, 0).unwrap();
        assert!(b.push("u", "j", 0.0, 0).is_err());
        assert!(b.push("", "j", 1.0, 0).is_err());
        assert!(b.push("v", "j\0", 1.0, 0).is_err());
        assert_eq!(b.len(), 1);
        let data = b.build().unwrap();
        assert_eq!(data.users.ids(), ["u"]);
        assert_eq!(data.items.ids(), ["i"]);
    }
}
