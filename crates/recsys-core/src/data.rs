// SPDX-License-Identifier: BUSL-1.1
//! Interactions as sparse matrices: users x items (CSR) and its transpose, plus the maps
//! between external string ids and dense indices.

use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;

use crate::error::{CoreError, Result};

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

/// Builds [`Interactions`] from a stream of interactions with external ids, without keeping
/// the stream: each distinct id is stored once, each interaction as two indices, a weight and
/// a timestamp. The result is the one [`Interactions::from_raw`] gives for the same stream.
pub struct InteractionsBuilder {
    users: IdTable,
    items: IdTable,
    /// Small fixed-size chunks rather than one vector: growing a vector by doubling would
    /// hold up to three times the entries while it copies.
    chunks: Vec<Chunk>,
    len: usize,
    keep_timestamps: bool,
    time_range: TimeRange,
}

impl Default for InteractionsBuilder {
    fn default() -> Self {
        InteractionsBuilder {
            users: IdTable::default(),
            items: IdTable::default(),
            chunks: Vec::new(),
            len: 0,
            keep_timestamps: true,
            time_range: TimeRange::default(),
        }
    }
}

/// Entries as (user, item, weight) and timestamps apart: 20 bytes an entry, not the 24 of a
/// struct padded to the timestamp's alignment; 12 without timestamps.
struct Chunk {
    entries: Vec<(u32, u32, f32)>,
    stamps: Vec<i64>,
}

/// 320 KiB a chunk: little slack after the last one, and each of its two blocks at or above
/// glibc's default mmap threshold (128 KiB), so freeing them returns the pages to the system
/// instead of leaving them in the heap, where they would keep counting in RSS.
const ENTRIES_PER_CHUNK: usize = 1 << 14;

impl InteractionsBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder that keeps only the earliest and latest timestamp, not one per interaction:
    /// a third less memory for the matrices, for algorithms that never look at time.
    pub fn without_timestamps() -> Self {
        InteractionsBuilder {
            keep_timestamps: false,
            ..Self::default()
        }
    }

    /// Adds one interaction; fails on an invalid id or a weight that is not finite and
    /// positive, and then nothing is added.
    pub fn push(&mut self, user: &str, item: &str, weight: f32, timestamp: i64) -> Result<()> {
        validate_weight(weight)?;
        let (known_user, known_item) = (self.users.get(user), self.items.get(item));
        if known_user.is_none() {
            validate_id(user)?;
        }
        if known_item.is_none() {
            validate_id(item)?;
        }
        let user = match known_user {
            Some(u) => u,
            None => self.users.insert_new(user.to_owned())?,
        };
        let item = match known_item {
            Some(i) => i,
            None => self.items.insert_new(item.to_owned())?,
        };
        if self
            .chunks
            .last()
            .is_none_or(|c| c.entries.len() == ENTRIES_PER_CHUNK)
        {
            let stamps = if self.keep_timestamps {
                ENTRIES_PER_CHUNK
            } else {
                0
            };
            self.chunks.push(Chunk {
                entries: Vec::with_capacity(ENTRIES_PER_CHUNK),
                stamps: Vec::with_capacity(stamps),
            });
        }
        if let Some(chunk) = self.chunks.last_mut() {
            chunk.entries.push((user, item, weight));
            if self.keep_timestamps {
                chunk.stamps.push(timestamp);
            }
        }
        self.time_range.add(timestamp);
        self.len += 1;
        Ok(())
    }

    /// Interactions pushed so far, repeats included.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Approximate peak heap bytes of loading what was pushed so far: the entries and ids held
    /// now plus the two matrices [`InteractionsBuilder::build`] makes from them, for callers
    /// that bound their memory while the data streams in.
    pub fn peak_bytes(&self) -> u64 {
        let entry = if self.keep_timestamps { 20 } else { 12 };
        let held = (self.chunks.len() * ENTRIES_PER_CHUNK * entry) as u64
            + (self.users.heap_bytes() + self.items.heap_bytes()) as u64;
        // Both orientations: an index and a weight per interaction, timestamps once, indptrs.
        let stamps = if self.keep_timestamps { 8 } else { 0 };
        let matrices = self.len as u64 * (2 * 8 + stamps)
            + (self.users.ids.len() + self.items.ids.len()) as u64 * 16;
        held + matrices
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Sorts the ids, maps every interaction to the sorted indices and builds the matrices,
    /// summing repeated (user, item) pairs and keeping their latest timestamp.
    pub fn build(self) -> Result<Interactions> {
        let InteractionsBuilder {
            users,
            items,
            chunks,
            keep_timestamps,
            time_range,
            ..
        } = self;
        let (users, user_remap) = users.into_sorted();
        let (items, item_remap) = items.into_sorted();
        let mut counts = vec![0usize; users.ids.len() + 1];
        for &(u, _, _) in chunks.iter().flat_map(|c| &c.entries) {
            counts[user_remap[u as usize] as usize + 1] += 1;
        }
        let mut rows = RowScatter::new(counts, keep_timestamps);
        // Each chunk is freed as soon as it is placed, so the entries and the matrix are not
        // both held whole for long.
        for chunk in chunks {
            for (k, &(u, i, w)) in chunk.entries.iter().enumerate() {
                let t = chunk.stamps.get(k).copied().unwrap_or(0);
                rows.place(user_remap[u as usize], item_remap[i as usize], w, t);
            }
        }
        drop((user_remap, item_remap));
        let (by_user, timestamps) = rows.finish(items.ids.len());
        Ok(Interactions::assemble(
            IdMap {
                inner: Arc::new(users),
            },
            IdMap {
                inner: Arc::new(items),
            },
            by_user,
            timestamps,
            time_range,
        ))
    }
}

