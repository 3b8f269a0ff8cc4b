// SPDX-License-Identifier: Apache-2.0
//! Objects under a prefix of an S3 bucket, or of any S3-compatible store (MinIO, s3s-fs, …)
//! through an explicit endpoint. Credentials and region come from the standard AWS chain
//! (environment, profile, instance role). An object is downloaded to a temporary file and read
//! from there, so memory does not grow with object size.

use std::fs::File;
use std::io::{Seek, Write};

use aws_sdk_s3::config::{RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::Client;
use chrono::{DateTime, Utc};

use super::objects::{ObjectInfo, Store};
use crate::error::{PipelineError, Result};

#[derive(Debug)]
pub struct Bucket {
    client: Client,
    bucket: String,
    prefix: String,
}

/// Where to reach S3: the standard chain's settings, and an endpoint for stores that are not
/// AWS (path-style addressing, which they all understand).
#[derive(Clone, Debug, Default)]
pub struct Endpoint {
    pub url: Option<String>,
    pub region: Option<String>,
}

/// Splits `s3://bucket/prefix`.
pub fn parse_url(url: &str) -> Result<(String, String)> {
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| PipelineError::Usage(format!("{url:?} is not an s3:// URL")))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(PipelineError::Usage(format!(
            "{url:?} names no bucket (s3://bucket/prefix)"
        )));
    }
    Ok((bucket.to_owned(), prefix.to_owned()))
}

pub async fn client(endpoint: &Endpoint) -> Client {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(region) = &endpoint.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    let shared = loader.load().await;
    let mut config = aws_sdk_s3::config::Builder::from(&shared)
        // Stores other than AWS do not all compute the newer default checksums.
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
    if shared.region().is_none() {
        config = config.region(aws_config::Region::new("us-east-1"));
    }
    if let Some(url) = &endpoint.url {
        config = config.endpoint_url(url).force_path_style(true);
    }
    Client::from_conf(config.build())
}

impl Bucket {
    pub fn new(client: Client, url: &str) -> Result<Bucket> {
        let (bucket, prefix) = parse_url(url)?;
        Ok(Bucket {
            client,
            bucket,
            prefix,
        })
    }
}

fn s3_error<E: std::error::Error>(what: &str, e: E) -> PipelineError {
    PipelineError::Source(format!("{what}: {}", DisplayErrorContext(e)))
}

impl Store for Bucket {
    fn kind(&self) -> &'static str {
        "s3"
    }

    fn url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    async fn list(&self) -> Result<Vec<ObjectInfo>> {
        let mut out = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&self.prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                s3_error(
                    &format!("cannot list s3://{}/{}", self.bucket, self.prefix),
                    e,
                )
            })?;
            for object in page.contents() {
                let Some(key) = object.key() else { continue };
                let modified = object
                    .last_modified()
                    .and_then(|t| DateTime::<Utc>::from_timestamp(t.secs(), t.subsec_nanos()));
                out.push(ObjectInfo {
                    key: key.to_owned(),
                    modified,
                });
            }
        }
        Ok(out)
    }

    async fn open(&self, key: &str) -> Result<File> {
        let what = self.url(key);
        let object = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| s3_error(&format!("cannot get {what}"), e))?;
        let mut file = tempfile::tempfile()
            .map_err(|e| PipelineError::Source(format!("temporary file: {e}")))?;
        let mut body = object.body;
        while let Some(chunk) = body
            .try_next()
            .await
            .map_err(|e| PipelineError::Source(format!("reading {what}: {e}")))?
        {
            file.write_all(&chunk)
                .map_err(|e| PipelineError::Source(format!("temporary file: {e}")))?;
        }
        file.rewind()
            .map_err(|e| PipelineError::Source(format!("temporary file: {e}")))?;
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_a_bucket_and_a_prefix() {
        assert_eq!(
            parse_url("s3://events/2026/").expect("url"),
            ("events".into(), "2026/".into())
        );
        assert_eq!(
            parse_url("s3://events").expect("url"),
            ("events".into(), "".into())
        );
        assert!(parse_url("s3:///x").is_err());
        assert!(parse_url("https://x").is_err());
    }
}
