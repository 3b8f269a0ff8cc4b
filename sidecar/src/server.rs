// SPDX-License-Identifier: BUSL-1.1
//! The accept loop. `axum::serve` has no header-read timeout and no connection limit, so idle
//! or slow connections could hold file descriptors until the process could accept no more.
//!
//! Each connection needs a permit; when all `max_connections` are taken, a new connection is
//! accepted and closed at once rather than left unaccepted. Closing tells a client or load
//! balancer to go elsewhere now, and frees the kernel's backlog, whereas pausing `accept`
//! leaves callers waiting in the backlog with no answer until their own timeouts fire.
//!
//! Connections speak HTTP/1.1 only (as they did under `axum::serve` without its `http2`
//! feature). hyper's header read timeout starts whenever it waits for a request head,
//! so it also closes keep-alive connections left idle between requests.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::config::Config;

/// hyper's own limits sit above the request limits (`limits::MAX_URI_BYTES`,
/// `limits::MAX_HEADER_BYTES`), so a request that breaks those reaches the router and gets a
/// problem document; only a head larger than this gets hyper's bare 431.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// hyper refuses requests with more header fields than this with a bare 431 (its default is
/// 100, which ordinary proxies plus tracing headers can approach).
pub const MAX_HEADER_FIELDS: usize = 512;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Longest wait for a complete request head, on new and on idle keep-alive connections.
    pub header_timeout: Duration,
    pub max_connections: usize,
}

impl Limits {
    pub fn from_config(config: &Config) -> Self {
        Limits {
            header_timeout: config.http_header_timeout,
            max_connections: config.http_max_connections,
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting, lets
/// requests in flight finish (idle connections close at once) and returns.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        .max_headers(MAX_HEADER_FIELDS);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            metrics::counter!("http_connections_refused_total").increment(1);
            tracing::debug!("connection refused: RECSYS_HTTP_MAX_CONNECTIONS reached");
            drop(stream);
            continue;
        };
        // Responses are written whole; Nagle's algorithm would only delay their last segment.
        let _ = stream.set_nodelay(true);
        let connection = http.serve_connection(
            TokioIo::new(stream),
            TowerToHyperService::new(router.clone()),
        );
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            metrics::gauge!("http_connections_open").increment(1.0);
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            metrics::gauge!("http_connections_open").decrement(1.0);
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Errors of one connection (reset before accept) are the peer's business; anything else
/// (out of file descriptors) would repeat at once, so wait before trying again.
async fn accept_failed(e: io::Error) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accept failed; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
