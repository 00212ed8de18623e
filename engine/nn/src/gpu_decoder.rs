//! CoherentGS's implicit decoder on kiln's own WGSL kernels: the network of
//! [`crate::ConvDecoder`] (same [`DecoderConfig`], same initial weights, same parameter order),
//! its forward, backward and AdamW step recorded into kiln's command encoders.
//!
//! Why not Burn here: on a GPU the Burn decoder is bound by the execution of Burn 0.22's
//! generic kernels (session 9 on an H200: ~240 ms a step for 251 GFLOP, about 1 TFLOP/s), and
//! its tensors cannot be bound as kiln buffers. These kernels compute each convolution as an
//! implicit matrix product tiled in workgroup memory (no column matrix is stored), the
//! bilinear upsample and the padding as one sparse resampling pass, and the weight gradient's
//! reduction over all pixels in bands (split-K). Burn's [`crate::ConvDecoder`] stays the
//! reference: the tests compare outputs, gradients and AdamW steps of the two.
//!
//! Per stage (`shaders/decoder_*.wgsl`):
//! - forward: resample (upsample + pad) → conv + bias + LeakyReLU;
//! - backward: LeakyReLU's backward in place → weight/bias gradient per band → band sum into
//!   the gradient buffer → gradient to the padded input → resample's adjoint (the transposed
//!   tables) into the previous stage's output gradient.
//!
//! Parameters live in one flat buffer in [`crate::ConvDecoder::parameters_host`] order (every
//! stage's weights `[V·O, C, k, k]`, then every stage's biases `[V·O]`), so one AdamW dispatch
//! (kiln-gpu's Adam with decoupled decay, PyTorch's defaults) updates them all.

use crate::decoder::{join_views, split_views, DecoderConfig, StageSpec};
use crate::NnError;
use kiln_gpu::{wgpu, AdamConfig, AdamGroup, AdamSnapshot, GpuContext, GpuTimer, Kernel};

/// A decoder's AdamW state per view: `exp_avg[view][tensor]`, in the parameters' order.
#[derive(Clone, Debug, PartialEq)]
pub struct OptimizerState {
    pub step: u64,
    pub exp_avg: Vec<Vec<Vec<f32>>>,
    pub exp_avg_sq: Vec<Vec<Vec<f32>>>,
}
use std::sync::Arc;

/// Output pixels per band of the weight-gradient reduction: enough work per workgroup to hide
/// its start, few enough bands to fill a large GPU at the full image size.
pub const BAND_PIXELS: usize = 2048;

/// The pixel side of the convolution kernels' output tile (`shaders/decoder_conv*.wgsl`).
const TILE: usize = 64;

/// The channel side of a convolution tile for `channels` channels: 16, 32 or 64, so that a
/// narrow stage (the last one has one channel per depth layer) does not compute a 64-wide tile
/// of zeros — on lavapipe, where every lane is CPU time, that waste made the decoder 4× slower.
fn channel_tile(channels: usize) -> usize {
    match channels {
        0..=16 => 16,
        17..=32 => 32,
        _ => 64,
    }
}

/// The convolution kernels, compiled for one channel tile width each.
struct ConvKernels {
    forward: Kernel,
    input_grad: Kernel,
    weight_grad: Kernel,
}

/// The kernels, needed only while the stages' dispatches are bound.
struct Kernels {
    resample: Kernel,
    leaky_backward: Kernel,
    reduce: Kernel,
    conv: std::collections::BTreeMap<usize, ConvKernels>,
}

impl Kernels {
    fn conv(&self, width: usize) -> &ConvKernels {
        &self.conv[&width]
    }
}

/// A 1-D dispatch: its kernel, bind group and workgroup count.
struct Dispatch1 {
    kernel: Kernel,
    bind: wgpu::BindGroup,
    workgroups: u32,
}

impl Dispatch1 {
    /// Binds `buffers` (binding i = `buffers[i]`) for `workgroups` 1-D workgroups.
    fn new(ctx: &GpuContext, kernel: &Kernel, buffers: &[&wgpu::Buffer], workgroups: u32) -> Self {
        Dispatch1 { kernel: kernel.clone(), bind: kernel.bind(ctx, buffers), workgroups }
    }

