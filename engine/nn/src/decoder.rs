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
    /// How the convolutions are computed (same values; the speed differs by device).
    pub conv: ConvForm,
}

/// How the decoder computes its convolutions: Burn's `conv2d`, or [`conv2d_matmul`] (im2col by
/// shifted slices, its weight-gradient reduction split into row bands).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConvForm {
    /// The matmul form for wide convolutions (lavapipe: faster from [`MATMUL_CONV_FROM`]
    /// input × output channels) and for large images (the split reduction); Burn's `conv2d`
    /// for the rest.
    #[default]
    Auto,
    /// Burn's `conv2d` everywhere.
    Burn,
    /// The matmul form everywhere.
    Matmul,
}

impl ConvForm {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "auto" => Some(ConvForm::Auto),
            "burn" => Some(ConvForm::Burn),
            "matmul" => Some(ConvForm::Matmul),
            _ => None,
        }
    }

    /// Whether a `cin → cout` convolution with an `h × w` output runs as a matmul.
    pub fn uses_matmul(self, cin: usize, cout: usize, h: usize, w: usize) -> bool {
        match self {
            ConvForm::Burn => false,
            ConvForm::Matmul => true,
            ConvForm::Auto => cin * cout >= MATMUL_CONV_FROM || h * w >= MATMUL_CONV_FROM_PIXELS,
        }
    }
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
            conv: ConvForm::Auto,
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

impl DecoderConfig {
    /// The config of a batch of `views` (its `view` is the first), each view checked.
    pub(crate) fn for_batch(&self, views: &[usize]) -> Result<DecoderConfig, NnError> {
        if views.is_empty() {
            return Err(NnError::Shape("a decoder batch needs at least one view".into()));
        }
        for &v in views {
            DecoderConfig { view: v, ..self.clone() }.validate()?;
        }
        Ok(DecoderConfig { view: views[0], ..self.clone() })
    }

    /// The convolution stages, first to last: what both implementations ([`ConvDecoder`] on
    /// Burn, [`crate::GpuDecoder`] on kiln's kernels) compute.
    pub fn stages(&self) -> Vec<StageSpec> {
        let sizes = self.stage_sizes();
        let mut out = Vec::with_capacity(sizes.len() + 1);
        let mut cin = 2 * self.frequencies;
        let mut prev = [1usize, 1usize];
        for (i, &size) in sizes.iter().enumerate() {
            let mult = self.width_multipliers[i.min(self.width_multipliers.len() - 1)];
            let cout = mult * self.ngf;
            // The first stage is a 1×1 conv on the upsampled code; the coordinate channels are
            // concatenated to its output.
            out.push(StageSpec { kernel: if i == 0 { 1 } else { 3 }, size, prev, leaky: true, cin, cout, coords: i == 0 });
            cin = cout + if i == 0 { 2 } else { 0 };
            prev = size;
        }
        out.push(StageSpec { kernel: 3, size: [self.height, self.width], prev, leaky: false, cin, cout: self.out_channels, coords: false });
        out
    }

    /// The initial weights (`[V·O, C, k, k]`, view-major) and biases (`[V·O]`, zero) of every
    /// stage for a batch of `views`: each view's weights are drawn from its own stream, as a
    /// lone decoder of that view draws them.
    pub fn initial_parameters(&self, views: &[usize]) -> Result<(Vec<Vec<f32>>, Vec<Vec<f32>>), NnError> {
        let normal = Normal::new(0.0f32, self.init_std).map_err(|e| NnError::Shape(e.to_string()))?;
        let mut rngs: Vec<_> = views.iter().map(|&v| rand::rngs::Xoshiro256PlusPlus::seed_from_u64(self.seed ^ (v as u64) << 32)).collect();
        let (mut weights, mut biases) = (Vec::new(), Vec::new());
        for spec in self.stages() {
            let n = spec.cout * spec.cin * spec.kernel * spec.kernel;
            weights.push(rngs.iter_mut().flat_map(|rng| (0..n).map(|_| normal.sample(rng)).collect::<Vec<_>>()).collect());
            biases.push(vec![0.0; views.len() * spec.cout]);
        }
        Ok((weights, biases))
    }

    /// The coordinate channels concatenated after the first stage: x then y, each a
    /// linspace(−1, 1) over the first stage's size (`[2, h, w]`).
    pub fn coordinate_grid(&self) -> Vec<f32> {
        let [ch, cw] = self.stage_sizes()[0];
        let lin = |n: usize, i: usize| if n > 1 { -1.0 + 2.0 * i as f32 / (n - 1) as f32 } else { 0.0 };
        let mut grid = Vec::with_capacity(2 * ch * cw);
        grid.extend((0..ch * cw).map(|p| lin(cw, p % cw)));
        grid.extend((0..ch * cw).map(|p| lin(ch, p / cw)));
        grid
    }
}

