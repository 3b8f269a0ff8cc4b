// SPDX-License-Identifier: Apache-2.0
//! Counters of a run in Prometheus' text format: written after every batch to the file that
//! `--metrics-file` names (node_exporter's textfile collector reads such files), and summed up
//! at the end of the run.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::sink::Committed;

#[derive(Debug, Default)]
pub struct Counters {
    pipeline: String,
    /// Drawn only on a terminal.
    progress: Option<indicatif::ProgressBar>,
    file: Option<PathBuf>,
    batches: AtomicU64,
    inserted: AtomicU64,
    duplicates: AtomicU64,
    dead_letters: AtomicU64,
    outside_range: AtomicU64,
}

impl Counters {
    pub fn new(pipeline: &str, file: Option<PathBuf>) -> Counters {
        let progress =
            indicatif::ProgressBar::new_spinner().with_message(format!("{pipeline}: starting"));
        Counters {
            pipeline: pipeline.to_owned(),
            file,
            progress: Some(progress),
            ..Counters::default()
        }
    }

    pub fn add(&self, c: &Committed, outside_range: u64) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.inserted.fetch_add(c.inserted, Ordering::Relaxed);
        self.duplicates.fetch_add(c.duplicates, Ordering::Relaxed);
        self.dead_letters
            .fetch_add(c.dead_letters, Ordering::Relaxed);
        self.outside_range
            .fetch_add(outside_range, Ordering::Relaxed);
        if let Some(bar) = &self.progress {
            bar.set_message(format!(
                "{}: {} inserted, {} duplicates, {} dead letters",
                self.pipeline,
                self.inserted.load(Ordering::Relaxed),
                self.duplicates.load(Ordering::Relaxed),
                self.dead_letters()
            ));
            bar.tick();
        }
        if let Some(file) = &self.file {
            // Written whole, then renamed: a scrape never reads half a file.
            let tmp = file.with_extension("tmp");
            if let Err(e) =
                std::fs::write(&tmp, self.prometheus()).and_then(|()| std::fs::rename(&tmp, file))
            {
                tracing::warn!(file = %file.display(), error = %e, "cannot write the metrics file");
            }
        }
    }

    pub fn inserted(&self) -> u64 {
        self.inserted.load(Ordering::Relaxed)
    }

    pub fn dead_letters(&self) -> u64 {
        self.dead_letters.load(Ordering::Relaxed)
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.progress {
            bar.finish_and_clear();
        }
    }

    pub fn summary(&self) -> serde_json::Value {
        serde_json::json!({
            "pipeline": self.pipeline,
            "batches": self.batches.load(Ordering::Relaxed),
            "inserted": self.inserted(),
            "duplicates": self.duplicates.load(Ordering::Relaxed),
            "dead_letters": self.dead_letters(),
            "outside_range": self.outside_range.load(Ordering::Relaxed),
        })
    }

    pub fn prometheus(&self) -> String {
        let name = self.pipeline.replace(['\\', '"', '\n'], "_");
        let mut out = String::new();
        out.push_str("# HELP recsys_pipeline_batches_total Batches committed.\n# TYPE recsys_pipeline_batches_total counter\n");
        out.push_str(&format!(
            "recsys_pipeline_batches_total{{pipeline=\"{name}\"}} {}\n",
            self.batches.load(Ordering::Relaxed)
        ));
        out.push_str("# HELP recsys_pipeline_events_total Records read, by outcome.\n# TYPE recsys_pipeline_events_total counter\n");
        for (outcome, n) in [
            ("inserted", &self.inserted),
            ("duplicate", &self.duplicates),
            ("dead_letter", &self.dead_letters),
            ("outside_range", &self.outside_range),
        ] {
            out.push_str(&format!(
                "recsys_pipeline_events_total{{pipeline=\"{name}\",outcome=\"{outcome}\"}} {}\n",
                n.load(Ordering::Relaxed)
            ));
        }
        out
    }
}
