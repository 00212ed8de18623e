//! The learned-basis network of "Learning Eigenstructures of Unstructured Data Manifolds"
//! (arXiv 2512.01103; `../shared/methods/spectral.md` §8): a per-point MLP lifts xyz to a
//! feature, transformer blocks mix the points (every point attends to every other; no
//! positional code beyond xyz), and a linear head gives K values per point — the basis before
//! orthonormalization. [`nested_loss`] is the training loss on Burn tensors; its CPU reference
//! is `kiln_spectral::learned`.
//!
//! Written with plain tensors (matmul, softmax, layer norm by hand) like the decoder: the
//! parameters are a flat list the optimizer and the checkpoint walk in one order. Pre-norm
//! blocks (LayerNorm before attention and before the feed-forward) and GELU: the reference's
//! 6×512 encoder is sized for a data-centre GPU; kiln's default is a small one that trains on
//! a laptop and ships in `assets/`.

use crate::params::Params;
use crate::NnError;
use burn::tensor::activation::{gelu, softmax};
use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BasisNetConfig {
    /// Width of the per-point MLP's hidden layer.
    pub hidden: usize,
    /// Feature width of the transformer.
    pub width: usize,
    pub layers: usize,
    pub heads: usize,
    /// Hidden width of each block's feed-forward.
    pub ffn: usize,
    /// Basis functions per point (K).
    pub basis: usize,
    pub seed: u64,
}

impl Default for BasisNetConfig {
    fn default() -> Self {
        BasisNetConfig { hidden: 64, width: 96, layers: 3, heads: 4, ffn: 192, basis: 32, seed: 0 }
    }
}

impl BasisNetConfig {
    pub fn validate(&self) -> Result<(), NnError> {
        if self.hidden == 0 || self.width == 0 || self.layers == 0 || self.ffn == 0 || self.basis == 0 {
            return Err(NnError::Shape(format!("basis net: every size must be positive ({self:?})")));
        }
        if self.heads == 0 || !self.width.is_multiple_of(self.heads) {
            return Err(NnError::Shape(format!("basis net: width {} is not a multiple of {} heads", self.width, self.heads)));
        }
        Ok(())
    }
}

/// Attention scores computed at once (4 bytes each): 16 M scores = 64 MB.
const ATTENTION_SCORES_PER_CHUNK: usize = 16 << 20;

/// Where each parameter sits in the flat lists (matrices and vectors kept apart: the optimizer
/// is per rank).
#[derive(Clone, Copy)]
struct Block {
    // Matrices: q, k, v, o, ffn1, ffn2. Vectors: ln1 (gain, bias), q, k, v, o biases, ln2
    // (gain, bias), ffn1 bias, ffn2 bias.
    m: usize,
    v: usize,
}

pub struct BasisNet {
    pub config: BasisNetConfig,
    device: Device,
    /// Every weight matrix, `[in, out]`.
    matrices: Params<2>,
    /// Every bias and layer-norm gain/bias.
    vectors: Params<1>,
    blocks: Vec<Block>,
}

