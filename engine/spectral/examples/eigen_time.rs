//! Times the eigensolvers on one mesh and compares their spectra (profiling aid for
//! `kiln bench spectral`). `cargo run --release -p kiln-spectral --example eigen_time -- MESH [K] [BLOCK]`

use kiln_scene::mesh::Mesh;
use kiln_spectral::eigen::{eigen_shift_invert, EigenMethod, EigenOptions};
use kiln_spectral::laplacian::cotangent;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let mesh = Mesh::read(&args[1])?;
    let k: usize = args.get(2).map_or(Ok(200), |s| s.parse())?;
    let ops = cotangent(&mesh, "mesh")?;
    let mut results = vec![];
    let methods = match std::env::var("METHOD").as_deref() {
        Ok("block") => vec![EigenMethod::Block, EigenMethod::Block],
        Ok("ks") => vec![EigenMethod::KrylovSchur, EigenMethod::KrylovSchur],
        _ => vec![EigenMethod::KrylovSchur, EigenMethod::Block, EigenMethod::Block],
    };
    for method in methods {
        let t = Instant::now();
        let c = cpu_seconds();
        let b = eigen_shift_invert(&ops, k, EigenOptions { method, ..EigenOptions::default() }, "mesh")?;
        println!("{method:?}: {:.3} s wall, {:.3} s CPU, λ1 {:.9} λ{} {:.9}", t.elapsed().as_secs_f64(), cpu_seconds() - c, b.eigenvalues[1], k - 1, b.eigenvalues[k - 1]);
        results.push(b);
    }
    let (a, b) = (&results[0], &results[1]);
    let worst = (1..k).map(|i| (a.eigenvalues[i] - b.eigenvalues[i]).abs() / a.eigenvalues[i]).fold(0.0f64, f64::max);
    println!("max relative eigenvalue difference {worst:e}");
    Ok(())
}

/// User + system CPU seconds of this process (Linux `/proc/self/stat`), robust to other load.
fn cpu_seconds() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = s.rsplit_once(')').map_or(vec![], |(_, r)| r.split_whitespace().collect());
    let tick = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (tick(11) + tick(12)) / 100.0
}
