// SPDX-License-Identifier: BUSL-1.1
//! Logs: JSON lines (or text) filtered by RECSYS_LOG, each request's lines inside a span that
//! carries its request id. Traces: when OTEL_EXPORTER_OTLP_ENDPOINT is set, the same spans go
//! to an OTLP/HTTP collector (the standard OTEL_* variables tune the exporter).

use std::sync::OnceLock;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::Config;

static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// Installs logging and, if configured, trace export. Call it before starting the async
/// runtime: the exporter's HTTP client blocks, on a thread of its own.
pub fn init(config: &Config) -> Result<(), String> {
    let filter = EnvFilter::try_new(&config.log_filter).map_err(|e| format!("RECSYS_LOG: {e}"))?;
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    // RECSYS_LOG filters the log only: traces keep every request's span at info level.
    let fmt = if config.log_json {
        fmt.json()
            .with_current_span(true)
            .with_span_list(false)
            .with_filter(filter)
            .boxed()
    } else {
        fmt.with_filter(filter).boxed()
    };
    let otel = match &config.otlp_endpoint {
        None => None,
        Some(endpoint) => {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .build()
                .map_err(|e| format!("OTEL_EXPORTER_OTLP_ENDPOINT={endpoint}: {e}"))?;
            let provider = SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(
                    Resource::builder()
                        .with_service_name("recsys-sidecar")
                        .build(),
                )
                .build();
            let tracer = provider.tracer("recsys-sidecar");
            let _ = PROVIDER.set(provider);
            Some(
                tracing_opentelemetry::layer()
                    .with_tracer(tracer)
                    .with_filter(LevelFilter::INFO),
            )
        }
    };
    tracing_subscriber::registry()
        .with(fmt)
        .with(otel)
        .try_init()
        .map_err(|e| e.to_string())
}

/// Sends the spans still buffered.
pub fn shutdown() {
    if let Some(provider) = PROVIDER.get() {
        if let Err(e) = provider.shutdown() {
            eprintln!("trace export: {e}");
        }
    }
}
