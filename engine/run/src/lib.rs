//! kiln-run: what every kiln trainer shares.
//!
//! - [`RunDir`]: the run folder (`checkpoints/`, `renders/`, `metrics.json`, plots).
//! - [`Checkpoint`]: named f32 tensors + JSON metadata in one file, written atomically.
//! - [`Progress`]: a progress bar with rate, ETA and a status message.
//! - [`plot`]: line plots as PNG (loss and PSNR curves), no fonts needed.

mod checkpoint;
pub mod plot;
mod progress;
mod rundir;

pub use checkpoint::{Checkpoint, CheckpointError};
pub use progress::Progress;
pub use rundir::{RunDir, RunError};
