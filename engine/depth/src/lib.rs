//! kiln-depth: the geometry priors of sparse-view fitting (CoherentGS, `methods/coherentgs.md`).
//!
//! - [`model`]: monocular depth from an ONNX network run on the CPU with tract
//!   ([`DepthModel::load`], [`estimate_depth`]); any model taking `[1, 3, H, W]` RGB works.
//! - [`io`]: user-supplied depth/disparity maps (16-bit PNG, `.npy`) and flow files (`.flo`,
//!   `.npy`), each checked against the view it belongs to.
//! - [`filter`]: edge-aware (bilateral, optionally joint with the image) filtering of disparity,
//!   and the spec's normalisation `d / max(d) + 0.2`.
//! - [`layers`]: disparity clustered into depth layers (1-D k-means, the documented substitute
//!   for the spec's agglomerative clustering).
//! - [`flow`]: dense optical flow on the GPU (coarse-to-fine Horn–Schunck with warping, WGSL) with
//!   a CPU reference of the same math, and the forward–backward consistency mask.
//! - [`align`]: per-view scale and shift of depth so that flow correspondences land on the same
//!   world point (robust linear least squares on the known poses).
//!
//! - [`pipeline`]: all of the above in one call ([`prepare`]), plus `--depth-dir` / flow-folder
//!   readers.
//!
//! tract is used only in [`model`]; everything else is plain Rust or kiln-gpu.

pub mod align;
mod error;
pub mod filter;
pub mod flow;
pub mod io;
pub mod layers;
mod map;
pub mod model;
pub mod pipeline;

pub use align::{align_depths, AlignParams, AlignView, Alignment, FlowPair};
pub use error::DepthError;
pub use filter::{bilateral_filter, normalized_disparity, BilateralParams};
pub use flow::{Flow, FlowParams};
pub use layers::{depth_layers, DepthLayers, LayerParams};
pub use map::{DepthMap, MapKind};
pub use model::{estimate_depth, DepthModel, ModelOptions};
pub use pipeline::{prepare, CoherentInit, DepthSource, FlowSource, InitOptions, ViewInit};
