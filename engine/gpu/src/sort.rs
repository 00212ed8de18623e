//! Stable key–value LSD radix sort of u32 keys on the GPU ([`RadixSort`]).
//!
//! Reduce-then-scan with 4-bit digits, one pass per digit (`ceil(key_bits / 4)` passes):
//! 1. **count**: each workgroup (256 threads × 8 keys = 2,048 keys by default) histograms its
//!    block's digits into `hist[digit][block]`;
//! 2. **scan**: an exclusive [`PrefixScan`] of `hist` (digit-major), giving each (digit, block)
//!    its first output position;
//! 3. **scatter**: each workgroup ranks its keys by digit, stably (per-thread packed 16-bit
//!    digit counters and one workgroup scan), reorders keys and values through workgroup memory
//!    and writes them out in runs of one digit.
//!
//! No workgroup waits for another within a dispatch (no decoupled look-back), so the sort needs
//! no forward-progress guarantee. Keys and values ping-pong between the caller's buffers and
//! scratch buffers; the result always ends in the caller's buffers (an odd pass count adds a
//! copy).
//!
//! The count may live on the GPU ([`SortCount::Gpu`]): it is copied into the scratch, clamped
//! to the capacity, and a one-thread kernel writes the workgroup counts for indirect dispatch,
//! so no read-back is needed. The histogram then has one column per block of the capacity
//! (blocks past the real count stay zero), which the scan covers at little cost (16 u32 per
//! 2,048 keys of capacity).

use crate::scan::{PrefixScan, ScanConfig};
use crate::steps::{self, Dispatch, Records, Step};
use crate::{GpuContext, GpuError, GpuTimer, Kernel};
use std::sync::Mutex;

/// Bits per digit (one pass each).
pub const DIGIT_BITS: u32 = 4;
const RADIX: u32 = 1 << DIGIT_BITS;

/// How many elements to sort.
#[derive(Clone, Copy, Debug)]
pub enum SortCount<'a> {
    /// Known on the host.
    Host(u32),
    /// The u32 at byte `offset` of `buffer` (written by earlier GPU work in the same or an
    /// earlier submission; `buffer` needs `COPY_SRC` usage, `offset` a multiple of 4). Values
    /// above `max` are clamped to `max`; keys/values buffers and scratch are sized for `max`.
    Gpu { buffer: &'a wgpu::Buffer, offset: u64, max: u32 },
}

impl From<u32> for SortCount<'_> {
    fn from(n: u32) -> Self {
        SortCount::Host(n)
    }
}

impl SortCount<'_> {
    /// The most elements this count can stand for.
    pub fn capacity(&self) -> u32 {
        match *self {
            SortCount::Host(n) => n,
            SortCount::Gpu { max, .. } => max,
        }
    }
}

/// Work decomposition of the sort kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SortConfig {
    /// Threads per workgroup: a power of two, 32 to 1024.
    pub workgroup_size: u32,
    /// Keys each thread handles; a workgroup sorts `workgroup_size × keys_per_thread` keys
    /// (at most 32,768).
    pub keys_per_thread: u32,
}

impl Default for SortConfig {
    fn default() -> Self {
        SortConfig { workgroup_size: 256, keys_per_thread: 8 }
    }
}

impl SortConfig {
    /// Keys per workgroup.
    pub fn block(&self) -> u32 {
        self.workgroup_size * self.keys_per_thread
    }

    fn validate(&self) -> Result<(), GpuError> {
        let ok = self.workgroup_size.is_power_of_two()
            && (32..=1024).contains(&self.workgroup_size)
            && (1..=32).contains(&self.keys_per_thread)
            && self.block() <= 32_768;
        if ok {
            Ok(())
        } else {
            Err(GpuError::Runtime(format!("invalid sort configuration {self:?}")))
        }
    }
}

/// One digit pass's parameters; mirrors `Params` in radix_sort.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
struct SortParams {
    shift: u32,
    mask: u32,
    stride: u32,
    max_count: u32,
}

