//! The CoherentGS decoder behind one interface, on either implementation: kiln's WGSL kernels
//! ([`GpuDecoder`], the default) or Burn ([`ConvDecoder`], the reference; `--decoder-backend
//! burn`). Both take the same [`DecoderConfig`], draw the same initial weights and store the
//! same per-view parameters, so checkpoints move between them.

use crate::{burn_device, ConvDecoder, DecoderConfig, DecoderPass, GpuDecoder, NnError};
use kiln_gpu::{GpuContext, GpuTimer};
use std::sync::Arc;

/// Which implementation runs the decoders.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DecoderBackend {
    /// kiln's kernels: tiled convolutions in WGSL, the output and gradients in kiln's buffers.
    #[default]
    Kiln,
    /// Burn 0.22 on kiln's device (autodiff).
    Burn,
}

impl DecoderBackend {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "kiln" => Some(DecoderBackend::Kiln),
            "burn" => Some(DecoderBackend::Burn),
            _ => None,
        }
    }
}

// One value per decoder batch, a handful per run: the variants' size difference costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum Decoder {
    Kiln(GpuDecoder),
    Burn(ConvDecoder),
}

/// One forward's output on the host (`[view][channel][y][x]`); Burn's keeps its graph for the
/// backward.
#[allow(clippy::large_enum_variant)]
pub enum DecoderOutput {
    Kiln { values: Vec<f32>, views: usize },
    Burn(DecoderPass),
}

impl DecoderOutput {
    pub fn values(&self) -> &[f32] {
        match self {
            DecoderOutput::Kiln { values, .. } => values,
            DecoderOutput::Burn(pass) => &pass.values,
        }
    }

    /// The `i`-th view of the batch (`[channel][y][x]`).
    pub fn view_values(&self, i: usize) -> &[f32] {
        match self {
            DecoderOutput::Kiln { values, views } => {
                let per = values.len() / views;
                &values[i * per..(i + 1) * per]
            }
            DecoderOutput::Burn(pass) => pass.view_values(i),
        }
    }
}

impl Decoder {
    /// The decoders of `views`, batched, on `backend` (Burn is registered on `ctx` when asked).
    pub fn new(backend: DecoderBackend, ctx: &Arc<GpuContext>, config: DecoderConfig, views: &[usize]) -> Result<Self, NnError> {
        Ok(match backend {
            DecoderBackend::Kiln => Decoder::Kiln(GpuDecoder::for_views(ctx, config, views)?),
            DecoderBackend::Burn => Decoder::Burn(ConvDecoder::for_views(config, views, &burn_device(ctx)?)?),
        })
    }

    pub fn views(&self) -> &[usize] {
        match self {
            Decoder::Kiln(d) => d.views(),
            Decoder::Burn(d) => d.views(),
        }
    }

    /// The forwards of several decoders, in order: every one is queued before the first
    /// read-back, and kiln's share one submission and one wait.
    /// kiln's passes are timed into `timer` (`decoder forward`); Burn's kernels are not.
    pub fn forward_all(decoders: &[&Decoder], timer: Option<&mut GpuTimer>) -> Result<Vec<DecoderOutput>, NnError> {
        let kiln: Vec<&GpuDecoder> = decoders.iter().filter_map(|d| if let Decoder::Kiln(g) = d { Some(g) } else { None }).collect();
        let burn: Vec<_> = decoders.iter().filter_map(|d| if let Decoder::Burn(b) = d { Some(b.forward()) } else { None }).collect();
        let mut kiln_out = GpuDecoder::forward_many(&kiln, timer)?.into_iter().zip(kiln);
        let mut burn_out = burn.into_iter();
        decoders
            .iter()
            .map(|d| match d {
                Decoder::Kiln(_) => {
                    let (values, g) = kiln_out.next().expect("one output per kiln decoder");
                    Ok(DecoderOutput::Kiln { values, views: g.views().len() })
                }
                Decoder::Burn(_) => DecoderPass::read(burn_out.next().expect("one output per Burn decoder")).map(DecoderOutput::Burn),
            })
            .collect()
    }

    /// Backward from dL/d(output) = `grad_output` and one AdamW step at `lr`, for the output
    /// of this decoder's last forward (kiln's passes timed into `timer`).
    pub fn step(&mut self, output: DecoderOutput, grad_output: &[f32], lr: f64, timer: Option<&mut GpuTimer>) -> Result<(), NnError> {
        match (self, output) {
            (Decoder::Kiln(d), DecoderOutput::Kiln { .. }) => d.step_timed(grad_output, lr, timer),
            (Decoder::Burn(d), DecoderOutput::Burn(pass)) => d.step(pass, grad_output, lr),
            _ => Err(NnError::Shape("a decoder output passed to the other implementation".into())),
        }
    }

    /// Waits until the device has run everything queued for this decoder.
    pub fn sync(&self) -> Result<(), NnError> {
        match self {
            Decoder::Kiln(d) => d.sync(),
            Decoder::Burn(d) => d.sync(),
        }
    }

    pub fn view_parameters_host(&self) -> Result<Vec<Vec<Vec<f32>>>, NnError> {
        match self {
            Decoder::Kiln(d) => d.view_parameters_host(),
            Decoder::Burn(d) => d.view_parameters_host(),
        }
    }

    pub fn set_view_parameters_host(&mut self, per_view: &[Vec<Vec<f32>>]) -> Result<(), NnError> {
        match self {
            Decoder::Kiln(d) => d.set_view_parameters_host(per_view),
            Decoder::Burn(d) => d.set_view_parameters_host(per_view),
        }
    }

    /// The optimizer's state per view where kiln holds it (its own decoders); Burn's optimizer
    /// keeps its moments private, so a Burn decoder's restart on resume.
    pub fn view_optimizer_host(&self) -> Result<Option<crate::OptimizerState>, NnError> {
        match self {
            Decoder::Kiln(d) => d.view_optimizer_host().map(Some),
            Decoder::Burn(_) => Ok(None),
        }
    }

    /// Restores the optimizer's state (kiln's decoders; a Burn decoder ignores it).
    pub fn set_view_optimizer_host(&mut self, state: &crate::OptimizerState) -> Result<(), NnError> {
        match self {
            Decoder::Kiln(d) => d.set_view_optimizer_host(state),
            Decoder::Burn(_) => Ok(()),
        }
    }
}