    fn record(&self, pass: &mut wgpu::ComputePass<'_>) {
        self.kernel.dispatch(pass, &self.bind, self.workgroups);
    }
}

/// A tiled dispatch: its kernel (by channel tile), bind group and 3-D grid.
struct Dispatch3 {
    kernel: Kernel,
    bind: wgpu::BindGroup,
    grid: [u32; 3],
}

impl Dispatch3 {
    fn record(&self, pass: &mut wgpu::ComputePass<'_>) {
        self.kernel.dispatch_grid(pass, &self.bind, self.grid);
    }
}

/// One stage's buffers and its dispatches, bound once at construction.
struct GpuStage {
    spec: StageSpec,
    /// The activation after this stage, `[V, out_stride, H, W]`, and its gradient.
    output: wgpu::Buffer,
    grad: wgpu::Buffer,
    resample: Dispatch1,
    conv: Dispatch3,
    leaky_backward: Option<Dispatch1>,
    weight_grad: Dispatch3,
    reduce_weights: Dispatch1,
    reduce_biases: Dispatch1,
    /// Gradient to the padded input and through the resampling into the previous stage's
    /// output (none for the first stage, whose input is the fixed code).
    input_grad: Option<(Dispatch3, Dispatch1)>,
}

/// The decoders of one or more views of one size, batched (the view is the batch dimension),
/// on kiln's kernels. See the module docs.
pub struct GpuDecoder {
    /// The architecture; `config.view` is the first view of the batch.
    pub config: DecoderConfig,
    views: Vec<usize>,
    ctx: Arc<GpuContext>,
    stages: Vec<GpuStage>,
    params: wgpu::Buffer,
    grads: wgpu::Buffer,
    adam: AdamGroup,
    /// Lengths of the parameter tensors in `params`, in order.
    tensor_lengths: Vec<usize>,
}

/// Sparse rows of a dense `[rows × cols]` matrix as the resampling kernel's table:
/// `ptr[rows + 1] | column[nnz] | weight bits[nnz]`.
fn csr_table(dense: &[f32], rows: usize, cols: usize) -> Vec<u32> {
    let mut ptr = Vec::with_capacity(rows + 1);
    let (mut index, mut weight) = (Vec::new(), Vec::new());
    ptr.push(0u32);
    for r in 0..rows {
        for c in 0..cols {
            let w = dense[r * cols + c];
            if w != 0.0 {
                index.push(c as u32);
                weight.push(w.to_bits());
            }
        }
        ptr.push(index.len() as u32);
    }
    ptr.extend(index);
    ptr.extend(weight);
    ptr
}

fn transpose(dense: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0.0f32; dense.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = dense[r * cols + c];
        }
    }
    t
}

fn nnz(table: &[u32], n: usize) -> u32 {
    table[n]
}

fn u32_of(what: &str, n: usize) -> Result<u32, NnError> {
    u32::try_from(n).ok().filter(|&n| n < u32::MAX - 1024).ok_or_else(|| NnError::Shape(format!("{what}: {n} elements, more than 2^32")))
}

/// Records dispatches into an open compute pass.
type Record<'a> = Box<dyn Fn(&mut wgpu::ComputePass<'_>) + 'a>;

