// SPDX-License-Identifier: Apache-2.0
//! Offline evaluation for recsys: train/test splits, top-K ranking metrics and reports.
//!
//! Pure Rust with no dependency on the algorithms, so any recommender (ours or a peer's) can
//! be scored on the same split with the same formulas:
//!
//! 1. [`split()`] events with a [`SplitStrategy`] (the shared protocol is
//!    [`SplitStrategy::default_protocol`]);
//! 2. fit on `train`, recommend for the users of `test`;
//! 3. [`evaluate`] the lists against [`relevant_from_events`]`(&test)`;
//! 4. collect [`ReportRow`]s into a [`Report`] and render Markdown, HTML or JSON.
//!
//! Every random choice comes from the crate's own [`SplitMix64`], so a seed gives the same
//! split in every release.
//!
//! ```
//! use std::collections::HashMap;
//! use recsys_eval::*;
//!
//! # fn main() -> Result<(), EvalError> {
//! // Two users with six items each; user u likes items u..u+6.
//! let events: Vec<Event> = (0..2u32)
//!     .flat_map(|user| (user..user + 6).map(move |item| Event { user, item, weight: 1.0, timestamp: 0 }))
//!     .collect();
//! let data = split(&events, &SplitStrategy::default_protocol())?;
//! // round(6 * 0.2) = 1 held-out item per user.
//! assert_eq!(data.test.len(), 2);
//!
//! let relevant = relevant_from_events(&data.test);
//! let popularity = item_popularity(&data.train, 7);
//! let ctx = EvalContext {
//!     n_items: 7,
//!     item_popularity: &popularity,
//!     n_train_users: distinct_users(&data.train),
//!     similarity: None,
//! };
//! // An oracle that recommends exactly the held-out items scores 1.
//! let oracle: HashMap<u32, Vec<u32>> = relevant
//!     .iter()
//!     .map(|(&user, items)| (user, items.iter().copied().collect()))
//!     .collect();
//! let m = evaluate(&oracle, &relevant, &ctx, 1)?;
//! assert_eq!((m.precision, m.ndcg, m.users), (1.0, 1.0, 2));
//!
//! let report = Report {
//!     title: "Example".into(),
//!     dataset: "toy".into(),
//!     split: SplitStrategy::default_protocol().describe(),
//!     train_events: data.train.len(),
//!     test_events: data.test.len(),
//!     rows: vec![ReportRow {
//!         algorithm: "oracle".into(),
//!         params: serde_json::json!({}),
//!         fit_seconds: 0.0,
//!         recommend_seconds: 0.0,
//!         metrics: m,
//!     }],
//! };
//! assert!(report.to_markdown().contains("| oracle | 1.0000 |"));
//! # Ok(())
//! # }
//! ```

pub mod baseline;
pub mod error;
pub mod metrics;
pub mod report;
pub mod rng;
pub mod split;

pub use error::EvalError;
pub use metrics::{
    average_precision_at_k, distinct_users, evaluate, hit_rate_at_k, intra_list_diversity,
    item_novelty, item_popularity, ndcg_at_k, precision_at_k, recall_at_k, relevant_from_events,
    EvalContext, MetricSummary,
};
pub use report::{escape_html, Report, ReportRow};
pub use rng::SplitMix64;
pub use split::{split, Event, Split, SplitStrategy};
