//! kiln-fit: trainers. 3D Gaussian splatting with the 3DGS defaults
//! (`../shared/methods/3dgs.md` §5), and CoherentGS for 2–4 views (`coherent`).

pub mod coherent;
pub mod config;
pub mod demo;
pub mod densify;
pub mod init;
pub mod scene;
pub mod trainer;

pub use config::TrainConfig;
pub use scene::{Scene, SceneView};
pub use trainer::{FitError, LogPoint, Trainer, ViewMetrics};
