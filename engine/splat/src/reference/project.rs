//! Per-Gaussian projection (contract steps 1–12) and its backward pass.

use glam::{DMat3, DVec3};
use rayon::prelude::*;

use super::{sh, Camera64, Params64, Settings64};
use crate::{sh_coeffs, ColorSource, TILE_SIZE};

/// Smallest alpha that is blended (contract: skip if α < 1/255).
pub const MIN_ALPHA: f64 = 1.0 / 255.0;
/// Relative and absolute inflation of τ in the tile test (contract step 11), so that rounding
/// in the tile test never drops a tile the per-pixel test would use. The reference uses the
/// same inflation as the kernels, so its `tiles_touched` is comparable with theirs.
pub const TAU_INFLATE_REL: f64 = 1e-4;
pub const TAU_INFLATE_ABS: f64 = 1e-4;

/// The projection of one Gaussian, as the rasterizer sees it. For GPU comparison tests.
///
/// When `visible` is false every other field is zero/empty, except for a Gaussian that passed
/// every cull but touches no tile: its values are filled in (with `tiles_touched == 0`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProjectedSplat {
    /// Survived the culls of steps 1–9 and touches at least one tile (step 11).
    pub visible: bool,
    /// Pixel coordinates of the projected mean (pixel (x, y)'s centre is (x + ½, y + ½)).
    pub mean2d: [f64; 2],
    /// Inverse of the blurred 2D covariance, (A, B, C): σ = ½(A dx² + C dy²) + B dx dy.
    pub conic: [f64; 3],
    /// Blurred 2D covariance (a, b, c) = (Σ₂'₀₀, Σ₂'₀₁, Σ₂'₁₁).
    pub cov2d: [f64; 3],
    /// Opacity used for blending, o' (compensated in antialiased mode).
    pub opacity: f64,
    /// Camera-space z.
    pub depth: f64,
    /// ln(255·o'): pixels with σ > τ get α < 1/255.
    pub tau: f64,
    /// Composited channels (clamped SH colour, or the features).
    pub color: Vec<f64>,
    /// Tiles [x0, x1) × [y0, y1) of the search box clipped to the image, as [x0, y0, x1, y1].
    pub tile_rect: [u32; 4],
    /// Tiles in `tile_rect` that pass the exact ellipse test (with the inflated τ).
    pub tiles_touched: u32,
}

/// What the backward pass needs from the forward, per Gaussian that passed the culls.
#[derive(Clone, Debug)]
pub(crate) struct Cache {
    p: DVec3,
    o: f64,
    /// Antialiasing compensation k (1 in classic mode).
    k: f64,
    qn: [f64; 4],
    qlen: f64,
    rq: DMat3,
    scale: DVec3,
    m: DMat3,
    sigma_c: DMat3,
    j0: DVec3,
    j1: DVec3,
    pub(crate) u_clamped: bool,
    pub(crate) v_clamped: bool,
    cov0: [f64; 3],
    det0: f64,
    det: f64,
    dir: DVec3,
    dist: f64,
    /// Per SH channel: false where rgb < 0 was clamped to 0 (no gradient passes).
    pub(crate) color_pass: [bool; 3],
}

pub(crate) struct Projection {
    pub(crate) splat: ProjectedSplat,
    /// `None` when culled by steps 1–9 (or a derived value was not finite).
    pub(crate) cache: Option<Cache>,
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Rotation matrix of a unit quaternion (w, x, y, z), contract step 4.
fn quat_to_mat(q: [f64; 4]) -> DMat3 {
    let [w, x, y, z] = q;
    rows([
        [1.0 - 2.0 * (y * y + z * z), 2.0 * (x * y - w * z), 2.0 * (x * z + w * y)],
        [2.0 * (x * y + w * z), 1.0 - 2.0 * (x * x + z * z), 2.0 * (y * z - w * x)],
        [2.0 * (x * z - w * y), 2.0 * (y * z + w * x), 1.0 - 2.0 * (x * x + y * y)],
    ])
}

/// glam matrices are column-major; the contract writes matrices by rows.
fn rows(r: [[f64; 3]; 3]) -> DMat3 {
    DMat3::from_cols_array_2d(&r).transpose()
}

fn at(m: &DMat3, i: usize, j: usize) -> f64 {
    m.col(j)[i]
}

/// The values of Gaussian `i` that this render reads for its colour.
pub(crate) fn colour_inputs<'a>(params: &'a Params64, st: &Settings64, i: usize) -> &'a [f64] {
    match st.color_source {
        ColorSource::Sh => {
            let k = sh_coeffs(params.sh_degree) * 3;
            &params.sh[i * k..i * k + sh_coeffs(st.sh_degree) * 3]
        }
        ColorSource::Features => {
            let f = params.feature_channels;
            &params.features[i * f..(i + 1) * f]
        }
    }
}

