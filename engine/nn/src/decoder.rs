//! CoherentGS's implicit convolutional decoder (`../shared/methods/coherentgs.md`, "Implicit
//! decoder"): a fixed per-view code (positional encoding of the view's index) at 1×1 is grown
//! by [bilinear upsample → pad → conv → LeakyReLU(0.2)] stages to the image size; a fixed
//! coordinate grid is concatenated after the first stage; the last conv gives one channel per
//! depth layer, without activation. The network is the prior: its smooth, low-frequency
//! output keeps the depth offsets of neighbouring pixels coherent.
//!
//! Sizes: the stage sizes are the image size halved (rounding up) until 1×1, in reverse, so
//! every stage is an exact ×2 upsample up to a one-pixel crop (the reference pads odd sizes
//! instead; same effect).

use crate::params::Params;
use crate::NnError;
use burn::tensor::activation::leaky_relu;
use crate::conv::conv2d_matmul;
use burn::tensor::module::conv2d;
use burn::tensor::ops::{ConvOptions, PadMode};
use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};

#[derive(Clone, Debug, PartialEq)]
pub struct DecoderConfig {
    pub height: usize,
    pub width: usize,
    /// Width multiplier (CoherentGS: depth {2: 10, 3: 15, 4: 18}, opacity {2: 6, 3: 10, 4: 12}
    /// by view count).
    pub ngf: usize,
    /// Stage widths in units of `ngf`; the last entry repeats for deeper stacks.
    pub width_multipliers: Vec<usize>,
    /// One output per depth layer.
    pub out_channels: usize,
    /// This view's index and the number of views: the code is the positional encoding of
    /// view / (views − 1).
    pub view: usize,
    pub views: usize,
    /// Positional-encoding frequencies (sin and cos each → 2× channels).
    pub frequencies: usize,
    /// Weights start N(0, init_std²), biases 0.
    pub init_std: f32,
    pub seed: u64,
}

impl DecoderConfig {
    pub fn new(height: usize, width: usize, ngf: usize, view: usize, views: usize) -> Self {
        DecoderConfig {
            height,
            width,
            ngf,
            width_multipliers: vec![16, 16, 16, 8, 8, 8, 4, 4],
            out_channels: 5,
            view,
            views,
            frequencies: 10,
            init_std: 0.02,
            seed: 0,
        }
    }

    /// Spatial size after each stage, from the first upsample to the full image.
    pub fn stage_sizes(&self) -> Vec<[usize; 2]> {
        let mut sizes = vec![[self.height, self.width]];
        while sizes.last().is_some_and(|s| s[0] > 1 || s[1] > 1) {
            let s = sizes[sizes.len() - 1];
            sizes.push([s[0].div_ceil(2), s[1].div_ceil(2)]);
        }
        sizes.pop(); // the 1×1 the code lives at
        sizes.reverse();
        sizes
    }

    fn validate(&self) -> Result<(), NnError> {
        if self.height == 0 || self.width == 0 || self.height * self.width < 2 {
            return Err(NnError::Shape(format!("output size {}x{} is too small", self.width, self.height)));
        }
        if self.ngf == 0 || self.out_channels == 0 || self.frequencies == 0 || self.width_multipliers.is_empty() {
            return Err(NnError::Shape("ngf, out_channels, frequencies and the width list must be positive".into()));
        }
        if self.views == 0 || self.view >= self.views {
            return Err(NnError::Shape(format!("view {} of {} views", self.view, self.views)));
        }
        Ok(())
    }

    /// The fixed input: [sin(2^k π t), cos(2^k π t)] for k < frequencies, t = view/(views−1).
    pub fn code(&self) -> Vec<f32> {
        let t = if self.views > 1 { self.view as f32 / (self.views - 1) as f32 } else { 0.0 };
        let mut c = Vec::with_capacity(2 * self.frequencies);
        for k in 0..self.frequencies {
            c.push((2f32.powi(k as i32) * std::f32::consts::PI * t).sin());
        }
        for k in 0..self.frequencies {
            c.push((2f32.powi(k as i32) * std::f32::consts::PI * t).cos());
        }
        c
    }
}

/// One conv stage: kernel size, output size of the upsample before it, and the upsample's
/// row and column interpolation matrices (`None` when the size does not change).
struct Stage {
    kernel: usize,
    size: [usize; 2],
    leaky: bool,
    upsample: Option<(Tensor<2>, Tensor<2>)>,
}

/// Bilinear resampling from `from` to `to` samples along one axis as a `[to × from]` matrix
/// (half-pixel centres, edge clamped: PyTorch's `align_corners=False`).
fn interpolation_matrix(from: usize, to: usize) -> Vec<f32> {
    let mut m = vec![0.0f32; to * from];
    for o in 0..to {
        let src = ((o as f32 + 0.5) * from as f32 / to as f32 - 0.5).clamp(0.0, (from - 1) as f32);
        let i0 = (src.floor() as usize).min(from - 1);
        let i1 = (i0 + 1).min(from - 1);
        let t = src - i0 as f32;
        m[o * from + i0] += 1.0 - t;
        m[o * from + i1] += t;
    }
    m
}

