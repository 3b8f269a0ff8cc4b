// SPDX-License-Identifier: Apache-2.0
//! JSON events from every partition of a Kafka topic (any broker speaking the Kafka protocol:
//! Apache Kafka, Redpanda, tansu). There is no consumer group: the next offset of each
//! partition is the pipeline's position, committed in the same transaction as the rows its
//! messages produced, so a crash neither loses nor repeats an event. An event without an id
//! gets one derived from topic, partition and offset; without a time, the message's.

use std::collections::BTreeMap;
use std::time::Duration;

use rskafka::client::partition::{OffsetAt, PartitionClient, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder};
use rskafka::BackoffConfig;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Batch, Item, Source};
use crate::catalogue::{Destination, Reading};
use crate::error::{PipelineError, Result};
use crate::format::{json_entry, payload};

/// Bytes asked for per fetch: many messages per round trip, bounded memory. A fetch asks for
/// about what the batch has room for (brokers return at least one whole record batch).
const FETCH_BYTES: i64 = 4 << 20;
const MIN_FETCH_BYTES: i64 = 64 << 10;
/// A guess at a message's size, to turn the room left in a batch into bytes.
const MESSAGE_BYTES: i64 = 128;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TopicPosition {
    pub topic: String,
    /// The next offset to read, by partition.
    pub offsets: BTreeMap<i32, i64>,
}

pub struct Topic {
    client: Client,
    topic: String,
    /// How long a fetch waits for new messages once a partition is read to its end; `None`:
    /// the run ends there.
    follow: Option<i32>,
    partitions: Vec<PartitionClient>,
    position: TopicPosition,
    /// Partitions read to their end (the high watermark of their last fetch).
    drained: BTreeMap<i32, bool>,
    destination: Destination,
}

impl std::fmt::Debug for Topic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Topic")
            .field("topic", &self.topic)
            .field("position", &self.position)
            .finish()
    }
}

/// Splits `kafka://broker1:9092,broker2:9092/topic`.
pub fn parse_url(url: &str) -> Result<(Vec<String>, String)> {
    let rest = url
        .strip_prefix("kafka://")
        .ok_or_else(|| PipelineError::Usage(format!("{url:?} is not a kafka:// URL")))?;
    match rest.split_once('/') {
        Some((brokers, topic))
            if !brokers.is_empty() && !topic.is_empty() && !topic.contains('/') =>
        {
            Ok((
                brokers.split(',').map(str::to_owned).collect(),
                topic.to_owned(),
            ))
        }
        _ => Err(PipelineError::Usage(format!(
            "{url:?} must be kafka://host:port[,host:port…]/topic"
        ))),
    }
}

fn fetch_bytes(room: usize) -> i32 {
    let bytes = i64::try_from(room)
        .unwrap_or(i64::MAX)
        .saturating_mul(MESSAGE_BYTES);
    bytes.clamp(MIN_FETCH_BYTES, FETCH_BYTES) as i32
}

fn kafka_error(what: &str, e: rskafka::client::error::Error) -> PipelineError {
    PipelineError::Source(format!("{what}: {e}"))
}

impl Topic {
    /// Connects to the brokers of `url`; `follow_ms`: wait for new messages instead of ending;
    /// `retry_for`: how long a request to an unreachable broker is retried before the run fails.
    pub async fn connect(url: &str, follow_ms: Option<i32>, retry_for: Duration) -> Result<Topic> {
        let (brokers, topic) = parse_url(url)?;
        let backoff = BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            base: 2.0,
            deadline: Some(retry_for),
        };
        let client = ClientBuilder::new(brokers)
            .client_id("recsys-pipelines")
            .backoff_config(backoff)
            .build()
            .await
            .map_err(|e| kafka_error(&format!("cannot reach {url}"), e))?;
        Ok(Topic {
            client,
            position: TopicPosition {
                topic: topic.clone(),
                offsets: BTreeMap::new(),
            },
            topic,
            follow: follow_ms,
            partitions: Vec::new(),
            drained: BTreeMap::new(),
            destination: Destination::Interactions,
        })
    }

    /// Reads messages as `destination`'s records (interactions unless told).
    pub fn reading(mut self, destination: Destination) -> Topic {
        self.destination = destination;
        self
    }

    /// Reads one fetch of a partition into `items`, all of it: a position inside a record
    /// batch is never stored, because brokers differ on what a fetch from the middle of a batch
    /// returns (Kafka the whole batch, tansu 0.6 only the batches after it, which would lose the
    /// rest). A batch of the pipeline may so exceed `--batch-size` by one record batch.
    async fn fetch(&mut self, index: usize, room: usize, items: &mut Vec<Item>) -> Result<()> {
        let client = &self.partitions[index];
        let partition = client.partition();
        let offset = self.position.offsets[&partition];
        let wait = self.follow.unwrap_or(0);
        let (records, high) = client
            .fetch_records(offset, 1..fetch_bytes(room), wait)
            .await
            .map_err(|e| {
                kafka_error(
                    &format!("fetching {}/{partition} at {offset}", self.topic),
                    e,
                )
            })?;
        let mut next = offset;
        for r in records.into_iter().filter(|r| r.offset >= offset) {
            let origin = format!("kafka://{}/{partition}@{}", self.topic, r.offset);
            let (entry, text) = match &r.record.value {
                None => (Err("a message without a value".to_owned()), String::new()),
                Some(bytes) => match std::str::from_utf8(bytes) {
                    Ok(text) => {
                        // A message's own time stands for an event's missing one.
                        let reading = Reading {
                            destination: self.destination,
                            now: r.record.timestamp,
                        };
                        (json_entry(text, &origin, &reading), payload(text))
                    }
                    Err(e) => (
                        Err(format!("not UTF-8 (byte {})", e.valid_up_to())),
                        payload(&String::from_utf8_lossy(bytes)),
                    ),
                },
            };
            items.push(Item {
                origin,
                entry,
                payload: text,
            });
            next = r.offset + 1;
        }
        self.position.offsets.insert(partition, next);
        self.drained.insert(partition, next >= high);
        Ok(())
    }
}

