use crate::{GpuContext, GpuError};
use wgpu::util::DeviceExt;

/// Storage usage for kernel inputs/outputs that can also be copied and read back.
pub const STORAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

impl GpuContext {
    /// A storage buffer holding `data`. Empty data gets a 4-byte buffer: WebGPU forbids
    /// zero-sized bindings, and kernels never read past their element count.
    pub fn upload<T: bytemuck::Pod>(&self, label: &str, data: &[T]) -> wgpu::Buffer {
        let bytes: &[u8] = bytemuck::cast_slice(data);
        if bytes.is_empty() {
            return self.zeroed(label, 4);
        }
        self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: bytes,
            usage: STORAGE,
        })
    }

    /// A zero-filled storage buffer of at least `bytes` bytes (rounded up to 4, at least 4).
    pub fn zeroed(&self, label: &str, bytes: u64) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes.max(4).next_multiple_of(4),
            usage: STORAGE,
            mapped_at_creation: false,
        })
    }

    /// Checks an allocation against the adapter's binding limit, naming what it is for.
    pub fn check_binding(&self, what: &str, bytes: u64) -> Result<(), GpuError> {
        let limit = self.max_binding();
        if bytes > limit {
            return Err(GpuError::TooLarge { what: what.into(), needed: bytes, limit });
        }
        Ok(())
    }

    /// A uniform buffer holding `value`.
    pub fn uniform<T: bytemuck::Pod>(&self, label: &str, value: &T) -> wgpu::Buffer {
        self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: bytemuck::bytes_of(value),
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        })
    }

    /// Copies the first `count` elements of `buffer` back to the host (waits for the GPU).
    pub fn read<T: bytemuck::Pod>(&self, buffer: &wgpu::Buffer, count: usize) -> Result<Vec<T>, GpuError> {
        Ok(self.read_many(&[(buffer, count)])?.pop().unwrap_or_default())
    }

    /// Copies the first `count` elements of each buffer back to the host with one copy
    /// submission and one wait: a caller with many small results (the VoxelSplat loss's thirty
    /// renders a step) pays the GPU round trip once instead of once per buffer.
    pub fn read_many<T: bytemuck::Pod>(&self, buffers: &[(&wgpu::Buffer, usize)]) -> Result<Vec<Vec<T>>, GpuError> {
        let size = std::mem::size_of::<T>() as u64;
        // Each region (offset, bytes copied) starts on the copy alignment (4 bytes).
        let mut regions = Vec::with_capacity(buffers.len());
        let mut total = 0u64;
        for &(_, count) in buffers {
            let bytes = (count as u64 * size).next_multiple_of(wgpu::COPY_BUFFER_ALIGNMENT);
            regions.push((total, bytes));
            total += bytes;
        }
        if total == 0 {
            return Ok(buffers.iter().map(|_| Vec::new()).collect());
        }
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("kiln read-back (many)"),
            size: total,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = self.encoder("read-back (many)");
        for (&(buffer, _), &(offset, bytes)) in buffers.iter().zip(&regions) {
            if bytes > 0 {
                encoder.copy_buffer_to_buffer(buffer, 0, &staging, offset, bytes);
            }
        }
        self.submit(encoder);
        let slice = staging.slice(..);
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.wait()?;
        rx.recv()
            .map_err(|e| GpuError::Runtime(e.to_string()))?
            .map_err(|e| GpuError::Runtime(format!("mapping a buffer for read-back failed: {e}")))?;
        let data = slice
            .get_mapped_range()
            .map_err(|e| GpuError::Runtime(format!("mapped range: {e}")))?;
        let out = buffers
            .iter()
            .zip(&regions)
            .map(|(&(_, count), &(offset, _))| {
                let start = offset as usize;
                // Copied out element-wise: a region's start is only 4-byte aligned.
                bytemuck::pod_collect_to_vec::<u8, T>(&data[start..start + count * size as usize])
            })
            .collect();
        drop(data);
        staging.unmap();
        Ok(out)
    }

    /// Fills a buffer region with zeros from the command stream.
    pub fn clear(&self, encoder: &mut wgpu::CommandEncoder, buffer: &wgpu::Buffer) {
        encoder.clear_buffer(buffer, 0, None);
    }
}

/// Index that makes [`GpuContext::gather_rows`] write a zero row (a new entry).
pub const GATHER_ZERO: u32 = u32::MAX;

impl GpuContext {
    /// Records a row gather on flat f32 buffers: `dst[i·row + k] = src[indices[i]·row + k]` for
    /// `i < count`, `k < row`; an index of [`GATHER_ZERO`] (or any index ≥ `src_rows`) writes a
    /// zero row. One gather covers compaction (pruning), duplication (cloning) and appending new
    /// zero rows. `src` and `dst` must be different buffers; `indices` holds `count` u32.
    /// Recorded as one compute pass labelled "gather"; nothing waits on the GPU.
    #[allow(clippy::too_many_arguments)]
    pub fn gather_rows(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        src: &wgpu::Buffer,
        src_rows: u32,
        indices: &wgpu::Buffer,
        dst: &wgpu::Buffer,
        count: u32,
        row: u32,
    ) -> Result<(), GpuError> {
        const WG: u32 = 256;
        let elems = count as u64 * row as u64;
        if elems > u32::MAX as u64 - WG as u64 {
            return Err(GpuError::Runtime(format!("gather of {count} rows × {row} floats: more than 2^32 elements")));
        }
        if dst.size() < elems * 4 || indices.size() < count as u64 * 4 {
            return Err(GpuError::Runtime(format!(
                "gather of {count} rows × {row} floats: dst ({} bytes) or indices ({} bytes) too small",
                dst.size(),
                indices.size()
            )));
        }
        if src.size() < (src_rows as u64 * row as u64 * 4).max(4) {
            return Err(GpuError::Runtime(format!(
                "gather source holds {} bytes, fewer than {src_rows} rows × {row} floats",
                src.size()
            )));
        }
        if elems == 0 {
            return Ok(());
        }
        let kernel = crate::Kernel::new(self, "gather_rows.wgsl", "main", &[("WG", WG.to_string())])?;
        let params: [u32; 4] = [count, row, src_rows, 0];
        let uniform = self.uniform("gather params", &params);
        let bind = kernel.bind(self, &[&uniform, src, indices, dst]);
        let mut pass = GpuContext::begin_pass(encoder, "gather", None);
        kernel.dispatch(&mut pass, &bind, (elems as u32).div_ceil(WG));
        Ok(())
    }
}
