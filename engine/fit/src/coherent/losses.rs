//! CoherentGS's losses in their host form (`../shared/methods/coherentgs.md`): pixel rays,
//! the flow loss on world positions, multi-view TV on rendered disparity, the pyramid L1
//! levels and the supersampled render's box pooling. Each returns its value and accumulates
//! dL/d(input); tests check them against finite differences.
//!
//! The trainer runs their GPU forms (`gpu_flow`, `gpu_image_terms`; session 12 moved the last of
//! them, the image terms, so a step reads no image back). These functions stay as the GPU
//! kernels' references: the tests compare the two on the same inputs.

use glam::Vec3;
use kiln_scene::Camera;
use rayon::prelude::*;

/// World-space ray of every pixel centre, scaled so that its camera-space z is 1: the pixel's
/// Gaussian sits at `camera centre + z · ray`.
pub fn pixel_rays(cam: &Camera) -> Vec<Vec3> {
    (0..cam.height * cam.width).map(|p| pixel_ray(cam, (p % cam.width) as f32 + 0.5, (p / cam.width) as f32 + 0.5)).collect()
}

/// The world-space ray through image point (x, y) (pixel units, continuous), camera-space z 1.
pub fn pixel_ray(cam: &Camera, x: f32, y: f32) -> Vec3 {
    cam.rotation.transpose() * Vec3::new((x - cam.cx) / cam.fx, (y - cam.cy) / cam.fy, 1.0)
}

/// Dense correspondences from one training view to another: pixel p of `from` matches
/// p + flow[p] of `to` (pixel units), trusted where `mask[p]` is 1 (forward–backward check).
#[derive(Clone, Debug)]
pub struct FlowField {
    pub from: usize,
    pub to: usize,
    pub width: u32,
    pub height: u32,
    pub flow: Vec<[f32; 2]>,
    pub mask: Vec<f32>,
}

/// d|x|/dx as autograd frameworks take it: sign(x), and 0 at 0. (`f32::signum` gives ±1 at ±0,
/// which would push flat regions of the TV's disparity — empty background, masked layer
/// copies — and exactly matched flow positions with a gradient the loss does not have.)
fn l1_slope(x: f32) -> f32 {
    if x == 0.0 {
        0.0
    } else {
        x.signum()
    }
}

/// Bilinear sample of a vec3 map at continuous pixel-index coordinates; `None` outside.
/// Returns the value and the four (index, weight) taps.
fn bilinear(map: &[Vec3], w: usize, h: usize, x: f32, y: f32) -> Option<(Vec3, [(usize, f32); 4])> {
    if !(x >= 0.0 && y >= 0.0 && x <= (w - 1) as f32 && y <= (h - 1) as f32) {
        return None;
    }
    let (x0, y0) = ((x.floor() as usize).min(w.saturating_sub(2)), (y.floor() as usize).min(h.saturating_sub(2)));
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let taps = [
        (y0 * w + x0, (1.0 - fx) * (1.0 - fy)),
        (y0 * w + x1, fx * (1.0 - fy)),
        (y1 * w + x0, (1.0 - fx) * fy),
        (y1 * w + x1, fx * fy),
    ];
    let v = taps.iter().map(|&(i, t)| map[i] * t).sum();
    Some((v, taps))
}

/// L_flow with `reference` as view i: Σ_j mean over the 3×H×W map of
/// |warp(X_j, F_i→j) ⊙ M − X_i ⊙ M| (PyTorch's L1 mean). Correspondences that land outside
/// view j count as masked (the reference samples zeros there, which its mask also excludes).
/// Gradients (d/d world position) go to both views' position maps in `grads`.
///
/// The positions are in world units and the loss is taken in the spec's scene unit (world
/// length `unit`, see [`crate::coherent::CoherentConfig::unit`]): X/unit. An L1 term's gradient
/// does not shrink with the positions' scale, so without the division the flow term's pull
/// against the photometric loss would grow with the dataset's units (×13 on LLFF fern).
pub fn flow_loss(positions: &[Vec<Vec3>], flows: &[FlowField], reference: usize, unit: f32, grads: &mut [Vec<Vec3>]) -> f32 {
    let mut total = 0.0f64;
    for f in flows.iter().filter(|f| f.from == reference && f.to != reference) {
        let (w, h) = (f.width as usize, f.height as usize);
        let norm = 1.0 / (3.0 * (w * h) as f32 * unit);
        let (xi, xj) = (&positions[f.from], &positions[f.to]);
        // Per pixel of i: its loss, its gradient on X_i and the taps into X_j.
        let terms: Vec<(f32, usize, Vec3, [(usize, f32); 4])> = (0..w * h)
            .into_par_iter()
            .filter_map(|p| {
                let m = f.mask[p];
                if m <= 0.0 {
                    return None;
                }
                let [dx, dy] = f.flow[p];
                let (sx, sy) = ((p % w) as f32 + dx, (p / w) as f32 + dy);
                let (v, taps) = bilinear(xj, w, h, sx, sy)?;
                let d = (v - xi[p]) * m;
                let g = Vec3::new(l1_slope(d.x), l1_slope(d.y), l1_slope(d.z)) * (m * norm);
                Some(((d.x.abs() + d.y.abs() + d.z.abs()) * norm, p, g, taps))
            })
            .collect();
        for (l, p, g, taps) in terms {
            total += l as f64;
            grads[f.from][p] -= g;
            for (i, t) in taps {
                grads[f.to][i] += g * t;
            }
        }
    }
    total as f32
}

