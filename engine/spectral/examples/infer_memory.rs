//! Resident memory of repeated learned-basis inferences in one process (the leak of issue 9):
//! `cargo run -p kiln-spectral --features learned --example infer_memory -- MODEL CLOUD N autodiff|inner`
//! runs the network N times on CLOUD (a mesh's vertices or a point cloud) and prints VmRSS after
//! each: `autodiff` is the forward pass on the autodiff device (`forward_host_points`), `inner`
//! the same pass on the inner backend (`infer_host_points`, what `basis_model::infer` uses).

#[cfg(feature = "learned")]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    use kiln_spectral::basis_model::BasisModel;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model, cloud, n, mode] = &args[..] else { return Err("usage: infer_memory MODEL CLOUD N autodiff|inner".into()) };
    let rss_mb = || -> f64 {
        let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse::<f64>().ok()).unwrap_or(f64::NAN) / 1024.0
    };
    let model = BasisModel::load(std::path::Path::new(model))?;
    let net = model.network(&kiln_nn::burn_device(&kiln_gpu::GpuContext::shared()?)?)?;
    let points: Vec<[f32; 3]> = kiln_spectral::learned::normalize_to_unit_sphere(&kiln_scene::mesh::PointCloud::read(cloud)?.positions).iter().map(|p| p.map(|v| v as f32)).collect();
    println!("{} points, mode {mode}; VmRSS before: {:.0} MB", points.len(), rss_mb());
    for i in 0..n.parse::<usize>()? {
        let t = std::time::Instant::now();
        let out = match mode.as_str() {
            "autodiff" => net.forward_host_points(&points),
            "inner" => net.infer_host_points(&points),
            m => return Err(format!("unknown mode {m}").into()),
        };
        let values = out.into_data().try_to_vec::<f32>().map_err(|e| format!("{e:?}"))?;
        println!("inference {}: {:.1} s, {} values, VmRSS {:.0} MB", i + 1, t.elapsed().as_secs_f64(), values.len(), rss_mb());
    }
    Ok(())
}

#[cfg(not(feature = "learned"))]
fn main() {
    eprintln!("infer_memory needs --features learned");
}
