// SPDX-License-Identifier: Apache-2.0
//! recsys-pipelines: events from files, S3-compatible object stores, Kafka topics and other PostgreSQL
//! databases into `recsys.interactions`, exactly once, and catalogue items into `recsys.items`. A [`source::Source`] yields batches of
//! records with the position after each; the [`sink::Sink`] commits a batch's events, its dead
//! letters and that position in one transaction; [`run`] drives the two from the stored
//! checkpoint. docs/reference/pipelines.md is the user's reference.

pub mod catalogue;
pub mod error;
pub mod event;
pub mod format;
pub mod metrics;
pub mod parquet;
pub mod run;
pub mod sink;
pub mod source;

pub use error::{PipelineError, Result};