/// Scratch memory of a [`RadixSort`] for up to `capacity` elements: ping-pong keys and values,
/// histograms, scan partials, the count and the indirect dispatch arguments. Reuse it across
/// sorts; [`RadixSort::encode_with_scratch`] grows it when a sort needs more.
pub struct SortScratch {
    capacity: u32,
    block: u32,
    keys: wgpu::Buffer,
    values: wgpu::Buffer,
    hist: wgpu::Buffer,
    offs: wgpu::Buffer,
    partials: wgpu::Buffer,
    /// [count, scan total (unused), 0, 0]
    info: wgpu::Buffer,
    /// Indirect dispatch arguments (x, y, z) of the block kernels.
    args: wgpu::Buffer,
}

impl SortScratch {
    /// Most elements a sort can use without reallocating.
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// Bytes of GPU memory held.
    pub fn bytes(&self) -> u64 {
        [&self.keys, &self.values, &self.hist, &self.offs, &self.partials, &self.info, &self.args]
            .iter()
            .map(|b| b.size())
            .sum()
    }
}

/// Stable LSD radix sort of (u32 key, u32 value) pairs on the low `key_bits` bits of the keys.
///
/// Pairs with equal low bits keep their input order. Bits of the keys above `key_bits` are
/// ignored for ordering (and moved along with the keys). Recorded into the caller's encoder;
/// nothing waits on the GPU. Memory: [`RadixSort::encode`] uses scratch held by the sort (grown
/// on demand); [`RadixSort::encode_with_scratch`] takes a caller-owned [`SortScratch`].
pub struct RadixSort {
    config: SortConfig,
    setup: Kernel,
    count: Kernel,
    scatter: Kernel,
    copy: Kernel,
    scan: PrefixScan,
    /// Scratch of [`RadixSort::encode`].
    scratch: Mutex<Option<SortScratch>>,
    /// Compute-pass label and timer stage prefix ("radix sort" by default).
    pub label: String,
}

/// Passes of a sort on `key_bits` bits.
pub fn passes(key_bits: u32) -> u32 {
    key_bits.div_ceil(DIGIT_BITS)
}

impl RadixSort {
    pub fn new(ctx: &GpuContext) -> Result<RadixSort, GpuError> {
        Self::with_config(ctx, SortConfig::default())
    }

