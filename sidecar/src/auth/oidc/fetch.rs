// SPDX-License-Identifier: BUSL-1.1
//! How documents are read from the identity provider: a JSON GET with a timeout and a size
//! cap, so a slow or hostile endpoint can neither hang us nor exhaust memory.

use serde::de::DeserializeOwned;

use super::{OidcError, OidcTuning};

/// GETs `url` and parses the body as JSON; `what` names the document in errors.
pub(super) async fn fetch_json<T: DeserializeOwned>(
    http: &reqwest::Client,
    url: &reqwest::Url,
    what: &str,
    tuning: &OidcTuning,
) -> Result<T, OidcError> {
    let fail = |detail: String| {
        OidcError::Discovery(format!("fetching the {what} from {url} failed: {detail}"))
    };
    let mut response = http
        .get(url.clone())
        .header(reqwest::header::ACCEPT, "application/json")
        // reqwest applies this to the whole exchange, body included.
        .timeout(tuning.http_timeout)
        .send()
        .await
        .map_err(|e| fail(error_chain(&e.without_url())))?;
    if !response.status().is_success() {
        return Err(fail(format!("HTTP {}", response.status())));
    }
    let limit = tuning.max_document_bytes;
    if response
        .content_length()
        .is_some_and(|len| len > limit as u64)
    {
        return Err(fail(format!("response larger than {limit} bytes")));
    }
    // Content-Length may be absent or lie, so the cap is enforced while reading.
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| fail(error_chain(&e.without_url())))?
    {
        if body.len() + chunk.len() > limit {
            return Err(fail(format!("response larger than {limit} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|e| fail(format!("invalid JSON: {e}")))
}

/// reqwest's top-level message hides the useful part ("connection refused", "timed out").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
