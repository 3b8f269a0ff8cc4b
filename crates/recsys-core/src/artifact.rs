// SPDX-License-Identifier: BUSL-1.1
//! The model artifact: a JSON manifest plus named binary blobs, each with a SHA-256.
//!
//! Two containers hold the same content (see docs/reference/model-artifact.md):
//! - a directory: `manifest.json` and `blobs/<name>.bin` (the CLI, imports from other tools);
//! - one byte string: `MAGIC`, the manifest length (u64 LE), the manifest's SHA-256 (32 bytes),
//!   the manifest, then the blobs in manifest order (the extension stores this in a `bytea`).

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{CoreError, Result};

pub const FORMAT: &str = "recsys-model";
pub const FORMAT_VERSION: u32 = 1;
pub const MAGIC: &[u8; 8] = b"RSYSMDL1";
/// A manifest is metadata; anything bigger is corrupt or hostile.
const MAX_MANIFEST_BYTES: u64 = 16 << 20;
/// Magic, manifest length, manifest SHA-256.
const HEADER: usize = 8 + 8 + 32;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    /// little-endian IEEE-754 binary32
    F32,
    /// little-endian u32
    U32,
    /// strings, each a u32 LE byte length then UTF-8 bytes
    Str,
}

#[derive(Clone, Debug, PartialEq)]
pub enum BlobData {
    F32(Vec<f32>),
    U32(Vec<u32>),
    Str(Vec<String>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Blob {
    pub name: String,
    /// Row-major shape; its product is the number of elements.
    pub shape: Vec<usize>,
    pub data: BlobData,
}

impl Blob {
    pub fn f32(name: &str, shape: Vec<usize>, data: Vec<f32>) -> Self {
        Blob {
            name: name.into(),
            shape,
            data: BlobData::F32(data),
        }
    }

    pub fn u32(name: &str, data: Vec<u32>) -> Self {
        Blob {
            name: name.into(),
            shape: vec![data.len()],
            data: BlobData::U32(data),
        }
    }

    pub fn strings(name: &str, data: Vec<String>) -> Self {
        Blob {
            name: name.into(),
            shape: vec![data.len()],
            data: BlobData::Str(data),
        }
    }

    fn dtype(&self) -> DType {
        match self.data {
            BlobData::F32(_) => DType::F32,
            BlobData::U32(_) => DType::U32,
            BlobData::Str(_) => DType::Str,
        }
    }

    fn encode(&self) -> Vec<u8> {
        match &self.data {
            BlobData::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            BlobData::U32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            BlobData::Str(v) => {
                let mut out = Vec::with_capacity(v.iter().map(|s| s.len() + 4).sum());
                for s in v {
                    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
                    out.extend_from_slice(s.as_bytes());
                }
                out
            }
        }
    }

    fn decode(entry: &BlobEntry, bytes: &[u8]) -> Result<Blob> {
        let bad = |why: &str| CoreError::Artifact(format!("blob \"{}\": {why}", entry.name));
        let count = entry
            .shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .ok_or_else(|| bad("shape overflows"))?;
        let words = |bytes: &[u8]| -> Result<Vec<[u8; 4]>> {
            if bytes.len() != count.checked_mul(4).ok_or_else(|| bad("shape overflows"))? {
                return Err(bad("length does not match its shape"));
            }
            Ok(bytes
                .chunks_exact(4)
                .map(|c| [c[0], c[1], c[2], c[3]])
                .collect())
        };
        let data = match entry.dtype {
            DType::F32 => {
                BlobData::F32(words(bytes)?.into_iter().map(f32::from_le_bytes).collect())
            }
            DType::U32 => {
                BlobData::U32(words(bytes)?.into_iter().map(u32::from_le_bytes).collect())
            }
            DType::Str => {
                let mut out = Vec::with_capacity(count.min(bytes.len() / 4));
                let mut rest = bytes;
                while !rest.is_empty() {
                    if rest.len() < 4 {
                        return Err(bad("truncated string length"));
                    }
                    let n = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
                    rest = &rest[4..];
                    if rest.len() < n {
                        return Err(bad("truncated string"));
                    }
                    let s =
                        std::str::from_utf8(&rest[..n]).map_err(|_| bad("string is not UTF-8"))?;
                    out.push(s.to_owned());
                    rest = &rest[n..];
                }
                if out.len() != count {
                    return Err(bad("string count does not match its shape"));
                }
                BlobData::Str(out)
            }
        };
        Ok(Blob {
            name: entry.name.clone(),
            shape: entry.shape.clone(),
            data,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlobEntry {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub bytes: u64,
    /// Lowercase hex SHA-256 of the encoded bytes.
    pub sha256: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DataSummary {
    pub users: usize,
    pub items: usize,
    pub interactions: usize,
    pub min_timestamp: Option<i64>,
    pub max_timestamp: Option<i64>,
    /// Where the source of the data stood when it was read, in the source's own terms (the
    /// extension: the snapshot and row count that let the next training read only what
    /// changed); opaque to the core.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<serde_json::Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    pub algorithm: String,
    pub algorithm_version: u32,
    /// Every parameter, defaults filled in, so the run can be repeated.
    pub params: serde_json::Value,
    pub data: DataSummary,
    /// Training metrics, e.g. `fit_seconds`.
    #[serde(default)]
    pub metrics: serde_json::Map<String, serde_json::Value>,
    pub blobs: Vec<BlobEntry>,
}

/// A decoded artifact: the manifest and its blobs by name.
#[derive(Clone, Debug)]
pub struct Artifact {
    pub manifest: Manifest,
    pub blobs: HashMap<String, Blob>,
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn validate_blob_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(CoreError::Artifact(format!("invalid blob name \"{name}\"")))
    }
}

impl Artifact {
    /// Fills the blob entries of `manifest` from `blobs` and returns the encoded blobs.
    fn seal(mut manifest: Manifest, blobs: &[Blob]) -> Result<(Manifest, Vec<Vec<u8>>)> {
        manifest.blobs.clear();
        let mut encoded = Vec::with_capacity(blobs.len());
        for b in blobs {
            validate_blob_name(&b.name)?;
            let bytes = b.encode();
            manifest.blobs.push(BlobEntry {
                name: b.name.clone(),
                dtype: b.dtype(),
                shape: b.shape.clone(),
                bytes: bytes.len() as u64,
                sha256: sha256_hex(&bytes),
            });
            encoded.push(bytes);
        }
        Ok((manifest, encoded))
    }

    fn check_manifest(manifest: &Manifest) -> Result<()> {
        if manifest.format != FORMAT {
            return Err(CoreError::Incompatible(format!(
                "format is \"{}\", expected \"{FORMAT}\"",
                manifest.format
            )));
        }
        if manifest.format_version != FORMAT_VERSION {
            return Err(CoreError::Incompatible(format!(
                "format version {} is not supported (this build reads version {FORMAT_VERSION})",
                manifest.format_version
            )));
        }
        let mut seen = std::collections::HashSet::new();
        for e in &manifest.blobs {
            validate_blob_name(&e.name)?;
            if !seen.insert(&e.name) {
                return Err(CoreError::Artifact(format!(
                    "blob \"{}\" listed twice",
                    e.name
                )));
            }
        }
        Ok(())
    }

    fn open(
        manifest: Manifest,
        mut read: impl FnMut(&BlobEntry) -> Result<Vec<u8>>,
    ) -> Result<Artifact> {
        Self::check_manifest(&manifest)?;
        let mut blobs = HashMap::with_capacity(manifest.blobs.len());
        for e in &manifest.blobs {
            let bytes = read(e)?;
            if bytes.len() as u64 != e.bytes {
                return Err(CoreError::Artifact(format!(
                    "blob \"{}\" is truncated",
                    e.name
                )));
            }
            if sha256_hex(&bytes) != e.sha256 {
                return Err(CoreError::Artifact(format!(
                    "blob \"{}\" fails its checksum",
                    e.name
                )));
            }
            blobs.insert(e.name.clone(), Blob::decode(e, &bytes)?);
        }
        Ok(Artifact { manifest, blobs })
    }

    /// Encodes into the single-byte-string container.
    pub fn to_bytes(manifest: Manifest, blobs: &[Blob]) -> Result<Vec<u8>> {
        let (manifest, encoded) = Self::seal(manifest, blobs)?;
        let json = serde_json::to_vec(&manifest).map_err(|e| CoreError::Artifact(e.to_string()))?;
        let total = HEADER + json.len() + encoded.iter().map(Vec::len).sum::<usize>();
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(json.len() as u64).to_le_bytes());
        out.extend_from_slice(&Sha256::digest(&json));
        out.extend_from_slice(&json);
        for e in encoded {
            out.extend_from_slice(&e);
        }
        Ok(out)
    }

    /// The manifest of a packed artifact (with its blob list and checksums), read from the
    /// header alone: cheap, and checked against the header's checksum.
    pub fn manifest_of(bytes: &[u8]) -> Result<Manifest> {
        Self::read_header(bytes).map(|(manifest, _)| manifest)
    }

    fn read_header(bytes: &[u8]) -> Result<(Manifest, usize)> {
        let bad = |why: &str| CoreError::Artifact(why.to_string());
        if bytes.len() < HEADER || &bytes[..8] != MAGIC {
            return Err(bad("not a recsys model (bad magic bytes)"));
        }
        let len = u64::from_le_bytes(
            bytes[8..16]
                .try_into()
                .map_err(|_| bad("truncated header"))?,
        );
        if len > MAX_MANIFEST_BYTES || len > (bytes.len() - HEADER) as u64 {
            return Err(bad("manifest length is out of range"));
        }
        let end = HEADER + len as usize;
        let json = &bytes[HEADER..end];
        if Sha256::digest(json).as_slice() != &bytes[16..HEADER] {
            return Err(bad("manifest fails its checksum"));
        }
        let manifest: Manifest =
            serde_json::from_slice(json).map_err(|e| bad(&format!("manifest: {e}")))?;
        Ok((manifest, end))
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Artifact> {
        let bad = |why: &str| CoreError::Artifact(why.to_string());
        let (manifest, end) = Self::read_header(bytes)?;
        let mut offset = end;
        let artifact = Self::open(manifest, |e| {
            let n = usize::try_from(e.bytes).map_err(|_| bad("blob too large"))?;
            let stop = offset
                .checked_add(n)
                .filter(|&s| s <= bytes.len())
                .ok_or_else(|| bad(&format!("blob \"{}\" is truncated", e.name)))?;
            let slice = bytes[offset..stop].to_vec();
            offset = stop;
            Ok(slice)
        })?;
        if offset != bytes.len() {
            return Err(bad("trailing bytes after the last blob"));
        }
        Ok(artifact)
    }

    /// Writes `dir/manifest.json` and `dir/blobs/<name>.bin`; creates `dir` if needed.
    pub fn save_dir(manifest: Manifest, blobs: &[Blob], dir: &Path) -> Result<()> {
        let (manifest, encoded) = Self::seal(manifest, blobs)?;
        std::fs::create_dir_all(dir.join("blobs"))?;
        for (e, bytes) in manifest.blobs.iter().zip(&encoded) {
            std::fs::write(dir.join("blobs").join(format!("{}.bin", e.name)), bytes)?;
        }
        let json =
            serde_json::to_vec_pretty(&manifest).map_err(|e| CoreError::Artifact(e.to_string()))?;
        // The manifest goes last: a directory with a manifest is complete.
        std::fs::write(dir.join("manifest.json"), json)?;
        Ok(())
    }

    pub fn load_dir(dir: &Path) -> Result<Artifact> {
        let path = dir.join("manifest.json");
        let json = std::fs::read(&path)
            .map_err(|e| CoreError::Artifact(format!("cannot read {}: {e}", path.display())))?;
        let manifest: Manifest = serde_json::from_slice(&json)
            .map_err(|e| CoreError::Artifact(format!("manifest: {e}")))?;
        Self::open(manifest, |e| {
            let p = dir.join("blobs").join(format!("{}.bin", e.name));
            std::fs::read(&p)
                .map_err(|err| CoreError::Artifact(format!("cannot read {}: {err}", p.display())))
        })
    }

    pub fn take(&mut self, name: &str) -> Result<Blob> {
        self.blobs
            .remove(name)
            .ok_or_else(|| CoreError::Artifact(format!("blob \"{name}\" is missing")))
    }

    /// Takes an f32 blob and checks its shape.
    pub fn take_f32(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        match self.take(name)? {
            Blob {
                data: BlobData::F32(v),
                shape: s,
                ..
            } if s == shape => Ok(v),
            b => Err(CoreError::Artifact(format!(
                "blob \"{name}\" should be f32 of shape {shape:?}, found {:?} of shape {:?}",
                b.dtype(),
                b.shape
            ))),
        }
    }

    pub fn take_u32(&mut self, name: &str) -> Result<Vec<u32>> {
        match self.take(name)?.data {
            BlobData::U32(v) => Ok(v),
            _ => Err(CoreError::Artifact(format!(
                "blob \"{name}\" should be u32"
            ))),
        }
    }

    pub fn take_strings(&mut self, name: &str) -> Result<Vec<String>> {
        match self.take(name)?.data {
            BlobData::Str(v) => Ok(v),
            _ => Err(CoreError::Artifact(format!(
                "blob \"{name}\" should be strings"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (Manifest, Vec<Blob>) {
        let manifest = Manifest {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            algorithm: "test".into(),
            algorithm_version: 1,
            params: serde_json::json!({"a": 1}),
            data: DataSummary::default(),
            metrics: Default::default(),
            blobs: vec![],
        };
        let blobs = vec![
            Blob::f32("factors", vec![2, 2], vec![1.0, -2.5, 0.0, 3.25]),
            Blob::u32("index", vec![7, 8, 9]),
            Blob::strings("ids", vec!["a".into(), "".into(), "ünï".into()]),
        ];
        (manifest, blobs)
    }

    #[test]
    fn bytes_round_trip() {
        let (m, blobs) = sample();
        let bytes = Artifact::to_bytes(m, &blobs).unwrap();
        let mut a = Artifact::from_bytes(&bytes).unwrap();
        assert_eq!(a.manifest.blobs.len(), 3);
        assert_eq!(
            a.take_f32("factors", &[2, 2]).unwrap(),
            vec![1.0, -2.5, 0.0, 3.25]
        );
        assert_eq!(a.take_u32("index").unwrap(), vec![7, 8, 9]);
        assert_eq!(a.take_strings("ids").unwrap(), vec!["a", "", "ünï"]);
    }

    #[test]
    fn manifest_of_reads_the_sealed_manifest() {
        let (m, blobs) = sample();
        let bytes = Artifact::to_bytes(m, &blobs).unwrap();
        let manifest = Artifact::manifest_of(&bytes).unwrap();
        assert_eq!(manifest, Artifact::from_bytes(&bytes).unwrap().manifest);
        assert_eq!(manifest.blobs.len(), 3);
        assert_eq!(manifest.blobs[1].sha256.len(), 64);
    }

    #[test]
    fn dir_round_trip() {
        let (m, blobs) = sample();
        let dir = std::env::temp_dir().join(format!("recsys-artifact-{}", std::process::id()));
        Artifact::save_dir(m, &blobs, &dir).unwrap();
        let mut a = Artifact::load_dir(&dir).unwrap();
        assert_eq!(a.take_u32("index").unwrap(), vec![7, 8, 9]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn every_flipped_byte_or_truncation_is_refused() {
        let (m, blobs) = sample();
        let bytes = Artifact::to_bytes(m, &blobs).unwrap();
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x5a;
            if let Ok(a) = Artifact::from_bytes(&bad) {
                panic!("byte {i} flipped and still loaded: {:?}", a.manifest.params);
            }
        }
        for n in 0..bytes.len() {
            assert!(
                Artifact::from_bytes(&bytes[..n]).is_err(),
                "truncated to {n}"
            );
        }
    }

    #[test]
    fn refuses_wrong_version_and_shape() {
        let (mut m, blobs) = sample();
        m.format_version = 99;
        let bytes = Artifact::to_bytes(m, &blobs).unwrap();
        let err = Artifact::from_bytes(&bytes).unwrap_err().to_string();
        assert!(err.contains("format version 99"), "{err}");
        let (m, blobs) = sample();
        let mut a = Artifact::from_bytes(&Artifact::to_bytes(m, &blobs).unwrap()).unwrap();
        assert!(a.take_f32("factors", &[4]).is_err());
    }
}
