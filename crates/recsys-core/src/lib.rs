// SPDX-License-Identifier: BUSL-1.1
//! recsys-core: recommendation algorithms as plain Rust, with no database, web or async code.
//!
//! Data flows one way: [`data::Interactions`] → an [`models::Algorithm`] fit →
//! [`trained::TrainedModel`] → recommendations, or → [`artifact`] bytes and back.

pub mod artifact;
pub mod budget;
pub mod data;
pub mod error;
pub mod incremental;
pub mod kernels;
pub mod models;
pub mod offline;
pub mod rules;
mod scoring;
mod screening;
pub mod topk;
pub mod trained;

pub use data::{IdMap, Interactions, InteractionsBuilder, RawInteraction};
pub use error::{CoreError, ErrorKind, Result};
pub use incremental::{require_same_algorithm, take_incremental, Changes};
pub use models::{Algorithm, FitContext, Model, Progress, Registry};
pub use recsys_eval::SplitMix64;
pub use trained::{Recommendations, TrainedModel, UserQuery};