    /// A sort with a non-default work decomposition (tests use small blocks to reach large
    /// workgroup counts cheaply).
    pub fn with_config(ctx: &GpuContext, config: SortConfig) -> Result<RadixSort, GpuError> {
        config.validate()?;
        let block = config.block();
        let staging = block.max(8 * config.workgroup_size);
        let defines = |which: &'static str| {
            vec![
                (which, String::new()),
                ("WG", config.workgroup_size.to_string()),
                ("KPT", config.keys_per_thread.to_string()),
                ("SH_SIZE", (staging + staging / 32).to_string()),
            ]
        };
        Ok(RadixSort {
            config,
            setup: Kernel::new(ctx, "radix_sort.wgsl", "setup", &defines("SETUP"))?,
            count: Kernel::new(ctx, "radix_sort.wgsl", "count", &defines("COUNT"))?,
            scatter: Kernel::new(ctx, "radix_sort.wgsl", "scatter", &defines("SCATTER"))?,
            copy: Kernel::new(ctx, "radix_sort.wgsl", "copy", &defines("COPY"))?,
            scan: PrefixScan::with_config(ctx, ScanConfig::default())?,
            scratch: Mutex::new(None),
            label: "radix sort".into(),
        })
    }

    pub fn config(&self) -> SortConfig {
        self.config
    }

    /// Histogram columns (blocks) for `capacity` elements.
    fn blocks(&self, capacity: u32) -> u32 {
        capacity.div_ceil(self.config.block())
    }

    /// Scratch for sorts of up to `capacity` elements.
    pub fn scratch(&self, ctx: &GpuContext, capacity: u32) -> Result<SortScratch, GpuError> {
        let block = self.config.block();
        let hist_len = RADIX as u64 * self.blocks(capacity) as u64;
        let elems = capacity as u64 * 4;
        ctx.check_binding("radix sort scratch keys", elems)?;
        ctx.check_binding("radix sort histogram", hist_len * 4)?;
        let partials = self.scan.scratch_len(hist_len as u32).max(1);
        Ok(SortScratch {
            capacity,
            block,
            keys: ctx.zeroed("radix sort keys", elems),
            values: ctx.zeroed("radix sort values", elems),
            hist: ctx.zeroed("radix sort histogram", hist_len * 4),
            offs: ctx.zeroed("radix sort offsets", hist_len * 4),
            partials: ctx.zeroed("radix sort scan partials", partials * 4),
            info: ctx.zeroed("radix sort info", 16),
            args: ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("radix sort dispatch args"),
                size: 16,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::INDIRECT,
                mapped_at_creation: false,
            }),
        })
    }

    /// Records a sort of the first `count` pairs of `keys`/`values` on the low `key_bits` bits,
    /// in place, using scratch held by this sort (grown on demand; sorts recorded one after
    /// another share it safely, the GPU runs them in order). `count` is a host `u32` or a
    /// [`SortCount`]. See [`RadixSort::encode_with_scratch`].
    #[allow(clippy::too_many_arguments)]
    pub fn encode<'a>(
        &self,
        ctx: &GpuContext,
        encoder: &mut wgpu::CommandEncoder,
        keys: &wgpu::Buffer,
        values: &wgpu::Buffer,
        count: impl Into<SortCount<'a>>,
        key_bits: u32,
        timer: Option<&mut GpuTimer>,
    ) -> Result<(), GpuError> {
        let mut guard = self.scratch.lock().unwrap();
        let scratch = match &mut *guard {
            Some(s) => s,
            none => none.insert(self.scratch(ctx, 0)?),
        };
        self.encode_with_scratch(ctx, encoder, scratch, keys, values, count.into(), key_bits, timer)
    }

    /// Bytes of GPU memory held by the scratch of [`RadixSort::encode`].
    pub fn scratch_bytes(&self) -> u64 {
        self.scratch.lock().unwrap().as_ref().map_or(0, |s| s.bytes())
    }

    /// Records a sort of the first `count` pairs of `keys`/`values` on the low `key_bits` bits
    /// (1 to 32; 0 sorts nothing), in place: the sorted pairs end in `keys`/`values`; elements
    /// past the count are not touched. `keys` and `values` must be distinct buffers with
    /// `STORAGE` usage. `scratch` grows (with some headroom) if the count's capacity exceeds it.
    ///
    /// With a timer, the passes are timed per stage as "`label`: count" / "scan" / "scatter"
    /// (and "setup", "copy"): 3 timer slots per digit pass plus 2.
    #[allow(clippy::too_many_arguments)]
    pub fn encode_with_scratch(
        &self,
        ctx: &GpuContext,
        encoder: &mut wgpu::CommandEncoder,
        scratch: &mut SortScratch,
        keys: &wgpu::Buffer,
        values: &wgpu::Buffer,
        count: SortCount<'_>,
        key_bits: u32,
        timer: Option<&mut GpuTimer>,
    ) -> Result<(), GpuError> {
        if key_bits > 32 {
            return Err(GpuError::Runtime(format!("radix sort on {key_bits} key bits (at most 32)")));
        }
        let capacity = count.capacity();
        let bytes = capacity as u64 * 4;
        if keys.size() < bytes || values.size() < bytes {
            return Err(GpuError::Runtime(format!(
                "radix sort of {capacity} pairs: keys ({} bytes) or values ({} bytes) too small",
                keys.size(),
                values.size()
            )));
        }
        if let SortCount::Gpu { buffer, offset, .. } = count {
            if !offset.is_multiple_of(4) || offset + 4 > buffer.size() {
                return Err(GpuError::Runtime(format!(
                    "radix sort count at byte {offset} does not fit a {}-byte buffer or is unaligned",
                    buffer.size()
                )));
            }
        }
        if capacity == 0 || key_bits == 0 {
            return Ok(());
        }
        if scratch.capacity < capacity || scratch.block != self.config.block() {
            // Some headroom, so that a slowly growing count does not reallocate every time.
            let grown = capacity.max(scratch.capacity.saturating_add(scratch.capacity / 4));
            *scratch = self.scratch(ctx, grown).or_else(|_| self.scratch(ctx, capacity))?;
        }

        let block = self.config.block();
        let stride = self.blocks(capacity);
        let npass = passes(key_bits);
        let params: Vec<SortParams> = (0..npass)
            .map(|p| {
                let shift = p * DIGIT_BITS;
                SortParams {
                    shift,
                    mask: (1u32 << (key_bits - shift).min(DIGIT_BITS)) - 1,
                    stride,
                    max_count: capacity,
                }
            })
            .collect();
        let records = Records::new(ctx, "radix sort params", &params);

        // The count into info[0]: the host count from the params' max_count field, or the GPU
        // count from the caller's buffer (clamped by `setup`).
        let gpu_count = matches!(count, SortCount::Gpu { .. });
        match count {
            SortCount::Host(_) => {
                encoder.copy_buffer_to_buffer(&records.buffer, records.offset(0) + 12, &scratch.info, 0, 4)
            }
            SortCount::Gpu { buffer, offset, .. } => {
                encoder.copy_buffer_to_buffer(buffer, offset, &scratch.info, 0, 4);
                // Columns of blocks past the real count must read as zero in the scan.
                encoder.clear_buffer(&scratch.hist, 0, Some(RADIX as u64 * stride as u64 * 4));
            }
        }
        let grid = || {
            if gpu_count {
                Dispatch::Indirect(scratch.args.clone(), 0)
            } else {
                Dispatch::Groups(capacity.div_ceil(block))
            }
        };

        let mut steps = Vec::new();
        if gpu_count {
            let bind = self.setup.bind_resources(
                ctx,
                &[records.binding(0), scratch.info.as_entire_binding(), scratch.args.as_entire_binding()],
            );
            steps.push(Step::new("setup", &self.setup, bind, Dispatch::Groups(1)));
        }
        let scan_steps = self.scan.steps(
            ctx,
            "scan",
            &scratch.hist,
            &scratch.offs,
            RADIX * stride,
            &scratch.partials,
            &scratch.info,
            1,
        );
        for p in 0..npass as usize {
            let (src_k, src_v, dst_k, dst_v) = if p % 2 == 0 {
                (keys, values, &scratch.keys, &scratch.values)
            } else {
                (&scratch.keys, &scratch.values, keys, values)
            };
            let bind = self.count.bind_resources(
                ctx,
                &[
                    records.binding(p),
                    scratch.info.as_entire_binding(),
                    src_k.as_entire_binding(),
                    scratch.hist.as_entire_binding(),
                ],
            );
            steps.push(Step::new("count", &self.count, bind, grid()));
            steps.extend(scan_steps.iter().cloned());
            let bind = self.scatter.bind_resources(
                ctx,
                &[
                    records.binding(p),
                    scratch.info.as_entire_binding(),
                    src_k.as_entire_binding(),
                    src_v.as_entire_binding(),
                    scratch.offs.as_entire_binding(),
                    dst_k.as_entire_binding(),
                    dst_v.as_entire_binding(),
                ],
            );
            steps.push(Step::new("scatter", &self.scatter, bind, grid()));
        }
        if npass % 2 == 1 {
            let bind = self.copy.bind(ctx, &[&scratch.info, &scratch.keys, &scratch.values, keys, values]);
            steps.push(Step::new("copy", &self.copy, bind, grid()));
        }
        steps::record(encoder, &self.label, &steps, timer);
        Ok(())
    }

    /// Sorts `keys`/`values` (equal lengths) on the low `key_bits` bits and reads the result back
    /// (waits for the GPU).
    pub fn sort_host(
        &self,
        ctx: &GpuContext,
        keys: &[u32],
        values: &[u32],
        key_bits: u32,
    ) -> Result<(Vec<u32>, Vec<u32>), GpuError> {
        if keys.len() != values.len() {
            return Err(GpuError::Runtime(format!(
                "radix sort: {} keys but {} values",
                keys.len(),
                values.len()
            )));
        }
        let n = u32::try_from(keys.len()).map_err(|_| GpuError::Runtime("radix sort of more than 2^32 pairs".into()))?;
        ctx.check_binding("radix sort keys", n as u64 * 4)?;
        let kb = ctx.upload("radix sort keys", keys);
        let vb = ctx.upload("radix sort values", values);
        let mut encoder = ctx.encoder("radix sort");
        self.encode(ctx, &mut encoder, &kb, &vb, n, key_bits, None)?;
        ctx.submit(encoder);
        Ok((ctx.read(&kb, keys.len())?, ctx.read(&vb, values.len())?))
    }
}
