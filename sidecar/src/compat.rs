// SPDX-License-Identifier: BUSL-1.1
//! Which extension versions this sidecar works with (docs/reference/compatibility.md). The
//! sidecar starts whatever is installed and keeps checking: while the extension is missing or
//! older than [`MINIMUM`], every API call and `/readyz` answer 503 and say what to do; once
//! `ALTER EXTENSION recsys UPDATE` has run, it serves, without a restart.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use sqlx::PgPool;

use crate::error::ApiError;
use crate::locks::{read, write};

/// The oldest extension version whose SQL functions this sidecar calls.
pub const MINIMUM: (u64, u64, u64) = (0, 2, 0);

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// Not checked yet, or the database did not answer.
    Unknown,
    Missing,
    TooOld(String),
    Ready(String),
}

/// Parses `major.minor.patch` (a pre-release suffix is ignored).
pub fn parse(version: &str) -> Option<(u64, u64, u64)> {
    let core = version.split(['-', '+']).next()?;
    let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
    let parsed = (parts.next()??, parts.next()??, parts.next()??);
    parts.next().is_none().then_some(parsed)
}

fn status_of(installed: Option<String>) -> Status {
    match installed {
        None => Status::Missing,
        Some(v) if parse(&v).is_some_and(|p| p >= MINIMUM) => Status::Ready(v),
        Some(v) => Status::TooOld(v),
    }
}

/// The installed version's status, read from the database now.
pub async fn check(pool: &PgPool) -> Result<Status, sqlx::Error> {
    let installed: Option<String> = sqlx::query_scalar(
        "SELECT extversion FROM pg_catalog.pg_extension \
         WHERE extname OPERATOR(pg_catalog.=) 'recsys'",
    )
    .fetch_optional(pool)
    .await?;
    Ok(status_of(installed))
}

impl Status {
    /// The refusal of an API call under this status, if any.
    pub fn refusal(&self) -> Option<ApiError> {
        let (min_major, min_minor, min_patch) = MINIMUM;
        match self {
            Status::Ready(_) | Status::Unknown => None,
            Status::Missing => Some(
                ApiError::unavailable("the recsys extension is not installed in this database")
                    .hint("CREATE EXTENSION recsys;"),
            ),
            Status::TooOld(v) => Some(
                ApiError::new(
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    "extension_too_old",
                    format!(
                        "the recsys extension is version {v}; this sidecar needs \
                         {min_major}.{min_minor}.{min_patch} or later"
                    ),
                )
                .hint("ALTER EXTENSION recsys UPDATE; (docs/how-to/upgrade.md)"),
            ),
        }
    }
}

/// The last status seen, shared by every request.
#[derive(Clone)]
pub struct Extension(Arc<RwLock<Status>>);

impl Default for Extension {
    fn default() -> Self {
        Extension(Arc::new(RwLock::new(Status::Unknown)))
    }
}

impl Extension {
    pub fn get(&self) -> Status {
        read(&self.0).clone()
    }

    pub fn set(&self, status: Status) {
        *write(&self.0) = status;
    }

    /// Checks now and then every few seconds while not ready, every 30 s once ready (to
    /// notice a downgrade or a dropped extension).
    pub async fn watch(self, pool: PgPool) {
        loop {
            match check(&pool).await {
                Ok(status) => {
                    if let Some(refusal) = status.refusal() {
                        tracing::error!(detail = %refusal.detail, "the API is unavailable");
                    }
                    self.set(status);
                }
                Err(e) => tracing::warn!(error = %e, "cannot read the extension's version"),
            }
            let ready = matches!(self.get(), Status::Ready(_));
            tokio::time::sleep(Duration::from_secs(if ready { 30 } else { 2 })).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_by_number() {
        assert_eq!(parse("0.2.0"), Some((0, 2, 0)));
        assert_eq!(parse("1.10.3-rc.1"), Some((1, 10, 3)));
        assert_eq!(parse("0.2"), None);
        assert_eq!(parse("0.2.x"), None);
        assert_eq!(
            status_of(Some("0.1.0".into())),
            Status::TooOld("0.1.0".into())
        );
        assert_eq!(
            status_of(Some("0.2.0".into())),
            Status::Ready("0.2.0".into())
        );
        assert_eq!(
            status_of(Some("0.10.0".into())),
            Status::Ready("0.10.0".into())
        );
        assert_eq!(status_of(None), Status::Missing);
    }

    #[test]
    fn too_old_is_refused_with_what_to_do() {
        let e = Status::TooOld("0.1.0".into()).refusal().expect("refused");
        assert_eq!(e.code, "extension_too_old");
        assert!(
            e.detail.contains("0.1.0") && e.detail.contains("0.2.0"),
            "{}",
            e.detail
        );
        assert!(e
            .hint
            .as_deref()
            .unwrap_or("")
            .contains("ALTER EXTENSION recsys UPDATE"));
        assert!(Status::Ready("0.2.0".into()).refusal().is_none());
    }
}
