// SPDX-License-Identifier: Apache-2.0
//! Rows of a table or query in another PostgreSQL database (the buyer's own events table),
//! read in the order of a cursor column that grows with every new row (an identity, a
//! sequence, an insertion time). The position is the last cursor value committed; rows that
//! share a value are always read in the same batch, so a batch boundary never splits them;
//! rows whose cursor is NULL are not read.
//!
//! Each row becomes a JSON object (`to_jsonb`) and then an event exactly as a JSON Lines
//! record does. The connection is read-only: the query may name anything the login role can
//! read, and can change nothing.

use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgRow};
use sqlx::{Connection, PgConnection, Row};

use super::{Batch, Item, Source};
use crate::catalogue::{Destination, Reading};
use crate::error::{PipelineError, Result};
use crate::format::{json_entry, payload};

/// Rows sharing the batch's last cursor value are read with it, up to this many times the
/// batch size; more means the column does not grow with new rows.
const MAX_GROUP_FACTOR: usize = 10;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct QueryPosition {
    /// The cursor column, so that a changed one is noticed.
    pub cursor: String,
    /// The last value committed, as PostgreSQL writes it as text; `None`: from the start.
    pub after: Option<String>,
}

/// What to read: a table (`schema.name` or `name`) or a query, ordered by `cursor`.
#[derive(Clone, Debug)]
pub enum Relation {
    Table(String),
    Query(String),
}

pub struct Rows {
    conn: PgConnection,
    /// `postgres://host:port/database`: the origin of records, without credentials.
    origin: String,
    /// The relation as a FROM item, `q` its alias.
    from: String,
    cursor: String,
    /// The cursor's type as the source names it, known once the relation has a row.
    cursor_type: Option<String>,
    position: QueryPosition,
    done: bool,
    destination: Destination,
}

impl std::fmt::Debug for Rows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rows")
            .field("origin", &self.origin)
            .field("position", &self.position)
            .finish()
    }
}

/// `"a"."b"` from `a.b`: each part quoted, so a name is never read as SQL.
pub fn quote_name(name: &str) -> Result<String> {
    let parts: Vec<&str> = name.split('.').collect();
    if parts.len() > 2 || parts.iter().any(|p| p.is_empty() || p.contains('\0')) {
        return Err(PipelineError::Usage(format!(
            "{name:?} is not a name or schema.name"
        )));
    }
    Ok(parts
        .iter()
        .map(|p| format!("\"{}\"", p.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join("."))
}

impl Rows {
    pub async fn connect(url: &str, relation: Relation, cursor: &str) -> Result<Rows> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| PipelineError::Usage(format!("bad source URL: {e}")))?
            .application_name("recsys-pipelines")
            .options([("default_transaction_read_only", "on")]);
        let origin = format!(
            "postgres://{}:{}/{}",
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or_default()
        );
        let conn = PgConnection::connect_with(&options)
            .await
            .map_err(|e| PipelineError::Source(format!("cannot connect to {origin}: {e}")))?;
        let from = match relation {
            Relation::Table(name) => quote_name(&name)?,
            Relation::Query(sql) => {
                let sql = sql.trim().trim_end_matches(';');
                if sql.is_empty() {
                    return Err(PipelineError::Usage("--query is empty".into()));
                }
                format!("({sql})")
            }
        };
        let quoted_cursor = quote_name(cursor)?;
        if quoted_cursor.contains('.') {
            return Err(PipelineError::Usage(format!(
                "--cursor {cursor:?} must name a column of the relation, without a table"
            )));
        }
        Ok(Rows {
            conn,
            origin,
            from: format!("{from} AS q"),
            cursor: quoted_cursor,
            cursor_type: None,
            position: QueryPosition {
                cursor: cursor.to_owned(),
                after: None,
            },
            done: false,
            destination: Destination::Interactions,
        })
    }

    /// Reads rows as `destination`'s records (interactions unless told).
    pub fn reading(mut self, destination: Destination) -> Rows {
        self.destination = destination;
        self
    }

    fn source_error(&self, what: &str, e: sqlx::Error) -> PipelineError {
        PipelineError::Source(format!("{what} from {}: {e}", self.origin))
    }

    /// The cursor column's type; `None` while the relation is empty.
    async fn cursor_type(&mut self) -> Result<Option<String>> {
        if self.cursor_type.is_none() {
            let sql = format!(
                "SELECT pg_catalog.pg_typeof(q.{})::pg_catalog.text FROM {} LIMIT 1",
                self.cursor, self.from
            );
            self.cursor_type = sqlx::query_scalar(&sql)
                .fetch_optional(&mut self.conn)
                .await
                .map_err(|e| self.source_error("reading the cursor's type", e))?;
        }
        Ok(self.cursor_type.clone())
    }

    /// Rows after `after` (all with a cursor value when `None`) in cursor order, at most `limit`; or, with
    /// `equal`, every row whose cursor is that value. Rows with one value come in the order of
    /// their content, so a row's place among them (part of its origin) is stable.
    async fn fetch(
        &mut self,
        ty: &str,
        after: Option<&str>,
        equal: bool,
        limit: usize,
    ) -> Result<Vec<PgRow>> {
        let condition = match (after, equal) {
            (None, _) => format!("WHERE q.{} IS NOT NULL", self.cursor),
            (Some(_), false) => format!("WHERE q.{} > $1::pg_catalog.text::{ty}", self.cursor),
            (Some(_), true) => format!("WHERE q.{} = $1::pg_catalog.text::{ty}", self.cursor),
        };
        let sql = format!(
            "SELECT q.{c}::pg_catalog.text AS cursor, pg_catalog.to_jsonb(q)::pg_catalog.text AS record
             FROM {from} {condition}
             ORDER BY q.{c}, 2 LIMIT {limit}",
            c = self.cursor,
            from = self.from,
        );
        let mut query = sqlx::query(&sql);
        if let Some(after) = after {
            query = query.bind(after);
        }
        query
            .fetch_all(&mut self.conn)
            .await
            .map_err(|e| self.source_error("reading rows", e))
    }
}

