// SPDX-License-Identifier: BUSL-1.1
//! Interactions as sparse matrices: users x items (CSR) and its transpose, plus the maps
//! between external string ids and dense indices.

use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;

use crate::error::{CoreError, Result};

mod build;

pub use build::InteractionsBuilder;
use build::RowScatter;

/// Longest external id accepted, in bytes. Ids are keys, not documents.
pub const MAX_ID_BYTES: usize = 512;

/// Bidirectional map between external ids and dense indices `0..len`.
/// Indices follow the sorted order of the ids, so a model does not depend on input order.
///
/// Cloning is cheap (the map is shared), so the training data and every model trained on it
/// hold one copy of the ids between them.
#[derive(Clone, Default)]
pub struct IdMap {
    inner: Arc<IdTable>,
}

impl IdMap {
    /// Builds a map from ids that must be unique.
    pub fn from_ids(ids: Vec<String>) -> Result<Self> {
        for id in &ids {
            validate_id(id)?;
        }
        let mut table = IdTable::with_capacity(ids.len());
        for id in ids {
            if table.get(&id).is_some() {
                return Err(CoreError::InvalidInput(format!("duplicate id \"{id}\"")));
            }
            table.insert_new(id)?;
        }
        Ok(IdMap {
            inner: Arc::new(table),
        })
    }

    pub fn len(&self) -> usize {
        self.inner.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.inner.ids.is_empty()
    }

    pub fn get(&self, id: &str) -> Option<u32> {
        self.inner.get(id)
    }

    pub fn id(&self, index: u32) -> &str {
        &self.inner.ids[index as usize]
    }

    pub fn ids(&self) -> &[String] {
        &self.inner.ids
    }

    /// The ids, moved out when no other clone shares them, copied otherwise.
    pub fn into_ids(self) -> Vec<String> {
        match Arc::try_unwrap(self.inner) {
            Ok(table) => table.ids,
            Err(shared) => shared.ids.clone(),
        }
    }

    /// Approximate heap bytes of the map (ids and index).
    pub fn heap_bytes(&self) -> usize {
        self.inner.heap_bytes()
    }
}

impl PartialEq for IdMap {
    fn eq(&self, other: &Self) -> bool {
        self.ids() == other.ids()
    }
}

impl std::fmt::Debug for IdMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdMap").field("ids", &self.ids()).finish()
    }
}

/// Ids in index order plus an open-addressing index over them. The index holds positions,
/// not copies of the ids, so each id is stored once (a `HashMap<String, u32>` next to the
/// `Vec<String>` would store it twice).
#[derive(Default)]
struct IdTable {
    ids: Vec<String>,
    /// Positions into `ids`, or `EMPTY`; the length is a power of two, at most half full.
    slots: Vec<u32>,
    hasher: RandomState,
}

const EMPTY: u32 = u32::MAX;

impl IdTable {
    fn with_capacity(n: usize) -> Self {
        let mut t = IdTable {
            ids: Vec::with_capacity(n),
            ..IdTable::default()
        };
        t.rehash((n * 2).next_power_of_two().max(16));
        t
    }

    fn slot_of(&self, id: &str) -> usize {
        self.hasher.hash_one(id) as usize & (self.slots.len() - 1)
    }