/// Jacobian limits of contract step 5: (−lim⁻, lim⁺) for x/z and y/z.
fn jacobian_limits(cam: &Camera64) -> ([f64; 2], [f64; 2]) {
    let (w, h) = (cam.width as f64, cam.height as f64);
    let tan_x = 0.5 * w / cam.fx;
    let tan_y = 0.5 * h / cam.fy;
    (
        [-(cam.cx / cam.fx + 0.3 * tan_x), (w - cam.cx) / cam.fx + 0.3 * tan_x],
        [-(cam.cy / cam.fy + 0.3 * tan_y), (h - cam.cy) / cam.fy + 0.3 * tan_y],
    )
}

pub(crate) fn project_one(i: usize, params: &Params64, cam: &Camera64, st: &Settings64) -> Projection {
    let culled = Projection { splat: ProjectedSplat::default(), cache: None };
    let mean = DVec3::from(params.means[i]);
    let log_scale = DVec3::from(params.log_scales[i]);
    let q = params.rotations[i];
    let logit = params.opacity_logits[i];
    let colour_in = colour_inputs(params, st, i);

    // Step 1. |q|² is also required finite: a finite quaternion whose square overflows would
    // normalize to zero.
    let q2: f64 = q.iter().map(|v| v * v).sum();
    if !(mean.is_finite()
        && log_scale.is_finite()
        && q.iter().all(|v| v.is_finite())
        && logit.is_finite()
        && colour_in.iter().all(|v| v.is_finite())
        && q2 > 0.0
        && q2.is_finite())
    {
        return culled;
    }

    // Step 2. Written as a negated range test so that a NaN depth is culled too.
    let p = cam.rotation * mean + cam.translation;
    let z = p.z;
    if !(z >= cam.near && z <= cam.far) {
        return culled;
    }

    // Steps 3–4.
    let o = sigmoid(logit);
    let qlen = q2.sqrt();
    let qn = q.map(|v| v / qlen);
    let rq = quat_to_mat(qn);
    let scale = DVec3::new(log_scale.x.exp(), log_scale.y.exp(), log_scale.z.exp());
    let m = rq * DMat3::from_diagonal(scale);
    let sigma = m * m.transpose();
    let sigma_c = cam.rotation * sigma * cam.rotation.transpose();

    // Step 5.
    let (lim_x, lim_y) = jacobian_limits(cam);
    let (ux, vy) = (p.x / z, p.y / z);
    let u = ux.clamp(lim_x[0], lim_x[1]);
    let v = vy.clamp(lim_y[0], lim_y[1]);
    let u_clamped = !(ux >= lim_x[0] && ux <= lim_x[1]);
    let v_clamped = !(vy >= lim_y[0] && vy <= lim_y[1]);
    let j0 = DVec3::new(cam.fx / z, 0.0, -cam.fx * u / z);
    let j1 = DVec3::new(0.0, cam.fy / z, -cam.fy * v / z);

    // Step 6.
    let sj0 = sigma_c * j0;
    let sj1 = sigma_c * j1;
    let cov0 = [j0.dot(sj0), j0.dot(sj1), j1.dot(sj1)];
    let cov = [cov0[0] + st.eps2d, cov0[1], cov0[2] + st.eps2d];

    // Step 7. Positive definiteness also needs a > 0 (det > 0 alone admits a negative-definite
    // matrix, possible only with a negative eps2d); an overflowed det is culled as well.
    let det = cov[0] * cov[2] - cov[1] * cov[1];
    if !(det > 0.0 && cov[0] > 0.0 && det.is_finite()) {
        return culled;
    }
    let conic = [cov[2] / det, -cov[1] / det, cov[0] / det];

    // Step 8.
    let det0 = cov0[0] * cov0[2] - cov0[1] * cov0[1];
    let k = if st.antialiased {
        if det0 > 0.0 {
            (det0 / det).sqrt()
        } else {
            0.0
        }
    } else {
        1.0
    };
    let opacity = o * k;

    // Step 9. (Negated so that NaN is culled, as everywhere in this function.)
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    if !(opacity >= MIN_ALPHA) {
        return culled;
    }
    let tau = (255.0 * opacity).ln();

    // Step 10.
    let mean2d = [cam.fx * p.x / z + cam.cx, cam.fy * p.y / z + cam.cy];

    // Step 12.
    let centre = cam.center();
    let d = mean - centre;
    let dist = d.length();
    let dir = d / dist;
    let mut color_pass = [true; 3];
    let color: Vec<f64> = match st.color_source {
        ColorSource::Sh => {
            let y = sh::basis(st.sh_degree, dir);
            (0..3)
                .map(|c| {
                    let rgb: f64 = (0..sh_coeffs(st.sh_degree)).map(|k| y[k] * colour_in[k * 3 + c]).sum::<f64>() + 0.5;
                    color_pass[c] = rgb >= 0.0;
                    rgb.max(0.0)
                })
                .collect()
        }
        ColorSource::Features => colour_in.to_vec(),
    };

    // f64 rarely overflows here, but huge (finite) inputs can; a non-finite derived value would
    // poison every pixel it touches, so such a Gaussian is culled like a non-finite parameter.
    if !(mean2d.iter().chain(&conic).chain(&cov).chain(&color).all(|v| v.is_finite()) && tau.is_finite() && dist > 0.0)
    {
        return culled;
    }

    let mut splat = ProjectedSplat {
        visible: false,
        mean2d,
        conic,
        cov2d: cov,
        opacity,
        depth: z,
        tau,
        color,
        tile_rect: [0; 4],
        tiles_touched: 0,
    };
    // Step 11.
    if let Some(rect) = tile_rect(&splat, cam) {
        let mut touched = 0;
        for ty in rect[1]..rect[3] {
            for tx in rect[0]..rect[2] {
                touched += tile_touches(&splat, cam, tx, ty) as u32;
            }
        }
        splat.tile_rect = rect;
        splat.tiles_touched = touched;
        splat.visible = touched > 0;
    }

    let cache = Cache {
        p,
        o,
        k,
        qn,
        qlen,
        rq,
        scale,
        m,
        sigma_c,
        j0,
        j1,
        u_clamped,
        v_clamped,
        cov0,
        det0,
        det,
        dir,
        dist,
        color_pass,
    };
    Projection { splat, cache: Some(cache) }
}