/// Convolutions with at least this many input × output channels run as one matrix product
/// ([`conv2d_matmul`]), smaller ones as Burn's `conv2d`. Measured on lavapipe with
/// `kiln bench coherent` on fern at 64 px, both forms side by side: at the spec's widths (depth
/// ngf 15: 240/120/60 channels) the matmul form made the step 1.8× faster (13.7 → 7.6 s; the
/// backward 2.3× faster, the forward 1.2× slower); at ngf 2 (32 channels at most) it made the
/// step 1.3× slower (1.35 → 1.76 s), its forward twice as slow. A per-shape probe had 60 → 60 at
/// 64×48 2.8× faster as a matmul.
const MATMUL_CONV_FROM: usize = 48 * 48;

/// The decoder's parameters and fixed inputs on the Burn device.
pub struct ConvDecoder {
    pub config: DecoderConfig,
    device: Device,
    stages: Vec<Stage>,
    weights: Params<4>,
    biases: Params<1>,
    code: Tensor<4>,
    coords: Tensor<4>,
}

/// A forward pass kept for its backward: the output on the host (`[channel][y][x]`) and the
/// tracked output tensor.
pub struct DecoderPass {
    pub values: Vec<f32>,
    output: Tensor<4>,
}

/// Gradients of every parameter, in [`ConvDecoder::parameters_host`] order.
pub struct DecoderGrads {
    weights: Vec<Tensor<4>>,
    biases: Vec<Tensor<1>>,
}

impl DecoderGrads {
    pub fn to_host(&self) -> Result<Vec<Vec<f32>>, NnError> {
        let mut out = Vec::new();
        for w in &self.weights {
            out.push(read(w)?);
        }
        for b in &self.biases {
            out.push(read(b)?);
        }
        Ok(out)
    }
}

fn read<const D: usize>(t: &Tensor<D>) -> Result<Vec<f32>, NnError> {
    let data = t.try_to_data().map_err(|e| NnError::Read(format!("{e:?}")))?;
    data.try_to_vec::<f32>().map_err(|e| NnError::Read(format!("{e:?}")))
}

