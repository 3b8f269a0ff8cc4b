// SPDX-License-Identifier: Apache-2.0
//! Files under a local folder (and its subfolders), so that every connector can be tried
//! with no server: keys are paths relative to the folder, with `/`.

use std::fs::File;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::objects::{ObjectInfo, Store};
use crate::error::{PipelineError, Result};

#[derive(Debug)]
pub struct Folder {
    root: PathBuf,
}

impl Folder {
    pub fn new(root: &Path) -> Result<Folder> {
        let root = root.canonicalize().map_err(|e| {
            PipelineError::Usage(format!("cannot read the folder {}: {e}", root.display()))
        })?;
        if !root.is_dir() {
            return Err(PipelineError::Usage(format!(
                "{} is not a folder",
                root.display()
            )));
        }
        Ok(Folder { root })
    }

    fn walk(&self, dir: &Path, out: &mut Vec<ObjectInfo>) -> Result<()> {
        let entries = std::fs::read_dir(dir)
            .map_err(|e| PipelineError::Source(format!("cannot list {}: {e}", dir.display())))?;
        for entry in entries {
            let entry = entry.map_err(|e| {
                PipelineError::Source(format!("cannot list {}: {e}", dir.display()))
            })?;
            let meta = entry
                .metadata()
                .map_err(|e| PipelineError::Source(format!("{}: {e}", entry.path().display())))?;
            let path = entry.path();
            if meta.is_dir() {
                self.walk(&path, out)?;
            } else if meta.is_file() {
                // Names that are not UTF-8 cannot be keys of a position; they are not read.
                let Some(key) = path.strip_prefix(&self.root).ok().and_then(|p| p.to_str()) else {
                    continue;
                };
                let modified = meta.modified().ok().map(DateTime::<Utc>::from);
                out.push(ObjectInfo {
                    key: key.replace(std::path::MAIN_SEPARATOR, "/"),
                    modified,
                });
            }
        }
        Ok(())
    }
}

impl Store for Folder {
    fn kind(&self) -> &'static str {
        "file"
    }

    fn url(&self, key: &str) -> String {
        format!("file://{}/{key}", self.root.display())
    }

    async fn list(&self) -> Result<Vec<ObjectInfo>> {
        let mut out = Vec::new();
        self.walk(&self.root, &mut out)?;
        Ok(out)
    }

    async fn open(&self, key: &str) -> Result<File> {
        let path = self.root.join(key);
        let file = File::open(&path)
            .map_err(|e| PipelineError::Source(format!("cannot open {}: {e}", path.display())))?;
        Ok(file)
    }
}