/// τ as the tile test uses it (inflated; see [`TAU_INFLATE_REL`]).
pub fn tile_tau(splat: &ProjectedSplat) -> f64 {
    splat.tau * (1.0 + TAU_INFLATE_REL) + TAU_INFLATE_ABS
}

/// Inclusive pixel range [x0, x1] × [y0, y1] whose centres lie in the search box
/// m ± (√(2τa), √(2τc)) (inflated τ), clipped to the image; `None` if empty.
pub fn search_pixels(splat: &ProjectedSplat, cam: &Camera64) -> Option<[u32; 4]> {
    let t = tile_tau(splat);
    let rx = (2.0 * t * splat.cov2d[0]).sqrt();
    let ry = (2.0 * t * splat.cov2d[2]).sqrt();
    // Pixel x has its centre at x + ½, so it is inside when m − r ≤ x + ½ ≤ m + r.
    let x0 = (splat.mean2d[0] - rx - 0.5).ceil().max(0.0);
    let x1 = (splat.mean2d[0] + rx - 0.5).floor().min(cam.width as f64 - 1.0);
    let y0 = (splat.mean2d[1] - ry - 0.5).ceil().max(0.0);
    let y1 = (splat.mean2d[1] + ry - 0.5).floor().min(cam.height as f64 - 1.0);
    if !(x0 <= x1 && y0 <= y1) {
        return None;
    }
    Some([x0 as u32, y0 as u32, x1 as u32, y1 as u32])
}

/// Tiles [x0, x1) × [y0, y1) that the search box meets, as [x0, y0, x1, y1].
pub fn tile_rect(splat: &ProjectedSplat, cam: &Camera64) -> Option<[u32; 4]> {
    let [x0, y0, x1, y1] = search_pixels(splat, cam)?;
    Some([x0 / TILE_SIZE, y0 / TILE_SIZE, x1 / TILE_SIZE + 1, y1 / TILE_SIZE + 1])
}

