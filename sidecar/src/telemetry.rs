// SPDX-License-Identifier: BUSL-1.1
//! Logs: JSON lines (or text) filtered by RECSYS_LOG, each request's lines inside a span that
//! carries its request id.

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

use crate::config::Config;

pub fn init(config: &Config) -> Result<(), String> {
    let filter = EnvFilter::try_new(&config.log_filter).map_err(|e| format!("RECSYS_LOG: {e}"))?;
    let registry = tracing_subscriber::registry().with(filter);
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let result = if config.log_json {
        registry
            .with(fmt.json().with_current_span(true).with_span_list(false))
            .try_init()
    } else {
        registry.with(fmt).try_init()
    };
    result.map_err(|e| e.to_string())
}

pub fn shutdown() {}
