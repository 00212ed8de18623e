//! Exclusive prefix sum of u32 on the GPU ([`PrefixScan`]).
//!
//! Reduce-then-scan over a hierarchy of levels: each level's blocks (`workgroup_size ×
//! elements_per_thread` elements, 2,048 by default) are summed into the next level until one
//! block remains; that block is scanned by one workgroup (which also writes the total), then
//! each level is scanned block by block with its block's offset added, top down. No
//! inter-workgroup communication within a dispatch, so nothing depends on forward progress.
//! Sizes: 1 level up to 2,048 elements, 2 up to 4M, 3 up to 8G.

use crate::steps::{self, Dispatch, Records, Step};
use crate::{GpuContext, GpuError, GpuTimer, Kernel};
use std::sync::Mutex;

/// Work decomposition of the scan kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ScanConfig {
    /// Threads per workgroup: a power of two, 32 to 1024.
    pub workgroup_size: u32,
    /// Elements each thread handles; a workgroup covers `workgroup_size × elements_per_thread`.
    pub elements_per_thread: u32,
}

impl Default for ScanConfig {
    fn default() -> Self {
        ScanConfig { workgroup_size: 256, elements_per_thread: 8 }
    }
}

impl ScanConfig {
    /// Elements per workgroup.
    pub fn block(&self) -> u32 {
        self.workgroup_size * self.elements_per_thread
    }

    fn validate(&self) -> Result<(), GpuError> {
        let ok = self.workgroup_size.is_power_of_two()
            && (32..=1024).contains(&self.workgroup_size)
            && (1..=32).contains(&self.elements_per_thread);
        if ok {
            Ok(())
        } else {
            Err(GpuError::Runtime(format!("invalid scan configuration {self:?}")))
        }
    }
}

/// One dispatch's parameters; mirrors `Params` in scan.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
struct ScanParams {
    n: u32,
    src_base: u32,
    dst_base: u32,
    off_base: u32,
    total_index: u32,
    _pad: [u32; 3],
}

const NONE: u32 = u32::MAX;

/// Exclusive prefix sum of u32 (wrapping): `out[i] = Σ_{j<i} in[j]`, plus the total.
///
/// Recorded into the caller's encoder; nothing waits on the GPU. Input and output may be the same
/// buffer (in-place scan), and the total may go into either of them (e.g. `out[count]`).
/// The partial sums live in a scratch buffer owned by the scan (grown on demand); calls recorded
/// one after another into the same encoder are ordered by the GPU, so they may share it.
pub struct PrefixScan {
    config: ScanConfig,
    reduce: Kernel,
    scan_add: Kernel,
    scratch: Mutex<Option<wgpu::Buffer>>,
    /// Compute-pass label (and timer stage prefix); "scan" by default.
    pub label: String,
}

impl PrefixScan {
    pub fn new(ctx: &GpuContext) -> Result<PrefixScan, GpuError> {
        Self::with_config(ctx, ScanConfig::default())
    }

