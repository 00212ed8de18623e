//! Plumbing shared by the multi-dispatch primitives (scan, sort): per-dispatch parameter
//! records in one uniform buffer, and a list of dispatches recorded into compute passes.

use crate::{GpuContext, GpuTimer, Kernel};
use wgpu::util::DeviceExt;

/// Parameter records, one per dispatch, in one buffer at the adapter's uniform-offset alignment.
/// Created per call (not written with `queue.write_buffer`), so that several calls recorded into
/// one encoder each see their own parameters.
pub(crate) struct Records {
    pub buffer: wgpu::Buffer,
    pub stride: u64,
    size: u64,
}

impl Records {
    pub fn new<T: bytemuck::Pod>(ctx: &GpuContext, label: &str, records: &[T]) -> Records {
        let size = std::mem::size_of::<T>() as u64;
        let align = (ctx.limits.min_uniform_buffer_offset_alignment as u64).max(16);
        let stride = size.next_multiple_of(align);
        let mut bytes = vec![0u8; (stride * records.len().max(1) as u64) as usize];
        for (i, r) in records.iter().enumerate() {
            let at = i * stride as usize;
            bytes[at..at + size as usize].copy_from_slice(bytemuck::bytes_of(r));
        }
        let buffer = ctx.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: &bytes,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_SRC,
        });
        Records { buffer, stride, size }
    }

    /// Record `i` as a uniform binding.
    pub fn binding(&self, i: usize) -> wgpu::BindingResource<'_> {
        wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer: &self.buffer,
            offset: i as u64 * self.stride,
            size: wgpu::BufferSize::new(self.size),
        })
    }

    /// Byte offset of record `i` in [`Records::buffer`].
    pub fn offset(&self, i: usize) -> u64 {
        i as u64 * self.stride
    }
}

#[derive(Clone)]
pub(crate) enum Dispatch {
    /// This many 1-D workgroups (folded into 2-D past 65,535; none when 0).
    Groups(u32),
    /// Workgroup counts written by the GPU into the buffer at this byte offset.
    Indirect(wgpu::Buffer, u64),
}

/// One dispatch of a multi-dispatch primitive.
#[derive(Clone)]
pub(crate) struct Step {
    /// Stage name, used for per-stage timing ("count", "scan", ...).
    pub stage: &'static str,
    pub kernel: Kernel,
    pub bind: wgpu::BindGroup,
    pub dispatch: Dispatch,
}

impl Step {
    pub fn new(stage: &'static str, kernel: &Kernel, bind: wgpu::BindGroup, dispatch: Dispatch) -> Step {
        Step { stage, kernel: kernel.clone(), bind, dispatch }
    }

    fn run(&self, pass: &mut wgpu::ComputePass<'_>) {
        match &self.dispatch {
            Dispatch::Groups(n) => self.kernel.dispatch(pass, &self.bind, *n),
            Dispatch::Indirect(args, offset) => self.kernel.dispatch_indirect(pass, &self.bind, args, *offset),
        }
    }
}

/// Records `steps` in order. Without a timer: one compute pass labelled `label`. With a timer:
/// one timed pass per run of consecutive steps of the same stage, labelled "`label`: stage"
/// (just `label` for the stage "")
/// (the timer sums passes with equal labels, so each stage reports its total).
pub(crate) fn record(encoder: &mut wgpu::CommandEncoder, label: &str, steps: &[Step], timer: Option<&mut GpuTimer>) {
    if steps.is_empty() {
        return;
    }
    match timer {
        None => {
            let mut pass = GpuContext::begin_pass(encoder, label, None);
            for s in steps {
                s.run(&mut pass);
            }
        }
        Some(timer) => {
            let mut i = 0;
            while i < steps.len() {
                let stage = steps[i].stage;
                let name = if stage.is_empty() { label.to_string() } else { format!("{label}: {stage}") };
                let mut pass = GpuContext::begin_pass(encoder, &name, Some(&mut *timer));
                while i < steps.len() && steps[i].stage == stage {
                    steps[i].run(&mut pass);
                    i += 1;
                }
            }
        }
    }
}
