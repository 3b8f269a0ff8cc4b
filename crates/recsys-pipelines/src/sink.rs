// SPDX-License-Identifier: Apache-2.0
//! The PostgreSQL sink: one transaction per batch writes its events into
//! `recsys.interactions` (idempotent by `event_id`), its dead letters into
//! `recsys.dead_letters`, and the source position after it into `recsys.pipeline_state`. A
//! crash, a cancel or a retry therefore loses nothing committed and commits nothing twice.
//!
//! The connection pins `search_path` (a tenant may plant functions and operators in schemas on
//! a role's path) and names every object with its schema. The tenant is the login role's, or,
//! for a gateway role, the one `--tenant` names, set per transaction: row-level security and
//! grants decide what the pipeline may write, as for every other client.

use std::fmt::Write as _;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection, Postgres, Transaction};

use crate::catalogue::CatalogueItem;
use crate::error::{PipelineError, Result};
use crate::event::Event;

#[derive(Debug)]
pub struct Sink {
    conn: PgConnection,
    pipeline: String,
    tenant: Option<String>,
}

/// A bad record, as `recsys.dead_letters` keeps it.
#[derive(Clone, Debug, PartialEq)]
pub struct DeadLetter {
    pub origin: String,
    pub reason: String,
    pub payload: String,
}

/// What one batch changed.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Committed {
    pub inserted: u64,
    /// Events whose id was already stored (a re-read, a backfill).
    pub duplicates: u64,
    pub dead_letters: u64,
}

/// A version `Sink::train` stored.
#[derive(Clone, Copy, Debug)]
pub struct Trained {
    pub version: i32,
    pub seconds: f64,
}

/// What a position update requires: the position the batch was read from must still be the
/// stored one, so two runs of one pipeline cannot both advance it.
#[derive(Clone, Copy, Debug)]
pub enum Advance<'a> {
    From {
        stored: &'a Value,
        to: &'a Value,
    },
    /// A backfill writes events and counts but leaves the position alone.
    Stay,
}

