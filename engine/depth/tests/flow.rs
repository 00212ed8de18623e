//! GPU optical flow: GPU vs the CPU reference, known translation and homography of a real
//! image (end-point error on valid pixels), the consistency mask, flow files.

mod common;

use common::*;
use kiln_depth::flow::{self, FlowParams};
use kiln_depth::io::{read_flow_file, write_flo};
use kiln_depth::{DepthError, Flow};

fn product(a: &[f32], b: &[f32]) -> Vec<f32> {
    a.iter().zip(b).map(|(x, y)| x * y).collect()
}

#[test]
fn gpu_flow_matches_cpu_reference() {
    let ctx = gpu();
    let a = texture(97, 71, 3); // odd sizes exercise the pyramid's edge blocks
    let (b, _, _, _) = warp_image(&a, |x, y| (x - 2.3 + 0.01 * y, y + 1.4), |x, y| (x + 2.3 - 0.01 * y, y - 1.4));
    let params = FlowParams { max_levels: 4, min_size: 8, warps: 3, iterations: 25, ..Default::default() };
    let (gf, gb) = flow::estimate_pair(&ctx, &a, &b, &params).unwrap();
    let (cf, cb) = flow::estimate_pair_cpu(&a, &b, &params).unwrap();
    let mut max_diff = 0.0f32;
    for (g, c) in [(&gf, &cf), (&gb, &cb)] {
        for i in 0..g.len() {
            max_diff = max_diff.max((g.u[i] - c.u[i]).abs()).max((g.v[i] - c.v[i]).abs());
        }
    }
    let mask_disagree = gf.valid.iter().zip(&cf.valid).filter(|(a, b)| a != b).count()
        + gb.valid.iter().zip(&cb.valid).filter(|(a, b)| a != b).count();
    eprintln!("GPU vs CPU flow ({}): max |Δflow| = {max_diff:.2e} px, mask disagreements {mask_disagree} of {}", ctx.describe(), 2 * gf.len());
    assert!(max_diff < 2e-3, "GPU and CPU flow differ by {max_diff} px");
    assert!(mask_disagree <= gf.len() / 500, "{mask_disagree} mask pixels differ");
}

/// Flow on a real image under a known warp; returns (EPE on valid ∧ inside, valid fraction of inside).
fn real_warp_epe(
    test: &str,
    inverse: impl Fn(f32, f32) -> (f32, f32),
    forward: impl Fn(f32, f32) -> (f32, f32),
) -> Option<(f64, f32, Flow, Vec<f32>)> {
    let data = data_or_skip(test)?;
    let a = load_png(&data.join("llff/fern/images_8/image000.png"));
    let (b, gu, gv, inside) = warp_image(&a, inverse, forward);
    let ctx = gpu();
    let f = flow::estimate(&ctx, &a, &b, &FlowParams::default()).unwrap();
    let weight = product(&f.valid, &inside);
    let epe = f.endpoint_error(&gu, &gv, &weight).expect("some valid pixels");
    let epe_all = f.endpoint_error(&gu, &gv, &inside).unwrap();
    let valid_frac = weight.iter().sum::<f32>() / inside.iter().sum::<f32>();
    eprintln!("{test}: EPE {epe:.3} px on valid pixels ({:.1}% of the in-view pixels valid); EPE over all in-view pixels {epe_all:.3} px", 100.0 * valid_frac);
    Some((epe, valid_frac, f, inside))
}

#[test]
fn recovers_translation_of_fern() {
    let (tx, ty) = (4.6f32, -2.7f32);
    let Some((epe, valid, f, inside)) = real_warp_epe("recovers_translation_of_fern", |x, y| (x - tx, y - ty), |x, y| (x + tx, y + ty))
    else {
        return;
    };
    // Measured on lavapipe: 0.099 px, 99.5 % valid.
    assert!(epe < 0.15, "translation EPE {epe} px ≥ 0.15 px");
    assert!(valid > 0.95, "only {valid} of the in-view pixels passed the consistency check");
    // Pixels that leave the second image must not be valid.
    let leaked = f.valid.iter().zip(&inside).filter(|(v, i)| **v > 0.0 && **i == 0.0).count();
    let outside = inside.iter().filter(|i| **i == 0.0).count();
    assert!(leaked * 20 < outside, "{leaked} of {outside} out-of-view pixels marked valid");
}

