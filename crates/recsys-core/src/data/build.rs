// SPDX-License-Identifier: BUSL-1.1
//! Building the matrices: [`InteractionsBuilder`] from a stream of interactions, and the
//! counting sort ([`RowScatter`]) that it and [`Interactions::from_raw`] lay rows out with.

use super::{validate_id, validate_weight, Csr, IdMap, IdTable, Interactions, TimeRange};
use crate::error::Result;

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
        let matrices =
            self.len as u64 * (2 * 8 + stamps) + (self.users.len() + self.items.len()) as u64 * 16;
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
        let mut counts = vec![0usize; users.len() + 1];
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
        let (by_user, timestamps) = rows.finish(items.len());
        Ok(Interactions::assemble(
            IdMap::from_table(users),
            IdMap::from_table(items),
            by_user,
            timestamps,
            time_range,
        ))
    }
}

/// A CSR matrix filled by a counting sort: rows are laid out from their counts, entries are
/// placed in arrival order, then each row is sorted by column and repeats are merged.
/// Timestamps ride along when kept; otherwise `stamps` stays empty.
pub(super) struct RowScatter {
    indptr: Vec<usize>,
    next: Vec<usize>,
    cols: Vec<u32>,
    vals: Vec<f32>,
    stamps: Vec<i64>,
    keep_stamps: bool,
}

impl RowScatter {
    /// `counts[r + 1]` is the number of entries of row `r`; `counts[0]` is 0.
    pub(super) fn new(mut counts: Vec<usize>, keep_stamps: bool) -> Self {
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

    pub(super) fn place(&mut self, row: u32, col: u32, val: f32, stamp: i64) {
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
    pub(super) fn finish(self, n_cols: usize) -> (Csr, Option<Vec<i64>>) {
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