/// L_multi = γ·tv(M ⊙ δ) + (1 − γ)·tv(δ) on the rendered disparity δ = 1/(d + 1),
/// d = depth_sum / (alpha + 1e-6) / unit; tv(x) = mean|∂x/∂u| + mean|∂x/∂v|; M ⊙ δ stacks one
/// masked copy per depth layer (`layers[p]` = the pixel's layer; a pixel whose layer is not
/// below `layer_count` is in none). Returns the loss and adds dL/d(depth_sum), dL/d(alpha)
/// scaled by `weight`.
///
/// d is in the spec's scene unit (world length `unit`): the "+ 1" is one scene unit, so in
/// world units the disparity of a scene 13 units deep (LLFF fern) would be nearly flat and the
/// term about 6× weaker than the method's.
///
/// The masked copies are not built: a neighbour pair (a, b) in one layer differs by δ_b − δ_a
/// in that layer's copy and by 0 in the others; a pair across layers differs by δ_a in a's copy
/// and by δ_b in b's. Each pixel gathers its four pairs' gradients, so rows run in parallel
/// (a full-size view is ~190,000 pixels). `tests::disparity_tv_serial` is the plain form it is
/// tested against; the trainer runs the GPU form (`gpu_image_terms`), tested against this.
#[allow(clippy::too_many_arguments)]
pub fn disparity_tv(
    depth_sum: &[f32],
    alpha: &[f32],
    layers: &[u8],
    layer_count: usize,
    gamma: f32,
    w: usize,
    h: usize,
    weight: f32,
    unit: f32,
    grad_depth: &mut [f32],
    grad_alpha: &mut [f32],
) -> f32 {
    let n = w * h;
    let d: Vec<f32> = (0..n).into_par_iter().map(|p| depth_sum[p] / ((alpha[p] + 1e-6) * unit)).collect();
    let disp: Vec<f32> = d.par_iter().map(|&d| 1.0 / (d + 1.0)).collect();
    let TvPairWeights { masked, plain, layered } = TvPairWeights::new(w, h, layer_count, gamma, weight);
    let layer = |p: usize| if masked && (layers[p] as usize) < layer_count { Some(layers[p]) } else { None };
    // The pair (a, b) along direction `dir`: its loss and its gradients on δ_a and δ_b.
    let pair = |a: usize, b: usize, dir: usize| -> (f32, f32, f32) {
        let diff = disp[b] - disp[a];
        let s = l1_slope(diff);
        let (mut loss, mut ga, mut gb) = (plain[dir] * diff.abs(), -plain[dir] * s, plain[dir] * s);
        let c = layered[dir];
        match (layer(a), layer(b)) {
            (Some(la), Some(lb)) if la == lb => {
                loss += c * diff.abs();
                ga -= c * s;
                gb += c * s;
            }
            (la, lb) => {
                if la.is_some() {
                    loss += c * disp[a].abs();
                    ga += c * l1_slope(disp[a]);
                }
                if lb.is_some() {
                    loss += c * disp[b].abs();
                    gb += c * l1_slope(disp[b]);
                }
            }
        }
        (loss, ga, gb)
    };
    let mut g_disp = vec![0.0f32; n];
    let loss: f64 = g_disp
        .par_chunks_mut(w.max(1))
        .enumerate()
        .map(|(y, row)| {
            let mut loss = 0.0f64;
            for (x, g) in row.iter_mut().enumerate() {
                let p = y * w + x;
                // Pairs where p is the first pixel carry the loss; the others only the gradient.
                if x + 1 < w {
                    let (l, ga, _) = pair(p, p + 1, 0);
                    loss += l as f64;
                    *g += ga;
                }
                if y + 1 < h {
                    let (l, ga, _) = pair(p, p + w, 1);
                    loss += l as f64;
                    *g += ga;
                }
                if x > 0 {
                    *g += pair(p - 1, p, 0).2;
                }
                if y > 0 {
                    *g += pair(p - w, p, 1).2;
                }
            }
            loss
        })
        .sum();
    grad_depth.par_iter_mut().zip(grad_alpha.par_iter_mut()).enumerate().for_each(|(p, (gd, ga))| {
        // δ = 1/(d+1), d = D/((A+ε)·unit).
        let g_d = -g_disp[p] / ((d[p] + 1.0) * (d[p] + 1.0));
        let inv = 1.0 / (alpha[p] + 1e-6);
        *gd += g_d * inv / unit;
        *ga -= g_d * depth_sum[p] * inv * inv / unit;
    });
    loss as f32
}

