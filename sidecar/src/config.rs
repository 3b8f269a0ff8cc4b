// SPDX-License-Identifier: BUSL-1.1
//! Configuration from environment variables only (docs/reference/sidecar.md lists them).
//! The defaults reach the demo database of `KEEP_RUNNING=1 scripts/demo` from the repository root.

use std::net::SocketAddr;
use std::time::Duration;

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
    pub db_max_connections: u32,
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    pub key_cache_ttl: Duration,
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
        let listen_addr = get("RECSYS_LISTEN_ADDR").unwrap_or_else(|| "127.0.0.1:8080".into());
        let listen_addr = listen_addr.parse().map_err(|_| ConfigError {
            name: "RECSYS_LISTEN_ADDR",
            message: format!("expected host:port such as 0.0.0.0:8080, got {listen_addr:?}"),
        })?;
        let oidc = match (get("RECSYS_OIDC_ISSUER"), get("RECSYS_OIDC_AUDIENCE")) {
            (None, None) => None,
            (Some(issuer), Some(audience)) => Some(OidcSettings {
                issuer,
                audience,
                tenant_claim: get("RECSYS_OIDC_TENANT_CLAIM")
                    .unwrap_or_else(|| "recsys_tenant".into()),
                role_claim: get("RECSYS_OIDC_ROLE_CLAIM").unwrap_or_else(|| "recsys_role".into()),
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
            db_max_connections: number("RECSYS_DB_MAX_CONNECTIONS", 16, 1, 1000)? as u32,
            max_body_bytes: number("RECSYS_MAX_BODY_BYTES", 4 << 20, 1024, 1 << 30)? as usize,
            request_timeout: Duration::from_secs(number(
                "RECSYS_REQUEST_TIMEOUT_SECS",
                30,
                1,
                86_400,
            )?),
            key_cache_ttl: Duration::from_secs(number("RECSYS_KEY_CACHE_SECS", 10, 0, 3600)?),
            oidc,
            log_filter: get("RECSYS_LOG").unwrap_or_else(|| "info".into()),
            log_json,
            otlp_endpoint: get("OTEL_EXPORTER_OTLP_ENDPOINT"),
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
    }
}