fn cursor_of(row: &PgRow) -> Result<Option<String>> {
    row.try_get("cursor")
        .map_err(|e| PipelineError::Source(format!("reading a row's cursor: {e}")))
}

impl Source for Rows {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    async fn start(&mut self, position: &Value) -> Result<()> {
        if position.is_null() {
            return Ok(());
        }
        let stored: QueryPosition = serde_json::from_value(position.clone()).map_err(|e| {
            PipelineError::Usage(format!(
                "the checkpoint {position} is not a PostgreSQL position ({e}); was the pipeline's source changed?"
            ))
        })?;
        if stored.cursor != self.position.cursor {
            return Err(PipelineError::Usage(format!(
                "the pipeline's cursor is {}, not {}; name a new pipeline for a new cursor",
                stored.cursor, self.position.cursor
            )));
        }
        self.position = stored;
        Ok(())
    }

    async fn next_batch(&mut self, max: usize) -> Result<Option<Batch>> {
        if self.done {
            return Ok(None);
        }
        let Some(ty) = self.cursor_type().await? else {
            return Ok(None);
        };
        let after = self.position.after.clone();
        let mut rows = self.fetch(&ty, after.as_deref(), false, max).await?;
        if rows.len() < max {
            self.done = true;
        } else if let Some(last) = rows.last().map(cursor_of).transpose()?.flatten() {
            // The last value's other rows come into this batch too: the next one starts after it.
            let limit = max.saturating_mul(MAX_GROUP_FACTOR);
            let group = self.fetch(&ty, Some(&last), true, limit + 1).await?;
            if group.len() > limit {
                return Err(PipelineError::Usage(format!(
                    "more than {limit} rows have cursor value {last}: choose a cursor column that grows with every new row"
                )));
            }
            rows.retain(|r| cursor_of(r).ok().flatten().as_deref() != Some(last.as_str()));
            rows.extend(group);
        }
        if rows.is_empty() {
            return Ok(None);
        }
        let reading = Reading::new(self.destination);
        let mut items = Vec::with_capacity(rows.len());
        let (mut previous, mut rank) = (None::<String>, 0usize);
        for row in &rows {
            let cursor = cursor_of(row)?
                .ok_or_else(|| PipelineError::Source("a row without a cursor value".into()))?;
            rank = if previous.as_deref() == Some(cursor.as_str()) {
                rank + 1
            } else {
                0
            };
            let record: String = row
                .try_get("record")
                .map_err(|e| PipelineError::Source(format!("reading a row: {e}")))?;
            let origin = format!("{}?{}={cursor}#{rank}", self.origin, self.position.cursor);
            items.push(Item {
                entry: json_entry(&record, &origin, &reading),
                payload: payload(&record),
                origin,
            });
            previous = Some(cursor);
        }
        self.position.after = previous;
        let position = serde_json::to_value(&self.position).expect("a position serialises");
        Ok(Some(Batch { items, position }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_quoted_part_by_part_and_bad_ones_refused() {
        assert_eq!(quote_name("events").expect("name"), "\"events\"");
        assert_eq!(
            quote_name("shop.Events\"x").expect("name"),
            "\"shop\".\"Events\"\"x\""
        );
        for bad in ["", "a..b", "a.b.c", ".a", "a\0b"] {
            assert!(quote_name(bad).is_err(), "{bad:?}");
        }
    }
}
