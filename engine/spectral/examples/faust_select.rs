//! Experiment: per FAUST_r pair, several fitted starts (K values), each refined by ZoomOut to a
//! probe size and then to the end; prints ground-truth-free scores (commutativity, orientation)
//! next to the errors so that selection rules can be evaluated offline. Ground truth is only
//! printed, never used to choose.
//!
//! `cargo run -p kiln-spectral --example faust_select -- $KILN_DATA/shapes/faust_r [KS]`

use kiln_spectral::eval::{read_vts, GroundTruthDistances};
use kiln_spectral::fmap::{self, FitShape};
use kiln_spectral::geodesic::HeatGeodesics;
use kiln_spectral::pipeline::{commutativity_score, orientation_score, shape_descriptors, MatchConfig, Shape};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(&args[1]);
    let ks: Vec<usize> = args.get(2).map_or("20,30,50", |s| s.as_str()).split(',').map(|x| x.parse()).collect::<Result<_, _>>()?;
    let probe: usize = std::env::var("PROBE").ok().map_or(60, |v| v.parse().unwrap());
    let full = std::env::var_os("FULL").is_some();
    let cfg = MatchConfig::default();
    let shapes: Vec<Shape> = (0..9).map(|i| Shape::load(dir.join(format!("tr_reg_{i:03}.off")), cfg.k_basis)).collect::<Result<_, _>>()?;
    let descr: Vec<_> = shapes.iter().map(|s| shape_descriptors(s, &cfg)).collect();
    let vts: Vec<Vec<usize>> = (0..9).map(|i| read_vts(dir.join(format!("cor/tr_reg_{i:03}.vts")), shapes[i].mesh.num_vertices())).collect::<Result<_, _>>()?;
    let gts: Vec<GroundTruthDistances> = shapes.iter().zip(&vts).map(|(s, v)| Ok(GroundTruthDistances::new(&HeatGeodesics::new(&s.mesh, &s.ops)?, v, s.mesh.area(), 1))).collect::<Result<_, kiln_spectral::SpectralError>>()?;
    let syms: Vec<Vec<usize>> = (0..9).map(|i| read_vts(dir.join(format!("cor/tr_reg_{i:03}.sym.vts")), shapes[i].mesh.num_vertices())).collect::<Result<_, _>>()?;
    let pairs: Vec<(usize, usize)> = match std::env::var("PAIRS") {
        Ok(p) => p.split(',').map(|p| { let (b, a) = p.split_once('>').unwrap(); (a.parse().unwrap(), b.parse().unwrap()) }).collect(),
        Err(_) => (0..9).flat_map(|i| (0..9).filter(move |&j| j != i).map(move |j| (i, j))).collect(),
    };
    for (i, j) in pairs {
        let (a, b) = (&shapes[i], &shapes[j]);
        if std::env::var_os("SANITY").is_some() {
            // Orientation score of the ground-truth map and of the mirrored one.
            for sym in ["", ".sym"] {
                let vb = read_vts(dir.join(format!("cor/tr_reg_{j:03}{sym}.vts")), b.mesh.num_vertices())?;
                let mut p = vec![u32::MAX; b.mesh.num_vertices()];
                for (t, &v) in vb.iter().enumerate() {
                    p[v] = vts[i][t] as u32;
                }
                println!("{j}>{i} truth{sym} orient {:+.3}", orientation_score(&p, a, b));
            }
            continue;
        }
        let f1 = FitShape { mesh: &a.mesh, basis: &a.basis, mass: &a.ops.mass, faces: &a.faces, descriptors: &descr[i] };
        let f2 = FitShape { mesh: &b.mesh, basis: &b.basis, mass: &b.ops.mass, faces: &b.faces, descriptors: &descr[j] };
        for &k in &ks {
            let c0 = fmap::fit(&f1, &f2, k, k, &cfg.weights)?;
            let (c, p) = fmap::zoomout(&c0, &a.basis, &b.basis, &b.ops.mass, probe, 5, |_| {})?;
            let comm = commutativity_score(&c, &a.basis, &b.basis);
            let orient = orientation_score(&p, a, b);
            let e_probe = gts[i].mean_error_x100(&vts[j], &p);
            let (dp, dir) = scores(&p, a, b, &descr[i], &descr[j]);
            let (e_end, es, o2, dp2, dir2) = if full {
                let (_, p) = fmap::zoomout(&c, &a.basis, &b.basis, &b.ops.mass, 110, 5, |_| {})?;
                let (dp2, dir2) = scores(&p, a, b, &descr[i], &descr[j]);
                (gts[i].mean_error_x100(&vts[j], &p), gts[i].mean_error_x100(&syms[j], &p), orientation_score(&p, a, b), dp2, dir2)
            } else { (f64::NAN, f64::NAN, f64::NAN, f64::NAN, f64::NAN) };
            println!("{j}>{i} K {k} comm {comm:.5} orient {orient:+.3} dp {dp:.4} dir {dir:.3} err{probe} {e_probe:.2} | o110 {o2:+.3} dp110 {dp2:.4} dir110 {dir2:.3} err110 {e_end:.2} sym110 {es:.2}");
        }
    }
    Ok(())
}

/// Ground-truth-free scores of a point map 2 → 1: pointwise descriptor error (M-weighted,
/// relative) and Dirichlet energy of the pulled-back coordinates relative to shape 2's own.
fn scores(p: &[u32], a: &Shape, b: &Shape, d1: &faer::Mat<f64>, d2: &faer::Mat<f64>) -> (f64, f64) {
    let m = &b.ops.mass;
    let (mut num, mut den) = (0.0, 0.0);
    for v in 0..p.len() {
        for c in 0..d2.ncols() {
            num += m[v] * (d2[(v, c)] - d1[(p[v] as usize, c)]).powi(2);
            den += m[v] * d2[(v, c)].powi(2);
        }
    }
    let (mut e_pull, mut e_own) = (0.0, 0.0);
    for d in 0..3 {
        let pulled: Vec<f64> = p.iter().map(|&q| a.mesh.positions[q as usize][d]).collect();
        let own: Vec<f64> = b.mesh.positions.iter().map(|x| x[d]).collect();
        let wp = b.ops.apply_stiffness(&pulled);
        let wo = b.ops.apply_stiffness(&own);
        e_pull += pulled.iter().zip(&wp).map(|(x, y)| x * y).sum::<f64>();
        e_own += own.iter().zip(&wo).map(|(x, y)| x * y).sum::<f64>();
    }
    (num / den, e_pull / e_own)
}