/// The exact tile test of contract step 11 (with the inflated τ): does the ellipse σ ≤ τ meet
/// the rectangle spanned by the centres of tile (tx, ty)'s pixels inside the image?
pub fn tile_touches(splat: &ProjectedSplat, cam: &Camera64, tx: u32, ty: u32) -> bool {
    let x0 = (tx * TILE_SIZE) as f64 + 0.5;
    let y0 = (ty * TILE_SIZE) as f64 + 0.5;
    let x1 = (((tx + 1) * TILE_SIZE).min(cam.width) - 1) as f64 + 0.5;
    let y1 = (((ty + 1) * TILE_SIZE).min(cam.height) - 1) as f64 + 0.5;
    if x0 > x1 || y0 > y1 {
        return false;
    }
    min_sigma_over_rect(splat.conic, splat.mean2d, [x0, y0, x1, y1]) <= tile_tau(splat)
}

/// min over the rectangle [x0, x1] × [y0, y1] of σ(p − m) = ½(A dx² + C dy²) + B dx dy, for a
/// positive-definite conic. The quadratic is convex, so if m is outside the rectangle the
/// minimum lies on an edge, where it is a 1-D quadratic minimized by clamping its vertex.
pub fn min_sigma_over_rect(conic: [f64; 3], m: [f64; 2], rect: [f64; 4]) -> f64 {
    let [a, b, c] = conic;
    let [x0, y0, x1, y1] = rect;
    let sigma = |dx: f64, dy: f64| 0.5 * (a * dx * dx + c * dy * dy) + b * dx * dy;
    if m[0] >= x0 && m[0] <= x1 && m[1] >= y0 && m[1] <= y1 {
        return 0.0;
    }
    let (dx0, dx1, dy0, dy1) = (x0 - m[0], x1 - m[0], y0 - m[1], y1 - m[1]);
    let mut best = f64::INFINITY;
    for dx in [dx0, dx1] {
        // ∂σ/∂dy = C dy + B dx = 0.
        let dy = (-b * dx / c).clamp(dy0, dy1);
        best = best.min(sigma(dx, dy));
    }
    for dy in [dy0, dy1] {
        let dx = (-b * dy / a).clamp(dx0, dx1);
        best = best.min(sigma(dx, dy));
    }
    best
}

/// Projects every Gaussian (in parallel).
pub(crate) fn project_all(params: &Params64, cam: &Camera64, st: &Settings64) -> Vec<Projection> {
    (0..params.len()).into_par_iter().map(|i| project_one(i, params, cam, st)).collect()
}

/// Layout of the per-Gaussian gradient w.r.t. the rasterizer's inputs:
/// [mean2d x, y, conic A, B, C, opacity o', depth z, colour channels…].
pub(crate) const RG_M: usize = 0;
pub(crate) const RG_CONIC: usize = 2;
pub(crate) const RG_OPACITY: usize = 5;
pub(crate) const RG_DEPTH: usize = 6;
pub(crate) const RG_COLOR: usize = 7;

/// Gradients of one Gaussian's parameters.
pub(crate) struct SplatGrads {
    pub mean: [f64; 3],
    pub log_scale: [f64; 3],
    pub rotation: [f64; 4],
    pub logit: f64,
    /// Colour-input gradients, laid out like [`colour_inputs`].
    pub colour: Vec<f64>,
    pub mean2d_norm: f64,
}