/// The disparity TV's loss weight per neighbour pair, `[along x, along y]`: the plain term's
/// (1 − γ)·weight and the layered term's γ·weight, each over its count of pairs (PyTorch's
/// means; the layered term has one copy per layer). Shared by [`disparity_tv`] and its GPU
/// form (`gpu_image_terms`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TvPairWeights {
    /// Whether the layered term is on (γ > 0 and at least one layer).
    pub masked: bool,
    pub plain: [f32; 2],
    pub layered: [f32; 2],
}

impl TvPairWeights {
    pub fn new(w: usize, h: usize, layer_count: usize, gamma: f32, weight: f32) -> Self {
        let masked = gamma > 0.0 && layer_count > 0;
        let per = |pairs: usize, channels: usize, w: f32| if pairs > 0 { w / (channels * pairs) as f32 } else { 0.0 };
        let (hx, hy) = (h * w.saturating_sub(1), h.saturating_sub(1) * w);
        let plain = [per(hx, 1, (1.0 - gamma) * weight), per(hy, 1, (1.0 - gamma) * weight)];
        let layered = if masked { [per(hx, layer_count, gamma * weight), per(hy, layer_count, gamma * weight)] } else { [0.0; 2] };
        TvPairWeights { masked, plain, layered }
    }
}

/// 2×2 average pool of an interleaved `w × h × c` image (odd edges dropped, as PyTorch).
pub(crate) fn pool2(img: &[f32], w: usize, h: usize, c: usize) -> (Vec<f32>, usize, usize) {
    let (w2, h2) = (w / 2, h / 2);
    let mut out = vec![0.0; w2 * h2 * c];
    if w2 > 0 {
        out.par_chunks_mut(w2 * c).enumerate().for_each(|(y, row)| {
            for x in 0..w2 {
                for k in 0..c {
                    let at = |xx: usize, yy: usize| img[(yy * w + xx) * c + k];
                    row[x * c + k] = 0.25 * (at(2 * x, 2 * y) + at(2 * x + 1, 2 * y) + at(2 * x, 2 * y + 1) + at(2 * x + 1, 2 * y + 1));
                }
            }
        });
    }
    (out, w2, h2)
}

/// Σ_{l ≥ 1} weights[l] · L1 at pyramid level l (level 0 is the GPU loss's); adds
/// dL/d(image) · `scale` into `grad`. Interleaved `w × h × c` images. Each level keeps its
/// per-pixel slope; every base pixel then gathers the slopes of the level pixels that average
/// it, rows in parallel (`tests::pyramid_l1_serial` is the scatter form it is tested against).
#[allow(clippy::too_many_arguments)]
pub fn pyramid_l1(image: &[f32], target: &[f32], w: usize, h: usize, c: usize, weights: &[f32], scale: f32, grad: &mut [f32]) -> f32 {
    let (mut img, mut tgt, mut lw, mut lh) = (image.to_vec(), target.to_vec(), w, h);
    let mut loss = 0.0f64;
    // Per level: its width, height, and dL/d(base pixel) of each of its pixels.
    let mut levels: Vec<(usize, usize, Vec<f32>)> = Vec::new();
    for (level, &wl) in weights.iter().enumerate().skip(1) {
        let (a, w2, h2) = pool2(&img, lw, lh, c);
        let (b, _, _) = pool2(&tgt, lw, lh, c);
        (img, tgt, lw, lh) = (a, b, w2, h2);
        if lw == 0 || lh == 0 {
            break;
        }
        let norm = 1.0 / (lw * lh * c) as f32;
        let f = 1usize << level; // a level-l pixel averages f×f base pixels
        loss += img.par_iter().zip(&tgt).map(|(a, b)| (wl * (a - b).abs() * norm) as f64).sum::<f64>();
        let slopes = img.par_iter().zip(&tgt).map(|(a, b)| scale * wl * l1_slope(a - b) * norm / (f * f) as f32).collect();
        levels.push((lw, lh, slopes));
    }
    grad.par_chunks_mut(w * c).enumerate().for_each(|(y, row)| {
        for (l, (lw, lh, slopes)) in levels.iter().enumerate() {
            let ly = y >> (l + 1);
            if ly >= *lh {
                continue;
            }
            for x in 0..(lw << (l + 1)).min(w) {
                let at = (ly * lw + (x >> (l + 1))) * c;
                for k in 0..c {
                    row[x * c + k] += slopes[at + k];
                }
            }
        }
    });
    scale * loss as f32
}

