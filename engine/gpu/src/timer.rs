use crate::{GpuContext, GpuError};

/// Time spent in one stage (the sum of its passes).
#[derive(Clone, Debug, PartialEq)]
pub struct StageTime {
    pub stage: String,
    pub ms: f64,
}


/// Per-stage GPU times from timestamp queries written at the start and end of compute passes.
///
/// Usage: `let tw = timer.pass("sort");` then
/// `encoder.begin_compute_pass(&ComputePassDescriptor { timestamp_writes: tw, .. })`; after the
/// last pass `timer.resolve(&mut encoder)`, submit, then `timer.read(ctx)`.
/// Without timestamp support every call is a no-op and `read` returns nothing.
pub struct GpuTimer {
    query_set: Option<wgpu::QuerySet>,
    resolve: Option<wgpu::Buffer>,
    capacity: u32,
    labels: Vec<String>,
    period_ns: f64,
}

impl GpuTimer {
    /// Room for `max_passes` timed passes.
    pub fn new(ctx: &GpuContext, max_passes: u32) -> Self {
        let capacity = max_passes * 2;
        let (query_set, resolve) = if ctx.timestamps && capacity > 0 {
            let qs = ctx.device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("kiln timer"),
                ty: wgpu::QueryType::Timestamp,
                count: capacity,
            });
            let buf = ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("kiln timer resolve"),
                size: capacity as u64 * 8,
                usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            });
            (Some(qs), Some(buf))
        } else {
            (None, None)
        };
        GpuTimer { query_set, resolve, capacity, labels: Vec::new(), period_ns: ctx.queue.get_timestamp_period() as f64 }
    }

    pub fn enabled(&self) -> bool {
        self.query_set.is_some()
    }

    /// Timestamp writes for one pass labelled `stage` (None when disabled or full).
    pub fn pass(&mut self, stage: &str) -> Option<wgpu::ComputePassTimestampWrites<'_>> {
        let qs = self.query_set.as_ref()?;
        let i = self.labels.len() as u32 * 2;
        if i + 2 > self.capacity {
            return None;
        }
        self.labels.push(stage.to_string());
        Some(wgpu::ComputePassTimestampWrites {
            query_set: qs,
            beginning_of_pass_write_index: Some(i),
            end_of_pass_write_index: Some(i + 1),
        })
    }

    pub fn resolve(&self, encoder: &mut wgpu::CommandEncoder) {
        if let (Some(qs), Some(buf)) = (&self.query_set, &self.resolve) {
            let n = self.labels.len() as u32 * 2;
            if n > 0 {
                encoder.resolve_query_set(qs, 0..n, buf, 0);
            }
        }
    }

    /// Reads the times back (waits for the GPU) and clears the labels for reuse.
    /// Stages appear in first-recorded order; passes with the same label are summed.
    pub fn read(&mut self, ctx: &GpuContext) -> Result<Vec<StageTime>, GpuError> {
        let Some(buf) = &self.resolve else { return Ok(Vec::new()) };
        let n = self.labels.len() * 2;
        let ticks: Vec<u64> = ctx.read(buf, n)?;
        let mut out: Vec<StageTime> = Vec::new();
        for (k, label) in self.labels.drain(..).enumerate() {
            let dt = ticks[2 * k + 1].saturating_sub(ticks[2 * k]) as f64 * self.period_ns * 1e-6;
            match out.iter_mut().find(|s| s.stage == label) {
                Some(s) => s.ms += dt,
                None => out.push(StageTime { stage: label, ms: dt }),
            }
        }
        Ok(out)
    }
}

impl GpuContext {
    /// Begins a compute pass, timed as `stage` when a timer is given.
    pub fn begin_pass<'e>(
        encoder: &'e mut wgpu::CommandEncoder,
        stage: &str,
        timer: Option<&mut GpuTimer>,
    ) -> wgpu::ComputePass<'e> {
        let timestamp_writes = timer.and_then(|t| t.pass(stage));
        encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some(stage), timestamp_writes })
    }
}
