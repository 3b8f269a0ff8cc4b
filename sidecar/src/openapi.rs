// SPDX-License-Identifier: BUSL-1.1
//! The OpenAPI 3.1 document, built from the handlers' annotations. Its YAML form is committed
//! as docs/reference/api/openapi.yaml; a test fails when the two differ.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::Problem;
use crate::validate::ModelName;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "recsys REST API",
        description = "Recommendations from the recsys PostgreSQL extension over HTTP. Every operation runs as the caller's tenant and role; errors are RFC 9457 problem documents.",
        license(name = "BUSL-1.1", identifier = "BUSL-1.1")
    ),
    modifiers(&Security),
    components(schemas(Problem, ModelName)),
    tags(
        (name = "interactions", description = "Ingest implicit feedback"),
        (name = "items", description = "The item catalogue"),
        (name = "recommendations", description = "Top-k items for a user"),
        (name = "models", description = "Models, versions, activation, evaluation"),
        (name = "training", description = "Background training runs"),
        (name = "health", description = "Liveness, readiness, metrics")
    )
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-API-Key",
                "A key from `recsys-sidecar keys create`, bound to one tenant and role",
            ))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("An OIDC access token from the configured issuer"))
                    .build(),
            ),
        );
    }
}

pub fn yaml(api: &utoipa::openapi::OpenApi) -> String {
    api.to_yaml().unwrap_or_default()
}
