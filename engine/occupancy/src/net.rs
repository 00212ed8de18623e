//! A small occupancy + flow network on Burn (through kiln-nn, on kiln's wgpu device): 3-D
//! convolutions with growing dilation over x and y (cars move several voxels between the two
//! depth frames the input holds), LeakyReLU, and a 1×1×1 head with C class logits + (vx, vy).
//!
//! The flow rows of the head start at zero (zero flow). kiln's losses run on the host (see
//! [`crate::backend`]), so the output is read back once per step and dL/d(output) enters Burn's
//! graph as Σ output ⊙ g (kiln-nn's pattern).

use burn::tensor::activation::leaky_relu;
use burn::tensor::module::conv3d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor, TensorData};
use kiln_nn::{NnError, Params};

/// Burn's device on kiln's GPU context (kiln-nn's registration), for callers of [`OccNet`].
pub use kiln_nn::burn_device;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

#[derive(Clone, Debug, PartialEq)]
pub struct NetConfig {
    pub in_channels: usize,
    pub hidden: usize,
    /// Class logits (free included); the head adds 2 flow channels.
    pub classes: usize,
    /// Dilation over x and y of each 3×3×3 layer (z is never dilated: the grid is flat).
    pub dilations: Vec<usize>,
    pub seed: u64,
}

impl NetConfig {
    pub fn small(in_channels: usize, classes: usize, seed: u64) -> Self {
        NetConfig { in_channels, hidden: 16, classes, dilations: vec![1, 2, 4, 1], seed }
    }
}

/// The network's parameters and optimizer state.
pub struct OccNet {
    pub config: NetConfig,
    device: Device,
    weights: Params<5>,
    biases: Params<1>,
}

/// One forward pass: the graph's output (for the backward) and its values on the host,
/// channel-major `[channel][voxel]`.
pub struct NetPass {
    output: Tensor<5>,
    pub values: Vec<f32>,
}

fn read<const D: usize>(t: &Tensor<D>) -> Result<Vec<f32>, NnError> {
    let data = t.try_to_data().map_err(|e| NnError::Read(format!("{e:?}")))?;
    data.try_to_vec::<f32>().map_err(|e| NnError::Read(format!("{e:?}")))
}