/// Backward of [`project_one`] for a Gaussian that passed the culls, given the gradient `rg`
/// w.r.t. its rasterizer inputs (layout `RG_*`).
pub(crate) fn project_backward(
    i: usize,
    splat: &ProjectedSplat,
    cache: &Cache,
    params: &Params64,
    cam: &Camera64,
    st: &Settings64,
    rg: &[f64],
) -> SplatGrads {
    let ch = &rg[RG_COLOR..];
    let mut g_mean = DVec3::ZERO;

    // Colour (step 12).
    let colour = match st.color_source {
        ColorSource::Sh => {
            let coeffs = colour_inputs(params, st, i);
            let nk = sh_coeffs(st.sh_degree);
            let (y, gy) = sh::basis_and_grad(st.sh_degree, cache.dir);
            let mut g = vec![0.0; nk * 3];
            let mut g_dir = DVec3::ZERO;
            for c in 0..3 {
                if !cache.color_pass[c] {
                    continue;
                }
                for k in 0..nk {
                    g[k * 3 + c] = ch[c] * y[k];
                    g_dir += ch[c] * coeffs[k * 3 + c] * gy[k];
                }
            }
            // d̂ = d/|d|: project out the radial part, which normalization removes.
            g_mean += (g_dir - cache.dir * cache.dir.dot(g_dir)) / cache.dist;
            g
        }
        ColorSource::Features => ch.to_vec(),
    };

    // Opacity (steps 3, 8).
    let g_op = rg[RG_OPACITY];
    let [a0, b0, c0] = cache.cov0;
    let [a, b, c] = splat.cov2d;
    let (g_o, g_det0, g_det) = if st.antialiased {
        let g_k = g_op * cache.o;
        (g_op * cache.k, g_k * cache.k / (2.0 * cache.det0), -g_k * cache.k / (2.0 * cache.det))
    } else {
        (g_op, 0.0, 0.0)
    };
    let logit = g_o * cache.o * (1.0 - cache.o);

    // Conic → blurred covariance (step 7): g_Σ₂' = −Q G Q.
    let [qa, qb, qc] = splat.conic;
    let [ga, gb, gc] = [rg[RG_CONIC], rg[RG_CONIC + 1], rg[RG_CONIC + 2]];
    let (g00, g01, g11) = (ga, 0.5 * gb, gc);
    // T = G Q, then −Q T.
    let t00 = g00 * qa + g01 * qb;
    let t01 = g00 * qb + g01 * qc;
    let t10 = g01 * qa + g11 * qb;
    let t11 = g01 * qb + g11 * qc;
    let mut g_a = -(qa * t00 + qb * t10);
    let mut g_b = -2.0 * (qa * t01 + qb * t11);
    let mut g_c = -(qb * t01 + qc * t11);
    // det = ac − b² (antialiased compensation); the blur shifts a, c by a constant.
    g_a += g_det * c;
    g_c += g_det * a;
    g_b -= 2.0 * b * g_det;
    // det₀ = a₀c₀ − b₀².
    let g_a0 = g_a + g_det0 * c0;
    let g_c0 = g_c + g_det0 * a0;
    let g_b0 = g_b - 2.0 * b0 * g_det0;

    // Σ₂ = J Σc Jᵀ (step 6), with g_Σ₂ = [[g_a0, g_b0/2], [g_b0/2, g_c0]].
    let (j0, j1) = (cache.j0, cache.j1);
    let hb = 0.5 * g_b0;
    let g_sigma_c = g_a0 * outer(j0, j0) + hb * (outer(j0, j1) + outer(j1, j0)) + g_c0 * outer(j1, j1);
    let sj0 = cache.sigma_c * j0;
    let sj1 = cache.sigma_c * j1;
    let g_j0 = 2.0 * (g_a0 * sj0 + hb * sj1);
    let g_j1 = 2.0 * (hb * sj0 + g_c0 * sj1);

    // J (step 5): J₀₂ = −fx u/z with u = clamp(x/z); when u is not clamped this is −fx x/z².
    let p = cache.p;
    let z = p.z;
    let (fx, fy) = (cam.fx, cam.fy);
    let z2 = z * z;
    let mut g_p = DVec3::ZERO;
    g_p.z += -g_j0.x * fx / z2 - g_j1.y * fy / z2;
    let u = -j0.z * z / fx;
    let v = -j1.z * z / fy;
    if cache.u_clamped {
        g_p.z += g_j0.z * fx * u / z2;
    } else {
        g_p.x += -g_j0.z * fx / z2;
        g_p.z += g_j0.z * 2.0 * fx * u / z2;
    }
    if cache.v_clamped {
        g_p.z += g_j1.z * fy * v / z2;
    } else {
        g_p.y += -g_j1.z * fy / z2;
        g_p.z += g_j1.z * 2.0 * fy * v / z2;
    }

    // Mean2d (step 10) and depth.
    let (gmx, gmy) = (rg[RG_M], rg[RG_M + 1]);
    g_p.x += gmx * fx / z;
    g_p.y += gmy * fy / z;
    g_p.z += -(gmx * fx * p.x + gmy * fy * p.y) / z2;
    g_p.z += rg[RG_DEPTH];

    // Σc = R Σ Rᵀ, Σ = M Mᵀ, M = Rq diag(e^s) (step 4).
    let r = cam.rotation;
    let g_sigma = r.transpose() * g_sigma_c * r;
    let g_m = 2.0 * g_sigma * cache.m;
    let rtgm = cache.rq.transpose() * g_m;
    let log_scale = [0, 1, 2].map(|j| at(&rtgm, j, j) * cache.scale[j]);
    let g_rq = g_m * DMat3::from_diagonal(cache.scale);
    let g_qn = quat_mat_backward(cache.qn, &g_rq);
    let qn = cache.qn;
    let dot: f64 = (0..4).map(|j| qn[j] * g_qn[j]).sum();
    let rotation = [0, 1, 2, 3].map(|j| (g_qn[j] - qn[j] * dot) / cache.qlen);

    g_mean += r.transpose() * g_p;

    SplatGrads { mean: g_mean.into(), log_scale, rotation, logit, colour, mean2d_norm: (gmx * gmx + gmy * gmy).sqrt() }
}

