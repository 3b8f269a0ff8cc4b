// SPDX-License-Identifier: Apache-2.0
//! Test and benchmark helper: publishes every line of a file as one message to a Kafka topic,
//! spread over its partitions, creating the topic when it is missing.
//!
//! `cargo run --release -p recsys-pipelines --example kafka_produce -- BROKER TOPIC PARTITIONS FILE`

use std::collections::BTreeMap;
use std::io::BufRead;
use std::time::Duration;

use rskafka::client::partition::{Compression, UnknownTopicHandling};
use rskafka::client::ClientBuilder;
use rskafka::record::Record;
use rskafka::BackoffConfig;

/// Messages per produce request.
const CHUNK: usize = 2000;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [broker, topic, partitions, file] = args.as_slice() else {
        return Err("usage: kafka_produce BROKER TOPIC PARTITIONS FILE".into());
    };
    let partitions: i32 = partitions.parse()?;
    let backoff = BackoffConfig {
        deadline: Some(Duration::from_secs(30)),
        ..BackoffConfig::default()
    };
    let client = ClientBuilder::new(vec![broker.clone()])
        .backoff_config(backoff)
        .build()
        .await?;
    if !client.list_topics().await?.iter().any(|t| &t.name == topic) {
        client
            .controller_client()?
            .create_topic(topic.as_str(), partitions, 1, 5_000)
            .await?;
    }
    let mut clients = Vec::new();
    for p in 0..partitions {
        clients.push(
            client
                .partition_client(topic.as_str(), p, UnknownTopicHandling::Retry)
                .await?,
        );
    }
    let lines = std::io::BufReader::new(std::fs::File::open(file)?).lines();
    let mut chunk = Vec::with_capacity(CHUNK);
    let (mut sent, mut next) = (0usize, 0usize);
    let now = chrono::Utc::now();
    for line in lines {
        chunk.push(Record {
            key: None,
            value: Some(line?.into_bytes()),
            headers: BTreeMap::new(),
            timestamp: now,
        });
        if chunk.len() == CHUNK {
            sent += chunk.len();
            clients[next % clients.len()]
                .produce(std::mem::take(&mut chunk), Compression::NoCompression)
                .await?;
            next += 1;
        }
    }
    sent += chunk.len();
    clients[next % clients.len()]
        .produce(chunk, Compression::NoCompression)
        .await?;
    println!("{sent}");
    Ok(())
}