/// One stage of the decoder: [bilinear resample `prev` → `size`, pad] → conv (`kernel`,
/// `cin` → `cout`) → LeakyReLU(0.2) when `leaky`; `coords` stages have the coordinate grid
/// concatenated to their output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StageSpec {
    pub kernel: usize,
    pub size: [usize; 2],
    pub prev: [usize; 2],
    pub leaky: bool,
    pub cin: usize,
    pub cout: usize,
    pub coords: bool,
}

impl StageSpec {
    /// The padding on each side, and whether it reflects (else it repeats the edge): reflection
    /// needs two pixels per axis, so a stage with a 1-pixel axis repeats its edges on both axes.
    pub fn padding(&self) -> (usize, bool) {
        let pad = self.kernel / 2;
        (pad, self.size[0] > pad && self.size[1] > pad)
    }

    /// The convolution's input size: the resampled size plus the padding.
    pub fn padded_size(&self) -> (usize, usize) {
        let pad = self.kernel / 2;
        (self.size[0] + 2 * pad, self.size[1] + 2 * pad)
    }

    /// The resampling along `axis` (0 rows, 1 columns) with the padding rows, as a dense
    /// `[(size + 2·pad) × prev]` matrix (the identity plus padding when the size is kept).
    pub fn resample_matrix(&self, axis: usize) -> Vec<f32> {
        let (pad, reflect) = self.padding();
        padded_interpolation_matrix(self.prev[axis], self.size[axis], pad, reflect)
    }
}

/// One conv stage: kernel size, output size of the upsample before it, and the upsample's
/// row and column interpolation matrices (`None` when the size does not change). The matrices
/// also apply the convolution's padding (their extra rows are the reflected or edge rows), so
/// an upsampled stage needs no separate pad: Burn's reflection pad is ~7 operations per axis,
/// and each costs host time in the forward and again in the backward.
struct Stage {
    spec: StageSpec,
    upsample: Option<(Tensor<2>, Tensor<2>)>,
}

/// The source sample that padded sample `i` (of `n + 2·pad`) copies: reflection excludes the
/// edge sample (PyTorch's `reflect`), edge mode repeats it.
fn padded_source(i: usize, n: usize, pad: usize, reflect: bool) -> usize {
    let j = i as isize - pad as isize;
    let last = n as isize - 1;
    let k = if reflect {
        if j < 0 {
            -j
        } else if j > last {
            2 * last - j
        } else {
            j
        }
    } else {
        j.clamp(0, last)
    };
    k as usize
}

