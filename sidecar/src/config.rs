// SPDX-License-Identifier: BUSL-1.1
//! Configuration from environment variables only (docs/reference/sidecar.md lists them).
//! The defaults reach the demo database of `KEEP_RUNNING=1 scripts/demo` from the repository root.

use std::net::SocketAddr;
use std::time::Duration;

use sha2::{Digest, Sha256};

/// The demo cluster's socket, relative to the repository root. The driver takes only an
/// absolute socket directory, so the default is resolved against the working directory.
const DEMO_SOCKET: &str = ".build/pg/sock";

fn default_database_url(cwd: Option<std::path::PathBuf>) -> String {
    let socket = cwd.unwrap_or_default().join(DEMO_SOCKET);
    format!(
        "postgres://recsys_sidecar@localhost/recsys_demo?host={}&port=5488",
        socket.display()
    )
}

#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub listen_addr: SocketAddr,
    /// A second listener serving only `/metrics`, without credentials.
    pub metrics_addr: Option<SocketAddr>,
    /// SHA-256 of the bearer token that opens `/metrics` on the API listener (without one
    /// that route is 404). Only the digest is kept, so the token never shows in `Debug`.
    pub metrics_token_sha256: Option<[u8; 32]>,
    pub http_header_timeout: Duration,
    pub http_max_connections: usize,
    pub db_max_connections: u32,
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    pub key_cache_ttl: Duration,
    /// Database lookups per second of API keys in no cache (random keys included).
    pub key_lookups_per_sec: u32,
    /// Trainings this sidecar runs at once, from the queue in recsys.training_runs.
    pub training_workers: usize,
    /// Trainings of one tenant running at once, across the sidecars of the database.
    pub training_per_tenant: u32,
    /// Unfinished (queued or running) trainings a tenant may have; more are refused with 429.
    pub training_queue_per_tenant: i64,
    /// A training still running after this long is cancelled and failed.
    pub max_training_duration: Duration,
    /// Evaluations this sidecar runs at once; more are refused with 429.
    pub eval_concurrency: usize,
    pub oidc: Option<OidcSettings>,
    pub log_filter: String,
    pub log_json: bool,
    pub otlp_endpoint: Option<String>,
}

#[derive(Debug, Clone)]
pub struct OidcSettings {
    pub issuer: String,
    pub audience: String,
    pub tenant_claim: String,
    pub role_claim: String,
    pub max_token_lifetime: Duration,
}

