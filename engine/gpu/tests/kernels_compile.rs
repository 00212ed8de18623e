//! Every splat kernel compiles on this adapter, on the float-atomic path, the CAS path, with
//! and without subgroups (the paths a user's adapter may take).
use kiln_gpu::{GpuContext, Kernel};

const SPLAT_KERNELS: &[&str] = &[
    "splat_project.wgsl",
    "splat_gather.wgsl",
    "splat_emit.wgsl",
    "splat_ranges.wgsl",
    "splat_raster.wgsl",
    "splat_raster_backward.wgsl",
    "splat_project_backward.wgsl",
];

#[test]
fn splat_kernels_compile_on_every_path() {
    for (float_atomics, subgroups) in [(true, true), (false, false), (true, false), (false, true)] {
        let mut ctx = GpuContext::new().expect("a Vulkan adapter (lavapipe in CI)");
        if (float_atomics && !ctx.float_atomics) || (subgroups && !ctx.subgroups) {
            continue;
        }
        ctx.float_atomics = float_atomics;
        ctx.subgroups = subgroups;
        for file in SPLAT_KERNELS {
            for ch in [1u32, 3, 16] {
                if let Err(e) = Kernel::new(&ctx, file, "main", &[("CH", ch.to_string())]) {
                    panic!("float atomics {float_atomics}, subgroups {subgroups}, CH {ch}: {e}");
                }
            }
        }
    }
}

#[test]
fn preprocessor_reports_missing_values_and_files() {
    let ctx = GpuContext::shared().unwrap();
    let e = Kernel::new(&ctx, "splat_raster.wgsl", "main", &[]).err().unwrap().to_string();
    assert!(e.contains("{{CH}}"), "{e}");
    let e = Kernel::new(&ctx, "nope.wgsl", "main", &[]).err().unwrap().to_string();
    assert!(e.contains("nope.wgsl"), "{e}");
}

/// Every WGSL file of `shaders/` is embedded (a file missing from the table would only fail
/// where a kernel includes it, and only in builds that do not set KILN_SHADER_DIR).
#[test]
fn every_shader_file_is_embedded() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shaders");
    let embedded: Vec<&str> = kiln_gpu::shaders::names().collect();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".wgsl") {
            assert!(embedded.contains(&name.as_str()), "shaders/{name} is not in kiln_gpu::shaders' table");
        }
    }
}