    fn get(&self, id: &str) -> Option<u32> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut s = self.slot_of(id);
        loop {
            match self.slots[s] {
                EMPTY => return None,
                i if self.ids[i as usize] == id => return Some(i),
                _ => s = (s + 1) & mask,
            }
        }
    }

    /// Appends an id known to be absent and returns its position.
    fn insert_new(&mut self, id: String) -> Result<u32> {
        let i = u32::try_from(self.ids.len())
            .ok()
            .filter(|&i| i != EMPTY)
            .ok_or_else(|| CoreError::TooLarge("more than 2^32 - 1 ids".into()))?;
        if (self.ids.len() + 1) * 2 > self.slots.len() {
            self.rehash((self.slots.len() * 2).max(16));
        }
        let mask = self.slots.len() - 1;
        let mut s = self.slot_of(&id);
        while self.slots[s] != EMPTY {
            s = (s + 1) & mask;
        }
        self.slots[s] = i;
        self.ids.push(id);
        Ok(i)
    }

    fn rehash(&mut self, size: usize) {
        // Grown in place rather than replaced: with glibc, freeing a large block raises the
        // size below which later blocks come from the heap instead of their own mapping, and
        // heap blocks freed later (the builder's chunks) then stay resident.
        self.slots.clear();
        self.slots.resize(size, EMPTY);
        let mask = size - 1;
        for (i, id) in self.ids.iter().enumerate() {
            let mut s = self.hasher.hash_one(id.as_str()) as usize & mask;
            while self.slots[s] != EMPTY {
                s = (s + 1) & mask;
            }
            self.slots[s] = i as u32;
        }
    }

    fn heap_bytes(&self) -> usize {
        self.ids.capacity() * std::mem::size_of::<String>()
            + self.ids.iter().map(String::capacity).sum::<usize>()
            + self.slots.capacity() * 4
    }

    /// Sorts the ids; returns the sorted table and `remap[old position] = new position`.
    fn into_sorted(mut self) -> (IdTable, Vec<u32>) {
        let mut order: Vec<u32> = (0..self.ids.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| self.ids[a as usize].cmp(&self.ids[b as usize]));
        let mut remap = vec![0u32; order.len()];
        for (new, &old) in order.iter().enumerate() {
            remap[old as usize] = new as u32;
        }
        let ids: Vec<String> = order
            .iter()
            .map(|&old| std::mem::take(&mut self.ids[old as usize]))
            .collect();
        drop(order);
        self.ids = ids;
        // An empty builder's table has no slots yet: give it the smallest table.
        let size = self.slots.len().max(16);
        self.rehash(size);
        (self, remap)
    }
}

pub fn validate_id(id: &str) -> Result<()> {
    if id.is_empty() {
        return Err(CoreError::InvalidInput("empty id".into()));
    }
    if id.len() > MAX_ID_BYTES {
        return Err(CoreError::InvalidInput(format!(
            "id longer than {MAX_ID_BYTES} bytes"
        )));
    }
    if id.contains('\0') {
        return Err(CoreError::InvalidInput("id contains a NUL byte".into()));
    }
    Ok(())
}

/// Compressed sparse rows with `f32` values. Column indices within a row are sorted and unique.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Csr {
    pub n_rows: usize,
    pub n_cols: usize,
    pub indptr: Vec<usize>,
    pub indices: Vec<u32>,
    pub values: Vec<f32>,
}

impl Csr {
    pub fn nnz(&self) -> usize {
        self.indices.len()
    }

    pub fn row(&self, r: usize) -> (&[u32], &[f32]) {
        let (a, b) = (self.indptr[r], self.indptr[r + 1]);
        (&self.indices[a..b], &self.values[a..b])
    }

    /// The transpose, with sorted indices per row.
    pub fn transpose(&self) -> Csr {
        let mut indptr = vec![0usize; self.n_cols + 1];
        for &c in &self.indices {
            indptr[c as usize + 1] += 1;
        }
        for c in 0..self.n_cols {
            indptr[c + 1] += indptr[c];
        }
        let mut next = indptr.clone();
        let mut indices = vec![0u32; self.nnz()];
        let mut values = vec![0f32; self.nnz()];
        for r in 0..self.n_rows {
            let (cols, vals) = self.row(r);
            for (&c, &v) in cols.iter().zip(vals) {
                let slot = &mut next[c as usize];
                indices[*slot] = r as u32;
                values[*slot] = v;
                *slot += 1;
            }
        }
        Csr {
            n_rows: self.n_cols,
            n_cols: self.n_rows,
            indptr,
            indices,
            values,
        }
    }
}

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

    #[test]
    fn id_map_finds_every_id_and_refuses_duplicates() {
        let ids: Vec<String> = (0..1000)
            .map(|i| format!("id{}", i * 7919 % 1000))
            .collect();
        let map = IdMap::from_ids(ids.clone()).unwrap();
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(map.get(id), Some(i as u32));
            assert_eq!(map.id(i as u32), id);
        }
        assert_eq!(map.get("id1000"), None);
        assert_eq!(map.clone(), map);
        assert_eq!(map.clone().into_ids(), ids);
        let err = IdMap::from_ids(vec!["a".into(), "b".into(), "a".into()]).unwrap_err();
        assert!(err.to_string().contains("duplicate id \"a\""), "{err}");
        assert_eq!(IdMap::default().get("a"), None);
    }

    #[test]
    fn transpose_twice_is_identity() {
        let data = Interactions::from_raw(vec![
            raw("a", "x", 1.0, 0),
            raw("b", "y", 2.0, 0),
            raw("b", "x", 3.0, 0),
        ])
        .unwrap();
        assert_eq!(data.by_item.transpose(), data.by_user);
    }
}