/// A camera rendering the same view at `k`× the resolution: pixel (x, y) of the original
/// covers the k×k block starting at (k·x, k·y), so box pooling by k gives back its grid.
pub fn supersampled(cam: &Camera, k: u32) -> Camera {
    let mut c = *cam;
    let kf = k as f32;
    c.width *= k;
    c.height *= k;
    c.fx *= kf;
    c.fy *= kf;
    c.cx *= kf;
    c.cy *= kf;
    c
}

/// Average pooling by `k` of an interleaved image of (w·k)×(h·k) pixels and `c` channels →
/// w×h (the supersampled render brought back to the training image's grid).
pub fn box_pool(src: &[f32], w: usize, h: usize, c: usize, k: usize) -> Vec<f32> {
    assert_eq!(src.len(), w * k * h * k * c, "box_pool: source size");
    let wk = w * k;
    let norm = 1.0 / (k * k) as f32;
    let mut out = vec![0.0f32; w * h * c];
    out.par_chunks_mut(w * c).enumerate().for_each(|(y, row)| {
        for x in 0..w {
            for ch in 0..c {
                let mut sum = 0.0;
                for dy in 0..k {
                    let base = ((y * k + dy) * wk + x * k) * c + ch;
                    for dx in 0..k {
                        sum += src[base + dx * c];
                    }
                }
                row[x * c + ch] = sum * norm;
            }
        }
    });
    out
}

