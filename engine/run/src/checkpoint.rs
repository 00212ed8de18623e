//! Checkpoint files: `KILNCKPT`, a version, a JSON header (metadata and a table of tensors),
//! then the tensors as little-endian f32. Written to a temporary file and renamed, so a run
//! killed while saving keeps its previous checkpoint.

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"KILNCKPT";
const VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: not a kiln checkpoint ({reason})")]
    Format { path: PathBuf, reason: String },
}

#[derive(Serialize, Deserialize)]
struct Header {
    meta: serde_json::Value,
    tensors: Vec<(String, u64)>,
}

/// Named f32 tensors plus free-form metadata (step, RNG state, configuration…).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Checkpoint {
    pub meta: serde_json::Value,
    pub tensors: Vec<(String, Vec<f32>)>,
}

impl Checkpoint {
    pub fn new(meta: serde_json::Value) -> Self {
        Checkpoint { meta, tensors: Vec::new() }
    }

    pub fn push(&mut self, name: &str, data: Vec<f32>) {
        self.tensors.push((name.to_string(), data));
    }

    /// The tensor called `name`.
    pub fn get(&self, name: &str) -> Option<&[f32]> {
        self.tensors.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_slice())
    }

    pub fn save(&self, path: &Path) -> Result<(), CheckpointError> {
        let io = |source| CheckpointError::Io { path: path.into(), source };
        let header = Header {
            meta: self.meta.clone(),
            tensors: self.tensors.iter().map(|(n, v)| (n.clone(), v.len() as u64)).collect(),
        };
        let json = serde_json::to_vec(&header).expect("checkpoint header serializes");
        let tmp = path.with_extension("tmp");
        {
            let file = std::fs::File::create(&tmp).map_err(io)?;
            let mut w = std::io::BufWriter::new(file);
            w.write_all(MAGIC).map_err(io)?;
            w.write_all(&VERSION.to_le_bytes()).map_err(io)?;
            w.write_all(&(json.len() as u64).to_le_bytes()).map_err(io)?;
            w.write_all(&json).map_err(io)?;
            for (_, v) in &self.tensors {
                for x in v {
                    w.write_all(&x.to_le_bytes()).map_err(io)?;
                }
            }
            w.into_inner().map_err(|e| io(e.into_error()))?.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, path).map_err(io)
    }

    pub fn load(path: &Path) -> Result<Self, CheckpointError> {
        let bytes = std::fs::read(path).map_err(|source| CheckpointError::Io { path: path.into(), source })?;
        let bad = |reason: &str| CheckpointError::Format { path: path.into(), reason: reason.into() };
        if bytes.len() < 20 || &bytes[..8] != MAGIC {
            return Err(bad("wrong magic bytes"));
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().unwrap());
        if version != VERSION {
            return Err(bad(&format!("version {version}, this kiln reads {VERSION}")));
        }
        let hlen = u64::from_le_bytes(bytes[12..20].try_into().unwrap());
        let body = bytes.get(20..).unwrap_or_default();
        if hlen > body.len() as u64 {
            return Err(bad("truncated header"));
        }
        let header: Header =
            serde_json::from_slice(&body[..hlen as usize]).map_err(|e| bad(&format!("header: {e}")))?;
        let mut data = &body[hlen as usize..];
        let mut tensors = Vec::with_capacity(header.tensors.len());
        for (name, len) in header.tensors {
            let nbytes = len.checked_mul(4).filter(|&n| n <= data.len() as u64).ok_or_else(|| bad(&format!("tensor {name} is truncated")))?;
            let (head, rest) = data.split_at(nbytes as usize);
            tensors.push((name, head.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()));
            data = rest;
        }
        if !data.is_empty() {
            return Err(bad("trailing bytes after the last tensor"));
        }
        Ok(Checkpoint { meta: header.meta, tensors })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corruption() {
        let dir = std::env::temp_dir().join(format!("kiln-ckpt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.ckpt");
        let mut c = Checkpoint::new(serde_json::json!({"step": 12, "seed": 3}));
        c.push("means", vec![1.0, -2.5, f32::MIN_POSITIVE, 7.0]);
        c.push("empty", vec![]);
        c.save(&path).unwrap();
        let back = Checkpoint::load(&path).unwrap();
        assert_eq!(back, c);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        let e = Checkpoint::load(&path).unwrap_err().to_string();
        assert!(e.contains("a.ckpt") && e.contains("truncated"), "{e}");
        std::fs::write(&path, b"garbage garbage garbage").unwrap();
        assert!(Checkpoint::load(&path).unwrap_err().to_string().contains("magic"));
    }
}