fn outer(a: DVec3, b: DVec3) -> DMat3 {
    // Column j of a bᵀ is a·b_j.
    DMat3::from_cols(a * b.x, a * b.y, a * b.z)
}

/// Gradient w.r.t. the (unit) quaternion of L(quat_to_mat(q)), given G = ∂L/∂R.
fn quat_mat_backward(q: [f64; 4], g: &DMat3) -> [f64; 4] {
    let [w, x, y, z] = q;
    let gm = |i, j| at(g, i, j);
    let gw = 2.0 * (-z * gm(0, 1) + y * gm(0, 2) + z * gm(1, 0) - x * gm(1, 2) - y * gm(2, 0) + x * gm(2, 1));
    let gx = 2.0
        * (y * gm(0, 1) + z * gm(0, 2) + y * gm(1, 0) - 2.0 * x * gm(1, 1) - w * gm(1, 2)
            + z * gm(2, 0)
            + w * gm(2, 1)
            - 2.0 * x * gm(2, 2));
    let gy = 2.0
        * (-2.0 * y * gm(0, 0) + x * gm(0, 1) + w * gm(0, 2) + x * gm(1, 0) + z * gm(1, 2) - w * gm(2, 0)
            + z * gm(2, 1)
            - 2.0 * y * gm(2, 2));
    let gz = 2.0
        * (-2.0 * z * gm(0, 0) - w * gm(0, 1) + x * gm(0, 2) + w * gm(1, 0) - 2.0 * z * gm(1, 1)
            + y * gm(1, 2)
            + x * gm(2, 0)
            + y * gm(2, 1));
    [gw, gx, gy, gz]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quaternion_matrix_is_a_rotation_and_its_gradient_matches_fd() {
        let q = [0.3, -0.5, 0.7, 0.2];
        let n = q.iter().map(|v: &f64| v * v).sum::<f64>().sqrt();
        let q = q.map(|v| v / n);
        let r = quat_to_mat(q);
        assert!((r * r.transpose()).abs_diff_eq(DMat3::IDENTITY, 1e-12));
        let g = rows([[0.1, -0.4, 0.9], [0.3, 0.2, -0.7], [-0.5, 0.8, 0.6]]);
        let an = quat_mat_backward(q, &g);
        let loss = |q: [f64; 4]| {
            let m = quat_to_mat(q);
            (0..3).flat_map(|i| (0..3).map(move |j| (i, j))).map(|(i, j)| at(&m, i, j) * at(&g, i, j)).sum::<f64>()
        };
        for j in 0..4 {
            let mut qp = q;
            let mut qm = q;
            qp[j] += 1e-6;
            qm[j] -= 1e-6;
            let fd = (loss(qp) - loss(qm)) / 2e-6;
            assert!((fd - an[j]).abs() < 1e-8, "{j}: fd {fd} analytic {}", an[j]);
        }
    }

    #[test]
    fn rect_minimum_matches_brute_force() {
        let conic = [0.05, -0.03, 0.08];
        for (m, rect) in [
            ([3.0, 4.0], [0.5, 0.5, 15.5, 15.5]),
            ([-10.0, 7.0], [0.5, 0.5, 15.5, 15.5]),
            ([30.0, -9.0], [16.5, 0.5, 31.5, 15.5]),
            ([40.0, 40.0], [16.5, 16.5, 20.5, 31.5]),
        ] {
            let got = min_sigma_over_rect(conic, m, rect);
            let mut best = f64::INFINITY;
            for i in 0..=400 {
                for j in 0..=400 {
                    let x = rect[0] + (rect[2] - rect[0]) * i as f64 / 400.0;
                    let y = rect[1] + (rect[3] - rect[1]) * j as f64 / 400.0;
                    let (dx, dy) = (x - m[0], y - m[1]);
                    best = best.min(0.5 * (conic[0] * dx * dx + conic[2] * dy * dy) + conic[1] * dx * dy);
                }
            }
            assert!(got <= best + 1e-12 && got >= best - 1e-3 * (1.0 + best), "{m:?} {rect:?}: {got} vs {best}");
        }
    }
}
