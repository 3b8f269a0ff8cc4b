// SPDX-License-Identifier: Apache-2.0
//! Objects under a prefix (S3) or files under a folder, read in order: by key, or by time of
//! last modification (then key). The position is the last object read and how many of its
//! lines are committed, so a run resumes inside an object and a new object is picked up by
//! the next run.

use std::collections::VecDeque;
use std::fs::File;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Batch, Item, Source};
use crate::catalogue::Destination;
use crate::error::{PipelineError, Result};
use crate::format::{self, Compression, Format, ObjectError, ObjectRecords};

/// Records parsed between two yields to the runtime.
const YIELD_EVERY: usize = 4096;

type Layout = (Format, Compression);

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObjectInfo {
    /// First so that, under `Order::Modified`, objects sort by time, then key.
    pub modified: Option<DateTime<Utc>>,
    pub key: String,
}

/// Where objects come from: a bucket, a folder.
#[allow(async_fn_in_trait)]
pub trait Store {
    fn kind(&self) -> &'static str;
    /// The object's name for people and for derived event ids (`s3://bucket/key`).
    fn url(&self, key: &str) -> String;
    /// Every object under the prefix.
    async fn list(&self) -> Result<Vec<ObjectInfo>>;
    /// The object as a local file (S3 objects are spooled to a temporary one): Parquet is
    /// read from its end.
    async fn open(&self, key: &str) -> Result<File>;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Order {
    /// Key order: for exports named by date (`2026-12-01.csv.gz`).
    Key,
    /// Time of last modification, then key: for names that do not sort by time.
    Modified,
}

/// The checkpoint of an object source.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ObjectPosition {
    pub key: String,
    pub modified: Option<DateTime<Utc>>,
    /// Lines of the object read so far (header included).
    pub line: u64,
    /// Whether the object was read to its end.
    pub complete: bool,
}

#[derive(Debug)]
pub struct ObjectSource<S> {
    store: S,
    order: Order,
    format: Option<Format>,
    destination: Destination,
    queue: VecDeque<(ObjectInfo, Layout, u64)>,
    current: Option<ObjectRecords>,
    position: Option<ObjectPosition>,
}

impl<S: Store> ObjectSource<S> {
    pub fn new(store: S, order: Order, format: Option<Format>, destination: Destination) -> Self {
        ObjectSource {
            store,
            order,
            format,
            destination,
            queue: VecDeque::new(),
            current: None,
            position: None,
        }
    }

    fn sort_key(&self, info: &ObjectInfo) -> ObjectInfo {
        match self.order {
            Order::Key => ObjectInfo {
                modified: None,
                key: info.key.clone(),
            },
            Order::Modified => info.clone(),
        }
    }

    /// Opens the next object in the queue; `Ok(false)` when the queue is empty. An object
    /// whose content cannot be read becomes one dead letter.
    async fn open_next(&mut self, items: &mut Vec<Item>) -> Result<bool> {
        let Some((info, layout, skip)) = self.queue.pop_front() else {
            return Ok(false);
        };
        let raw = self.store.open(&info.key).await?;
        let url = self.store.url(&info.key);
        self.position = Some(ObjectPosition {
            key: info.key,
            modified: info.modified,
            line: skip,
            complete: false,
        });
        let opened = ObjectRecords::open(raw, layout, url.clone(), self.destination)
            .and_then(|mut r| r.skip_to(skip).map(|()| r));
        match opened {
            Ok(records) => self.current = Some(records),
            Err(e) => self.object_failed(e, url, items)?,
        }
        Ok(true)
    }

    fn object_failed(&mut self, e: ObjectError, url: String, items: &mut Vec<Item>) -> Result<()> {
        match e {
            ObjectError::Io(why) => Err(PipelineError::Source(why)),
            ObjectError::Content(why) => {
                let position = self.position.as_mut().expect("an object is open");
                items.push(Item {
                    origin: format!("{url}:{}", position.line),
                    entry: Err(format!(
                        "object skipped from line {}: {why}",
                        position.line + 1
                    )),
                    payload: String::new(),
                });
                position.complete = true;
                self.current = None;
                Ok(())
            }
        }
    }
}

