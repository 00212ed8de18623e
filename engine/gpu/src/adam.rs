//! Adam on the GPU, one parameter group at a time ([`AdamGroup`]).
//!
//! A group is one flat f32 parameter buffer (e.g. all Gaussian means, `items × row` floats with
//! `row = 3`) with its gradient buffer of the same layout. The group owns its moment buffers
//! (`exp_avg`, `exp_avg_sq`) and its step counter; the parameter and gradient buffers belong
//! to the caller. One step is one dispatch (`shaders/adam.wgsl`), one thread per float.
//!
//! The update is PyTorch's `torch.optim.Adam` (no amsgrad), which the 3DGS reference trains
//! with, or `torch.optim.AdamW` when [`AdamConfig::weight_decay`] is set (wd; 0 by default),
//! with t the group's step counter after the increment:
//!
//! ```text
//! g  = grad, or 0 where grad is NaN or ±Inf
//! m  = m + (1 − β1)·(g − m)
//! v  = β2·v + (1 − β2)·g²
//! p  = p·(1 − lr·wd) − (lr / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + eps)
//! ```
//!
//! Defaults β1 = 0.9, β2 = 0.999, eps = 1e-15 (3DGS). The learning rate is given per call and
//! reaches the kernel through a small uniform made per call (as are the bias corrections,
//! computed on the host in f64), so schedules need no recompilation and several steps recorded
//! into one encoder each see their own values.
//!
//! **Non-finite gradients.** A NaN or ±Inf gradient element is treated as 0: that element's
//! moments decay as for a step without signal and its parameter moves by the remaining momentum
//! only — exactly what happens to a Gaussian that no pixel saw in this view. Parameters and
//! moments therefore never become NaN through the gradient. (A finite gradient above ~1.8e19
//! overflows g² to +Inf; v then stays +Inf and that element stops moving, still without NaN.)
//!
//! **Densification.** [`AdamGroup::gather`] rebuilds the moments on the GPU from a list of
//! source rows (`GATHER_ZERO` for new rows, which start with zero moments, as in the 3DGS
//! reference); the step counter is kept, as the reference does. [`AdamGroup::resize`] keeps a
//! prefix and zero-fills appended rows. Apply the same gather to the parameter buffer with
//! [`GpuContext::gather_rows`].
//!
//! **Checkpoints.** [`AdamGroup::snapshot`] reads the moments and step back ([`AdamSnapshot`]);
//! [`AdamGroup::restore`] / [`AdamGroup::from_snapshot`] upload them.

use crate::{GpuContext, GpuError, GpuTimer, Kernel, GATHER_ZERO};

/// Adam's hyper-parameters (the learning rate is given per step).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamConfig {
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    /// Threads per workgroup of the update kernel (a power of two, 32 to 1024). Tests use small
    /// workgroups to reach more than 65,535 workgroups cheaply.
    pub workgroup_size: u32,
    /// Decoupled weight decay (PyTorch's `AdamW`): before the update, p ← p·(1 − lr·wd).
    /// 0 is plain Adam.
    pub weight_decay: f32,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig { beta1: 0.9, beta2: 0.999, eps: 1e-15, workgroup_size: 256, weight_decay: 0.0 }
    }
}

/// The per-step constants, mirrored by `Params` in adam.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct AdamStepParams {
    pub n: u32,
    pub _pad: [u32; 3],
    pub beta1: f32,
    pub one_minus_beta1: f32,
    pub beta2: f32,
    pub one_minus_beta2: f32,
    /// lr / (1 − β1ᵗ).
    pub step_size: f32,
    /// √(1 − β2ᵗ).
    pub bias_correction2_sqrt: f32,
    pub eps: f32,
    /// 1 − lr·weight_decay: the factor the parameter is scaled by before the update.
    pub decay: f32,
}

