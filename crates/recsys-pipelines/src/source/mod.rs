// SPDX-License-Identifier: Apache-2.0
//! The connector contract: a source yields batches of records, each batch with the position
//! after it, which the sink commits in the same transaction as the batch's rows. Resuming from
//! a committed position reads nothing twice; reading a record twice (a backfill, a retry)
//! inserts nothing twice, because every event has an id.

pub mod files;
pub mod kafka;
pub mod objects;
pub mod postgres;
pub mod s3;

use serde_json::Value;

use crate::catalogue::Entry;
use crate::error::Result;

/// One record of a source: an entry, or why it is not one.
#[derive(Debug)]
pub struct Item {
    /// Where it is in its source (`s3://bucket/key:17`): a dead letter's position.
    pub origin: String,
    pub entry: Result<Entry, String>,
    /// The record as read, for a dead letter (cut short).
    pub payload: String,
}

#[derive(Debug)]
pub struct Batch {
    pub items: Vec<Item>,
    /// Where the next batch starts, as the checkpoint stores it.
    pub position: Value,
}

// Sources run on the pipeline's own task and are never spawned, so their futures need no
// `Send` bound.
#[allow(async_fn_in_trait)]
pub trait Source {
    /// What the checkpoint calls this kind of source.
    fn kind(&self) -> &'static str;
    /// Positions the source after `position` (a checkpoint's; `Value::Null` for the start).
    async fn start(&mut self, position: &Value) -> Result<()>;
    /// Up to `max` records and the position after them; `None` once nothing is left to read.
    async fn next_batch(&mut self, max: usize) -> Result<Option<Batch>>;
}