/// [`interpolation_matrix`] with `pad` extra output samples on each side, taken as
/// [`padded_source`] says: `[(to + 2·pad) × from]`.
fn padded_interpolation_matrix(from: usize, to: usize, pad: usize, reflect: bool) -> Vec<f32> {
    let m = interpolation_matrix(from, to);
    (0..to + 2 * pad).flat_map(|i| { let o = padded_source(i, to, pad, reflect); m[o * from..(o + 1) * from].to_vec() }).collect()
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
pub const MATMUL_CONV_FROM: usize = 48 * 48;

/// Output pixels from which every convolution runs as a matmul with its reduction split into
/// row bands ([`crate::conv::row_bands`]): Burn's `conv2d` backward reduces the weight gradient
/// over all pixels in a few workgroups, which a GPU cannot hide at an image's full size.
pub const MATMUL_CONV_FROM_PIXELS: usize = 128 * 128;

/// The decoders of one or more views, evaluated as one batched network: every view has the
/// same architecture and its own weights and code (the view is the batch dimension; the
/// convolutions are grouped per view). The math is that of separate decoders; batching only
/// cuts the number of Burn operations, whose host-side cost bounds the step on a GPU (on an
/// H100 each Burn op cost ~40 µs of host time, and a decoder's forward and backward are ~1,000
/// of them).
pub struct ConvDecoder {
    /// The architecture; `config.view` is the first view of the batch.
    pub config: DecoderConfig,
    views: Vec<usize>,
    device: Device,
    stages: Vec<Stage>,
    /// Per stage: `[V·O, C, k, k]` and `[V·O]`, view-major.
    weights: Params<4>,
    biases: Params<1>,
    code: Tensor<4>,
    coords: Tensor<4>,
}

/// A forward pass kept for its backward: the output on the host (`[view][channel][y][x]`) and
/// the tracked output tensor.
pub struct DecoderPass {
    pub values: Vec<f32>,
    output: Tensor<4>,
}

impl DecoderPass {
    /// Reads a tracked [`ConvDecoder::forward`] output back to the host (waits for the GPU).
    pub fn read(output: Tensor<4>) -> Result<Self, NnError> {
        Ok(DecoderPass { values: read(&output)?, output })
    }

    /// The `i`-th view of the batch's output (`[channel][y][x]`).
    pub fn view_values(&self, i: usize) -> &[f32] {
        let per = self.values.len() / self.output.dims()[0];
        &self.values[i * per..(i + 1) * per]
    }
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
    /// One view's decoder (`config.view`).
    pub fn new(config: DecoderConfig, device: &Device) -> Result<Self, NnError> {
        let view = config.view;
        Self::for_views(config, &[view], device)
    }

    /// The decoders of `views` (indices below `config.views`), batched. Each view's weights are
    /// drawn as [`Self::new`] draws them for that view alone.
    pub fn for_views(config: DecoderConfig, views: &[usize], device: &Device) -> Result<Self, NnError> {
        let config = config.for_batch(views)?;
        let nv = views.len();
        let (weights, biases) = config.initial_parameters(views)?;
        let mut stages = Vec::new();
        let (mut weight_tensors, mut bias_tensors) = (Vec::new(), Vec::new());
        for ((spec, w), b) in config.stages().into_iter().zip(weights).zip(biases) {
            let k = spec.kernel;
            weight_tensors.push(upload(w, [nv * spec.cout, spec.cin, k, k], device).require_grad());
            bias_tensors.push(upload(b, [nv * spec.cout], device).require_grad());
            let (ph, pw) = spec.padded_size();
            let upsample = (spec.size != spec.prev).then(|| {
                let rows = upload(spec.resample_matrix(0), [ph, spec.prev[0]], device);
                // Columns: X·Aᵀ, so store Aᵀ ([from × to]).
                let a = spec.resample_matrix(1);
                let mut at = vec![0.0f32; a.len()];
                for o in 0..pw {
                    for i in 0..spec.prev[1] {
                        at[i * pw + o] = a[o * spec.prev[1] + i];
                    }
                }
                (rows, upload(at, [spec.prev[1], pw], device))
            });
            stages.push(Stage { spec, upsample });
        }
        let codes: Vec<f32> = views.iter().flat_map(|&v| DecoderConfig { view: v, ..config.clone() }.code()).collect();
        let code = upload(codes, [nv, 2 * config.frequencies, 1, 1], device);
        let [ch, cw] = config.stage_sizes()[0];
        let coords = upload(config.coordinate_grid(), [1, 2, ch, cw], device);
        Ok(ConvDecoder {
            config,
            views: views.to_vec(),
            device: device.clone(),
            stages,
            weights: Params::new(weight_tensors),
            biases: Params::new(bias_tensors),
            code,
            coords,
        })
    }

    /// The views of the batch, in output order.
    pub fn views(&self) -> &[usize] {
        &self.views
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The output `[views, out_channels, height, width]`, tracked for autodiff.
    pub fn forward(&self) -> Tensor<4> {
        let nv = self.views.len();
        let mut x = self.code.clone();
        let last = self.stages.len() - 1;
        for (i, stage) in self.stages.iter().enumerate() {
            // Bilinear upsampling as two matrix products (rows, then columns): Burn 0.22's wgpu
            // backend has no backward for `interpolate(Bilinear)`, matmul has one.
            let (pad, reflect) = stage.spec.padding();
            if let Some((rows, cols)) = &stage.upsample {
                // Upsampled and padded at once (the matrices hold the padding rows).
                let [_, c, h, w] = x.dims();
                let (hh, ww) = (rows.dims()[0], cols.dims()[1]);
                // [V, c, h, w] → [h, V·c·w]; Aₕ·that → [H, V·c·w] → [H·V·c, w]; ·A_wᵀ → [H·V·c, W].
                let by_rows: Tensor<2> = x.permute([2, 0, 1, 3]).reshape([h, nv * c * w]);
                let y = rows.clone().matmul(by_rows).reshape([hh * nv * c, w]).matmul(cols.clone());
                x = y.reshape([hh, nv, c, ww]).permute([1, 2, 0, 3]);
            } else if pad > 0 {
                x = x.pad((pad, pad, pad, pad), if reflect { PadMode::Reflect } else { PadMode::Edge });
            }
            let (w, b) = (self.weights.tensors[i].clone(), self.biases.tensors[i].clone());
            let [vo, cin, _, _] = w.dims();
            let cout = vo / nv;
            x = if self.config.conv.uses_matmul(cin, cout, stage.spec.size[0], stage.spec.size[1]) {
                conv2d_matmul(x, w, b)
            } else {
                // One group per view: the batch goes into the channels.
                let [_, c, hp, wp] = x.dims();
                let y = conv2d(x.reshape([1, nv * c, hp, wp]), w, Some(b), ConvOptions::new([1, 1], [0, 0], [1, 1], nv));
                let [_, _, h, wd] = y.dims();
                y.reshape([nv, cout, h, wd])
            };
            if stage.spec.leaky {
                x = leaky_relu(x, 0.2);
            }
            if i == 0 && i != last {
                let [_, _, h, w] = x.dims();
                x = Tensor::cat(vec![x, self.coords.clone().expand([nv, 2, h, w])], 1);
            }
        }
        x
    }

    /// Forward, with the output read back to the host for kiln's kernels.
    pub fn forward_host(&self) -> Result<DecoderPass, NnError> {
        let output = self.forward();
        Ok(DecoderPass { values: read(&output)?, output })
    }

    /// Waits until the device has run everything queued for this decoder (its last AdamW
    /// update included), by reading back its smallest parameter tensor.
    pub fn sync(&self) -> Result<(), NnError> {
        let smallest = self.biases.tensors.iter().min_by_key(|b| b.dims()[0]).ok_or_else(|| NnError::Shape("a decoder without stages".into()))?;
        read(smallest).map(drop)
    }

    /// Parameter gradients for dL/d(output) = `grad_output` (host, `[view][channel][y][x]`).
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

    /// Each view's parameters on the host, in the order and sizes of a one-view decoder's
    /// [`Self::parameters_host`] (what checkpoints store, whatever the batching).
    pub fn view_parameters_host(&self) -> Result<Vec<Vec<Vec<f32>>>, NnError> {
        Ok(split_views(self.parameters_host()?, self.views.len()))
    }

    /// Replaces each view's parameters (as [`Self::view_parameters_host`] gives them).
    pub fn set_view_parameters_host(&mut self, per_view: &[Vec<Vec<f32>>]) -> Result<(), NnError> {
        let joined = join_views(per_view, self.views.len())?;
        self.set_parameters_host(&joined)
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

/// A batch's parameter tensors (view-major) cut into each view's tensors.
pub(crate) fn split_views(all: Vec<Vec<f32>>, views: usize) -> Vec<Vec<Vec<f32>>> {
    (0..views).map(|i| all.iter().map(|t| { let per = t.len() / views; t[i * per..(i + 1) * per].to_vec() }).collect()).collect()
}

/// Each view's parameter tensors joined into the batch's (view-major).
pub(crate) fn join_views(per_view: &[Vec<Vec<f32>>], views: usize) -> Result<Vec<Vec<f32>>, NnError> {
    if per_view.len() != views {
        return Err(NnError::Shape(format!("parameters of {} views for a batch of {views}", per_view.len())));
    }
    let tensors = per_view[0].len();
    if per_view.iter().any(|p| p.len() != tensors) {
        return Err(NnError::Shape("the views' parameter lists differ in length".into()));
    }
    Ok((0..tensors).map(|j| per_view.iter().flat_map(|p| p[j].iter().copied()).collect()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The padded interpolation matrices are the plain ones followed by Burn's pad: the same
    /// rows, in the order `PadMode::Reflect` / `Edge` put them.
    #[test]
    fn padded_interpolation_is_interpolation_then_pad() {
        for &(from, to, pad, reflect) in &[(3usize, 6usize, 1usize, true), (2, 3, 1, true), (1, 2, 1, false), (4, 7, 2, true), (5, 10, 1, false)] {
            let m = interpolation_matrix(from, to);
            let p = padded_interpolation_matrix(from, to, pad, reflect);
            assert_eq!(p.len(), (to + 2 * pad) * from);
            for i in 0..to + 2 * pad {
                // PyTorch/Burn reflect: index −1 → 1, n → n − 2; edge: clamp.
                let j = i as isize - pad as isize;
                let n = to as isize;
                let src = if reflect { if j < 0 { -j } else if j >= n { 2 * (n - 1) - j } else { j } } else { j.clamp(0, n - 1) } as usize;
                assert_eq!(&p[i * from..(i + 1) * from], &m[src * from..(src + 1) * from], "{from}→{to} pad {pad} row {i}");
            }
        }
    }
}