#[derive(Debug, thiserror::Error)]
#[error("{name}: {message}")]
pub struct ConfigError {
    name: &'static str,
    message: String,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let number =
            |name: &'static str, default: u64, min: u64, max: u64| -> Result<u64, ConfigError> {
                match get(name) {
                    None => Ok(default),
                    Some(v) => v
                        .parse::<u64>()
                        .ok()
                        .filter(|n| (min..=max).contains(n))
                        .ok_or(ConfigError {
                            name,
                            message: format!(
                                "expected a whole number from {min} to {max}, got {v:?}"
                            ),
                        }),
                }
            };
        let address = |name: &'static str, value: String| {
            value.parse::<SocketAddr>().map_err(|_| ConfigError {
                name,
                message: format!("expected host:port such as 0.0.0.0:8080, got {value:?}"),
            })
        };
        let listen_addr = address(
            "RECSYS_LISTEN_ADDR",
            get("RECSYS_LISTEN_ADDR").unwrap_or_else(|| "127.0.0.1:8080".into()),
        )?;
        let metrics_addr = get("RECSYS_METRICS_ADDR")
            .map(|v| address("RECSYS_METRICS_ADDR", v))
            .transpose()?;
        if metrics_addr == Some(listen_addr) {
            return Err(ConfigError {
                name: "RECSYS_METRICS_ADDR",
                message: "must differ from RECSYS_LISTEN_ADDR".into(),
            });
        }
        let metrics_token_sha256 = get("RECSYS_METRICS_TOKEN")
            .map(|t| metrics_token(&t).map(|()| Sha256::digest(t.as_bytes()).into()))
            .transpose()?;
        let max_token_lifetime = Duration::from_secs(number(
            "RECSYS_OIDC_MAX_TOKEN_LIFETIME_SECS",
            86_400,
            60,
            2_592_000,
        )?);
        let oidc = match (get("RECSYS_OIDC_ISSUER"), get("RECSYS_OIDC_AUDIENCE")) {
            (None, None) => None,
            (Some(issuer), Some(audience)) => Some(OidcSettings {
                issuer,
                audience,
                tenant_claim: get("RECSYS_OIDC_TENANT_CLAIM")
                    .unwrap_or_else(|| "recsys_tenant".into()),
                role_claim: get("RECSYS_OIDC_ROLE_CLAIM").unwrap_or_else(|| "recsys_role".into()),
                max_token_lifetime,
            }),
            (Some(_), None) => {
                return Err(ConfigError {
                    name: "RECSYS_OIDC_AUDIENCE",
                    message: "required when RECSYS_OIDC_ISSUER is set".into(),
                })
            }
            (None, Some(_)) => {
                return Err(ConfigError {
                    name: "RECSYS_OIDC_ISSUER",
                    message: "required when RECSYS_OIDC_AUDIENCE is set".into(),
                })
            }
        };
        let log_json = match get("RECSYS_LOG_FORMAT").as_deref() {
            None | Some("json") => true,
            Some("text") => false,
            Some(other) => {
                return Err(ConfigError {
                    name: "RECSYS_LOG_FORMAT",
                    message: format!("expected json or text, got {other:?}"),
                })
            }
        };
        Ok(Config {
            database_url: get("RECSYS_DATABASE_URL")
                .unwrap_or_else(|| default_database_url(std::env::current_dir().ok())),
            listen_addr,
            metrics_addr,
            metrics_token_sha256,
            http_header_timeout: Duration::from_secs(number(
                "RECSYS_HTTP_HEADER_TIMEOUT_SECS",
                10,
                1,
                3600,
            )?),
            http_max_connections: number("RECSYS_HTTP_MAX_CONNECTIONS", 512, 1, 100_000)? as usize,
            db_max_connections: number("RECSYS_DB_MAX_CONNECTIONS", 16, 1, 1000)? as u32,
            max_body_bytes: number("RECSYS_MAX_BODY_BYTES", 4 << 20, 1024, 1 << 30)? as usize,
            request_timeout: Duration::from_secs(number(
                "RECSYS_REQUEST_TIMEOUT_SECS",
                30,
                1,
                86_400,
            )?),
            key_cache_ttl: Duration::from_secs(number("RECSYS_KEY_CACHE_SECS", 5, 0, 3600)?),
            key_lookups_per_sec: number("RECSYS_KEY_LOOKUPS_PER_SEC", 50, 1, 100_000)? as u32,
            training_workers: number("RECSYS_TRAINING_WORKERS", 1, 1, 64)? as usize,
            training_per_tenant: number("RECSYS_TRAINING_PER_TENANT", 1, 1, 64)? as u32,
            training_queue_per_tenant: number("RECSYS_TRAINING_QUEUE_PER_TENANT", 8, 1, 10_000)?
                as i64,
            max_training_duration: Duration::from_secs(number(
                "RECSYS_MAX_TRAINING_SECS",
                3600,
                1,
                7 * 86_400,
            )?),
            eval_concurrency: number("RECSYS_EVAL_CONCURRENCY", 1, 1, 64)? as usize,
            oidc,
            log_filter: get("RECSYS_LOG").unwrap_or_else(|| "info".into()),
            log_json,
            otlp_endpoint: get("OTEL_EXPORTER_OTLP_ENDPOINT"),
        })
    }
}