/// The adjoint of [`box_pool`]: each w×h gradient value spread over its k×k block, / k².
pub fn box_pool_adjoint(grad: &[f32], w: usize, h: usize, c: usize, k: usize) -> Vec<f32> {
    assert_eq!(grad.len(), w * h * c, "box_pool_adjoint: gradient size");
    let wk = w * k;
    let norm = 1.0 / (k * k) as f32;
    let mut out = vec![0.0f32; wk * h * k * c];
    out.par_chunks_mut(wk * c).enumerate().for_each(|(yk, row)| {
        let y = yk / k;
        for xk in 0..wk {
            for ch in 0..c {
                row[xk * c + ch] = grad[(y * w + xk / k) * c + ch] * norm;
            }
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scene unit other than 1, so the tests see where it enters.
    const UNIT: f32 = 0.8;

    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((*seed >> 40) as f32) / (1u64 << 24) as f32
    }

    #[test]
    fn rays_reproject_to_their_pixels() {
        let cam = Camera::look_at(9, 7, 8.0, 8.5, Vec3::new(1.0, -0.5, -3.0), Vec3::ZERO, Vec3::NEG_Y);
        let rays = pixel_rays(&cam);
        for (p, r) in rays.iter().enumerate() {
            let x = cam.world_to_camera(cam.center() + *r * 2.5);
            assert!((x.z - 2.5).abs() < 1e-4);
            let (u, v) = (cam.fx * x.x / x.z + cam.cx, cam.fy * x.y / x.z + cam.cy);
            assert!((u - ((p % 9) as f32 + 0.5)).abs() < 1e-3 && (v - ((p / 9) as f32 + 0.5)).abs() < 1e-3);
        }
    }

    /// L_flow is a sum of |·| terms: a central difference whose ±eps step moves a term across
    /// its kink measures the average of the two one-sided slopes, not the gradient. (This is
    /// what the earlier version of this test tripped on: view 1 pixel 7 axis 0 feeds, through a
    /// bilinear tap of weight 0.53, a difference of 2e-5 at pixel 2 of view 0 — the ±1e-3 step
    /// flipped its sign, and the FD read 5.9e-3 against the correct 1.8e-4.) So every
    /// coordinate of both views is checked where the loss is linear across the step (the two
    /// one-sided differences agree), and nearly all of them must be.
    #[test]
    fn flow_loss_gradient_matches_finite_differences() {
        let (w, h) = (6usize, 5usize);
        let mut s = 7u64;
        let positions: Vec<Vec<Vec3>> = (0..2).map(|_| (0..w * h).map(|_| Vec3::new(lcg(&mut s), lcg(&mut s), lcg(&mut s))).collect()).collect();
        let flow = FlowField {
            from: 0,
            to: 1,
            width: w as u32,
            height: h as u32,
            flow: (0..w * h).map(|_| [lcg(&mut s) * 1.6 - 0.8, lcg(&mut s) * 1.6 - 0.8]).collect(),
            mask: (0..w * h).map(|p| if p % 5 == 0 { 0.0 } else { 1.0 }).collect(),
        };
        let flows = [flow];
        let mut grads = vec![vec![Vec3::ZERO; w * h]; 2];
        let base = flow_loss(&positions, &flows, 0, UNIT, &mut grads);
        let eps = 1e-3f32;
        let loss_at = |v: usize, p: usize, a: usize, delta: f32| {
            let mut moved = positions.clone();
            moved[v][p][a] += delta;
            let mut scratch = vec![vec![Vec3::ZERO; w * h]; 2];
            flow_loss(&moved, &flows, 0, UNIT, &mut scratch)
        };
        let (mut checked, mut kinked, mut nonzero) = (0, 0, 0);
        for v in 0..2 {
            for p in 0..w * h {
                for a in 0..3 {
                    let (plus, minus) = (loss_at(v, p, a, eps), loss_at(v, p, a, -eps));
                    let (right, left) = ((plus - base) / eps, (base - minus) / eps);
                    if (right - left).abs() > 1e-3 {
                        kinked += 1;
                        continue;
                    }
                    let fd = (plus - minus) / (2.0 * eps);
                    let g = grads[v][p][a];
                    assert!((fd - g).abs() < 5e-4, "view {v} pixel {p} axis {a}: fd {fd} vs analytic {g}");
                    checked += 1;
                    nonzero += usize::from(g.abs() > 1e-3);
                }
            }
        }
        assert!(kinked <= (checked + kinked) / 10, "{kinked} of {} coordinates straddle a kink", checked + kinked);
        // Both views' gradients were exercised, not just zeros (masked pixels and taps only).
        assert!(nonzero > checked / 2, "only {nonzero} of {checked} checked gradients are non-zero");

        // In the scene unit: the same scene in world units k× larger (positions and unit × k)
        // has the same loss, and its gradient per world length is 1/k of this one.
        let k = 12.7f32;
        let scaled: Vec<Vec<Vec3>> = positions.iter().map(|v| v.iter().map(|x| *x * k).collect()).collect();
        let mut grads_k = vec![vec![Vec3::ZERO; w * h]; 2];
        let loss_k = flow_loss(&scaled, &flows, 0, UNIT * k, &mut grads_k);
        assert!((loss_k - base).abs() < 1e-5 * base.abs().max(1e-3), "{loss_k} vs {base}");
        for (a, b) in grads.iter().flatten().zip(grads_k.iter().flatten()) {
            assert!((*a - *b * k).length() < 1e-5 * (1.0 + a.length()), "{a} vs {b} × {k}");
        }
    }

    // The plain serial forms of the TV and pyramid terms (scatter, masked copies built), the
    // references of the parallel gather forms above.
    /// dL/d(output) of the total-variation regularizer below.
    pub(super) fn tv_accumulate(x: &[f32], channels: usize, w: usize, h: usize, weight: f32, grad: &mut [f32]) -> f32 {
        let nx = (channels * h * (w.max(1) - 1)) as f32;
        let ny = (channels * (h.max(1) - 1) * w) as f32;
        let mut loss = 0.0f64;
        for c in 0..channels {
            let o = c * w * h;
            for y in 0..h {
                for xx in 0..w {
                    let i = o + y * w + xx;
                    if xx + 1 < w && nx > 0.0 {
                        let d = x[i + 1] - x[i];
                        loss += (d.abs() / nx) as f64;
                        let g = weight * l1_slope(d) / nx;
                        grad[i + 1] += g;
                        grad[i] -= g;
                    }
                    if y + 1 < h && ny > 0.0 {
                        let d = x[i + w] - x[i];
                        loss += (d.abs() / ny) as f64;
                        let g = weight * l1_slope(d) / ny;
                        grad[i + w] += g;
                        grad[i] -= g;
                    }
                }
            }
        }
        weight * loss as f32
    }

    /// L_multi = γ·tv(M ⊙ δ) + (1 − γ)·tv(δ) on the rendered disparity δ = 1/(d + 1),
    /// d = depth_sum / (alpha + 1e-6) / unit; tv(x) = mean|∂x/∂u| + mean|∂x/∂v|; M ⊙ δ stacks one
    /// masked copy per depth layer (`layers[p]` = the pixel's layer). Returns the loss and adds
    /// dL/d(depth_sum), dL/d(alpha) scaled by `weight`.
    ///
    /// d is in the spec's scene unit (world length `unit`): the "+ 1" is one scene unit, so in
    /// world units the disparity of a scene 13 units deep (LLFF fern) would be nearly flat and the
    /// term about 6× weaker than the method's.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn disparity_tv_serial(
        depth_sum: &[f32],
        alpha: &[f32],
        layers: &[u8],
        layer_count: usize,
        gamma: f32,
        w: usize,
        h: usize,
        weight: f32,
        unit: f32,
        grad_depth: &mut [f32],
        grad_alpha: &mut [f32],
    ) -> f32 {
        let n = w * h;
        let d: Vec<f32> = (0..n).map(|p| depth_sum[p] / ((alpha[p] + 1e-6) * unit)).collect();
        let disp: Vec<f32> = d.iter().map(|&d| 1.0 / (d + 1.0)).collect();
        let mut g_disp = vec![0.0f32; n];
        let mut loss = tv_accumulate(&disp, 1, w, h, (1.0 - gamma) * weight, &mut g_disp);
        if gamma > 0.0 && layer_count > 0 {
            let mut masked = vec![0.0f32; layer_count * n];
            for p in 0..n {
                let c = layers[p] as usize;
                if c < layer_count {
                    masked[c * n + p] = disp[p];
                }
            }
            let mut g_masked = vec![0.0f32; layer_count * n];
            loss += tv_accumulate(&masked, layer_count, w, h, gamma * weight, &mut g_masked);
            for p in 0..n {
                let c = layers[p] as usize;
                if c < layer_count {
                    g_disp[p] += g_masked[c * n + p];
                }
            }
        }
        for p in 0..n {
            // δ = 1/(d+1), d = D/((A+ε)·unit).
            let g_d = -g_disp[p] / ((d[p] + 1.0) * (d[p] + 1.0));
            let inv = 1.0 / (alpha[p] + 1e-6);
            grad_depth[p] += g_d * inv / unit;
            grad_alpha[p] -= g_d * depth_sum[p] * inv * inv / unit;
        }
        loss
    }

    /// 2×2 average pool of an interleaved `w × h × c` image (odd edges dropped, as PyTorch).
    pub(crate) fn pool2(img: &[f32], w: usize, h: usize, c: usize) -> (Vec<f32>, usize, usize) {
        let (w2, h2) = (w / 2, h / 2);
        let mut out = vec![0.0; w2 * h2 * c];
        for y in 0..h2 {
            for x in 0..w2 {
                for k in 0..c {
                    let at = |xx: usize, yy: usize| img[(yy * w + xx) * c + k];
                    out[(y * w2 + x) * c + k] = 0.25 * (at(2 * x, 2 * y) + at(2 * x + 1, 2 * y) + at(2 * x, 2 * y + 1) + at(2 * x + 1, 2 * y + 1));
                }
            }
        }
        (out, w2, h2)
    }

    /// Σ_{l ≥ 1} weights[l] · L1 at pyramid level l (level 0 is the GPU loss's); adds
    /// dL/d(image) · `scale` into `grad`. Interleaved `w × h × c` images.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn pyramid_l1_serial(image: &[f32], target: &[f32], w: usize, h: usize, c: usize, weights: &[f32], scale: f32, grad: &mut [f32]) -> f32 {
        let (mut img, mut tgt, mut lw, mut lh) = (image.to_vec(), target.to_vec(), w, h);
        let mut loss = 0.0;
        for (level, &wl) in weights.iter().enumerate().skip(1) {
            let (a, w2, h2) = pool2(&img, lw, lh, c);
            let (b, _, _) = pool2(&tgt, lw, lh, c);
            (img, tgt, lw, lh) = (a, b, w2, h2);
            if lw == 0 || lh == 0 {
                break;
            }
            let norm = 1.0 / (lw * lh * c) as f32;
            let f = 1usize << level; // a level-l pixel averages f×f base pixels
            for y in 0..lh {
                for x in 0..lw {
                    for k in 0..c {
                        let i = (y * lw + x) * c + k;
                        let d = img[i] - tgt[i];
                        loss += wl * d.abs() * norm;
                        let g = scale * wl * l1_slope(d) * norm / (f * f) as f32;
                        for yy in y * f..(y + 1) * f {
                            for xx in x * f..(x + 1) * f {
                                grad[(yy * w + xx) * c + k] += g;
                            }
                        }
                    }
                }
            }
        }
        scale * loss
    }

    /// The parallel gather forms equal the serial scatter forms: odd sizes, pixels in no
    /// layer, several pyramid levels.
    #[test]
    fn parallel_tv_and_pyramid_equal_the_serial_forms() {
        let mut s = 17u64;
        for &(w, h) in &[(1usize, 5usize), (7, 1), (13, 11), (64, 37)] {
            let n = w * h;
            let alpha: Vec<f32> = (0..n).map(|_| 0.2 + 0.7 * lcg(&mut s).abs()).collect();
            let depth: Vec<f32> = alpha.iter().map(|a| a * (1.0 + 3.0 * lcg(&mut s).abs())).collect();
            let layers: Vec<u8> = (0..n).map(|p| ((p * 7 + p / 5) % 5) as u8).collect();
            for gamma in [0.0f32, 0.4, 1.0] {
                let (mut gd, mut ga, mut gd0, mut ga0) = (vec![0.1; n], vec![0.2; n], vec![0.1; n], vec![0.2; n]);
                let l = disparity_tv(&depth, &alpha, &layers, 4, gamma, w, h, 5.0, UNIT, &mut gd, &mut ga);
                let l0 = disparity_tv_serial(&depth, &alpha, &layers, 4, gamma, w, h, 5.0, UNIT, &mut gd0, &mut ga0);
                assert!((l - l0).abs() <= 1e-5 * l0.abs().max(1e-3), "{w}×{h} γ {gamma}: loss {l} vs {l0}");
                for p in 0..n {
                    assert!((gd[p] - gd0[p]).abs() <= 1e-5 * (1.0 + gd0[p].abs()), "{w}×{h} γ {gamma}: depth gradient {p}");
                    assert!((ga[p] - ga0[p]).abs() <= 1e-5 * (1.0 + ga0[p].abs()), "{w}×{h} γ {gamma}: alpha gradient {p}");
                }
            }
            let c = 3;
            let img: Vec<f32> = (0..n * c).map(|_| lcg(&mut s)).collect();
            let tgt: Vec<f32> = (0..n * c).map(|_| lcg(&mut s)).collect();
            let weights = [1.0, 0.25, 0.125, 1.0 / 16.0, 1.0 / 32.0];
            let (mut g, mut g0) = (vec![0.3; n * c], vec![0.3; n * c]);
            let l = pyramid_l1(&img, &tgt, w, h, c, &weights, 0.8, &mut g);
            let l0 = pyramid_l1_serial(&img, &tgt, w, h, c, &weights, 0.8, &mut g0);
            assert!((l - l0).abs() <= 1e-5 * l0.abs().max(1e-3), "{w}×{h}: pyramid loss {l} vs {l0}");
            for i in 0..n * c {
                assert!((g[i] - g0[i]).abs() <= 1e-6, "{w}×{h}: pyramid gradient {i}: {} vs {}", g[i], g0[i]);
            }
        }
    }

    #[test]
    fn disparity_tv_and_pyramid_gradients_match_finite_differences() {
        let (w, h) = (7usize, 6usize);
        let mut s = 3u64;
        let alpha: Vec<f32> = (0..w * h).map(|_| 0.3 + 0.6 * lcg(&mut s)).collect();
        let depth: Vec<f32> = alpha.iter().map(|a| a * (1.0 + 3.0 * lcg(&mut s))).collect();
        let layers: Vec<u8> = (0..w * h).map(|p| ((p * 7) % 3) as u8).collect();
        let f = |d: &[f32], a: &[f32]| {
            let (mut gd, mut ga) = (vec![0.0; w * h], vec![0.0; w * h]);
            disparity_tv(d, a, &layers, 3, 0.4, w, h, 5.0, UNIT, &mut gd, &mut ga)
        };
        let (mut gd, mut ga) = (vec![0.0; w * h], vec![0.0; w * h]);
        let tv = disparity_tv(&depth, &alpha, &layers, 3, 0.4, w, h, 5.0, UNIT, &mut gd, &mut ga);
        // The same render in world units k× larger (depth and unit × k): the same loss, the
        // depth gradient per world length 1/k of this one, the alpha gradient unchanged.
        let k = 12.7f32;
        let depth_k: Vec<f32> = depth.iter().map(|d| d * k).collect();
        let (mut gd_k, mut ga_k) = (vec![0.0; w * h], vec![0.0; w * h]);
        let tv_k = disparity_tv(&depth_k, &alpha, &layers, 3, 0.4, w, h, 5.0, UNIT * k, &mut gd_k, &mut ga_k);
        assert!((tv - tv_k).abs() < 1e-5 * tv.abs(), "{tv} vs {tv_k}");
        for p in 0..w * h {
            assert!((gd[p] - gd_k[p] * k).abs() < 1e-4 * (1.0 + gd[p].abs()), "depth gradient {p}");
            assert!((ga[p] - ga_k[p]).abs() < 1e-4 * (1.0 + ga[p].abs()), "alpha gradient {p}");
        }
        let eps = 1e-3;
        for p in [0usize, 9, 20, 41] {
            let mut dp = depth.clone();
            dp[p] += eps;
            let mut dm = depth.clone();
            dm[p] -= eps;
            let fd = (f(&dp, &alpha) - f(&dm, &alpha)) / (2.0 * eps);
            assert!((fd - gd[p]).abs() < 2e-3 * (1.0 + fd.abs()), "depth {p}: {fd} vs {}", gd[p]);
            let mut ap = alpha.clone();
            ap[p] += eps;
            let mut am = alpha.clone();
            am[p] -= eps;
            let fd = (f(&depth, &ap) - f(&depth, &am)) / (2.0 * eps);
            assert!((fd - ga[p]).abs() < 2e-3 * (1.0 + fd.abs()), "alpha {p}: {fd} vs {}", ga[p]);
        }

        let (w, h, c) = (9usize, 8usize, 3usize);
        let img: Vec<f32> = (0..w * h * c).map(|_| lcg(&mut s)).collect();
        let tgt: Vec<f32> = (0..w * h * c).map(|_| lcg(&mut s)).collect();
        let weights = [1.0, 0.25, 0.125, 1.0 / 16.0];
        let mut g = vec![0.0; w * h * c];
        pyramid_l1(&img, &tgt, w, h, c, &weights, 0.8, &mut g);
        for i in [0usize, 5, 50, 100, 200] {
            let mut p = img.clone();
            p[i] += eps;
            let mut m = img.clone();
            m[i] -= eps;
            let mut scratch = vec![0.0; w * h * c];
            let fd = (pyramid_l1(&p, &tgt, w, h, c, &weights, 0.8, &mut scratch) - pyramid_l1(&m, &tgt, w, h, c, &weights, 0.8, &mut scratch)) / (2.0 * eps);
            assert!((fd - g[i]).abs() < 1e-3, "pixel {i}: {fd} vs {}", g[i]);
        }
    }

    /// A flat render (one depth everywhere, one layer) has TV 0 and, as |x| has slope 0 at 0,
    /// no gradient; a slope of ±1 there would push the flat image's border pixels.
    #[test]
    fn flat_disparity_has_no_tv_gradient() {
        let (w, h) = (5usize, 4usize);
        let (depth, alpha, layers) = (vec![2.0f32; w * h], vec![1.0f32; w * h], vec![0u8; w * h]);
        let (mut gd, mut ga) = (vec![0.0; w * h], vec![0.0; w * h]);
        let tv = disparity_tv(&depth, &alpha, &layers, 1, 0.5, w, h, 5.0, UNIT, &mut gd, &mut ga);
        assert_eq!(tv, 0.0);
        assert!(gd.iter().chain(&ga).all(|g| *g == 0.0), "{gd:?} {ga:?}");
    }

    #[test]
    fn box_pool_averages_blocks_and_its_adjoint_is_exact() {
        let (w, h, c, k) = (3, 2, 2, 3);
        let src: Vec<f32> = (0..w * k * h * k * c).map(|i| ((i * 37) % 11) as f32 - 4.0).collect();
        let pooled = box_pool(&src, w, h, c, k);
        // Pixel (1, 1), channel 1 by hand.
        let mut sum = 0.0;
        for dy in 0..k {
            for dx in 0..k {
                sum += src[((k + dy) * w * k + k + dx) * c + 1];
            }
        }
        assert!((pooled[(w + 1) * c + 1] - sum / 9.0).abs() < 1e-6);
        // ⟨pool(x), g⟩ = ⟨x, pool*(g)⟩ for any g.
        let g: Vec<f32> = (0..w * h * c).map(|i| (i as f32 * 0.7).sin()).collect();
        let lhs: f64 = pooled.iter().zip(&g).map(|(a, b)| (*a as f64) * (*b as f64)).sum();
        let adj = box_pool_adjoint(&g, w, h, c, k);
        let rhs: f64 = src.iter().zip(&adj).map(|(a, b)| (*a as f64) * (*b as f64)).sum();
        assert!((lhs - rhs).abs() < 1e-4 * lhs.abs().max(1.0), "{lhs} vs {rhs}");
        // k = 1 is the identity.
        assert_eq!(box_pool(&src, w * k, h * k, c, 1), src);
    }

    #[test]
    fn supersampled_camera_pixels_nest_in_the_original_grid() {
        let cam = Camera::identity(40, 30, 50.0, 50.0);
        let c2 = supersampled(&cam, 2);
        assert_eq!((c2.width, c2.height), (80, 60));
        // A point's pixel coordinate scales by k: it lands in the block of its original pixel.
        let p = Vec3::new(0.13, -0.07, 2.0);
        let proj = |c: &Camera| (c.fx * p.x / p.z + c.cx, c.fy * p.y / p.z + c.cy);
        let (u1, v1) = proj(&cam);
        let (u2, v2) = proj(&c2);
        assert!((u2 - 2.0 * u1).abs() < 1e-4 && (v2 - 2.0 * v1).abs() < 1e-4);
    }
}
