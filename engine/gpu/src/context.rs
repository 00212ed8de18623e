use std::sync::{Arc, OnceLock};

/// Errors from setting up or using the GPU.
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    #[error("no GPU adapter found{0}; install a Vulkan driver (e.g. Mesa's lavapipe: apt-get install mesa-vulkan-drivers libvulkan1)")]
    NoAdapter(String),
    #[error("could not open the GPU device on {adapter}: {source}")]
    Device { adapter: String, source: wgpu::RequestDeviceError },
    #[error("shader {name}: {message}")]
    Shader { name: String, message: String },
    #[error("GPU error: {0}")]
    Runtime(String),
    #[error("{what} needs {needed} bytes, above this adapter's limit of {limit} bytes")]
    TooLarge { what: String, needed: u64, limit: u64 },
}

/// How the adapter was chosen: `KILN_ADAPTER=gpu|hardware`, `cpu|software`, or any other value as
/// a case-insensitive substring of the adapter's name. Unset: hardware first, else software.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdapterChoice {
    Auto,
    Hardware,
    Software,
    NameContains(String),
}

impl AdapterChoice {
    pub fn from_env() -> Self {
        match std::env::var("KILN_ADAPTER").ok().as_deref().map(str::trim) {
            None | Some("") | Some("auto") => AdapterChoice::Auto,
            Some("gpu") | Some("hardware") => AdapterChoice::Hardware,
            Some("cpu") | Some("software") => AdapterChoice::Software,
            Some(name) => AdapterChoice::NameContains(name.to_lowercase()),
        }
    }
}

/// The device and what it can do. Create one per process ([`GpuContext::shared`]) and pass it
/// around: pipelines are cached per context.
pub struct GpuContext {
    /// Kept so that the viewer can create window surfaces and Burn can share the device.
    pub instance: wgpu::Instance,
    pub adapter: wgpu::Adapter,
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    /// `atomicAdd` on `atomic<f32>` in storage buffers. Off: kernels use a compare-and-swap loop
    /// (`KILN_FORCE_CAS=1` forces that, so tests can cover it).
    pub float_atomics: bool,
    /// Subgroup operations in kernels (`KILN_NO_SUBGROUPS=1` turns them off).
    pub subgroups: bool,
    pub timestamps: bool,
    pub(crate) kernels: std::sync::Mutex<std::collections::HashMap<String, Arc<wgpu::ComputePipeline>>>,
    /// How many times the host has waited for the GPU ([`Self::wait`]); every read-back waits
    /// once. Tests bound the round trips of batched paths with it.
    waits: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for GpuContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

fn device_type_rank(t: wgpu::DeviceType) -> u32 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

impl GpuContext {
    /// Opens the adapter chosen by `KILN_ADAPTER` (see [`AdapterChoice`]).
    pub fn new() -> Result<Self, GpuError> {
        Self::with_choice(AdapterChoice::from_env())
    }

    /// One context per process, created on first use. Tests and the CLI share it so that
    /// kernels compile once.
    pub fn shared() -> Result<Arc<GpuContext>, GpuError> {
        static SHARED: OnceLock<Result<Arc<GpuContext>, String>> = OnceLock::new();
        SHARED
            .get_or_init(|| GpuContext::new().map(Arc::new).map_err(|e| e.to_string()))
            .clone()
            .map_err(GpuError::Runtime)
    }

    pub fn with_choice(choice: AdapterChoice) -> Result<Self, GpuError> {
        let mut descriptor = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
        if std::env::var_os("WGPU_BACKEND").is_none() {
            // GL is compiled in (Burn wants wgpu's defaults) but lacks what kiln's kernels need;
            // skipping it also avoids probing EGL on headless machines.
            descriptor.backends = wgpu::Backends::all() - wgpu::Backends::GL;
        }
        let instance = wgpu::Instance::new(descriptor);
        let adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
        let mut candidates: Vec<wgpu::Adapter> = adapters
            .into_iter()
            .filter(|a| {
                let info = a.get_info();
                // kiln is compute-only; GL adapters lack what the kernels need.
                info.backend != wgpu::Backend::Gl
                    && match &choice {
                        AdapterChoice::Auto => true,
                        AdapterChoice::Hardware => info.device_type != wgpu::DeviceType::Cpu,
                        AdapterChoice::Software => info.device_type == wgpu::DeviceType::Cpu,
                        AdapterChoice::NameContains(s) => info.name.to_lowercase().contains(s),
                    }
            })
            .collect();
        candidates.sort_by_key(|a| device_type_rank(a.get_info().device_type));
        let adapter = candidates.into_iter().next().ok_or_else(|| {
            GpuError::NoAdapter(match choice {
                AdapterChoice::Auto => String::new(),
                other => format!(" matching KILN_ADAPTER ({other:?})"),
            })
        })?;
        let info = adapter.get_info();
        // Ask for everything the adapter offers except experimental features: Burn's kernels
        // (small networks on the same device) need the broad set, and a hand-picked subset fails
        // its validation.
        let features = adapter.features() - wgpu::Features::all_experimental_mask();
        let limits = adapter.limits();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("kiln"),
            required_features: features,
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .map_err(|source| GpuError::Device { adapter: info.name.clone(), source })?;
        let flag = |name: &str| std::env::var(name).is_ok_and(|v| v != "0" && !v.is_empty());
        let force_cas = flag("KILN_FORCE_CAS");
        let no_subgroups = flag("KILN_NO_SUBGROUPS");
        Ok(GpuContext {
            float_atomics: features.contains(wgpu::Features::SHADER_FLOAT32_ATOMIC) && !force_cas,
            subgroups: features.contains(wgpu::Features::SUBGROUP) && !no_subgroups,
            timestamps: features.contains(wgpu::Features::TIMESTAMP_QUERY),
            instance,
            adapter,
            device,
            queue,
            info,
            limits,
            kernels: Default::default(),
            waits: Default::default(),
        })
    }

    /// How many times the host has waited for the GPU so far (see the field's doc).
    pub fn wait_count(&self) -> u64 {
        self.waits.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether this is a software rasterizer (lavapipe, SwiftShader, WARP).
    pub fn is_software(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }

    /// One line: name, backend, type, driver, and the optional capabilities kiln uses.
    pub fn describe(&self) -> String {
        format!(
            "{} ({:?}, {:?}, driver {} {}){}{}{}",
            self.info.name,
            self.info.backend,
            self.info.device_type,
            self.info.driver,
            self.info.driver_info,
            if self.float_atomics { ", float atomics" } else { ", CAS atomics" },
            if self.subgroups { ", subgroups" } else { "" },
            if self.timestamps { ", timestamps" } else { "" },
        )
    }

    /// Waits for all submitted work.
    pub fn wait(&self) -> Result<(), GpuError> {
        self.waits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map(|_| ())
            .map_err(|e| GpuError::Runtime(e.to_string()))
    }

    pub fn encoder(&self, label: &str) -> wgpu::CommandEncoder {
        self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(label) })
    }

    pub fn submit(&self, encoder: wgpu::CommandEncoder) {
        self.queue.submit(Some(encoder.finish()));
    }

    /// Largest single storage binding, the size above which work must be split.
    pub fn max_binding(&self) -> u64 {
        self.limits.max_storage_buffer_binding_size.min(self.limits.max_buffer_size)
    }
}
