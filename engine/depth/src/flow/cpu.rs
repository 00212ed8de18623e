//! The CPU reference of the flow kernels: the same math as `shaders/flow_*.wgsl`, step by
//! step, in f32 with rayon. Tests compare the GPU against it.

use super::{Flow, FlowParams};
use crate::map::sample_clamped;
use rayon::prelude::*;

/// flow_downsample.wgsl: 2×2 block means of the finer level `(fw, fh)` into `(w, h)`.
pub fn downsample(fine: &[f32], fw: usize, fh: usize, w: usize, h: usize) -> Vec<f32> {
    (0..w * h)
        .into_par_iter()
        .map(|i| {
            let (x, y) = (i % w, i / w);
            let x0 = (2 * x).min(fw - 1);
            let x1 = (2 * x + 1).min(fw - 1);
            let y0 = (2 * y).min(fh - 1);
            let y1 = (2 * y + 1).min(fh - 1);
            0.25 * ((fine[y0 * fw + x0] + fine[y0 * fw + x1]) + (fine[y1 * fw + x0] + fine[y1 * fw + x1]))
        })
        .collect()
}

/// flow_upsample.wgsl: flow of the coarser level `(cw, ch)` at `(w, h)`, scaled by the ratio.
pub fn upsample(cu: &[f32], cv: &[f32], cw: usize, ch: usize, w: usize, h: usize) -> (Vec<f32>, Vec<f32>) {
    let sx = cw as f32 / w as f32;
    let sy = ch as f32 / h as f32;
    (0..w * h)
        .into_par_iter()
        .map(|i| {
            let cx = ((i % w) as f32 + 0.5) * sx - 0.5;
            let cy = ((i / w) as f32 + 0.5) * sy - 0.5;
            (sample_clamped(cu, cw, ch, cx, cy) / sx, sample_clamped(cv, cw, ch, cx, cy) / sy)
        })
        .unzip()
}

/// flow_derivatives.wgsl: (Ix, Iy, It) around the flow (u, v); zero where p + flow leaves the image.
pub fn derivatives(i1: &[f32], i2: &[f32], u: &[f32], v: &[f32], w: usize, h: usize) -> Vec<[f32; 3]> {
    (0..w * h)
        .into_par_iter()
        .map(|i| {
            let (x, y) = (i % w, i / w);
            let qx = x as f32 + u[i];
            let qy = y as f32 + v[i];
            if qx < 0.0 || qy < 0.0 || qx > (w - 1) as f32 || qy > (h - 1) as f32 {
                return [0.0; 3];
            }
            let xl = x.saturating_sub(1);
            let xr = (x + 1).min(w - 1);
            let yu = y.saturating_sub(1);
            let yd = (y + 1).min(h - 1);
            let s = |x: f32, y: f32| sample_clamped(i2, w, h, x, y);
            let gx1 = 0.5 * (i1[y * w + xr] - i1[y * w + xl]);
            let gy1 = 0.5 * (i1[yd * w + x] - i1[yu * w + x]);
            let gx2 = 0.5 * (s(qx + 1.0, qy) - s(qx - 1.0, qy));
            let gy2 = 0.5 * (s(qx, qy + 1.0) - s(qx, qy - 1.0));
            let it = s(qx, qy) - i1[i];
            [0.5 * (gx1 + gx2), 0.5 * (gy1 + gy2), it]
        })
        .collect()
}

/// flow_jacobi.wgsl: one Horn–Schunck Jacobi step around (u0, v0).
#[allow(clippy::too_many_arguments)]
pub fn jacobi(d: &[[f32; 3]], u0: &[f32], v0: &[f32], u: &[f32], v: &[f32], w: usize, h: usize, alpha2: f32, max_step: f32) -> (Vec<f32>, Vec<f32>) {
    (0..w * h)
        .into_par_iter()
        .map(|i| {
            let (x, y) = (i % w, i / w);
            let xl = x.saturating_sub(1);
            let xr = (x + 1).min(w - 1);
            let yu = y.saturating_sub(1);
            let yd = (y + 1).min(h - 1);
            let mu = 0.25 * ((u[y * w + xl] + u[y * w + xr]) + (u[yu * w + x] + u[yd * w + x]));
            let mv = 0.25 * ((v[y * w + xl] + v[y * w + xr]) + (v[yu * w + x] + v[yd * w + x]));
            let [ix, iy, it] = d[i];
            let t = (ix * (mu - u0[i]) + iy * (mv - v0[i]) + it) / (alpha2 + ix * ix + iy * iy);
            let su = (mu - ix * t - u0[i]).clamp(-max_step, max_step);
            let sv = (mv - iy * t - v0[i]).clamp(-max_step, max_step);
            (u0[i] + su, v0[i] + sv)
        })
        .unzip()
}