fn upload<const D: usize>(values: Vec<f32>, shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

impl OccNet {
    pub fn new(config: NetConfig, device: &Device) -> Result<Self, NnError> {
        if config.in_channels == 0 || config.hidden == 0 || config.classes < 2 || config.dilations.is_empty() {
            return Err(NnError::Shape(format!("occupancy network config {config:?} has an empty layer")));
        }
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(config.seed);
        let mut weights = Vec::new();
        let mut biases = Vec::new();
        let mut cin = config.in_channels;
        // Output channels from `zero_from` on start at zero weights (the flow rows of the head).
        let mut layer = |cin: usize, cout: usize, k: usize, zero_from: usize| {
            // He-uniform initialisation for LeakyReLU layers.
            let bound = (6.0 / (cin * k * k * k) as f32).sqrt();
            let row = cin * k * k * k;
            let w: Vec<f32> = (0..cout * row)
                .map(|i| {
                    // Drawn for zeroed rows too, so every other weight keeps its seeded value.
                    let r = rng.random_range(-bound..bound);
                    if i / row >= zero_from {
                        0.0
                    } else {
                        r
                    }
                })
                .collect();
            weights.push(upload(w, [cout, cin, k, k, k], device).require_grad());
            biases.push(upload(vec![0.0; cout], [cout], device).require_grad());
        };
        for _ in &config.dilations {
            layer(cin, config.hidden, 3, config.hidden);
            cin = config.hidden;
        }
        // The flow head starts at zero flow: with He-initialised flow rows the first outputs are
        // ±5–10 m/s (× FLOW_UNIT), and their large L1 gradient drives the shared layers for the
        // first hundred steps (measured on the tiny street: 3-D CE 0.6 after 200 steps instead
        // of 0.06, validation flow EPE 5.2 m/s at the start against 1.6 for zero flow).
        layer(cin, config.classes + 2, 1, config.classes);
        Ok(OccNet { config, device: device.clone(), weights: Params::new(weights), biases: Params::new(biases) })
    }

    pub fn output_channels(&self) -> usize {
        self.config.classes + 2
    }

    /// Forward on a channel-major input of `dims` voxels; output `[C + 2][voxel]` on the host.
    pub fn forward(&self, input: &[f32], dims: [usize; 3]) -> Result<NetPass, NnError> {
        let n = dims[0] * dims[1] * dims[2];
        if input.len() != self.config.in_channels * n {
            return Err(NnError::Shape(format!("input has {} values, expected {} channels × {n} voxels", input.len(), self.config.in_channels)));
        }
        let mut x = upload(input.to_vec(), [1, self.config.in_channels, dims[0], dims[1], dims[2]], &self.device);
        let last = self.weights.len() - 1;
        for (i, (w, b)) in self.weights.tensors.iter().zip(&self.biases.tensors).enumerate() {
            let options = if i < last {
                let d = self.config.dilations[i];
                ConvOptions::new([1, 1, 1], [d, d, 1], [d, d, 1], 1)
            } else {
                ConvOptions::new([1, 1, 1], [0, 0, 0], [1, 1, 1], 1)
            };
            x = conv3d(x, w.clone(), Some(b.clone()), options);
            if i < last {
                x = leaky_relu(x, 0.1);
            }
        }
        Ok(NetPass { values: read(&x)?, output: x })
    }

    /// Back-propagates dL/d(output) (channel-major, like `pass.values`) and takes one AdamW step.
    pub fn step(&mut self, pass: NetPass, grad_output: &[f32], lr: f64) -> Result<(), NnError> {
        if grad_output.len() != pass.values.len() {
            return Err(NnError::Shape(format!("gradient has {} values for an output of {}", grad_output.len(), pass.values.len())));
        }
        let g = upload(grad_output.to_vec(), pass.output.dims(), &self.device);
        let grads = pass.output.mul(g).sum().backward();
        let gw = self.weights.grads(&grads, None)?;
        let gb = self.biases.grads(&grads, None)?;
        self.weights.step(lr, gw);
        self.biases.step(lr, gb);
        Ok(())
    }

    /// Every parameter on the host (weights, then biases), for checkpoints.
    pub fn parameters_host(&self) -> Result<Vec<Vec<f32>>, NnError> {
        let mut out = self.weights.to_host()?;
        out.extend(self.biases.to_host()?);
        Ok(out)
    }

    /// Replaces the parameters (order and sizes of [`Self::parameters_host`]) and restarts the
    /// optimizer.
    pub fn set_parameters_host(&mut self, params: &[Vec<f32>]) -> Result<(), NnError> {
        let k = self.weights.len();
        if params.len() != 2 * k {
            return Err(NnError::Shape(format!("{} parameter arrays, expected {}", params.len(), 2 * k)));
        }
        self.weights.set_from_host(&params[..k], &self.device)?;
        self.biases.set_from_host(&params[k..], &self.device)?;
        self.weights.reset_optimizer();
        self.biases.reset_optimizer();
        Ok(())
    }
}

/// Channel-major network output → voxel-major logits `[voxel][C]` and flow `[voxel][2]`.
pub fn split_output(values: &[f32], classes: usize, n: usize) -> (Vec<f32>, Vec<f32>) {
    let mut logits = vec![0.0; n * classes];
    let mut flow = vec![0.0; n * 2];
    for c in 0..classes {
        for i in 0..n {
            logits[i * classes + c] = values[c * n + i];
        }
    }
    for d in 0..2 {
        for i in 0..n {
            flow[i * 2 + d] = values[(classes + d) * n + i];
        }
    }
    (logits, flow)
}

/// The inverse of [`split_output`] for gradients.
pub fn join_grads(grad_logits: &[f32], grad_flow: &[f32], classes: usize, n: usize) -> Vec<f32> {
    let mut out = vec![0.0; (classes + 2) * n];
    for i in 0..n {
        for c in 0..classes {
            out[c * n + i] = grad_logits[i * classes + c];
        }
        out[classes * n + i] = grad_flow[2 * i];
        out[(classes + 1) * n + i] = grad_flow[2 * i + 1];
    }
    out
}
