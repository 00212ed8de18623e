//! kiln-gpu: the GPU runtime every kiln method runs on.
//!
//! - [`GpuContext`]: adapter choice (hardware first, else a software Vulkan driver such as
//!   Mesa's lavapipe; `KILN_ADAPTER` forces one), device, and what the adapter can do.
//! - [`Kernel`]: a compute pipeline built from a WGSL file in `shaders/`, with a small
//!   preprocessor (`#include`, `#ifdef`) so one file serves the float-atomic and CAS paths.
//! - Buffers: upload, zeroed allocation, read-back.
//! - [`GpuTimer`]: per-stage GPU times from timestamp queries.
//! - Primitives: [`scan::PrefixScan`] (exclusive u32 prefix sum) and [`sort::RadixSort`]
//!   (stable key–value radix sort on u32 keys), [`GpuContext::gather_rows`] (row gather).
//! - [`adam::AdamGroup`]: Adam on one parameter group, moments owned on the GPU.

pub mod adam;
mod buffer;
mod context;
mod kernel;
pub mod scan;
pub mod shaders;
pub mod sort;
mod steps;
mod timer;

pub use adam::{AdamConfig, AdamGroup, AdamSnapshot};
pub use buffer::*;
pub use context::{AdapterChoice, GpuContext, GpuError};
pub use kernel::{dispatch_size, Kernel, MAX_WORKGROUPS_PER_DIM};
pub use scan::PrefixScan;
pub use sort::{RadixSort, SortCount, SortScratch};
pub use timer::{GpuTimer, StageTime};
pub use wgpu;