/// The image pyramid, finest first.
pub fn pyramid(gray: &[f32], levels: &[(u32, u32)]) -> Vec<Vec<f32>> {
    let mut out = vec![gray.to_vec()];
    for l in 1..levels.len() {
        let (fw, fh) = levels[l - 1];
        let (w, h) = levels[l];
        let next = downsample(&out[l - 1], fw as usize, fh as usize, w as usize, h as usize);
        out.push(next);
    }
    out
}

/// Flow from grey image 1 to grey image 2 (pyramids given), without a mask.
pub fn flow_one_way(p1: &[Vec<f32>], p2: &[Vec<f32>], levels: &[(u32, u32)], params: &FlowParams) -> (Vec<f32>, Vec<f32>) {
    let alpha2 = params.alpha * params.alpha;
    let coarsest = levels.len() - 1;
    let (cw, ch) = levels[coarsest];
    let mut u = vec![0.0f32; (cw * ch) as usize];
    let mut v = u.clone();
    for l in (0..levels.len()).rev() {
        let (w, h) = (levels[l].0 as usize, levels[l].1 as usize);
        if l < coarsest {
            let (cw, ch) = levels[l + 1];
            (u, v) = upsample(&u, &v, cw as usize, ch as usize, w, h);
        }
        for _ in 0..params.warps {
            let d = derivatives(&p1[l], &p2[l], &u, &v, w, h);
            let (u0, v0) = (u.clone(), v.clone());
            for _ in 0..params.iterations {
                (u, v) = jacobi(&d, &u0, &v0, &u, &v, w, h, alpha2, params.max_step);
            }
        }
    }
    (u, v)
}

/// flow_consistency.wgsl: 1 where the forward–backward error passes the spec's test.
pub fn consistency(fu: &[f32], fv: &[f32], bu: &[f32], bv: &[f32], w: usize, h: usize) -> Vec<f32> {
    (0..w * h)
        .into_par_iter()
        .map(|i| {
            let qx = (i % w) as f32 + fu[i];
            let qy = (i / w) as f32 + fv[i];
            if qx < 0.0 || qy < 0.0 || qx > (w - 1) as f32 || qy > (h - 1) as f32 {
                return 0.0;
            }
            let e = (fu[i] + sample_clamped(bu, w, h, qx, qy)).abs() + (fv[i] + sample_clamped(bv, w, h, qx, qy)).abs();
            if (-0.5 * e).exp() >= 0.5 {
                1.0
            } else {
                0.0
            }
        })
        .collect()
}

/// flow_erode.wgsl: minimum over the (2r+1)² window, pixels outside the image left out.
pub fn erode(mask: &[f32], w: usize, h: usize, r: usize) -> Vec<f32> {
    (0..w * h)
        .into_par_iter()
        .map(|i| {
            let (x, y) = (i % w, i / w);
            let mut m = 1.0f32;
            for yy in y.saturating_sub(r)..=(y + r).min(h - 1) {
                for xx in x.saturating_sub(r)..=(x + r).min(w - 1) {
                    m = m.min(mask[yy * w + xx]);
                }
            }
            m
        })
        .collect()
}

/// Both flows and their masks (the reference of [`super::estimate_pair`]).
pub fn estimate_pair(g1: &[f32], g2: &[f32], width: u32, height: u32, params: &FlowParams) -> (Flow, Flow) {
    let levels = params.levels(width, height);
    let p1 = pyramid(g1, &levels);
    let p2 = pyramid(g2, &levels);
    let (fu, fv) = flow_one_way(&p1, &p2, &levels, params);
    let (bu, bv) = flow_one_way(&p2, &p1, &levels, params);
    let (w, h) = (width as usize, height as usize);
    let r = params.erode_radius as usize;
    let fm = erode(&consistency(&fu, &fv, &bu, &bv, w, h), w, h, r);
    let bm = erode(&consistency(&bu, &bv, &fu, &fv, w, h), w, h, r);
    (
        Flow { width, height, u: fu, v: fv, valid: fm },
        Flow { width, height, u: bu, v: bv, valid: bm },
    )
}
