// SPDX-License-Identifier: Apache-2.0
//! A run: from the checkpoint, batch after batch, each committed with the position after it,
//! until the source has nothing more; and a backfill: the whole source again, events of a
//! time range only, the position left alone. Bad records become dead letters; past the run's
//! limit of dead letters the run stops before committing the batch that crossed it.

use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::catalogue::{CatalogueItem, Entry};
use crate::error::{PipelineError, Result};
use crate::event::Event;
use crate::metrics::Counters;
use crate::sink::{Advance, DeadLetter, Sink};
use crate::source::{Batch, Item, Source};

#[derive(Clone, Debug)]
pub struct Options {
    pub batch_size: usize,
    /// Dead letters one run may write before it stops; `None`: no limit.
    pub max_dead_letters: Option<u64>,
}

/// `[from, to)` of a backfill.
#[derive(Clone, Copy, Debug)]
pub struct Range {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// A run (`range` None): the source from its checkpoint to its end, the checkpoint moving
/// with each batch. A backfill (`range` given): the whole source again, writing the events of
/// the range only; what is already stored is skipped by its id, and the checkpoint does not
/// move.
pub async fn read<S: Source>(
    source: &mut S,
    sink: &mut Sink,
    range: Option<Range>,
    options: &Options,
    counters: &Counters,
    stop: &AtomicBool,
) -> Result<()> {
    let mut position = sink.checkpoint(source.kind()).await?;
    source
        .start(range.map_or(&position, |_| &Value::Null))
        .await?;
    let mut pending = next(source, options, stop).await?;
    while let Some(batch) = pending {
        // A followed source that waited in vain: nothing to commit.
        if range.is_none() && batch.items.is_empty() && batch.position == position {
            pending = next(source, options, stop).await?;
            continue;
        }
        let parts = split(batch.items, range);
        check_dead_letters(counters, parts.dead.len() as u64, options)?;
        let advance = match range {
            None => Advance::From {
                stored: &position,
                to: &batch.position,
            },
            Some(_) => Advance::Stay,
        };
        // The next batch is read and parsed while the database writes this one; it is only
        // read ahead, so a failed commit loses nothing (the next run starts before both).
        let (committed, following) = tokio::join!(
            sink.commit(&parts.events, &parts.items, &parts.dead, advance),
            next(source, options, stop)
        );
        let committed = committed?;
        counters.add(&committed, parts.outside);
        tracing::info!(position = %batch.position, inserted = committed.inserted, duplicates = committed.duplicates, dead_letters = committed.dead_letters, outside_range = parts.outside, "batch committed");
        if range.is_none() {
            position = batch.position;
        }
        pending = following?;
    }
    Ok(())
}

async fn next<S: Source>(
    source: &mut S,
    options: &Options,
    stop: &AtomicBool,
) -> Result<Option<Batch>> {
    if stop.load(Ordering::Relaxed) {
        return Err(PipelineError::Interrupted);
    }
    source.next_batch(options.batch_size).await
}

fn check_dead_letters(counters: &Counters, more: u64, options: &Options) -> Result<()> {
    let count = counters.dead_letters() + more;
    match options.max_dead_letters {
        Some(limit) if count > limit => Err(PipelineError::TooManyDeadLetters { count, limit }),
        _ => Ok(()),
    }
}

/// A batch by what becomes of each record.
#[derive(Default)]
struct Parts {
    events: Vec<Event>,
    items: Vec<CatalogueItem>,
    dead: Vec<DeadLetter>,
    /// Events outside a backfill's range.
    outside: u64,
}

fn split(records: Vec<Item>, range: Option<Range>) -> Parts {
    let mut parts = Parts::default();
    for record in records {
        match record.entry {
            Ok(Entry::Event(e))
                if range.is_some_and(|r| e.occurred_at < r.from || e.occurred_at >= r.to) =>
            {
                parts.outside += 1
            }
            Ok(Entry::Event(e)) => parts.events.push(e),
            Ok(Entry::Item(i)) => parts.items.push(i),
            Err(reason) => parts.dead.push(DeadLetter {
                origin: record.origin,
                reason,
                payload: record.payload,
            }),
        }
    }
    parts
}
