use crate::Checkpoint;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Checkpoint(#[from] crate::CheckpointError),
}

/// A run folder:
/// ```text
/// run/
///   config.json        what was asked (written at the start)
///   checkpoints/       step_<N>.ckpt, the last few kept
///   renders/           test-view renders
///   metrics.json       the final numbers
///   *.png              curves
/// ```
#[derive(Clone, Debug)]
pub struct RunDir {
    pub root: PathBuf,
}

impl RunDir {
    /// Creates the folder (and its subfolders) if needed.
    pub fn create(root: &Path) -> Result<Self, RunError> {
        for sub in ["", "checkpoints", "renders"] {
            let p = root.join(sub);
            std::fs::create_dir_all(&p).map_err(|source| RunError::Io { path: p.clone(), source })?;
        }
        Ok(RunDir { root: root.to_path_buf() })
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    pub fn write_json<T: serde::Serialize>(&self, name: &str, value: &T) -> Result<PathBuf, RunError> {
        let path = self.path(name);
        let text = serde_json::to_string_pretty(value).expect("serializable");
        std::fs::write(&path, text).map_err(|source| RunError::Io { path: path.clone(), source })?;
        Ok(path)
    }

    fn checkpoint_path(&self, step: u64) -> PathBuf {
        self.root.join("checkpoints").join(format!("step_{step:08}.ckpt"))
    }

    /// Saves a checkpoint for `step` and keeps only the newest `keep`.
    pub fn save_checkpoint(&self, step: u64, ckpt: &Checkpoint, keep: usize) -> Result<PathBuf, RunError> {
        let path = self.checkpoint_path(step);
        ckpt.save(&path)?;
        let mut all = self.checkpoints()?;
        while all.len() > keep.max(1) {
            let (_, old) = all.remove(0);
            let _ = std::fs::remove_file(old);
        }
        Ok(path)
    }

    /// Checkpoints present, oldest first, as (step, path).
    pub fn checkpoints(&self) -> Result<Vec<(u64, PathBuf)>, RunError> {
        let dir = self.root.join("checkpoints");
        let entries = std::fs::read_dir(&dir).map_err(|source| RunError::Io { path: dir.clone(), source })?;
        let mut out: Vec<(u64, PathBuf)> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().to_string();
                let step = name.strip_prefix("step_")?.strip_suffix(".ckpt")?.parse().ok()?;
                Some((step, e.path()))
            })
            .collect();
        out.sort();
        Ok(out)
    }

    /// The newest checkpoint, if any.
    pub fn latest_checkpoint(&self) -> Result<Option<(u64, Checkpoint)>, RunError> {
        match self.checkpoints()?.pop() {
            Some((step, path)) => Ok(Some((step, Checkpoint::load(&path)?))),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_checkpoints() {
        let root = std::env::temp_dir().join(format!("kiln-run-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let run = RunDir::create(&root).unwrap();
        for step in [100u64, 200, 300, 400] {
            run.save_checkpoint(step, &Checkpoint::new(serde_json::json!({ "step": step })), 2).unwrap();
        }
        let steps: Vec<u64> = run.checkpoints().unwrap().into_iter().map(|(s, _)| s).collect();
        assert_eq!(steps, vec![300, 400]);
        let (step, c) = run.latest_checkpoint().unwrap().unwrap();
        assert_eq!((step, c.meta["step"].as_u64()), (400, Some(400)));
    }
}