impl Sink {
    pub async fn connect(url: &str, pipeline: &str, tenant: Option<String>) -> Result<Sink> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| PipelineError::Usage(format!("bad database URL: {e}")))?
            .application_name("recsys-pipelines")
            .options([("search_path", "pg_catalog,pg_temp")]);
        let mut conn = PgConnection::connect_with(&options).await?;
        sqlx::query(
            "CREATE TEMPORARY TABLE recsys_pipeline_batch (
                 event_id text, user_id text, item_id text, weight real, occurred_at timestamptz
             ) ON COMMIT DELETE ROWS",
        )
        .execute(&mut conn)
        .await?;
        Ok(Sink {
            conn,
            pipeline: pipeline.to_owned(),
            tenant,
        })
    }

    async fn begin(&mut self) -> Result<Transaction<'_, Postgres>> {
        let mut tx = self.conn.begin().await?;
        if let Some(tenant) = &self.tenant {
            sqlx::query("SELECT pg_catalog.set_config('recsys.tenant', $1, true)")
                .bind(tenant)
                .execute(&mut *tx)
                .await?;
        }
        Ok(tx)
    }

    /// The stored position (`Null`: from the start), creating the pipeline's state on its
    /// first run. A pipeline keeps the kind of source it was created with.
    pub async fn checkpoint(&mut self, source: &str) -> Result<Value> {
        let pipeline = self.pipeline.clone();
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO recsys.pipeline_state (pipeline, source) VALUES ($1, $2)
             ON CONFLICT (tenant_id, pipeline) DO NOTHING",
        )
        .bind(&pipeline)
        .bind(source)
        .execute(&mut *tx)
        .await?;
        // FOR UPDATE waits for a transaction of a previous run that was committing when that
        // run died (its COMMIT already sent): reading the position before it lands would make
        // this run's first commit a conflict.
        let (stored, position): (String, Option<Value>) = sqlx::query_as(
            "SELECT source, position FROM recsys.pipeline_state WHERE pipeline = $1 FOR UPDATE",
        )
        .bind(&pipeline)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        if stored != source {
            return Err(PipelineError::Usage(format!(
                "pipeline {pipeline} reads from a {stored} source, not {source}; name a new pipeline for a new source"
            )));
        }
        Ok(position.unwrap_or(Value::Null))
    }

    /// Commits one batch: events or catalogue items, dead letters and the position after
    /// them, all or nothing.
    pub async fn commit(
        &mut self,
        events: &[Event],
        items: &[CatalogueItem],
        dead: &[DeadLetter],
        advance: Advance<'_>,
    ) -> Result<Committed> {
        let pipeline = self.pipeline.clone();
        let copy = copy_text(events);
        let mut tx = self.begin().await?;
        let (mut inserted, mut watermark): (i64, Option<DateTime<Utc>>) = (0, None);
        if !events.is_empty() {
            let mut copy_in = tx
                .copy_in_raw("COPY pg_temp.recsys_pipeline_batch FROM STDIN")
                .await?;
            copy_in.send(copy.as_bytes()).await?;
            copy_in.finish().await?;
            // The tenant is an init plan, computed once: the column's default would call
            // recsys.current_tenant() (SECURITY DEFINER, pinned search_path) for every row.
            (inserted, watermark) = sqlx::query_as(
                "WITH ins AS (
                     INSERT INTO recsys.interactions (tenant_id, event_id, user_id, item_id, weight, occurred_at)
                     SELECT (SELECT recsys.current_tenant()::recsys.tenant_name), event_id, user_id, item_id, weight, occurred_at
                     FROM pg_temp.recsys_pipeline_batch
                     ON CONFLICT (tenant_id, event_id) DO NOTHING
                     RETURNING 1
                 )
                 SELECT (SELECT count(*) FROM ins), (SELECT max(occurred_at) FROM pg_temp.recsys_pipeline_batch)",
            )
            .fetch_one(&mut *tx)
            .await?;
        }
        let written = match items.is_empty() {
            true => 0,
            false => upsert_items(&mut tx, items).await?,
        };
        if !dead.is_empty() {
            let column = |f: fn(&DeadLetter) -> &str| {
                dead.iter().map(|d| f(d).to_owned()).collect::<Vec<_>>()
            };
            sqlx::query(
                "INSERT INTO recsys.dead_letters (pipeline, origin, reason, payload)
                 SELECT $1, d.origin, d.reason, d.payload
                 FROM unnest($2::text[], $3::text[], $4::text[]) AS d(origin, reason, payload)",
            )
            .bind(&pipeline)
            .bind(column(|d| &d.origin))
            .bind(column(|d| &d.reason))
            .bind(column(|d| &d.payload))
            .execute(&mut *tx)
            .await?;
        }
        let committed = Committed {
            inserted: inserted as u64 + written,
            duplicates: (events.len() + items.len()) as u64 - inserted as u64 - written,
            dead_letters: dead.len() as u64,
        };
        let (stored, to) = match advance {
            Advance::From { stored, to } => (Some(stored), Some(to)),
            Advance::Stay => (None, None),
        };
        let updated = sqlx::query(
            "UPDATE recsys.pipeline_state
             SET position = CASE WHEN $2 THEN $3 ELSE position END,
                 watermark = greatest(watermark, $4),
                 events = events + $5, duplicates = duplicates + $6, dead_letters = dead_letters + $7,
                 updated_at = now()
             WHERE pipeline = $1 AND (NOT $2 OR position IS NOT DISTINCT FROM $8)",
        )
        .bind(&pipeline)
        .bind(to.is_some())
        .bind(to.filter(|v| !v.is_null()))
        .bind(watermark)
        .bind(committed.inserted as i64)
        .bind(committed.duplicates as i64)
        .bind(committed.dead_letters as i64)
        .bind(stored.filter(|v| !v.is_null()))
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() != 1 {
            return Err(PipelineError::Conflict(pipeline));
        }
        tx.commit().await?;
        Ok(committed)
    }

    /// Trains `model` on the tenant's interactions with `recsys.train`, in a transaction of
    /// its own after the run's batches.
    pub async fn train(&mut self, model: &str, algorithm: &str, params: &Value) -> Result<Trained> {
        let mut tx = self.begin().await?;
        let (version, seconds): (i32, f64) =
            sqlx::query_as("SELECT version, seconds FROM recsys.train($1, $2, $3)")
                .bind(model)
                .bind(algorithm)
                .bind(params)
                .fetch_one(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(Trained { version, seconds })
    }

    /// The pipeline's state as JSON, `None` if it never ran (or is another tenant's).
    pub async fn status(&mut self) -> Result<Option<Value>> {
        let pipeline = self.pipeline.clone();
        let mut tx = self.begin().await?;
        let row: Option<(Value,)> = sqlx::query_as(
            "SELECT pg_catalog.to_jsonb(s) FROM recsys.pipeline_state AS s WHERE pipeline = $1",
        )
        .bind(&pipeline)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(row.map(|r| r.0))
    }
}