impl AdamStepParams {
    /// The constants of step `t` (1-based, after the increment) at learning rate `lr` for `n`
    /// floats; bias corrections in f64, rounded once.
    pub fn new(config: &AdamConfig, t: u64, lr: f32, n: u32) -> AdamStepParams {
        let t = t.max(1) as f64;
        let (b1, b2) = (config.beta1 as f64, config.beta2 as f64);
        let bc1 = 1.0 - b1.powf(t);
        let bc2 = 1.0 - b2.powf(t);
        AdamStepParams {
            n,
            _pad: [0; 3],
            beta1: config.beta1,
            one_minus_beta1: (1.0 - b1) as f32,
            beta2: config.beta2,
            one_minus_beta2: (1.0 - b2) as f32,
            step_size: (lr as f64 / bc1) as f32,
            bias_correction2_sqrt: bc2.sqrt() as f32,
            eps: config.eps,
            decay: (1.0 - lr as f64 * config.weight_decay as f64) as f32,
        }
    }
}

/// The CPU reference of one Adam step on one group, in f32 with the kernel's operation order
/// (`t` is the step number after the increment, starting at 1). Non-finite gradients count as 0.
pub fn adam_step_cpu(config: &AdamConfig, t: u64, lr: f32, param: &mut [f32], grad: &[f32], exp_avg: &mut [f32], exp_avg_sq: &mut [f32]) {
    let n = param.len();
    assert!(grad.len() >= n && exp_avg.len() >= n && exp_avg_sq.len() >= n, "adam_step_cpu: buffer lengths");
    let k = AdamStepParams::new(config, t, lr, n as u32);
    for i in 0..n {
        let g = if grad[i].is_finite() { grad[i] } else { 0.0 };
        let m0 = exp_avg[i];
        let m = m0 + k.one_minus_beta1 * (g - m0);
        let v = k.beta2 * exp_avg_sq[i] + k.one_minus_beta2 * (g * g);
        exp_avg[i] = m;
        exp_avg_sq[i] = v;
        let denom = v.sqrt() / k.bias_correction2_sqrt + k.eps;
        param[i] = param[i] * k.decay - k.step_size * (m / denom);
    }
}

/// A group's optimizer state on the host (checkpoints).
#[derive(Clone, Debug, PartialEq)]
pub struct AdamSnapshot {
    pub items: u32,
    pub row: u32,
    pub step: u64,
    pub exp_avg: Vec<f32>,
    pub exp_avg_sq: Vec<f32>,
}

/// Adam state of one parameter group: `items` rows of `row` f32 (len = items × row), the two
/// moment buffers and the step counter. See the module docs for the update and the NaN rule.
pub struct AdamGroup {
    /// Names the buffers, the compute pass and the timer stage (`adam <label>`).
    pub label: String,
    config: AdamConfig,
    kernel: Kernel,
    items: u32,
    row: u32,
    step: u64,
    exp_avg: wgpu::Buffer,
    exp_avg_sq: wgpu::Buffer,
}

fn elems(items: u32, row: u32) -> Result<u32, GpuError> {
    let n = items as u64 * row as u64;
    u32::try_from(n)
        .ok()
        .filter(|&n| n <= u32::MAX - 1024)
        .ok_or_else(|| GpuError::Runtime(format!("Adam group of {items} × {row} floats: more than 2^32 elements")))
}

impl AdamGroup {
    /// Zero moments for `items` rows of `row` floats, step 0.
    pub fn new(ctx: &GpuContext, label: &str, items: u32, row: u32, config: AdamConfig) -> Result<AdamGroup, GpuError> {
        let wg = config.workgroup_size;
        if !wg.is_power_of_two() || !(32..=1024).contains(&wg) {
            return Err(GpuError::Runtime(format!("Adam workgroup size {wg}: not a power of two in 32..=1024")));
        }
        if row == 0 {
            return Err(GpuError::Runtime(format!("Adam group {label}: row of 0 floats")));
        }
        let n = elems(items, row)? as u64;
        ctx.check_binding(&format!("Adam moments of {label}"), n * 4)?;
        let kernel = Kernel::new(ctx, "adam.wgsl", "main", &[("WG", wg.to_string())])?;
        Ok(AdamGroup {
            label: label.to_string(),
            config,
            kernel,
            items,
            row,
            step: 0,
            exp_avg: ctx.zeroed(&format!("{label} exp_avg"), n * 4),
            exp_avg_sq: ctx.zeroed(&format!("{label} exp_avg_sq"), n * 4),
        })
    }

