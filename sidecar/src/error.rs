// SPDX-License-Identifier: BUSL-1.1
//! The sidecar's one error type. Every non-2xx answer is an RFC 9457 problem document with a
//! stable `type` URI and `code`; database errors are mapped from their SQLSTATE here and only
//! here. Internal details (SQL, constraint names, driver messages) go to the log, never out.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// Base of every problem `type`; the last segment is the `code`.
pub const PROBLEM_BASE: &str = "https://recsys.dev/problems/";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    pub hint: Option<String>,
    /// Seconds to wait before retrying, sent as `Retry-After`.
    pub retry_after: Option<u64>,
}

/// RFC 9457 problem details, with `code` and an optional `hint` as extension members.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// Stable URI naming the kind of problem: `https://recsys.dev/problems/{code}`.
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable code, the last segment of `type`.
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            detail: detail.into(),
            hint: None,
            retry_after: None,
        }
    }

    /// 429: over a limit; retry after `wait` (rounded up to whole seconds).
    pub fn too_many_requests(detail: impl Into<String>, wait: std::time::Duration) -> Self {
        let mut e = Self::new(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", detail);
        e.retry_after = Some(wait.as_secs() + u64::from(wait.subsec_nanos() > 0));
        e
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_parameter",
            detail,
        )
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }

    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail)
    }

    /// 413: the body (declared or read) exceeds RECSYS_MAX_BODY_BYTES.
    pub fn payload_too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the body is larger than RECSYS_MAX_BODY_BYTES",
        )
        .hint("send smaller batches")
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "an internal error occurred; the log has details under this request's id",
        )
    }

    pub fn problem(&self) -> Problem {
        Problem {
            type_uri: format!("{PROBLEM_BASE}{}", self.code),
            title: self
                .status
                .canonical_reason()
                .unwrap_or("Error")
                .to_string(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            code: self.code.to_string(),
            hint: self.hint.clone(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.problem())).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Bearer realm="recsys", ApiKey header="X-API-Key""#),
            );
        }
        response
    }
}

impl ApiError {
    /// SQLSTATE → HTTP. Messages of the recsys functions are written for users and pass
    /// through; for the rest (constraint violations, connection failures) a generic sentence
    /// does. The recsys functions' SQLSTATEs come from the core's `ErrorKind`; the table test
    /// below holds every kind's exit code, SQLSTATE and status side by side.
    pub fn from_database(code: &str, message: &str, hint: Option<String>) -> Self {
        use StatusCode as S;
        let passed = |status, name| {
            let err = ApiError::new(status, name, message);
            match &hint {
                Some(h) => err.hint(h.clone()),
                None => err,
            }
        };
        match code {
            "22004" | "22023" | "22P02" | "22P05" | "22003" | "22001" | "2201B" => {
                passed(S::UNPROCESSABLE_ENTITY, "invalid_parameter")
            }
            "54000" => passed(S::UNPROCESSABLE_ENTITY, "too_large"),
            // The extension's memory limit; PostgreSQL's own 53200 is the server's state.
            "53200" if message.starts_with("too large:") => {
                passed(S::UNPROCESSABLE_ENTITY, "too_large")
            }
            // A stored model the extension cannot read: its message says which and why.
            "XX001" => passed(S::INTERNAL_SERVER_ERROR, "corrupt_artifact"),
            "0A000" if message.starts_with("incompatible model artifact") => {
                passed(S::CONFLICT, "incompatible_artifact")
            }
            c if c.starts_with("22") => passed(S::UNPROCESSABLE_ENTITY, "invalid_parameter"),
            "23505" => ApiError::new(S::CONFLICT, "conflict", "the object already exists"),
            c if c.starts_with("23") => ApiError::invalid(
                "a value was refused by a database constraint (an id too long or empty, a weight not above zero, an attribute that is not an object)",
            ),
            // PostgreSQL names the table or function; the caller only needs the rule.
            "42501" => ApiError::new(S::FORBIDDEN, "forbidden", "this credential's role does not permit this operation")
                .hint("viewers read and get recommendations; operators also ingest, train and evaluate; admins also activate versions"),
            "P0002" => passed(S::NOT_FOUND, "not_found"),
            "55006" | "55000" | "40001" | "40P01" => passed(S::CONFLICT, "conflict"),
            "57014" => passed(S::GATEWAY_TIMEOUT, "timeout").hint(
                "the operation took longer than RECSYS_REQUEST_TIMEOUT_SECS; retry, or use fewer data",
            ),
            "25006" => passed(S::SERVICE_UNAVAILABLE, "read_only"),
            c if c.starts_with("53") => passed(S::SERVICE_UNAVAILABLE, "insufficient_resources"),
            c if c.starts_with("08") || c.starts_with("57P") => {
                ApiError::unavailable("the database is unavailable; retry later")
            }
            _ => {
                tracing::error!(sqlstate = %code, error = %message, "unmapped database error");
                ApiError::internal()
            }
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) => {
                let hint = db
                    .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                    .and_then(|pg| pg.hint().map(str::to_string));
                ApiError::from_database(
                    db.code().as_deref().unwrap_or_default(),
                    db.message(),
                    hint,
                )
            }
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                tracing::warn!(error = %e, "database unavailable");
                ApiError::unavailable("the database is unavailable; retry later")
            }
            _ => {
                tracing::error!(error = %e, "database error");
                ApiError::internal()
            }
        }
    }
}