/// Writes catalogue items, the last of an id in the batch winning, and returns how many were
/// new or changed: one the table already holds as it is is not written again.
async fn upsert_items(tx: &mut Transaction<'_, Postgres>, items: &[CatalogueItem]) -> Result<u64> {
    let ids: Vec<&str> = items.iter().map(|i| i.item_id.as_str()).collect();
    let attributes: Vec<Value> = items
        .iter()
        .map(|i| Value::Object(i.attributes.clone()))
        .collect();
    let available: Vec<bool> = items.iter().map(|i| i.available).collect();
    let (written,): (i64,) = sqlx::query_as(
        "WITH batch AS (
             SELECT DISTINCT ON (b.item_id) b.item_id, b.attributes, b.available
             FROM unnest($1::text[], $2::jsonb[], $3::bool[]) WITH ORDINALITY AS b(item_id, attributes, available, n)
             ORDER BY b.item_id, b.n DESC
         ), up AS (
             INSERT INTO recsys.items AS i (tenant_id, item_id, attributes, available, updated_at)
             SELECT (SELECT recsys.current_tenant()::recsys.tenant_name), item_id, attributes, available, now()
             FROM batch
             ON CONFLICT (tenant_id, item_id) DO UPDATE
                 SET attributes = EXCLUDED.attributes, available = EXCLUDED.available,
                     updated_at = EXCLUDED.updated_at
                 WHERE (i.attributes, i.available) IS DISTINCT FROM (EXCLUDED.attributes, EXCLUDED.available)
             RETURNING 1
         )
         SELECT count(*) FROM up",
    )
    .bind(ids)
    .bind(attributes)
    .bind(available)
    .fetch_one(&mut **tx)
    .await?;
    Ok(written as u64)
}

/// The events in COPY's text format: tab-separated, with `\`, tab, newline and carriage
/// return escaped (ids are anything a source held).
pub fn copy_text(events: &[Event]) -> String {
    let mut out = String::with_capacity(events.len() * 64);
    for e in events {
        escape(&mut out, &e.event_id);
        out.push('\t');
        escape(&mut out, &e.user_id);
        out.push('\t');
        escape(&mut out, &e.item_id);
        let _ = writeln!(out, "\t{}\t{}", e.weight, e.occurred_at.to_rfc3339());
    }
    out
}

fn escape(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn copy_text_escapes_what_copy_would_read_as_structure() {
        let e = Event {
            event_id: "a\\b".into(),
            user_id: "u\t1".into(),
            item_id: "i\n\r2".into(),
            weight: 0.1,
            occurred_at: Utc.timestamp_opt(0, 0).single().expect("time"),
        };
        assert_eq!(
            copy_text(&[e]),
            "a\\\\b\tu\\t1\ti\\n\\r2\t0.1\t1970-01-01T00:00:00+00:00\n"
        );
    }
}