/// Records labelled groups of dispatches: with a timer, each group in its own timed pass (so a
/// benchmark sees the GPU time per kind of kernel, summed over stages by label); without one,
/// all in one pass named `label`.
fn record_groups(encoder: &mut wgpu::CommandEncoder, label: &str, timer: Option<&mut GpuTimer>, groups: &[(&str, Record<'_>)]) {
    match timer {
        Some(timer) => {
            for (name, record) in groups {
                let mut pass = GpuContext::begin_pass(encoder, name, Some(&mut *timer));
                record(&mut pass);
            }
        }
        None => {
            let mut pass = GpuContext::begin_pass(encoder, label, None);
            for (_, record) in groups {
                record(&mut pass);
            }
        }
    }
}

fn tiles(n: usize) -> u32 {
    n.div_ceil(TILE) as u32
}

impl GpuDecoder {
    /// The decoders of `views` (indices below `config.views`) with the initial weights
    /// [`crate::ConvDecoder::for_views`] draws. `band_pixels` (pixels per band of the weight
    /// gradient) is [`BAND_PIXELS`] unless a test asks for more bands.
    pub fn for_views(ctx: &Arc<GpuContext>, config: DecoderConfig, views: &[usize]) -> Result<Self, NnError> {
        Self::with_bands(ctx, config, views, BAND_PIXELS)
    }

    /// The largest single buffer binding (bytes) the decoders of `views` views batched together
    /// need: a stage's padded input, activation, or weight-gradient bands, each proportional to
    /// the batch. A caller splits a batch whose need passes the adapter's binding limit (e.g.
    /// fern's three full-size views need 138 MB in one padded input; lavapipe and many
    /// integrated GPUs bind at most 128 MiB).
    pub fn largest_binding(config: &DecoderConfig, views: usize) -> u64 {
        let specs = config.stages();
        let bands = |s: &StageSpec| (s.size[0] * s.size[1]).div_ceil(BAND_PIXELS);
        let largest_stage = specs
            .iter()
            .map(|s| {
                let (hp, wp) = s.padded_size();
                let activation = (s.cout + if s.coords { 2 } else { 0 }) * s.size[0] * s.size[1];
                let bands_w = bands(s) * s.cout * s.cin * s.kernel * s.kernel;
                (s.cin * hp * wp).max(activation).max(bands_w)
            })
            .max()
            .unwrap_or(1);
        // The parameters, their gradients and each AdamW moment are one buffer apiece.
        let parameters: usize = specs.iter().map(|s| s.cout * (s.cin * s.kernel * s.kernel + 1)).sum();
        largest_stage.max(parameters) as u64 * views as u64 * 4
    }

    pub fn with_bands(ctx: &Arc<GpuContext>, config: DecoderConfig, views: &[usize], band_pixels: usize) -> Result<Self, NnError> {
        let config = config.for_batch(views)?;
        let nv = views.len();
        let specs = config.stages();
        let (weights, biases) = config.initial_parameters(views)?;
        let tensor_lengths: Vec<usize> = weights.iter().chain(&biases).map(Vec::len).collect();
        let total: usize = tensor_lengths.iter().sum();
        let flat: Vec<f32> = weights.iter().chain(&biases).flatten().copied().collect();
        let mut conv = std::collections::BTreeMap::new();
        for width in [16usize, 32, 64] {
            let d = [("BN", width.to_string())];
            conv.insert(width, ConvKernels {
                forward: Kernel::new(ctx, "decoder_conv.wgsl", "main", &d)?,
                input_grad: Kernel::new(ctx, "decoder_conv_data.wgsl", "main", &d)?,
                weight_grad: Kernel::new(ctx, "decoder_conv_weight.wgsl", "main", &d)?,
            });
        }
        let kernels = Kernels {
            resample: Kernel::new(ctx, "decoder_resample.wgsl", "main", &[])?,
            leaky_backward: Kernel::new(ctx, "decoder_leaky_backward.wgsl", "main", &[])?,
            reduce: Kernel::new(ctx, "decoder_reduce.wgsl", "main", &[])?,
            conv,
        };
        let params = ctx.upload("decoder parameters", &flat);
        let grads = ctx.zeroed("decoder gradients", total as u64 * 4);
        let adam = AdamGroup::new(ctx, "decoder", u32_of("decoder parameters", total)?, 1, AdamConfig { eps: 1e-8, weight_decay: 0.01, ..Default::default() })?;

        // Scratch shared by the stages (recorded one after the other): the gradient at the
        // padded input and the weight gradients' bands.
        let band_pixels = band_pixels.max(1);
        let bands = |s: &StageSpec| (s.size[0] * s.size[1]).div_ceil(band_pixels);
        let padded_len = |s: &StageSpec| { let (hp, wp) = s.padded_size(); nv * s.cin * hp * wp };
        let max_padded = specs.iter().map(padded_len).max().unwrap_or(1);
        let max_part_w = specs.iter().map(|s| nv * bands(s) * s.cout * s.cin * s.kernel * s.kernel).max().unwrap_or(1);
        let max_part_b = specs.iter().map(|s| nv * bands(s) * s.cout).max().unwrap_or(1);
        for (what, len) in [("decoder padded input", max_padded), ("decoder weight-gradient bands", max_part_w)] {
            ctx.check_binding(what, len as u64 * 4)?;
        }
        let d_padded = ctx.zeroed("decoder input gradient", max_padded as u64 * 4);
        let part_w = ctx.zeroed("decoder weight-gradient bands", max_part_w as u64 * 4);
        let part_b = ctx.zeroed("decoder bias-gradient bands", max_part_b as u64 * 4);

        let code: Vec<f32> = views.iter().flat_map(|&v| DecoderConfig { view: v, ..config.clone() }.code()).collect();
        let code = ctx.upload("decoder code", &code);
        let coords = config.coordinate_grid();

        let mut stages: Vec<GpuStage> = Vec::with_capacity(specs.len());
        let mut w_off = 0usize;
        let mut b_off: usize = weights.iter().map(Vec::len).sum();
        for (i, spec) in specs.iter().enumerate() {
            let [h, w] = spec.size;
            let (hp, wp) = spec.padded_size();
            let pixels = h * w;
            let out_stride = spec.cout + if spec.coords { 2 } else { 0 };
            let out_len = nv * out_stride * pixels;
            ctx.check_binding("decoder activation", out_len as u64 * 4)?;
            ctx.check_binding("decoder padded input", padded_len(spec) as u64 * 4)?;
            // The coordinate channels are constant: written once, never overwritten (the conv
            // writes channels below `cout`).
            let mut init = vec![0.0f32; out_len];
            if spec.coords {
                for v in 0..nv {
                    let at = (v * out_stride + spec.cout) * pixels;
                    init[at..at + 2 * pixels].copy_from_slice(&coords);
                }
            }
            let output = ctx.upload("decoder activation", &init);
            let grad = ctx.zeroed("decoder activation gradient", out_len as u64 * 4);
            let padded = ctx.zeroed("decoder padded input", padded_len(spec) as u64 * 4);

            // Resampling tables: forward (upsample + pad) and adjoint.
            let rows_dense = spec.resample_matrix(0);
            let cols_dense = spec.resample_matrix(1);
            let (ph, ih, iw) = (hp, spec.prev[0], spec.prev[1]);
            let rows_fwd = csr_table(&rows_dense, ph, ih);
            let cols_fwd = csr_table(&cols_dense, wp, iw);
            let rows_adj = csr_table(&transpose(&rows_dense, ph, ih), ih, ph);
            let cols_adj = csr_table(&transpose(&cols_dense, wp, iw), iw, wp);
            let input = if i == 0 { &code } else { &stages[i - 1].output };
            let resample_total = nv * spec.cin * hp * wp;
            let params_fwd = [u32_of("resample", nv * spec.cin)?, ih as u32, iw as u32, hp as u32, wp as u32, nnz(&rows_fwd, hp), nnz(&cols_fwd, wp), u32_of("resample", resample_total)?];
            let rows_fwd = ctx.upload("decoder resample rows", &rows_fwd);
            let cols_fwd = ctx.upload("decoder resample columns", &cols_fwd);
            let resample = Dispatch1::new(ctx, &kernels.resample, &[&ctx.uniform("decoder resample", &params_fwd), input, &padded, &rows_fwd, &cols_fwd], (resample_total as u32).div_ceil(256));

            let k = spec.kernel;
            let conv_params: [u32; 12] = [spec.cin as u32, spec.cout as u32, k as u32, spec.leaky as u32, h as u32, w as u32, hp as u32, wp as u32, w_off as u32, b_off as u32, out_stride as u32, 0];
            let (out_tile, in_tile) = (channel_tile(spec.cout), channel_tile(spec.cin));
            let forward = kernels.conv(out_tile).forward.clone();
            let conv = Dispatch3 {
                bind: forward.bind(ctx, &[&ctx.uniform("decoder conv", &conv_params), &padded, &params, &output]),
                grid: [tiles(pixels), spec.cout.div_ceil(out_tile) as u32, nv as u32],
                kernel: forward,
            };
            let leaky_backward = spec.leaky.then(|| {
                let p: [u32; 4] = [nv as u32, spec.cout as u32, out_stride as u32, pixels as u32];
                Dispatch1::new(ctx, &kernels.leaky_backward, &[&ctx.uniform("decoder leaky backward", &p), &output, &grad], ((nv * spec.cout * pixels) as u32).div_ceil(256))
            });
            let nb = bands(spec);
            let wg_params: [u32; 12] = [spec.cin as u32, spec.cout as u32, k as u32, nb as u32, h as u32, w as u32, hp as u32, wp as u32, band_pixels as u32, out_stride as u32, 0, 0];
            if nv * nb > 65_535 {
                return Err(NnError::Shape(format!("{nv} views × {nb} gradient bands exceed a dispatch's 65,535 workgroups")));
            }
            let wk = kernels.conv(out_tile).weight_grad.clone();
            let weight_grad = Dispatch3 {
                bind: wk.bind(ctx, &[&ctx.uniform("decoder weight gradient", &wg_params), &grad, &padded, &part_w, &part_b]),
                grid: [spec.cout.div_ceil(out_tile) as u32, tiles(spec.cin * k * k), (nv * nb) as u32],
                kernel: wk,
            };
            let per_view_w = spec.cout * spec.cin * k * k;
            let reduce = |n: usize, off: usize, src: &wgpu::Buffer| {
                Dispatch1::new(ctx, &kernels.reduce, &[&ctx.uniform("decoder band sum", &[nv as u32, nb as u32, n as u32, off as u32]), src, &grads], ((nv * n) as u32).div_ceil(256))
            };
            let reduce_weights = reduce(per_view_w, w_off, &part_w);
            let reduce_biases = reduce(spec.cout, b_off, &part_b);
            let input_grad = if i == 0 {
                None
            } else {
                let prev = &stages[i - 1];
                let data_params: [u32; 12] = [spec.cin as u32, spec.cout as u32, k as u32, 0, h as u32, w as u32, hp as u32, wp as u32, w_off as u32, out_stride as u32, 0, 0];
                let dk = kernels.conv(in_tile).input_grad.clone();
                let data = Dispatch3 {
                    bind: dk.bind(ctx, &[&ctx.uniform("decoder input gradient", &data_params), &grad, &params, &d_padded]),
                    grid: [tiles(hp * wp), spec.cin.div_ceil(in_tile) as u32, nv as u32],
                    kernel: dk,
                };
                let back_total = nv * spec.cin * ih * iw;
                let params_adj = [(nv * spec.cin) as u32, hp as u32, wp as u32, ih as u32, iw as u32, nnz(&rows_adj, ih), nnz(&cols_adj, iw), back_total as u32];
                let rows_adj = ctx.upload("decoder resample rows (adjoint)", &rows_adj);
                let cols_adj = ctx.upload("decoder resample columns (adjoint)", &cols_adj);
                let back = Dispatch1::new(ctx, &kernels.resample, &[&ctx.uniform("decoder resample adjoint", &params_adj), &d_padded, &prev.grad, &rows_adj, &cols_adj], (back_total as u32).div_ceil(256));
                Some((data, back))
            };
            stages.push(GpuStage { spec: *spec, output, grad, resample, conv, leaky_backward, weight_grad, reduce_weights, reduce_biases, input_grad });
            w_off += nv * per_view_w;
            b_off += nv * spec.cout;
        }
        Ok(GpuDecoder { config, views: views.to_vec(), ctx: ctx.clone(), stages, params, grads, adam, tensor_lengths })
    }

    /// The views of the batch, in output order.
    pub fn views(&self) -> &[usize] {
        &self.views
    }

    /// The output buffer (`[views, out_channels, height, width]`) and its length in floats.
    pub fn output(&self) -> (&wgpu::Buffer, usize) {
        let last = self.stages.last().expect("a decoder has stages");
        (&last.output, self.views.len() * self.config.out_channels * self.config.height * self.config.width)
    }

    /// Records the forward pass (timed as `decoder forward` with a timer).
    pub fn record_forward(&self, encoder: &mut wgpu::CommandEncoder, timer: Option<&mut GpuTimer>) {
        let mut groups: Vec<(&str, Record<'_>)> = Vec::new();
        for s in &self.stages {
            groups.push(("decoder resample", Box::new(move |pass| s.resample.record(pass))));
            groups.push(("decoder conv", Box::new(move |pass| s.conv.record(pass))));
        }
        record_groups(encoder, "decoder forward", timer, &groups);
    }

    /// Runs the forward and reads the output back (`[view][channel][y][x]`).
    pub fn forward_host(&self) -> Result<Vec<f32>, NnError> {
        Ok(Self::forward_many(&[self], None)?.pop().unwrap_or_default())
    }

    /// Runs the forwards of several decoders in one submission and reads their outputs back
    /// with one wait (timed as `decoder forward` with a timer).
    pub fn forward_many(decoders: &[&GpuDecoder], mut timer: Option<&mut GpuTimer>) -> Result<Vec<Vec<f32>>, NnError> {
        let Some(first) = decoders.first() else { return Ok(Vec::new()) };
        let ctx = &first.ctx;
        let mut encoder = ctx.encoder("decoder forward");
        for d in decoders {
            d.record_forward(&mut encoder, timer.as_deref_mut());
        }
        ctx.submit(encoder);
        let outputs: Vec<(&wgpu::Buffer, usize)> = decoders.iter().map(|d| d.output()).collect();
        Ok(ctx.read_many::<f32>(&outputs)?)
    }

    fn check_grad(&self, grad_output: &[f32]) -> Result<(), NnError> {
        let n = self.output().1;
        if grad_output.len() != n {
            return Err(NnError::Shape(format!("gradient has {} values for an output of {n}", grad_output.len())));
        }
        Ok(())
    }

    /// Records the backward from dL/d(output) = `grad_output` (uploaded now; the forward must
    /// have run on the current parameters) into the gradient buffer, then one AdamW step at
    /// `lr` when given (timed as `decoder backward` and `adam decoder`).
    pub fn record_backward(&mut self, encoder: &mut wgpu::CommandEncoder, grad_output: &[f32], lr: Option<f32>, timer: Option<&mut GpuTimer>) -> Result<(), NnError> {
        self.check_grad(grad_output)?;
        self.ctx.queue.write_buffer(self.output_grad(), 0, bytemuck::cast_slice(grad_output));
        self.record_backward_on_device(encoder, lr, timer)
    }

    /// The buffer of dL/d(output) (`[views, out_channels, height, width]`), for kernels that
    /// write the upstream gradient on the device before [`Self::record_backward_on_device`].
    pub fn output_grad(&self) -> &wgpu::Buffer {
        &self.stages.last().expect("a decoder has stages").grad
    }

    /// [`Self::record_backward`] from the gradient already in [`Self::output_grad`] (recorded
    /// before this in the same or an earlier submission).
    pub fn record_backward_on_device(&mut self, encoder: &mut wgpu::CommandEncoder, lr: Option<f32>, mut timer: Option<&mut GpuTimer>) -> Result<(), NnError> {
        {
            let mut groups: Vec<(&str, Record<'_>)> = Vec::new();
            for s in self.stages.iter().rev() {
                if let Some(d) = &s.leaky_backward {
                    groups.push(("decoder leaky backward", Box::new(move |pass| d.record(pass))));
                }
                groups.push((
                    "decoder weight gradient",
                    Box::new(move |pass| {
                        s.weight_grad.record(pass);
                        s.reduce_weights.record(pass);
                        s.reduce_biases.record(pass);
                    }),
                ));
                if let Some((data, back)) = &s.input_grad {
                    groups.push((
                        "decoder input gradient",
                        Box::new(move |pass| {
                            data.record(pass);
                            back.record(pass);
                        }),
                    ));
                }
            }
            record_groups(encoder, "decoder backward", timer.as_deref_mut(), &groups);
        }
        if let Some(lr) = lr {
            self.adam.encode_step(&self.ctx, encoder, &self.params, &self.grads, lr, timer)?;
        }
        Ok(())
    }

    /// Parameter gradients for dL/d(output) = `grad_output`, in [`Self::parameters_host`]
    /// order (runs the forward first, so the activations are current).
    pub fn gradients(&mut self, grad_output: &[f32]) -> Result<Vec<Vec<f32>>, NnError> {
        self.check_grad(grad_output)?;
        let mut encoder = self.ctx.encoder("decoder gradients");
        self.record_forward(&mut encoder, None);
        self.record_backward(&mut encoder, grad_output, None, None)?;
        self.ctx.submit(encoder);
        let flat = self.ctx.read::<f32>(&self.grads, self.tensor_lengths.iter().sum())?;
        Ok(self.split(flat))
    }

    /// Backward from `grad_output` (for the output of the last forward) and one AdamW step at
    /// `lr`; submitted, not waited for.
    pub fn step(&mut self, grad_output: &[f32], lr: f64) -> Result<(), NnError> {
        self.step_timed(grad_output, lr, None)
    }

    /// [`Self::step`], its passes timed into `timer`.
    pub fn step_timed(&mut self, grad_output: &[f32], lr: f64, timer: Option<&mut GpuTimer>) -> Result<(), NnError> {
        let mut encoder = self.ctx.encoder("decoder step");
        self.record_backward(&mut encoder, grad_output, Some(lr as f32), timer)?;
        self.ctx.submit(encoder);
        Ok(())
    }

    /// Waits until the device has run everything queued.
    pub fn sync(&self) -> Result<(), NnError> {
        Ok(self.ctx.wait()?)
    }

    fn split(&self, flat: Vec<f32>) -> Vec<Vec<f32>> {
        let mut at = 0;
        self.tensor_lengths.iter().map(|&n| { at += n; flat[at - n..at].to_vec() }).collect()
    }

    /// Every parameter on the host: the stage weights, then the stage biases (the order and
    /// sizes of [`crate::ConvDecoder::parameters_host`]).
    pub fn parameters_host(&self) -> Result<Vec<Vec<f32>>, NnError> {
        let flat = self.ctx.read::<f32>(&self.params, self.tensor_lengths.iter().sum())?;
        Ok(self.split(flat))
    }

    /// Replaces the parameters (same order and sizes as [`Self::parameters_host`]); the
    /// optimizer's moments are kept.
    pub fn set_parameters_host(&mut self, params: &[Vec<f32>]) -> Result<(), NnError> {
        if params.len() != self.tensor_lengths.len() {
            return Err(NnError::Shape(format!("{} parameter tensors for a decoder with {}", params.len(), self.tensor_lengths.len())));
        }
        for (i, (p, &n)) in params.iter().zip(&self.tensor_lengths).enumerate() {
            if p.len() != n {
                return Err(NnError::Shape(format!("parameter {i}: {} values for {n}", p.len())));
            }
        }
        let flat: Vec<f32> = params.iter().flatten().copied().collect();
        self.ctx.queue.write_buffer(&self.params, 0, bytemuck::cast_slice(&flat));
        Ok(())
    }

    /// Each view's parameters, as a one-view decoder's [`Self::parameters_host`] (what
    /// checkpoints store, whatever the batching).
    pub fn view_parameters_host(&self) -> Result<Vec<Vec<Vec<f32>>>, NnError> {
        Ok(split_views(self.parameters_host()?, self.views.len()))
    }

    /// Replaces each view's parameters (as [`Self::view_parameters_host`] gives them).
    pub fn set_view_parameters_host(&mut self, per_view: &[Vec<Vec<f32>>]) -> Result<(), NnError> {
        let joined = join_views(per_view, self.views.len())?;
        self.set_parameters_host(&joined)
    }

    /// The AdamW state per view, laid out as [`Self::view_parameters_host`] (what checkpoints
    /// store, so that a resumed run takes the steps the uninterrupted one would).
    pub fn view_optimizer_host(&self) -> Result<OptimizerState, NnError> {
        let snap = self.adam.snapshot(&self.ctx)?;
        let views = self.views.len();
        Ok(OptimizerState { step: snap.step, exp_avg: split_views(self.split(snap.exp_avg), views), exp_avg_sq: split_views(self.split(snap.exp_avg_sq), views) })
    }

    /// Replaces the AdamW state (as [`Self::view_optimizer_host`] gives it).
    pub fn set_view_optimizer_host(&mut self, state: &OptimizerState) -> Result<(), NnError> {
        let flat = |per_view: &[Vec<Vec<f32>>]| -> Result<Vec<f32>, NnError> {
            let joined = join_views(per_view, self.views.len())?;
            if joined.len() != self.tensor_lengths.len() || joined.iter().zip(&self.tensor_lengths).any(|(t, &n)| t.len() != n) {
                return Err(NnError::Shape("optimizer moments do not match the decoder's parameters".into()));
            }
            Ok(joined.concat())
        };
        let snap = AdamSnapshot { items: self.parameter_count() as u32, row: 1, step: state.step, exp_avg: flat(&state.exp_avg)?, exp_avg_sq: flat(&state.exp_avg_sq)? };
        self.adam.restore(&self.ctx, &snap)?;
        Ok(())
    }

    pub fn parameter_count(&self) -> usize {
        self.tensor_lengths.iter().sum()
    }

    /// The stages' shapes, first to last.
    pub fn stage_specs(&self) -> Vec<StageSpec> {
        self.stages.iter().map(|s| s.spec).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `largest_binding` is exactly the constructor's largest buffer need: with the binding
    /// limit set to it, a batch of two views builds; one byte less, it is refused with a
    /// binding-size error, and one view still builds. Fern's full-size depth decoder (ngf 15,
    /// 5 layers) needs 138,441,600 bytes for three views (past 128 MiB) and a third of it for
    /// one.
    #[test]
    fn largest_binding_is_the_constructors_largest_buffer() {
        let mut config = DecoderConfig::new(37, 45, 2, 0, 3);
        config.out_channels = 3;
        let two = GpuDecoder::largest_binding(&config, 2);
        assert_eq!(two, 2 * GpuDecoder::largest_binding(&config, 1));
        let mut ctx = GpuContext::new().unwrap();
        ctx.limits.max_storage_buffer_binding_size = two;
        let ctx = Arc::new(ctx);
        if let Err(e) = GpuDecoder::for_views(&ctx, config.clone(), &[0, 1]) {
            panic!("at the limit ({two} bytes): {e}");
        }
        let mut tight = GpuContext::new().unwrap();
        tight.limits.max_storage_buffer_binding_size = two - 1;
        let tight = Arc::new(tight);
        match GpuDecoder::for_views(&tight, config.clone(), &[0, 1]) {
            Err(e) => assert!(e.to_string().contains("limit"), "{e}"),
            Ok(_) => panic!("a batch past the binding limit was built"),
        }
        assert!(GpuDecoder::for_views(&tight, config, &[1]).is_ok(), "one view fits");

        let mut fern = DecoderConfig::new(378, 504, 15, 0, 3);
        fern.out_channels = 5;
        assert_eq!(GpuDecoder::largest_binding(&fern, 3), 138_441_600);
        assert!(GpuDecoder::largest_binding(&fern, 1) < 128 << 20);
    }

    #[test]
    fn csr_tables_keep_the_nonzeros_in_row_order() {
        let dense = [0.0, 0.5, 0.5, 1.0, 0.0, 0.0];
        let t = csr_table(&dense, 2, 3);
        assert_eq!(&t[..3], &[0, 2, 3]);
        assert_eq!(&t[3..6], &[1, 2, 0]);
        assert_eq!(t[6..].iter().map(|&b| f32::from_bits(b)).collect::<Vec<_>>(), vec![0.5, 0.5, 1.0]);
        assert_eq!(transpose(&dense, 2, 3), vec![0.0, 1.0, 0.5, 0.0, 0.5, 0.0]);
    }
}