    /// A scan with a non-default work decomposition (tests use small blocks to reach large
    /// workgroup counts cheaply).
    pub fn with_config(ctx: &GpuContext, config: ScanConfig) -> Result<PrefixScan, GpuError> {
        config.validate()?;
        let block = config.block();
        let defines = |which: &'static str| {
            vec![
                (which, String::new()),
                ("WG", config.workgroup_size.to_string()),
                ("KPT", config.elements_per_thread.to_string()),
                ("SH_SIZE", (block + block / 32).to_string()),
            ]
        };
        Ok(PrefixScan {
            config,
            reduce: Kernel::new(ctx, "scan.wgsl", "reduce", &defines("REDUCE"))?,
            scan_add: Kernel::new(ctx, "scan.wgsl", "scan_add", &defines("SCAN_ADD"))?,
            scratch: Mutex::new(None),
            label: "scan".into(),
        })
    }

    pub fn config(&self) -> ScanConfig {
        self.config
    }

    /// Level sizes of a scan of `count` elements: `[count, blocks of count, …]` down to one block.
    fn levels(&self, count: u32) -> Vec<u32> {
        let block = self.config.block();
        let mut levels = vec![count];
        while *levels.last().unwrap() > block {
            levels.push(levels.last().unwrap().div_ceil(block));
        }
        levels
    }

    /// u32 elements of scratch (partial sums) a scan of `count` elements needs.
    pub fn scratch_len(&self, count: u32) -> u64 {
        self.levels(count)[1..].iter().map(|&n| n as u64).sum()
    }

    /// The dispatches of one scan. `partials` must hold [`PrefixScan::scratch_len`] u32.
    /// All kernels run under the stage name `stage`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn steps(
        &self,
        ctx: &GpuContext,
        stage: &'static str,
        input: &wgpu::Buffer,
        output: &wgpu::Buffer,
        count: u32,
        partials: &wgpu::Buffer,
        total: &wgpu::Buffer,
        total_index: u32,
    ) -> Vec<Step> {
        let block = self.config.block();
        let levels = self.levels(count);
        let top = levels.len() - 1;
        // Base of level i ≥ 1 in `partials`.
        let mut base = vec![0u32; levels.len()];
        for i in 2..levels.len() {
            base[i] = base[i - 1] + levels[i - 1];
        }
        // Buffer and base holding level i's input and output.
        let src = |i: usize| if i == 0 { (input, 0) } else { (partials, base[i]) };
        let dst = |i: usize| if i == 0 { (output, 0) } else { (partials, base[i]) };

        let mut params = Vec::new();
        // reduce level i → level i + 1, for i < top
        for (i, &n) in levels[..top].iter().enumerate() {
            params.push(ScanParams {
                n,
                src_base: src(i).1,
                dst_base: base[i + 1],
                off_base: NONE,
                total_index: NONE,
                _pad: [0; 3],
            });
        }
        // scan_add, top level first
        for i in (0..=top).rev() {
            params.push(ScanParams {
                n: levels[i],
                src_base: src(i).1,
                dst_base: dst(i).1,
                off_base: if i == top { NONE } else { base[i + 1] },
                total_index: if i == top { total_index } else { NONE },
                _pad: [0; 3],
            });
        }
        let records = Records::new(ctx, "scan params", &params);
        let mut steps = Vec::new();
        let mut r = 0;
        for (i, &n) in levels[..top].iter().enumerate() {
            let bind = self.reduce.bind_resources(
                ctx,
                &[records.binding(r), src(i).0.as_entire_binding(), partials.as_entire_binding()],
            );
            steps.push(Step::new(stage, &self.reduce, bind, Dispatch::Groups(n.div_ceil(block))));
            r += 1;
        }
        for i in (0..=top).rev() {
            let bind = self.scan_add.bind_resources(
                ctx,
                &[
                    records.binding(r),
                    src(i).0.as_entire_binding(),
                    dst(i).0.as_entire_binding(),
                    partials.as_entire_binding(),
                    total.as_entire_binding(),
                ],
            );
            steps.push(Step::new(stage, &self.scan_add, bind, Dispatch::Groups(levels[i].div_ceil(block).max(1))));
            r += 1;
        }
        steps
    }

    /// Records an exclusive scan of the first `count` u32 of `input` into `output`, and their sum
    /// into the first u32 of `total`. See [`PrefixScan::encode_with_offset`].
    #[allow(clippy::too_many_arguments)]
    pub fn encode(
        &self,
        ctx: &GpuContext,
        encoder: &mut wgpu::CommandEncoder,
        input: &wgpu::Buffer,
        output: &wgpu::Buffer,
        count: u32,
        total: &wgpu::Buffer,
        timer: Option<&mut GpuTimer>,
    ) -> Result<(), GpuError> {
        self.encode_with_offset(ctx, encoder, input, output, count, total, 0, timer)
    }

    /// Records an exclusive scan of the first `count` u32 of `input` into `output`, and their sum
    /// into the u32 of `total` at byte `total_offset`. Elements of `output` past `count` are left
    /// alone. With a timer, the scan is timed as one stage named [`PrefixScan::label`].
    #[allow(clippy::too_many_arguments)]
    pub fn encode_with_offset(
        &self,
        ctx: &GpuContext,
        encoder: &mut wgpu::CommandEncoder,
        input: &wgpu::Buffer,
        output: &wgpu::Buffer,
        count: u32,
        total: &wgpu::Buffer,
        total_offset: u64,
        timer: Option<&mut GpuTimer>,
    ) -> Result<(), GpuError> {
        let bytes = count as u64 * 4;
        if input.size() < bytes || output.size() < bytes {
            return Err(GpuError::Runtime(format!(
                "scan of {count} u32: input ({} bytes) or output ({} bytes) too small",
                input.size(),
                output.size()
            )));
        }
        if !total_offset.is_multiple_of(4) || total_offset + 4 > total.size() {
            return Err(GpuError::Runtime(format!(
                "scan total at byte {total_offset} does not fit a {}-byte buffer or is unaligned",
                total.size()
            )));
        }
        let need = self.scratch_len(count).max(1);
        let partials = {
            let mut guard = self.scratch.lock().unwrap();
            if guard.as_ref().is_none_or(|b| b.size() < need * 4) {
                ctx.check_binding("scan partial sums", need * 4)?;
                *guard = Some(ctx.zeroed("scan partials", need * 4));
            }
            guard.as_ref().unwrap().clone()
        };
        let steps = self.steps(ctx, "", input, output, count, &partials, total, (total_offset / 4) as u32);
        steps::record(encoder, &self.label, &steps, timer);
        Ok(())
    }

    /// Scans `data` and reads the result back (waits for the GPU): (exclusive scan, total).
    pub fn scan_host(&self, ctx: &GpuContext, data: &[u32]) -> Result<(Vec<u32>, u32), GpuError> {
        let count = u32::try_from(data.len()).map_err(|_| GpuError::Runtime("scan of more than 2^32 elements".into()))?;
        ctx.check_binding("scan input", data.len() as u64 * 4)?;
        let input = ctx.upload("scan input", data);
        let output = ctx.zeroed("scan output", data.len() as u64 * 4);
        let total = ctx.zeroed("scan total", 4);
        let mut encoder = ctx.encoder("scan");
        self.encode(ctx, &mut encoder, &input, &output, count, &total, None)?;
        ctx.submit(encoder);
        let out = ctx.read::<u32>(&output, data.len())?;
        let total = ctx.read::<u32>(&total, 1)?[0];
        Ok((out, total))
    }
}
