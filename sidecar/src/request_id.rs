// SPDX-License-Identifier: BUSL-1.1
//! The request id (`X-Request-Id`) that ties a request's log lines and trace span together,
//! and the check that keeps a client's own id out of the log unless it is harmless.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

pub const HEADER: &str = "x-request-id";

/// A client's X-Request-Id is kept only if it is short and printable; otherwise a fresh one is
/// made, so logs cannot be flooded or forged through it.
pub async fn sanitize(mut request: Request, next: Next) -> Response {
    let acceptable = |v: &HeaderValue| {
        let b = v.as_bytes();
        !b.is_empty() && b.len() <= 128 && b.iter().all(|c| c.is_ascii_graphic())
    };
    if let Some(v) = request.headers().get(HEADER) {
        if !acceptable(v) {
            request.headers_mut().remove(HEADER);
        }
    }
    next.run(request).await
}