/// A rule of the core refused a request value: the status its kind's SQLSTATE gets, so a
/// value refused here and the same value refused by the extension answer alike.
impl From<recsys_core::CoreError> for ApiError {
    fn from(e: recsys_core::CoreError) -> Self {
        ApiError::from_database(e.kind().sqlstate(), &e.to_string(), None)
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::invalid(r.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::invalid(r.body_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use recsys_core::{CoreError, ErrorKind};

    /// One error of each kind, as the core raises it (its message is what the extension sends).
    fn sample(kind: ErrorKind) -> CoreError {
        match kind {
            ErrorKind::InvalidArgument => CoreError::param("factors", "must be between 1 and 1024"),
            ErrorKind::InvalidInput => CoreError::InvalidInput("weight is NaN".into()),
            ErrorKind::NoData => CoreError::NotEnoughData("no interactions".into()),
            ErrorKind::TooLarge => CoreError::TooLarge("ease needs about 9 GiB".into()),
            ErrorKind::Corrupt => CoreError::Artifact("blob \"weights\" fails its checksum".into()),
            ErrorKind::Incompatible => CoreError::Incompatible("format version 9".into()),
            ErrorKind::Cancelled => CoreError::Cancelled,
            ErrorKind::Io => CoreError::Io(std::io::Error::other("disk full")),
        }
    }

    /// Every kind's CLI exit code, SQLSTATE and HTTP status in one table, so that no surface
    /// drifts from the others.
    #[test]
    fn every_error_kind_has_one_exit_code_sqlstate_and_status() {
        #[rustfmt::skip]
        let table = [
            (ErrorKind::InvalidArgument, 2, "22023", 422, "invalid_parameter"),
            (ErrorKind::InvalidInput,    2, "22000", 422, "invalid_parameter"),
            (ErrorKind::NoData,          2, "P0002", 404, "not_found"),
            (ErrorKind::TooLarge,        2, "53200", 422, "too_large"),
            (ErrorKind::Corrupt,         1, "XX001", 500, "corrupt_artifact"),
            (ErrorKind::Incompatible,    1, "0A000", 409, "incompatible_artifact"),
            (ErrorKind::Cancelled,       1, "57014", 504, "timeout"),
            (ErrorKind::Io,              1, "58030", 500, "internal"),
        ];
        assert_eq!(
            table.map(|row| row.0),
            ErrorKind::ALL,
            "one row per kind, in ErrorKind::ALL's order"
        );
        for (kind, exit_code, sqlstate, status, code) in table {
            let error = sample(kind);
            assert_eq!(error.kind(), kind);
            assert_eq!(kind.exit_code(), exit_code, "{kind:?}");
            assert_eq!(kind.sqlstate(), sqlstate, "{kind:?}");
            let api = ApiError::from_database(sqlstate, &error.to_string(), None);
            assert_eq!((api.status.as_u16(), api.code), (status, code), "{kind:?}");
        }
    }

    /// Every other SQLSTATE mapping docs/reference/sidecar.md documents (the table of codes),
    /// with whether the database's message is passed on as `detail`: PostgreSQL's own messages
    /// name tables, constraints and hosts, which stay in the log.
    #[test]
    fn every_documented_sqlstate_has_its_status_and_code() {
        const PASSED: bool = true;
        const GENERIC: bool = false;
        #[rustfmt::skip]
        let table = [
            // 409: conflicts, retried or resolved by the caller.
            ("55006", "model \"m\" is being trained by another session", 409, "conflict", PASSED),
            ("55000", "training run 7 is already succeeded", 409, "conflict", PASSED),
            ("23505", "duplicate key value violates unique constraint \"interactions_pkey\"", 409, "conflict", GENERIC),
            ("40001", "could not serialize access due to concurrent update", 409, "conflict", PASSED),
            ("40P01", "deadlock detected", 409, "conflict", PASSED),
            // 422: class 22 (the listed codes and the rest of the class) and class 23.
            ("22004", "k must not be null", 422, "invalid_parameter", PASSED),
            ("22023", "k must be between 1 and 10000, not 0", 422, "invalid_parameter", PASSED),
            ("22P02", "invalid input syntax for type bigint: \"x\"", 422, "invalid_parameter", PASSED),
            ("22003", "integer out of range", 422, "invalid_parameter", PASSED),
            ("22008", "interaction of user \"u\" has an infinite occurred_at", 422, "invalid_parameter", PASSED),
            ("22000", "weight is NaN", 422, "invalid_parameter", PASSED),
            ("22012", "division by zero", 422, "invalid_parameter", PASSED),
            ("23502", "null value in column \"user_id\" of relation \"interactions\"", 422, "invalid_parameter", GENERIC),
            ("23503", "insert or update on table \"model_versions\" violates foreign key constraint", 422, "invalid_parameter", GENERIC),
            ("23514", "new row for relation \"interactions\" violates check constraint", 422, "invalid_parameter", GENERIC),
            // 422 too_large: the extension's limits, not the server's state.
            ("54000", "the trained model takes 1100 MiB, more than a PostgreSQL value can hold (1 GiB)", 422, "too_large", PASSED),
            ("53200", "too large: evaluating als needs about 10 MiB, more than the limit of 1 MiB", 422, "too_large", PASSED),
            // 503: the server's resources, a read-only server, an unreachable or stopping one.
            ("53200", "out of memory", 503, "insufficient_resources", PASSED),
            ("53100", "could not extend file: No space left on device", 503, "insufficient_resources", PASSED),
            ("53300", "sorry, too many clients already", 503, "insufficient_resources", PASSED),
            ("25006", "recsys.eval cannot run on a hot standby", 503, "read_only", PASSED),
            ("08006", "server closed the connection unexpectedly", 503, "unavailable", GENERIC),
            ("08001", "could not connect to server at 10.0.0.1", 503, "unavailable", GENERIC),
            ("57P01", "terminating connection due to administrator command", 503, "unavailable", GENERIC),
            ("57P03", "the database system is starting up", 503, "unavailable", GENERIC),
            // The rest.
            ("42501", "permission denied for function activate", 403, "forbidden", GENERIC),
            ("P0002", "model \"m\" does not exist", 404, "not_found", PASSED),
            ("57014", "canceling statement due to statement timeout", 504, "timeout", PASSED),
            ("0A000", "incompatible model artifact: format version 9", 409, "incompatible_artifact", PASSED),
            ("XX001", "invalid model artifact: blob \"weights\" fails its checksum", 500, "corrupt_artifact", PASSED),
            // Unmapped, including PostgreSQL's 0A000 that is not about an artifact.
            ("0A000", "cannot use subquery in check constraint", 500, "internal", GENERIC),
            ("XX000", "recsys internal error: SPI failed", 500, "internal", GENERIC),
            ("42P01", "relation \"recsys.nope\" does not exist", 500, "internal", GENERIC),
            ("", "no SQLSTATE", 500, "internal", GENERIC),
        ];
        for (sqlstate, message, status, code, passed) in table {
            let hint = Some("a hint".to_string());
            let api = ApiError::from_database(sqlstate, message, hint.clone());
            assert_eq!(
                (api.status.as_u16(), api.code),
                (status, code),
                "{sqlstate} {message}"
            );
            assert_eq!(api.detail == message, passed, "{sqlstate}: {}", api.detail);
            if sqlstate == "57014" {
                let own = api.hint.as_deref().unwrap_or_default();
                assert!(own.contains("RECSYS_REQUEST_TIMEOUT_SECS"), "{own}");
            } else if passed {
                assert_eq!(
                    api.hint, hint,
                    "{sqlstate}: the hint passes with the message"
                );
            }
        }
    }

    #[test]
    fn problem_type_ends_with_code() {
        let p = ApiError::not_found("no such model").problem();
        assert_eq!(p.type_uri, "https://recsys.dev/problems/not_found");
        assert_eq!(p.status, 404);
        assert_eq!(p.title, "Not Found");
    }

    #[test]
    fn too_many_requests_says_when_to_retry() {
        let r = ApiError::too_many_requests("slow down", std::time::Duration::from_millis(1500))
            .into_response();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[header::RETRY_AFTER], "2");
    }

    #[test]
    fn unauthorized_carries_a_challenge() {
        let r = ApiError::unauthorized("missing credentials").into_response();
        assert!(r.headers().contains_key(header::WWW_AUTHENTICATE));
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
    }
}
