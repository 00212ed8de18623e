//! Issue 9's two tables (the same as `kiln bench learned-basis`, without the CLI around it):
//! `cargo run -p kiln-spectral --features learned --example learned_tables -- SHAPES_DIR MODEL [PAIRS] [--json] [--no-comparison]`
//! (markdown, then with --json the JSON report). Each cloud's learned basis is inferred in a
//! child process (this example with `--infer MODEL CLOUD OUT`): Burn on lavapipe keeps every
//! inference's buffers (see `learned_eval::infer_in_process`).

#[cfg(feature = "learned")]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    use kiln_spectral::basis_model::{infer, BasisModel, LearnedBasis};
    use kiln_spectral::learned_eval::{run, LearnedEvalOptions};
    let all: Vec<String> = std::env::args().skip(1).collect();
    let gpu = || -> Result<_, Box<dyn std::error::Error>> { Ok(kiln_gpu::GpuContext::shared()?) };
    if all.first().map(String::as_str) == Some("--infer") {
        // Child: MODEL CLOUD OUT → n, k (u64) then the basis (row-major) and the mass, f64 LE.
        let model = BasisModel::load(std::path::Path::new(&all[1]))?;
        let net = model.network(&kiln_nn::burn_device(&gpu()?)?)?;
        let l = infer(&net, model.config.density, &kiln_scene::mesh::PointCloud::read(&all[2])?.positions)?;
        let (n, k) = (l.basis.nrows(), l.basis.ncols());
        let mut b: Vec<u8> = [n as u64, k as u64].iter().flat_map(|v| v.to_le_bytes()).collect();
        b.extend((0..n).flat_map(|i| (0..k).map(move |j| (i, j))).flat_map(|(i, j)| l.basis[(i, j)].to_le_bytes()));
        b.extend(l.mass.iter().flat_map(|m| m.to_le_bytes()));
        std::fs::write(&all[3], b)?;
        return Ok(());
    }
    let args: Vec<&String> = all.iter().filter(|a| !a.starts_with("--")).collect();
    let json = all.iter().any(|a| a == "--json");
    let comparison = !all.iter().any(|a| a == "--no-comparison");
    let [shapes, model_path, ..] = &args[..] else { return Err("usage: learned_tables SHAPES_DIR MODEL [PAIRS] [--json] [--no-comparison]".into()) };
    let pairs = args.get(2).map_or(Ok(72), |p| p.parse())?;
    let model = BasisModel::load(std::path::Path::new(model_path.as_str()))?;
    let tmp = std::env::temp_dir().join(format!("kiln-learned-tables-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let exe = std::env::current_exe()?;
    let child = |points: &[[f64; 3]]| -> kiln_spectral::Result<LearnedBasis> {
        let fail = |m: String| kiln_spectral::SpectralError::Invalid { what: "learned basis (child process)".into(), msg: m };
        let (cloud, out) = (tmp.join("cloud.ply"), tmp.join("basis.bin"));
        kiln_scene::mesh::PointCloud { positions: points.to_vec(), colors: None }.write(&cloud)?;
        let status = std::process::Command::new(&exe).arg("--infer").arg(model_path.as_str()).arg(&cloud).arg(&out).status().map_err(|e| fail(e.to_string()))?;
        if !status.success() {
            return Err(fail(format!("exited with {status}")));
        }
        let b = std::fs::read(&out).map_err(|e| fail(e.to_string()))?;
        let word = |i: usize| u64::from_le_bytes(b[8 * i..8 * i + 8].try_into().unwrap());
        let float = |i: usize| f64::from_le_bytes(b[8 * i..8 * i + 8].try_into().unwrap());
        let (n, k) = (word(0) as usize, word(1) as usize);
        Ok(LearnedBasis { basis: faer::Mat::from_fn(n, k, |i, j| float(2 + i * k + j)), mass: (0..n).map(|i| float(2 + n * k + i)).collect() })
    };
    let opts = LearnedEvalOptions { shapes: shapes.into(), pairs, comparison };
    let report = run(&opts, &model, model_path, &gpu()?.describe(), child, |stage, done, total, what| eprintln!("{stage} {done}/{total}: {what}"))?;
    std::fs::remove_dir_all(&tmp).ok();
    print!("{}", report.markdown());
    if json {
        println!("\n{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(())
}

#[cfg(not(feature = "learned"))]
fn main() {
    eprintln!("learned_tables needs --features learned");
}
