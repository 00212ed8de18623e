//! Small networks on Burn 0.22, running on the wgpu device kiln creates (see kiln-gpu).
//!
//! - [`device`]: registers kiln's own wgpu instance/adapter/device/queue with Burn once per
//!   process, so Burn's kernels and kiln's kernels share one device and one queue.
//! - [`decoder`]: CoherentGS's implicit convolutional decoder (a fixed per-view code upsampled
//!   by conv stages to one output per depth layer), several views batched into one network.
//! - [`gpu_decoder`]: the same decoder on kiln's own WGSL kernels (tiled implicit-GEMM
//!   convolutions, split-K weight gradients), with the Burn decoder as its test reference.
//! - [`backend`]: either decoder behind one interface (`--decoder-backend`).
//! - [`conv`]: stride-1 convolutions as matrix products, their weight-gradient reduction split
//!   into row bands.
//! - [`basis_net`]: the learned spectral basis network (per-point MLP + transformer blocks) and
//!   its nested reconstruction loss.
//! - [`adamw`]: AdamW with the triangular2 cyclic learning rate the decoders train with.
//!
//! Data exchange between Burn and kiln's buffers goes through the host: Burn 0.22's public
//! `Tensor` keeps its storage handle private (`Tensor::primitive` is crate-private behind the
//! dispatch layer), so a tensor cannot be bound as a `wgpu::Buffer` without patching Burn. See
//! [`decoder::ConvDecoder::forward_host`] / [`decoder::ConvDecoder::gradients`] and
//! docs/COHERENTGS.md for the measured cost of that round trip. [`gpu_decoder::GpuDecoder`]
//! keeps the decoder's activations, parameters and gradients in kiln's own buffers.

pub mod adamw;
pub mod backend;
pub mod basis_net;
pub mod conv;
pub mod decoder;
pub mod device;
pub mod gpu_decoder;
pub mod params;

pub use adamw::{AdamW, CyclicLr};
pub use backend::{Decoder, DecoderBackend, DecoderOutput};
pub use basis_net::{BasisNet, BasisNetConfig};
pub use decoder::{ConvDecoder, ConvForm, DecoderConfig, DecoderPass};
pub use device::burn_device;
pub use gpu_decoder::{GpuDecoder, OptimizerState};
pub use params::Params;

/// Errors from the network layer.
#[derive(Debug, thiserror::Error)]
pub enum NnError {
    #[error("Burn could not use kiln's wgpu device: {0}")]
    Init(String),
    #[error("Burn's device is registered for another GPU context; kiln-nn shares one context per process")]
    OtherContext,
    #[error("decoder: {0}")]
    Shape(String),
    #[error("reading a tensor back from the GPU failed: {0}")]
    Read(String),
    #[error(transparent)]
    Gpu(#[from] kiln_gpu::GpuError),
}
