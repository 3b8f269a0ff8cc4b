// SPDX-License-Identifier: BUSL-1.1
//! Makes every error response a problem document. The crate's own errors already are; this
//! catches the rest — axum's extractor rejections, Swagger UI's 404s, anything a library
//! answers in plain text — and rewrites it with the same status and headers (`Allow`,
//! `Retry-After`, ...), so clients parse one error format.

use axum::body::{to_bytes, Body};
use axum::extract::Request;
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// A rejection's text says what was wrong with the request; longer bodies are not messages.
const MAX_DETAIL_BYTES: usize = 1024;

pub async fn rewrite(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_problem(response.headers()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // A server error's body may describe internals, so only a client error's text is kept.
    let detail = if status.is_client_error() && is_plain_text(&parts.headers) {
        text(body).await
    } else {
        None
    };
    if status.is_server_error() {
        tracing::warn!(
            status = status.as_u16(),
            "an error response was not a problem document"
        );
    }
    let detail = detail.unwrap_or_else(|| default_detail(status).to_owned());
    let problem = ApiError::new(status, code(status), detail).into_response();
    for name in [
        header::CONTENT_LENGTH,
        header::CONTENT_ENCODING,
        header::TRANSFER_ENCODING,
    ] {
        parts.headers.remove(name);
    }
    let (problem_parts, problem_body) = problem.into_parts();
    for (name, value) in &problem_parts.headers {
        if name == header::CONTENT_TYPE || !parts.headers.contains_key(name) {
            parts.headers.insert(name.clone(), value.clone());
        }
    }
    Response::from_parts(parts, problem_body)
}

fn is_problem(headers: &HeaderMap) -> bool {
    mime(headers).is_some_and(|m| m == "application/problem+json")
}

fn is_plain_text(headers: &HeaderMap) -> bool {
    mime(headers).is_none_or(|m| m == "text/plain")
}

fn mime(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = value.split(';').next().unwrap_or_default();
    Some(essence.trim().to_ascii_lowercase())
}

async fn text(body: Body) -> Option<String> {
    let bytes = to_bytes(body, MAX_DETAIL_BYTES).await.ok()?;
    let text = String::from_utf8(bytes.to_vec()).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// Stable codes (the last segment of the problem `type`) for statuses the crate does not
/// produce itself; docs/reference/sidecar.md lists them.
fn code(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::NOT_ACCEPTABLE => "not_acceptable",
        StatusCode::REQUEST_TIMEOUT => "request_timeout",
        StatusCode::CONFLICT => "conflict",
        StatusCode::LENGTH_REQUIRED => "length_required",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::URI_TOO_LONG => "uri_too_long",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid_body",
        StatusCode::TOO_MANY_REQUESTS => "too_many_requests",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "headers_too_large",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        StatusCode::GATEWAY_TIMEOUT => "timeout",
        s if s.is_client_error() => "client_error",
        _ => "internal",
    }
}

fn default_detail(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "there is no such resource",
        StatusCode::METHOD_NOT_ALLOWED => "this route does not support this method",
        StatusCode::PAYLOAD_TOO_LARGE => "the body is larger than RECSYS_MAX_BODY_BYTES",
        s if s.is_client_error() => "the request was refused",
        _ => "an internal error occurred; the log has details under this request's id",
    }
}