    /// A group holding a snapshot's moments and step.
    pub fn from_snapshot(ctx: &GpuContext, label: &str, snapshot: &AdamSnapshot, config: AdamConfig) -> Result<AdamGroup, GpuError> {
        let mut g = AdamGroup::new(ctx, label, 0, snapshot.row.max(1), config)?;
        g.restore(ctx, snapshot)?;
        Ok(g)
    }

    pub fn config(&self) -> &AdamConfig {
        &self.config
    }
    /// Rows (e.g. Gaussians).
    pub fn items(&self) -> u32 {
        self.items
    }
    /// Floats per row.
    pub fn row(&self) -> u32 {
        self.row
    }
    /// Floats in the group (items × row).
    pub fn len(&self) -> u32 {
        self.items * self.row
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Steps taken so far (0 before the first).
    pub fn step(&self) -> u64 {
        self.step
    }
    pub fn set_step(&mut self, step: u64) {
        self.step = step;
    }
    pub fn exp_avg(&self) -> &wgpu::Buffer {
        &self.exp_avg
    }
    pub fn exp_avg_sq(&self) -> &wgpu::Buffer {
        &self.exp_avg_sq
    }

    fn check(&self, param: &wgpu::Buffer, grad: &wgpu::Buffer) -> Result<(), GpuError> {
        let bytes = self.len() as u64 * 4;
        if param.size() < bytes || grad.size() < bytes {
            return Err(GpuError::Runtime(format!(
                "Adam group {}: {} floats, but param holds {} bytes and grad {} bytes",
                self.label,
                self.len(),
                param.size(),
                grad.size()
            )));
        }
        Ok(())
    }

    /// Records one step (learning rate `lr`) into an open compute pass: one dispatch. Increments
    /// the step counter. `param` and `grad` hold at least [`AdamGroup::len`] floats.
    pub fn record_step(&mut self, ctx: &GpuContext, pass: &mut wgpu::ComputePass<'_>, param: &wgpu::Buffer, grad: &wgpu::Buffer, lr: f32) -> Result<(), GpuError> {
        self.check(param, grad)?;
        self.step += 1;
        let n = self.len();
        if n == 0 {
            return Ok(());
        }
        let params = AdamStepParams::new(&self.config, self.step, lr, n);
        let uniform = ctx.uniform("adam params", &params);
        let bind = self.kernel.bind(ctx, &[&uniform, param, grad, &self.exp_avg, &self.exp_avg_sq]);
        self.kernel.dispatch(pass, &bind, n.div_ceil(self.config.workgroup_size));
        Ok(())
    }

    /// Records one step in its own compute pass (timed as `adam <label>` with a timer).
    pub fn encode_step(
        &mut self,
        ctx: &GpuContext,
        encoder: &mut wgpu::CommandEncoder,
        param: &wgpu::Buffer,
        grad: &wgpu::Buffer,
        lr: f32,
        timer: Option<&mut GpuTimer>,
    ) -> Result<(), GpuError> {
        self.check(param, grad)?;
        let stage = format!("adam {}", self.label);
        let mut pass = GpuContext::begin_pass(encoder, &stage, timer);
        self.record_step(ctx, &mut pass, param, grad, lr)
    }

    /// Records a rebuild of the moments as `new[i] = old[indices[i]]` (rows) for `new_items`
    /// rows; [`GATHER_ZERO`] gives a zero row (a new Gaussian). Compaction after pruning,
    /// clones, and appended splits are all one gather. The step counter is kept.
    /// `indices` holds `new_items` u32 on the GPU.
    pub fn gather(&mut self, ctx: &GpuContext, encoder: &mut wgpu::CommandEncoder, indices: &wgpu::Buffer, new_items: u32) -> Result<(), GpuError> {
        let n = elems(new_items, self.row)? as u64;
        ctx.check_binding(&format!("Adam moments of {}", self.label), n * 4)?;
        let m = ctx.zeroed(&format!("{} exp_avg", self.label), n * 4);
        let v = ctx.zeroed(&format!("{} exp_avg_sq", self.label), n * 4);
        ctx.gather_rows(encoder, &self.exp_avg, self.items, indices, &m, new_items, self.row)?;
        ctx.gather_rows(encoder, &self.exp_avg_sq, self.items, indices, &v, new_items, self.row)?;
        self.exp_avg = m;
        self.exp_avg_sq = v;
        self.items = new_items;
        Ok(())
    }

    /// [`AdamGroup::gather`] from host indices (uploads them).
    pub fn gather_host(&mut self, ctx: &GpuContext, encoder: &mut wgpu::CommandEncoder, indices: &[u32]) -> Result<(), GpuError> {
        let count = u32::try_from(indices.len()).map_err(|_| GpuError::Runtime("gather of more than 2^32 rows".into()))?;
        let buf = ctx.upload("adam gather indices", indices);
        self.gather(ctx, encoder, &buf, count)
    }

    /// Records a resize to `new_items` rows: the first min(old, new) rows are kept, appended
    /// rows get zero moments (buffer copies, no kernel). The step counter is kept.
    pub fn resize(&mut self, ctx: &GpuContext, encoder: &mut wgpu::CommandEncoder, new_items: u32) -> Result<(), GpuError> {
        let n = elems(new_items, self.row)? as u64;
        ctx.check_binding(&format!("Adam moments of {}", self.label), n * 4)?;
        let keep = self.items.min(new_items) as u64 * self.row as u64 * 4;
        let m = ctx.zeroed(&format!("{} exp_avg", self.label), n * 4);
        let v = ctx.zeroed(&format!("{} exp_avg_sq", self.label), n * 4);
        if keep > 0 {
            encoder.copy_buffer_to_buffer(&self.exp_avg, 0, &m, 0, keep);
            encoder.copy_buffer_to_buffer(&self.exp_avg_sq, 0, &v, 0, keep);
        }
        self.exp_avg = m;
        self.exp_avg_sq = v;
        self.items = new_items;
        Ok(())
    }

    /// Reads the moments and step back (waits for the GPU; submit pending work first).
    pub fn snapshot(&self, ctx: &GpuContext) -> Result<AdamSnapshot, GpuError> {
        let n = self.len() as usize;
        Ok(AdamSnapshot {
            items: self.items,
            row: self.row,
            step: self.step,
            exp_avg: ctx.read(&self.exp_avg, n)?,
            exp_avg_sq: ctx.read(&self.exp_avg_sq, n)?,
        })
    }

    /// Replaces the state with a snapshot's (size, moments, step).
    pub fn restore(&mut self, ctx: &GpuContext, snapshot: &AdamSnapshot) -> Result<(), GpuError> {
        let n = elems(snapshot.items, snapshot.row)? as usize;
        if snapshot.row == 0 || snapshot.exp_avg.len() != n || snapshot.exp_avg_sq.len() != n {
            return Err(GpuError::Runtime(format!(
                "Adam snapshot of {} × {} floats holds {} and {} moments",
                snapshot.items,
                snapshot.row,
                snapshot.exp_avg.len(),
                snapshot.exp_avg_sq.len()
            )));
        }
        ctx.check_binding(&format!("Adam moments of {}", self.label), n as u64 * 4)?;
        self.exp_avg = ctx.upload(&format!("{} exp_avg", self.label), &snapshot.exp_avg);
        self.exp_avg_sq = ctx.upload(&format!("{} exp_avg_sq", self.label), &snapshot.exp_avg_sq);
        self.items = snapshot.items;
        self.row = snapshot.row;
        self.step = snapshot.step;
        Ok(())
    }
}

/// Host gather matching [`GpuContext::gather_rows`] (tests, CPU paths).
pub fn gather_rows_cpu(src: &[f32], row: usize, indices: &[u32]) -> Vec<f32> {
    let rows = src.len() / row.max(1);
    let mut out = vec![0.0f32; indices.len() * row];
    for (i, &s) in indices.iter().enumerate() {
        if s != GATHER_ZERO && (s as usize) < rows {
            out[i * row..(i + 1) * row].copy_from_slice(&src[s as usize * row..(s as usize + 1) * row]);
        }
    }
    out
}