#[test]
fn recovers_homography_of_fern() {
    // A mild homography about the image centre: rotation 2°, zoom 3 %, shift, and perspective.
    let (cx, cy) = (252.0f64, 189.0f64);
    let (c, s) = (2f64.to_radians().cos() * 1.03, 2f64.to_radians().sin() * 1.03);
    let hm = [[c, -s, 3.0], [s, c, -2.0], [4e-5, -3e-5, 1.0]];
    let apply = |m: &[[f64; 3]; 3], x: f32, y: f32| {
        let (x, y) = (x as f64 - cx, y as f64 - cy);
        let d = m[2][0] * x + m[2][1] * y + m[2][2];
        (((m[0][0] * x + m[0][1] * y + m[0][2]) / d + cx) as f32, ((m[1][0] * x + m[1][1] * y + m[1][2]) / d + cy) as f32)
    };
    let inv = invert3(&hm);
    let Some((epe, valid, _, _)) = real_warp_epe("recovers_homography_of_fern", |x, y| apply(&inv, x, y), |x, y| apply(&hm, x, y))
    else {
        return;
    };
    // Measured on lavapipe: 0.183 px, 99.3 % valid.
    assert!(epe < 0.25, "homography EPE {epe} px ≥ 0.25 px");
    assert!(valid > 0.95, "only {valid} of the in-view pixels passed the consistency check");
}

fn invert3(m: &[[f64; 3]; 3]) -> [[f64; 3]; 3] {
    let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    let mut r = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            let (a, b) = ((j + 1) % 3, (j + 2) % 3);
            let (c, d) = ((i + 1) % 3, (i + 2) % 3);
            r[i][j] = (m[a][c] * m[b][d] - m[a][d] * m[b][c]) / det;
        }
    }
    r
}

#[test]
fn flow_files_round_trip_and_bad_files_are_named() {
    let dir = std::env::temp_dir().join(format!("kiln_depth_flow_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = Flow { width: 3, height: 2, u: vec![0.5, -1.0, 2.0, 0.0, 3.5, 1.0], v: vec![1.0, 0.0, -2.5, 4.0, 0.0, 0.25], valid: vec![1.0, 1.0, 0.0, 1.0, 1.0, 1.0] };
    let path = dir.join("a.flo");
    write_flo(&path, &f).unwrap();
    let back = read_flow_file(&path, 3, 2).unwrap();
    assert_eq!(back.valid, f.valid);
    assert_eq!(back.u[0], 0.5);
    assert_eq!(back.v[2], 0.0, "unknown flow is zeroed");
    // Wrong size: the error names the file and both sizes.
    let e = read_flow_file(&path, 4, 2).unwrap_err();
    assert!(matches!(e, DepthError::Size { .. }));
    let msg = e.to_string();
    assert!(msg.contains("a.flo") && msg.contains("3×2") && msg.contains("4×2"), "{msg}");
    // Not a .flo file.
    let bad = dir.join("bad.flo");
    std::fs::write(&bad, b"nope, not a flow file").unwrap();
    let msg = read_flow_file(&bad, 3, 2).unwrap_err().to_string();
    assert!(msg.contains("bad.flo") && msg.contains("PIEH"), "{msg}");
    // Truncated.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.truncate(20);
    std::fs::write(&bad, &bytes).unwrap();
    assert!(read_flow_file(&bad, 3, 2).unwrap_err().to_string().contains("truncated"));
    // .npy (H, W, 2), f4.
    let npy = dir.join("f.npy");
    let mut payload = Vec::new();
    for i in 0..6 {
        payload.extend_from_slice(&f.u[i].to_le_bytes());
        payload.extend_from_slice(&f.v[i].to_le_bytes());
    }
    write_npy(&npy, "<f4", &[2, 3, 2], &payload);
    let back = read_flow_file(&npy, 3, 2).unwrap();
    assert_eq!(back.u, f.u);
    assert_eq!(back.v, f.v);
    write_npy(&npy, "<f4", &[2, 6], &payload);
    let msg = read_flow_file(&npy, 3, 2).unwrap_err().to_string();
    assert!(msg.contains("f.npy") && msg.contains("not a flow field"), "{msg}");
    std::fs::remove_dir_all(&dir).ok();
}