/// The token travels in a header and guards the process's internals: it must be a header
/// value without spaces and long enough not to be guessed.
fn metrics_token(token: &str) -> Result<(), ConfigError> {
    if token.len() >= 16 && token.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(ConfigError {
            name: "RECSYS_METRICS_TOKEN",
            message: "expected at least 16 printable ASCII characters without spaces".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_need_no_variables() {
        let c = config(&[]).expect("defaults");
        assert_eq!(c.listen_addr.port(), 8080);
        let cwd = std::env::current_dir().expect("cwd");
        assert_eq!(
            c.database_url,
            format!(
                "postgres://recsys_sidecar@localhost/recsys_demo?host={}/.build/pg/sock&port=5488",
                cwd.display()
            )
        );
        assert!(c.oidc.is_none());
        assert_eq!(c.request_timeout, Duration::from_secs(30));
        assert_eq!(c.http_header_timeout, Duration::from_secs(10));
        assert_eq!(c.http_max_connections, 512);
        assert_eq!((c.metrics_addr, c.metrics_token_sha256), (None, None));
    }

    #[test]
    fn http_limits_are_validated() {
        let c = config(&[
            ("RECSYS_HTTP_HEADER_TIMEOUT_SECS", "3"),
            ("RECSYS_HTTP_MAX_CONNECTIONS", "64"),
        ])
        .expect("limits");
        assert_eq!(c.http_header_timeout, Duration::from_secs(3));
        assert_eq!(c.http_max_connections, 64);
        for (name, bad) in [
            ("RECSYS_HTTP_HEADER_TIMEOUT_SECS", "0"),
            ("RECSYS_HTTP_MAX_CONNECTIONS", "0"),
            ("RECSYS_HTTP_MAX_CONNECTIONS", "many"),
        ] {
            let e = config(&[(name, bad)]).unwrap_err();
            assert!(e.to_string().starts_with(name), "{e}");
        }
    }

    #[test]
    fn metrics_listener_and_token_are_validated() {
        let c = config(&[
            ("RECSYS_METRICS_ADDR", "0.0.0.0:9464"),
            ("RECSYS_METRICS_TOKEN", "0123456789abcdef"),
        ])
        .expect("metrics");
        assert_eq!(c.metrics_addr, Some("0.0.0.0:9464".parse().expect("addr")));
        assert_eq!(
            c.metrics_token_sha256,
            Some(Sha256::digest(b"0123456789abcdef").into())
        );
        assert!(!format!("{c:?}").contains("0123456789abcdef"));
        for (name, bad) in [
            ("RECSYS_METRICS_ADDR", "9464"),
            ("RECSYS_METRICS_ADDR", "127.0.0.1:8080"),
            ("RECSYS_METRICS_TOKEN", "short"),
            ("RECSYS_METRICS_TOKEN", "has a space in it, long enough"),
        ] {
            let e = config(&[(name, bad)]).unwrap_err();
            assert!(e.to_string().starts_with(name), "{bad}: {e}");
        }
    }

    #[test]
    fn bad_values_name_the_variable() {
        let e = config(&[("RECSYS_DB_MAX_CONNECTIONS", "0")]).unwrap_err();
        assert!(
            e.to_string().starts_with("RECSYS_DB_MAX_CONNECTIONS"),
            "{e}"
        );
        let e = config(&[("RECSYS_LISTEN_ADDR", "nowhere")]).unwrap_err();
        assert!(e.to_string().contains("host:port"), "{e}");
        let e = config(&[("RECSYS_OIDC_ISSUER", "http://idp")]).unwrap_err();
        assert!(e.to_string().starts_with("RECSYS_OIDC_AUDIENCE"), "{e}");
    }

    #[test]
    fn oidc_claims_default_and_override() {
        let c = config(&[
            ("RECSYS_OIDC_ISSUER", "http://idp"),
            ("RECSYS_OIDC_AUDIENCE", "recsys"),
            ("RECSYS_OIDC_ROLE_CLAIM", "roles"),
        ])
        .expect("oidc");
        let o = c.oidc.expect("enabled");
        assert_eq!(o.tenant_claim, "recsys_tenant");
        assert_eq!(o.role_claim, "roles");
        assert_eq!(o.max_token_lifetime, Duration::from_secs(86_400));
    }

    #[test]
    fn oidc_token_lifetime_is_bounded() {
        let oidc = |lifetime: &str| {
            config(&[
                ("RECSYS_OIDC_ISSUER", "http://idp"),
                ("RECSYS_OIDC_AUDIENCE", "recsys"),
                ("RECSYS_OIDC_MAX_TOKEN_LIFETIME_SECS", lifetime),
            ])
        };
        let o = oidc("3600").expect("oidc").oidc.expect("enabled");
        assert_eq!(o.max_token_lifetime, Duration::from_secs(3600));
        for bad in ["0", "59", "2592001", "1h"] {
            let e = oidc(bad).unwrap_err();
            assert!(
                e.to_string()
                    .starts_with("RECSYS_OIDC_MAX_TOKEN_LIFETIME_SECS"),
                "{e}"
            );
        }
    }
}
