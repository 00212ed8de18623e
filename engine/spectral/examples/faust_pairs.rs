//! Matches ordered FAUST_r pairs with the default pipeline and prints per-pair errors and
//! timings (the library-level twin of `kiln bench spectral --pairs 72`).
//!
//! `cargo run --release -p kiln-spectral --example faust_pairs -- $KILN_DATA/shapes/faust_r [N | 7>0,8>1]`

use kiln_spectral::eval::{read_vts, GroundTruthDistances};
use kiln_spectral::geodesic::HeatGeodesics;
use kiln_spectral::pipeline::{match_shapes, MatchConfig, Shape};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(args.get(1).ok_or("usage: faust_pairs FAUST_R_DIR [N_PAIRS]")?);
    let mut cfg = MatchConfig::default();
    // KILN_SINGLE_START=1: pyFM's protocol exactly (one fitted size, K = 30).
    if std::env::var_os("KILN_SINGLE_START").is_some() {
        cfg.extra_fit_sizes.clear();
    }
    // Experiment knobs: KILN_SAME=separation (duplicate starts; negative keeps all), KILN_FM=descr,lap,dcomm,orient,K,subsample.
    if let Ok(v) = std::env::var("KILN_FM") {
        let v: Vec<f64> = v.split(',').map(|x| x.parse()).collect::<Result<_, _>>()?;
        (cfg.weights.descr, cfg.weights.lap, cfg.weights.dcomm, cfg.weights.orient) = (v[0], v[1], v[2], v[3]);
        cfg.k_fit = v[4] as usize;
        cfg.subsample_step = v[5] as usize;
    }
    if let Ok(v) = std::env::var("KILN_SAME") {
        cfg.same_map_separation = v.parse()?;
    }
    let all: Vec<(usize, usize)> = (0..9).flat_map(|i| (0..9).filter(move |&j| j != i).map(move |j| (i, j))).collect();
    // Either a count (spread over the 72 pairs) or a list like "7>0,8>1" (B>A).
    let arg = args.get(2).map_or("72", |s| s.as_str());
    let pairs: Vec<(usize, usize)> = if arg.contains('>') {
        arg.split(',').map(|p| {
            let (b, a) = p.split_once('>').ok_or("pairs look like 7>0,8>1")?;
            Ok::<_, Box<dyn std::error::Error>>((a.trim().parse()?, b.trim().parse()?))
        }).collect::<Result<_, _>>()?
    } else {
        let n: usize = arg.parse()?;
        all.iter().step_by((72 / n.max(1)).max(1)).take(n).copied().collect()
    };
    let (mut sum0, mut sum1, mut secs, mut errs) = (0.0, 0.0, 0.0, vec![]);
    let mut gt: Option<(usize, GroundTruthDistances)> = None;
    for &(i, j) in &pairs {
        let t = Instant::now();
        let (a, b) = Shape::load_pair(dir.join(format!("tr_reg_{i:03}.off")), dir.join(format!("tr_reg_{j:03}.off")), cfg.k_basis)?;
        let te = t.elapsed().as_secs_f64();
        let r = match_shapes(&a, &b, &cfg, |_| {})?;
        let total = t.elapsed().as_secs_f64();
        let va = read_vts(dir.join(format!("cor/tr_reg_{i:03}.vts")), a.mesh.num_vertices())?;
        let vb = read_vts(dir.join(format!("cor/tr_reg_{j:03}.vts")), b.mesh.num_vertices())?;
        if gt.as_ref().is_none_or(|(k, _)| *k != i) {
            let heat = HeatGeodesics::new(&a.mesh, &a.ops)?;
            gt = Some((i, GroundTruthDistances::new(&heat, &va, a.mesh.area(), 1)));
        }
        let g = &gt.as_ref().unwrap().1;
        let (e0, e1) = (g.mean_error_x100(&vb, &r.p2p_init), g.mean_error_x100(&vb, &r.p2p));
        // Against the left/right-mirrored ground truth: small here means a symmetry flip.
        let vb_sym = read_vts(dir.join(format!("cor/tr_reg_{j:03}.sym.vts")), b.mesh.num_vertices())?;
        let es = g.mean_error_x100(&vb_sym, &r.p2p);
        println!("{j:03}->{i:03} init {e0:6.2} zoomout {e1:6.2} (vs mirrored truth {es:6.2})  {total:.2}s (eigen {te:.2} descr {:.2} fit {:.2} zo {:.2})", r.seconds_descr, r.seconds_fit, r.seconds_zoomout);
        sum0 += e0;
        sum1 += e1;
        secs += total;
        errs.push(e1);
    }
    let np = pairs.len() as f64;
    errs.sort_by(f64::total_cmp);
    println!(
        "{} pairs: mean init {:.3}, mean zoomout {:.3}, median {:.3}, above 10: {}, {:.2} s/pair",
        pairs.len(), sum0 / np, sum1 / np, errs[errs.len() / 2], errs.iter().filter(|&&e| e > 10.0).count(), secs / np
    );
    Ok(())
}
