//! Can the network's input show motion at all? A hand-built estimator with no learning: per
//! dynamic object, the displacement along x of the depth hits between the observation's two
//! frames (t = 0 and t = −previous), found by matching the two hit profiles along x inside the
//! object's lane band (the object's t = 0 box widened by the largest displacement, ±3 m, above
//! the ground layer). A car's estimate goes to its observed voxels (pedestrians keep zero); the
//! flow EPE of that against predicting zero flow says whether the benchmark's input carries the
//! velocity a network is asked to learn.
//!
//! `cargo run --release -p kiln-occupancy --example occ_motion_diag -- [--small] [--clean] [--previous S] [--seeds a,b,..]`

use kiln_occupancy::grid::UNOBSERVED;
use kiln_occupancy::metrics::flow_epe;
use kiln_occupancy::street::{ObservationConfig, Street, CAR};
use kiln_occupancy::train::TrainConfig;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let cfg = if args.iter().any(|a| a == "--small") { TrainConfig::small(false, 0) } else { TrainConfig::tiny(false, 0) };
    let mut obs_cfg = ObservationConfig::default();
    if args.iter().any(|a| a == "--clean") {
        obs_cfg.dropout = 0.0;
        obs_cfg.depth_noise = 0.0;
    }
    if let Some(p) = value("--previous") {
        obs_cfg.previous = p.parse()?;
    }
    let seeds: Vec<u64> = match value("--seeds") {
        Some(s) => s.split(',').map(|x| x.parse()).collect::<Result<_, _>>()?,
        None => vec![900, 901, 950, 951, 100, 101, 102, 103],
    };
    println!("grid {:?}, observation {obs_cfg:?}", cfg.dims);
    let (mut est_sum, mut zero_sum) = (0.0, 0.0);
    for seed in seeds {
        let street = Street::generate(&cfg.street(seed))?;
        let grid = street.grid;
        let (key, _) = street.key_frame();
        let n = grid.len();
        let obs = street.observation(&obs_cfg, seed);
        let [nx, _, _] = grid.dims;
        let vs = grid.voxel_size;
        let mut est_flow = vec![0.0f32; 2 * n];
        let mut lines = Vec::new();
        for (k, o) in street.objects.iter().enumerate() {
            if !street.classes.is_dynamic(o.class) {
                continue;
            }
            // This object's observed voxels at t = 0 (the first box holding a centre owns it).
            let owned: Vec<usize> = (0..n)
                .filter(|&i| key.labels[i] != UNOBSERVED && street.classes.is_dynamic(key.labels[i]))
                .filter(|&i| {
                    let p = grid.centre(i);
                    street.objects.iter().position(|q| ((p - q.centre).abs() - q.half).max_element() < 0.0) == Some(k)
                })
                .collect();
            if owned.is_empty() {
                continue;
            }
            // Hit profiles along x in the lane band, within ±3 m of the t = 0 box.
            let (mut a, mut b) = (vec![0.0f64; nx], vec![0.0f64; nx]);
            for i in 0..n {
                let p = grid.centre(i);
                let d = (p - o.centre).abs() - o.half;
                if d.y < 0.4 && p.z > 0.0 && p.z < o.centre.z + o.half.z + 0.4 && d.x < 3.2 {
                    let x = grid.coords(i)[0];
                    a[x] += obs[i] as f64;
                    b[x] += obs[2 * n + i] as f64;
                }
            }
            // Shift s (voxels, quarter steps) minimizing the mean squared difference of
            // a[x] and b[x − s] (linear interpolation) over their overlap.
            let max_shift = (3.2 / vs).ceil() as i32 * 4;
            let mut best = (f64::INFINITY, 0.0f64);
            for q in -max_shift..=max_shift {
                let s = q as f64 / 4.0;
                let (mut e, mut m) = (0.0, 0usize);
                for (x, &ax) in a.iter().enumerate() {
                    let u = x as f64 - s;
                    if u < 0.0 || u > (nx - 1) as f64 {
                        continue;
                    }
                    let (u0, f) = (u.floor() as usize, u - u.floor());
                    let bu = b[u0] * (1.0 - f) + b[(u0 + 1).min(nx - 1)] * f;
                    e += (ax - bu) * (ax - bu);
                    m += 1;
                }
                if m >= nx / 2 && e / (m as f64) < best.0 {
                    best = (e / m as f64, s);
                }
            }
            if std::env::var("PROFILES").is_ok() {
                println!("    a {:?}\n    b {:?}", a.iter().map(|x| (x * 10.0).round() / 10.0).collect::<Vec<_>>(), b.iter().map(|x| (x * 10.0).round() / 10.0).collect::<Vec<_>>());
            }
            let v = (best.1 * vs as f64 / obs_cfg.previous as f64) as f32;
            // Pedestrians (≤ 2 m/s) move at most one voxel between the frames, under the
            // depth noise: the estimate is printed but zero flow is kept for them.
            if o.class == CAR {
                for &i in &owned {
                    est_flow[2 * i] = v;
                }
            }
            lines.push(format!("  object {k} class {} vx {:+6.2} m/s → estimate {v:+6.2} ({} observed voxels)", o.class, o.velocity.x, owned.len()));
        }
        let e = flow_epe(&grid, &street.classes, &est_flow, &key.labels, &key.flow)?;
        let z = flow_epe(&grid, &street.classes, &vec![0.0; 2 * n], &key.labels, &key.flow)?;
        est_sum += e;
        zero_sum += z;
        println!("scene {seed}: estimator EPE {e:.3} m/s, zero flow {z:.3}");
        for l in lines {
            println!("{l}");
        }
    }
    println!("sum over scenes: estimator {est_sum:.3}, zero flow {zero_sum:.3}");
    Ok(())
}
