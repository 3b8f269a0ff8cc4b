// SPDX-License-Identifier: BUSL-1.1
//! Request limits checked before any handler runs, answered with problem documents. hyper's
//! own limits are set above these (`server::MAX_HEAD_BYTES`), so it is these that apply.

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// Every route's parameters fit in a few hundred bytes; bulk data go in bodies.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Counted as on the wire (`name: value` and CRLF); tokens and tracing headers fit easily.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// Refuses an over-long URI (414), too many header bytes (431) and a declared
/// `Content-Length` above `RECSYS_MAX_BODY_BYTES` (413, before the body is read).
pub async fn enforce(State(max_body): State<usize>, request: Request, next: Next) -> Response {
    match refusal(&request, max_body) {
        Some(error) => error.into_response(),
        None => next.run(request).await,
    }
}

fn refusal(request: &Request, max_body: usize) -> Option<ApiError> {
    let uri = request.uri();
    let uri_bytes = uri.authority().map_or(0, |a| a.as_str().len())
        + uri.path_and_query().map_or(0, |p| p.as_str().len());
    if uri_bytes > MAX_URI_BYTES {
        return Some(
            ApiError::new(
                StatusCode::URI_TOO_LONG,
                "uri_too_long",
                format!("the request URI is longer than {MAX_URI_BYTES} bytes"),
            )
            .hint("send long lists in a request body"),
        );
    }
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if header_bytes > MAX_HEADER_BYTES {
        return Some(ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!("the request headers are larger than {MAX_HEADER_BYTES} bytes"),
        ));
    }
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max_body as u64) {
        return Some(ApiError::payload_too_large());
    }
    None
}