impl Source for Topic {
    fn kind(&self) -> &'static str {
        "kafka"
    }

    async fn start(&mut self, position: &Value) -> Result<()> {
        if !position.is_null() {
            let stored: TopicPosition = serde_json::from_value(position.clone()).map_err(|e| {
                PipelineError::Usage(format!("the checkpoint {position} is not a Kafka position ({e}); was the pipeline's source changed?"))
            })?;
            if stored.topic != self.topic {
                return Err(PipelineError::Usage(format!(
                    "the pipeline reads topic {}, not {}; name a new pipeline for a new topic",
                    stored.topic, self.topic
                )));
            }
            self.position = stored;
        }
        let topics = self
            .client
            .list_topics()
            .await
            .map_err(|e| kafka_error("cannot list topics", e))?;
        let found = topics
            .into_iter()
            .find(|t| t.name == self.topic)
            .ok_or_else(|| {
                PipelineError::Source(format!("no topic {} on the brokers", self.topic))
            })?;
        self.partitions.clear();
        for partition in found.partitions {
            let client = self
                .client
                .partition_client(self.topic.clone(), partition, UnknownTopicHandling::Retry)
                .await
                .map_err(|e| kafka_error(&format!("partition {partition}"), e))?;
            let earliest = client.get_offset(OffsetAt::Earliest).await.map_err(|e| {
                kafka_error(&format!("earliest offset of partition {partition}"), e)
            })?;
            let offset = self.position.offsets.entry(partition).or_insert(earliest);
            if *offset < earliest {
                tracing::warn!(partition, checkpoint = *offset, earliest, "messages between the checkpoint and the earliest offset were deleted by the broker's retention before this pipeline read them");
                *offset = earliest;
            }
            self.partitions.push(client);
        }
        self.drained.clear();
        Ok(())
    }

    async fn next_batch(&mut self, max: usize) -> Result<Option<Batch>> {
        let mut items = Vec::new();
        // Round robin over the partitions not yet drained; in follow mode, drained ones too
        // (their fetch waits for new messages).
        loop {
            let before = items.len();
            for index in 0..self.partitions.len() {
                let partition = self.partitions[index].partition();
                let drained = self.drained.get(&partition).copied().unwrap_or(false);
                if items.len() >= max || (drained && self.follow.is_none()) {
                    continue;
                }
                self.fetch(index, max - items.len(), &mut items).await?;
            }
            let all_drained = self
                .partitions
                .iter()
                .all(|p| self.drained.get(&p.partition()).copied().unwrap_or(false));
            if items.len() >= max || all_drained || items.len() == before {
                break;
            }
        }
        if items.is_empty() && self.follow.is_none() {
            return Ok(None);
        }
        let position = serde_json::to_value(&self.position).expect("a position serialises");
        Ok(Some(Batch { items, position }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_brokers_and_one_topic() {
        let (brokers, topic) = parse_url("kafka://a:9092,b:9092/clicks").expect("url");
        assert_eq!(
            (brokers, topic.as_str()),
            (vec!["a:9092".to_owned(), "b:9092".to_owned()], "clicks")
        );
        for bad in [
            "kafka://a:9092",
            "kafka:///t",
            "kafka://a/b/c",
            "http://a/t",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }
}