impl<S: Store> Source for ObjectSource<S> {
    fn kind(&self) -> &'static str {
        self.store.kind()
    }

    async fn start(&mut self, position: &Value) -> Result<()> {
        let after: Option<ObjectPosition> = match position {
            Value::Null => None,
            v => Some(serde_json::from_value(v.clone()).map_err(|e| {
                PipelineError::Usage(format!(
                    "the checkpoint {v} is not an object source's position ({e}); was the pipeline's source changed?"
                ))
            })?),
        };
        let mut objects = self.store.list().await?;
        objects.sort_by_key(|o| self.sort_key(o));
        let resume = after.as_ref().map(|p| {
            self.sort_key(&ObjectInfo {
                modified: p.modified,
                key: p.key.clone(),
            })
        });
        self.queue = objects
            .into_iter()
            .filter_map(|o| {
                let layout = format::layout(&o.key, self.format)?;
                let key = self.sort_key(&o);
                match (&resume, &after) {
                    (Some(r), Some(p)) if key == *r => (!p.complete).then_some((o, layout, p.line)),
                    (Some(r), _) if key < *r => None,
                    _ => Some((o, layout, 0)),
                }
            })
            .collect();
        self.position = after;
        self.current = None;
        Ok(())
    }

    async fn next_batch(&mut self, max: usize) -> Result<Option<Batch>> {
        let mut items = Vec::new();
        let mut moved = false;
        while items.len() < max {
            let Some(records) = self.current.as_mut() else {
                if !self.open_next(&mut items).await? {
                    break;
                }
                moved = true;
                continue;
            };
            if items.len() % YIELD_EVERY == YIELD_EVERY - 1 {
                // Parsing is the pipeline's CPU work: yielding now and then lets the commit of
                // the previous batch, awaited beside it, go on meanwhile.
                tokio::task::yield_now().await;
            }
            let url = records.origin().to_owned();
            match records.next_record() {
                Ok(Some(record)) => {
                    items.push(Item {
                        origin: format!("{url}:{}", record.line),
                        entry: record.entry,
                        payload: record.payload,
                    });
                    self.position.as_mut().expect("an object is open").line = record.line;
                }
                Ok(None) => {
                    self.position.as_mut().expect("an object is open").complete = true;
                    self.current = None;
                }
                Err(e) => self.object_failed(e, url, &mut items)?,
            }
        }
        if items.is_empty() && !moved {
            return Ok(None);
        }
        let position = serde_json::to_value(&self.position).expect("a position serialises");
        Ok(Some(Batch { items, position }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// A store in memory: the ordering and resume rules, without I/O.
    struct Memory(BTreeMap<String, (i64, Vec<u8>)>);

    impl Store for Memory {
        fn kind(&self) -> &'static str {
            "memory"
        }
        fn url(&self, key: &str) -> String {
            format!("mem://{key}")
        }
        async fn list(&self) -> Result<Vec<ObjectInfo>> {
            Ok(self
                .0
                .iter()
                .map(|(k, (t, _))| ObjectInfo {
                    key: k.clone(),
                    modified: DateTime::from_timestamp(*t, 0),
                })
                .collect())
        }
        async fn open(&self, key: &str) -> Result<File> {
            use std::io::{Seek, Write};
            let mut file = tempfile::tempfile().expect("a temporary file");
            file.write_all(&self.0[key].1).expect("written");
            file.rewind().expect("rewound");
            Ok(file)
        }
    }

    fn store() -> Memory {
        let mut m = BTreeMap::new();
        m.insert(
            "b.tsv".to_string(),
            (100, b"user\titem\nu3\ti3\nu4\ti4\n".to_vec()),
        );
        m.insert(
            "a.tsv".to_string(),
            (200, b"user\titem\nu1\ti1\nu2\ti2\n".to_vec()),
        );
        m.insert(
            "c.tsv".to_string(),
            (300, b"no header we know\nx\n".to_vec()),
        );
        m.insert("_SUCCESS".to_string(), (50, Vec::new()));
        Memory(m)
    }

    fn users(batch: &Batch) -> Vec<String> {
        batch
            .items
            .iter()
            .map(|i| {
                i.entry
                    .as_ref()
                    .map(|e| match e {
                        crate::catalogue::Entry::Event(e) => e.user_id.clone(),
                        crate::catalogue::Entry::Item(i) => i.item_id.clone(),
                    })
                    .unwrap_or_else(|e| format!("dead: {e}"))
            })
            .collect()
    }

    fn run(order: Order, max: usize, from: Value) -> (Vec<String>, Value) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let mut source = ObjectSource::new(store(), order, None, Destination::Interactions);
            source.start(&from).await.expect("start");
            let (mut seen, mut position) = (Vec::new(), from);
            while let Some(batch) = source.next_batch(max).await.expect("batch") {
                seen.extend(users(&batch));
                position = batch.position;
            }
            (seen, position)
        })
    }

    #[test]
    fn objects_are_read_in_key_or_modification_order_and_a_bad_one_is_a_dead_letter() {
        let (by_key, end) = run(Order::Key, 3, Value::Null);
        assert_eq!(&by_key[..4], ["u1", "u2", "u3", "u4"]);
        assert!(
            by_key[4].starts_with("dead: object skipped from line 1: the header names no user"),
            "{by_key:?}"
        );
        assert_eq!(end["key"], "c.tsv");
        assert_eq!(end["complete"], true);
        let (by_time, _) = run(Order::Modified, 1, Value::Null);
        assert_eq!(&by_time[..4], ["u3", "u4", "u1", "u2"]);
    }

    #[test]
    fn a_run_resumes_inside_an_object_and_after_a_complete_one() {
        let inside =
            serde_json::json!({"key": "a.tsv", "modified": null, "line": 2, "complete": false});
        assert_eq!(&run(Order::Key, 10, inside).0[..3], ["u2", "u3", "u4"]);
        let after =
            serde_json::json!({"key": "b.tsv", "modified": null, "line": 3, "complete": true});
        assert_eq!(run(Order::Key, 10, after).0.len(), 1);
        let (nothing, _) = run(
            Order::Key,
            10,
            serde_json::json!({"key": "c.tsv", "line": 2, "complete": true, "modified": null}),
        );
        assert!(nothing.is_empty());
    }
}