fn upload<const D: usize>(values: Vec<f32>, shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

impl ConvDecoder {
    pub fn new(config: DecoderConfig, device: &Device) -> Result<Self, NnError> {
        config.validate()?;
        let sizes = config.stage_sizes();
        let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(config.seed ^ (config.view as u64) << 32);
        let normal = Normal::new(0.0f32, config.init_std).map_err(|e| NnError::Shape(e.to_string()))?;
        let mut stages = Vec::new();
        let (mut weights, mut biases) = (Vec::new(), Vec::new());
        let mut in_ch = 2 * config.frequencies;
        let mut prev = [1usize, 1usize];
        let mut add = |kernel: usize, size: [usize; 2], leaky: bool, cin: usize, cout: usize| {
            let w: Vec<f32> = (0..cout * cin * kernel * kernel).map(|_| normal.sample(&mut rng)).collect();
            weights.push(upload(w, [cout, cin, kernel, kernel], device).require_grad());
            biases.push(upload(vec![0.0; cout], [cout], device).require_grad());
            let upsample = (size != prev).then(|| {
                let rows = upload(interpolation_matrix(prev[0], size[0]), [size[0], prev[0]], device);
                // Columns: X·Aᵀ, so store Aᵀ ([from × to]).
                let a = interpolation_matrix(prev[1], size[1]);
                let mut at = vec![0.0f32; a.len()];
                for o in 0..size[1] {
                    for i in 0..prev[1] {
                        at[i * size[1] + o] = a[o * prev[1] + i];
                    }
                }
                (rows, upload(at, [prev[1], size[1]], device))
            });
            prev = size;
            stages.push(Stage { kernel, size, leaky, upsample });
        };
        for (i, &size) in sizes.iter().enumerate() {
            let mult = config.width_multipliers[i.min(config.width_multipliers.len() - 1)];
            let out_ch = mult * config.ngf;
            // The first stage is a 1×1 conv on the upsampled code; the coordinate channels are
            // concatenated to its output.
            add(if i == 0 { 1 } else { 3 }, size, true, in_ch, out_ch);
            in_ch = out_ch + if i == 0 { 2 } else { 0 };
        }
        add(3, [config.height, config.width], false, in_ch, config.out_channels);

        let code = upload(config.code(), [1, 2 * config.frequencies, 1, 1], device);
        let [ch, cw] = sizes[0];
        let lin = |n: usize, i: usize| if n > 1 { -1.0 + 2.0 * i as f32 / (n - 1) as f32 } else { 0.0 };
        let mut grid = Vec::with_capacity(2 * ch * cw);
        grid.extend((0..ch * cw).map(|p| lin(cw, p % cw)));
        grid.extend((0..ch * cw).map(|p| lin(ch, p / cw)));
        let coords = upload(grid, [1, 2, ch, cw], device);
        Ok(ConvDecoder {
            config,
            device: device.clone(),
            stages,
            weights: Params::new(weights),
            biases: Params::new(biases),
            code,
            coords,
        })
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The output `[1, out_channels, height, width]`, tracked for autodiff.
    pub fn forward(&self) -> Tensor<4> {
        let mut x = self.code.clone();
        let last = self.stages.len() - 1;
        for (i, stage) in self.stages.iter().enumerate() {
            // Bilinear upsampling as two matrix products (rows, then columns): Burn 0.22's wgpu
            // backend has no backward for `interpolate(Bilinear)`, matmul has one.
            if let Some((rows, cols)) = &stage.upsample {
                let [_, c, h, w] = x.dims();
                let [hh, ww] = stage.size;
                // [1, c, h, w] → [h, c·w]; Aₕ·that → [H, c·w] → [H·c, w]; ·A_wᵀ → [H·c, W].
                let by_rows: Tensor<2> = x.reshape([c, h, w]).swap_dims(0, 1).reshape([h, c * w]);
                let y = rows.clone().matmul(by_rows).reshape([hh * c, w]).matmul(cols.clone());
                x = y.reshape([hh, c, ww]).swap_dims(0, 1).reshape([1, c, hh, ww]);
            }
            let pad = stage.kernel / 2;
            if pad > 0 {
                // Reflection needs two pixels per axis; a 1-pixel axis repeats its edge.
                let mode = if stage.size[0] > pad && stage.size[1] > pad { PadMode::Reflect } else { PadMode::Edge };
                x = x.pad((pad, pad, pad, pad), mode);
            }
            let (w, b) = (self.weights.tensors[i].clone(), self.biases.tensors[i].clone());
            let [cout, cin, _, _] = w.dims();
            x = if cin * cout >= MATMUL_CONV_FROM { conv2d_matmul(x, w, b) } else { conv2d(x, w, Some(b), ConvOptions::new([1, 1], [0, 0], [1, 1], 1)) };
            if stage.leaky {
                x = leaky_relu(x, 0.2);
            }
            if i == 0 && i != last {
                x = Tensor::cat(vec![x, self.coords.clone()], 1);
            }
        }
        x
    }

    /// Forward, with the output read back to the host for kiln's kernels.
    pub fn forward_host(&self) -> Result<DecoderPass, NnError> {
        let output = self.forward();
        Ok(DecoderPass { values: read(&output)?, output })
    }

    /// [`Self::forward_host`] of several decoders with one wait: every forward is queued before
    /// the first read-back, so the device runs them back to back while the host records the
    /// next, instead of idling through one read-back per decoder.
    pub fn forward_host_all<'a>(decoders: impl IntoIterator<Item = &'a ConvDecoder>) -> Result<Vec<DecoderPass>, NnError> {
        let outputs: Vec<Tensor<4>> = decoders.into_iter().map(ConvDecoder::forward).collect();
        outputs.into_iter().map(|output| Ok(DecoderPass { values: read(&output)?, output })).collect()
    }

    /// Parameter gradients for dL/d(output) = `grad_output` (host, `[channel][y][x]`).
    pub fn gradients(&self, pass: DecoderPass, grad_output: &[f32]) -> Result<DecoderGrads, NnError> {
        if grad_output.len() != pass.values.len() {
            return Err(NnError::Shape(format!("gradient has {} values for an output of {}", grad_output.len(), pass.values.len())));
        }
        let g = upload(grad_output.to_vec(), pass.output.dims(), &self.device);
        // L = Σ output ⊙ g has dL/d(output) = g: the upstream gradient enters the graph.
        let grads = pass.output.mul(g).sum().backward();
        Ok(DecoderGrads { weights: self.weights.grads(&grads, None)?, biases: self.biases.grads(&grads, None)? })
    }

    /// Backward from `grad_output` and one AdamW step at `lr`.
    pub fn step(&mut self, pass: DecoderPass, grad_output: &[f32], lr: f64) -> Result<(), NnError> {
        let g = self.gradients(pass, grad_output)?;
        self.weights.step(lr, g.weights);
        self.biases.step(lr, g.biases);
        Ok(())
    }

    /// Every parameter on the host: the stage weights, then the stage biases.
    pub fn parameters_host(&self) -> Result<Vec<Vec<f32>>, NnError> {
        let mut out = self.weights.to_host()?;
        out.extend(self.biases.to_host()?);
        Ok(out)
    }

    /// Replaces the parameters (same order and sizes as [`Self::parameters_host`]); optimizer
    /// moments are kept.
    pub fn set_parameters_host(&mut self, params: &[Vec<f32>]) -> Result<(), NnError> {
        let n = self.weights.len();
        if params.len() != 2 * n {
            return Err(NnError::Shape(format!("{} parameter tensors for a decoder with {}", params.len(), 2 * n)));
        }
        self.weights.set_from_host(&params[..n], &self.device)?;
        self.biases.set_from_host(&params[n..], &self.device)
    }

    pub fn parameter_count(&self) -> usize {
        self.weights.count() + self.biases.count()
    }
}