fn upload<const D: usize>(values: Vec<f32>, shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// Layer norm over the last axis of `[n, c]` with gain and bias.
fn layer_norm(x: Tensor<2>, gain: &Tensor<1>, bias: &Tensor<1>) -> Tensor<2> {
    let (var, mean) = x.clone().var_mean_bias(1);
    let c = x.dims()[1];
    let y = x.sub(mean).div(var.add_scalar(1e-5).sqrt());
    y.mul(gain.clone().reshape([1, c])).add(bias.clone().reshape([1, c]))
}

fn linear(x: Tensor<2>, w: &Tensor<2>, b: &Tensor<1>) -> Tensor<2> {
    let out = w.dims()[1];
    x.matmul(w.clone()).add(b.clone().reshape([1, out]))
}

impl BasisNet {
    pub fn new(config: BasisNetConfig, device: &Device) -> Result<Self, NnError> {
        config.validate()?;
        let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(config.seed);
        let (mut matrices, mut vectors) = (Vec::new(), Vec::new());
        // Xavier-normal weights, zero biases, unit gains.
        let mut matrix = |fan_in: usize, fan_out: usize, m: &mut Vec<Tensor<2>>| {
            let std = (2.0 / (fan_in + fan_out) as f32).sqrt();
            let normal = Normal::new(0.0f32, std).expect("positive std");
            let w: Vec<f32> = (0..fan_in * fan_out).map(|_| normal.sample(&mut rng)).collect();
            m.push(upload(w, [fan_in, fan_out], device).require_grad());
        };
        let vector = |len: usize, value: f32, v: &mut Vec<Tensor<1>>| v.push(upload(vec![value; len], [len], device).require_grad());
        let (h, d, f) = (config.hidden, config.width, config.ffn);
        // Per-point MLP: 3 → h (LN, GELU) → d (LN).
        matrix(3, h, &mut matrices);
        vector(h, 0.0, &mut vectors);
        vector(h, 1.0, &mut vectors);
        vector(h, 0.0, &mut vectors);
        matrix(h, d, &mut matrices);
        vector(d, 0.0, &mut vectors);
        vector(d, 1.0, &mut vectors);
        vector(d, 0.0, &mut vectors);
        let mut blocks = Vec::new();
        for _ in 0..config.layers {
            let block = Block { m: matrices.len(), v: vectors.len() };
            vector(d, 1.0, &mut vectors);
            vector(d, 0.0, &mut vectors);
            for _ in 0..4 {
                matrix(d, d, &mut matrices);
                vector(d, 0.0, &mut vectors);
            }
            vector(d, 1.0, &mut vectors);
            vector(d, 0.0, &mut vectors);
            matrix(d, f, &mut matrices);
            vector(f, 0.0, &mut vectors);
            matrix(f, d, &mut matrices);
            vector(d, 0.0, &mut vectors);
            blocks.push(block);
        }
        // Final norm and head.
        vector(d, 1.0, &mut vectors);
        vector(d, 0.0, &mut vectors);
        matrix(d, config.basis, &mut matrices);
        vector(config.basis, 0.0, &mut vectors);
        Ok(BasisNet { config, device: device.clone(), matrices: Params::new(matrices), vectors: Params::new(vectors), blocks })
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Points `[n, 3]` (normalized to the unit sphere) → the raw basis `[n, K]`, tracked for
    /// autodiff.
    pub fn forward(&self, points: Tensor<2>) -> Tensor<2> {
        self.forward_with(&self.matrices.tensors, &self.vectors.tensors, points)
    }

    /// Inference from host points (unit-sphere normalized): the forward pass on the device
    /// without autodiff — parameters and input on the inner backend, so no graph is recorded
    /// and every intermediate buffer is released when the pass ends. ([`Self::forward`] on the
    /// autodiff device keeps the whole recorded graph, ≈ 2.4 GB for a 5,000-point cloud on
    /// lavapipe, measured: examples/infer_memory.rs in kiln-spectral.)
    pub fn infer_host_points(&self, points: &[[f32; 3]]) -> Tensor<2> {
        let m: Vec<Tensor<2>> = self.matrices.tensors.iter().map(|t| t.clone().inner()).collect();
        let v: Vec<Tensor<1>> = self.vectors.tensors.iter().map(|t| t.clone().inner()).collect();
        let flat: Vec<f32> = points.iter().flatten().copied().collect();
        self.forward_with(&m, &v, upload(flat, [points.len(), 3], &self.device.clone().inner()))
    }

    fn forward_with(&self, m: &[Tensor<2>], v: &[Tensor<1>], points: Tensor<2>) -> Tensor<2> {
        let n = points.dims()[0];
        let mut x = gelu(layer_norm(linear(points, &m[0], &v[0]), &v[1], &v[2]));
        x = layer_norm(linear(x, &m[1], &v[3]), &v[4], &v[5]);
        let d = self.config.width;
        let heads = self.config.heads;
        let dh = d / heads;
        let scale = 1.0 / (dh as f64).sqrt();
        for b in &self.blocks {
            let (bm, bv) = (b.m, b.v);
            let y = layer_norm(x.clone(), &v[bv], &v[bv + 1]);
            let split = |t: Tensor<2>| t.reshape([n, heads, dh]).swap_dims(0, 1); // [heads, n, dh]
            let q = split(linear(y.clone(), &m[bm], &v[bv + 2]));
            let k = split(linear(y.clone(), &m[bm + 1], &v[bv + 3]));
            let val = split(linear(y, &m[bm + 2], &v[bv + 4]));
            // Queries in chunks so that the score matrix [heads, chunk, n] stays within a buffer
            // binding (a 5,000-point cloud would need 400 MB at once).
            let chunk = (ATTENTION_SCORES_PER_CHUNK / (heads * n).max(1)).clamp(1, n);
            let kt = k.swap_dims(1, 2);
            let mut parts = Vec::with_capacity(n.div_ceil(chunk));
            let mut start = 0;
            while start < n {
                let len = chunk.min(n - start);
                let qc = q.clone().narrow(1, start, len);
                let attention = softmax(qc.matmul(kt.clone()).mul_scalar(scale), 2);
                parts.push(attention.matmul(val.clone()));
                start += len;
            }
            let heads_out = if parts.len() == 1 { parts.pop().expect("one chunk") } else { Tensor::cat(parts, 1) };
            let mixed: Tensor<2> = heads_out.swap_dims(0, 1).reshape([n, d]);
            x = x.add(linear(mixed, &m[bm + 3], &v[bv + 5]));
            let y = layer_norm(x.clone(), &v[bv + 6], &v[bv + 7]);
            let hidden = gelu(linear(y, &m[bm + 4], &v[bv + 8]));
            x = x.add(linear(hidden, &m[bm + 5], &v[bv + 9]));
        }
        let nv = v.len();
        let y = layer_norm(x, &v[nv - 3], &v[nv - 2]);
        linear(y, &m[m.len() - 1], &v[nv - 1])
    }

    /// Forward from host points (`[x, y, z]` per point, unit-sphere normalized).
    pub fn forward_host_points(&self, points: &[[f32; 3]]) -> Tensor<2> {
        let flat: Vec<f32> = points.iter().flatten().copied().collect();
        self.forward(upload(flat, [points.len(), 3], &self.device))
    }

    /// Backward of a scalar loss and one AdamW step at `lr`, with gradients clipped to
    /// ±`clip` elementwise (the reference clips by value).
    pub fn step(&mut self, loss: Tensor<1>, lr: f64, clip: f64) -> Result<(), NnError> {
        let grads = loss.backward();
        let gm = self.matrices.grads(&grads, Some(clip))?;
        let gv = self.vectors.grads(&grads, Some(clip))?;
        self.matrices.step(lr, gm);
        self.vectors.step(lr, gv);
        Ok(())
    }

    /// Backward from a gradient of the loss with respect to the network's output `r`
    /// (`[n, K]`, row-major, computed elsewhere — the trainer's host-side nested loss), then one
    /// AdamW step as [`Self::step`]: the backward of `sum(r ⊙ dL/dr)` is exactly the chain rule
    /// from dL/dr into the parameters.
    pub fn step_from_output_gradient(&mut self, r: Tensor<2>, d_loss_d_r: Vec<f32>, lr: f64, clip: f64) -> Result<(), NnError> {
        let dims = r.dims();
        if d_loss_d_r.len() != dims[0] * dims[1] {
            return Err(NnError::Shape(format!("a gradient of {} values for a {}×{} output", d_loss_d_r.len(), dims[0], dims[1])));
        }
        let g = upload(d_loss_d_r, dims, &r.device());
        let surrogate = r.mul(g).sum();
        self.step(surrogate, lr, clip)
    }

    /// Every parameter on the host: matrices, then vectors (the checkpoint and `assets/` order).
    pub fn parameters_host(&self) -> Result<Vec<Vec<f32>>, NnError> {
        let mut out = self.matrices.to_host()?;
        out.extend(self.vectors.to_host()?);
        Ok(out)
    }

    /// Replaces the parameters (order and sizes of [`Self::parameters_host`]).
    pub fn set_parameters_host(&mut self, params: &[Vec<f32>]) -> Result<(), NnError> {
        let nm = self.matrices.len();
        if params.len() != nm + self.vectors.len() {
            return Err(NnError::Shape(format!("{} parameter tensors for a basis net with {}", params.len(), nm + self.vectors.len())));
        }
        self.matrices.set_from_host(&params[..nm], &self.device)?;
        self.vectors.set_from_host(&params[nm..], &self.device)
    }

    pub fn parameter_count(&self) -> usize {
        self.matrices.count() + self.vectors.count()
    }
}

/// The nested reconstruction loss of a raw basis `r` (`[n, K]`) on probes `f` (`[n, P]`), by one
/// weighted Gram–Schmidt pass (only products and sums: differentiable): returns
/// (`mean_k e_k / √K` as a 1-element tensor, the mean error per k). With `density`, the
/// projection weighs points by `w = r₀² / Σ r₀²` (the learned density), else uniformly.
/// Matches `kiln_spectral::learned::nested_loss_incremental`.
pub fn nested_loss(r: Tensor<2>, f: Tensor<2>, density: bool) -> (Tensor<1>, Vec<Tensor<1>>) {
    let [n, kmax] = r.dims();
    let p = f.dims()[1];
    let w: Tensor<2> = if density {
        let sq = r.clone().narrow(1, 0, 1).square();
        sq.clone().div(sq.sum().reshape([1, 1]))
    } else {
        Tensor::ones([n, 1], &r.device())
    };
    let mut q: Option<Tensor<2>> = None;
    let mut residual = f;
    let mut per_k = Vec::with_capacity(kmax);
    for k in 0..kmax {
        let mut v = r.clone().narrow(1, k, 1);
        if let Some(prev) = &q {
            // Twice is enough for a well-conditioned prefix (Kahan–Parlett).
            for _ in 0..2 {
                let c = prev.clone().transpose().matmul(v.clone().mul(w.clone())); // [k, 1]
                v = v.sub(prev.clone().matmul(c));
            }
        }
        let norm = v.clone().square().mul(w.clone()).sum().add_scalar(1e-12).sqrt().reshape([1, 1]);
        let qk = v.div(norm);
        let c = qk.clone().mul(w.clone()).transpose().matmul(residual.clone()); // [1, P]
        residual = residual.sub(qk.clone().matmul(c));
        per_k.push(residual.clone().square().sum().div_scalar(p as f64));
        q = Some(match q {
            Some(prev) => Tensor::cat(vec![prev, qk], 1),
            None => qk,
        });
    }
    let total = per_k.iter().cloned().reduce(|a, b| a.add(b)).expect("K ≥ 1");
    let loss = total.div_scalar(kmax as f64 * (kmax as f64).sqrt());
    (loss, per_k)
}
