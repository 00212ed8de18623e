//! Burn on kiln's device: one registration per process.
//!
//! Burn's wgpu runtime accepts an existing setup (`Device::wgpu_options().setup(..)`); kiln's
//! [`GpuContext`] requests every non-experimental adapter feature, which is what Burn's WGSL
//! compiler needs. Registering the same handles twice is not detected by Burn (it would create
//! a second runtime on the same queue), hence the process-wide cell.

use crate::NnError;
use burn::tensor::wgpu::WgpuSetup;
use burn::tensor::Device;
use kiln_gpu::GpuContext;
use std::sync::{Arc, Mutex};

struct Registered {
    context: usize,
    device: Device,
}

static REGISTERED: Mutex<Option<Registered>> = Mutex::new(None);

/// The Burn device (with autodiff) running on `ctx`'s wgpu device and queue. The first call
/// registers the context with Burn; later calls with the same context return the same device.
pub fn burn_device(ctx: &Arc<GpuContext>) -> Result<Device, NnError> {
    let key = Arc::as_ptr(ctx) as usize;
    let mut slot = REGISTERED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(r) = slot.as_ref() {
        return if r.context == key { Ok(r.device.clone()) } else { Err(NnError::OtherContext) };
    }
    let setup = WgpuSetup {
        instance: ctx.instance.clone(),
        adapter: ctx.adapter.clone(),
        device: ctx.device.clone(),
        queue: ctx.queue.clone(),
        backend: ctx.adapter.get_info().backend,
    };
    let device = Device::wgpu_options().setup(setup).init().map_err(|e| NnError::Init(e.to_string()))?.autodiff();
    *slot = Some(Registered { context: key, device: device.clone() });
    Ok(device)
}