/// A CSR matrix filled by a counting sort: rows are laid out from their counts, entries are
/// placed in arrival order, then each row is sorted by column and repeats are merged.
/// Timestamps ride along when kept; otherwise `stamps` stays empty.
struct RowScatter {
    indptr: Vec<usize>,
    next: Vec<usize>,
    cols: Vec<u32>,
    vals: Vec<f32>,
    stamps: Vec<i64>,
    keep_stamps: bool,
}

impl RowScatter {
    /// `counts[r + 1]` is the number of entries of row `r`; `counts[0]` is 0.
    fn new(mut counts: Vec<usize>, keep_stamps: bool) -> Self {
        for r in 1..counts.len() {
            counts[r] += counts[r - 1];
        }
        let total = counts.last().copied().unwrap_or(0);
        RowScatter {
            next: counts[..counts.len().saturating_sub(1)].to_vec(),
            indptr: counts,
            cols: vec![0; total],
            vals: vec![0.0; total],
            stamps: vec![0; if keep_stamps { total } else { 0 }],
            keep_stamps,
        }
    }

    fn place(&mut self, row: u32, col: u32, val: f32, stamp: i64) {
        let slot = &mut self.next[row as usize];
        self.cols[*slot] = col;
        self.vals[*slot] = val;
        if self.keep_stamps {
            self.stamps[*slot] = stamp;
        }
        *slot += 1;
    }

    /// Sorts each row by column, sums repeated columns in arrival order and keeps their
    /// latest timestamp; compacts in place.
    fn finish(self, n_cols: usize) -> (Csr, Option<Vec<i64>>) {
        let RowScatter {
            mut indptr,
            next,
            mut cols,
            mut vals,
            mut stamps,
            keep_stamps,
        } = self;
        drop(next);
        let n_rows = indptr.len() - 1;
        let mut order: Vec<(u32, u32)> = Vec::new();
        let mut merged: Vec<(u32, f32, i64)> = Vec::new();
        let mut write = 0;
        for r in 0..n_rows {
            let (start, end) = (indptr[r], indptr[r + 1]);
            indptr[r] = write;
            let row = &cols[start..end];
            if row.windows(2).all(|w| w[0] < w[1]) {
                // Already sorted and unique, the usual case for sorted input files.
                cols.copy_within(start..end, write);
                vals.copy_within(start..end, write);
                if keep_stamps {
                    stamps.copy_within(start..end, write);
                }
                write += end - start;
                continue;
            }
            // Position breaks ties, so repeats are summed in arrival order.
            order.clear();
            order.extend(row.iter().enumerate().map(|(k, &c)| (c, k as u32)));
            order.sort_unstable();
            merged.clear();
            for &(c, k) in &order {
                let v = vals[start + k as usize];
                let t = stamps.get(start + k as usize).copied().unwrap_or(0);
                match merged.last_mut() {
                    Some(last) if last.0 == c => {
                        last.1 += v;
                        last.2 = last.2.max(t);
                    }
                    _ => merged.push((c, v, t)),
                }
            }
            for (n, &(c, v, t)) in merged.iter().enumerate() {
                cols[write + n] = c;
                vals[write + n] = v;
                if keep_stamps {
                    stamps[write + n] = t;
                }
            }
            write += merged.len();
        }
        indptr[n_rows] = write;
        cols.truncate(write);
        cols.shrink_to_fit();
        vals.truncate(write);
        vals.shrink_to_fit();
        stamps.truncate(write);
        stamps.shrink_to_fit();
        (
            Csr {
                n_rows,
                n_cols,
                indptr,
                indices: cols,
                values: vals,
            },
            keep_stamps.then_some(stamps),
        )
    }
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
