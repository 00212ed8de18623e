//! Scale/shift alignment of each view's monocular depth by flow correspondences (spec,
//! Initialization 4), before training.
//!
//! With known poses, the world point of pixel p of view i at aligned depth
//! `z' = s_i·z_i(p) + o_i` is `X_i(p) = C_i + Rᵢᵀ·r_i(p)·z'`, where r_i(p) is the pixel's ray
//! with unit z (camera frame) and C_i the camera centre. X is **linear** in (s_i, o_i). The
//! spec's flow objective `Σ M·|warp(X_j, F_i→j) − X_i|` (bilinear warp of the world-position
//! map) is therefore a linear least-squares problem in the 2N unknowns; kiln solves it in closed
//! form (normal equations in f64) with iteratively reweighted least squares so that it is robust
//! like the spec's L1 (which the spec minimises with 1000 Adam steps instead). The baselines
//! between the known cameras fix the scale, so no gauge is free; a tiny prior towards
//! (s, o) = (1, 0) keeps views without correspondences well defined.

use crate::{DepthError, DepthMap, Flow, MapKind};
use glam::{DMat3, DVec3};
use kiln_scene::Camera;

/// One view: its camera and its (monocular) depth, same size as the camera's image.
#[derive(Clone, Copy, Debug)]
pub struct AlignView<'a> {
    pub camera: &'a Camera,
    pub depth: &'a DepthMap,
}

/// Flow from view `from` to view `to` (indices into the views), with its validity mask.
#[derive(Clone, Copy, Debug)]
pub struct FlowPair<'a> {
    pub from: usize,
    pub to: usize,
    pub flow: &'a Flow,
}

#[derive(Clone, Debug, PartialEq)]
pub struct AlignParams {
    /// Use every `stride`-th pixel in x and y (correspondences are dense and redundant).
    pub stride: u32,
    /// Reweighting rounds (1: plain least squares).
    pub irls_iterations: u32,
    /// Weight of the prior (s − 1)² + o² relative to the mean correspondence residual term.
    pub prior_weight: f64,
    /// Smallest allowed scale. A negative scale would flip the depth order of the monocular
    /// map; where the correspondences ask for one (the map disagrees with the geometry), the
    /// scale is held at this bound and the view gets the best depth of that form (at 0: a
    /// constant depth, a fronto-parallel plane). `None`: unconstrained.
    pub min_scale: Option<f64>,
}

impl Default for AlignParams {
    fn default() -> Self {
        AlignParams { stride: 2, irls_iterations: 10, prior_weight: 1e-6, min_scale: Some(0.0) }
    }
}

/// Per-view scale and shift of depth: aligned depth = scale · depth + shift.
#[derive(Clone, Debug, PartialEq)]
pub struct Alignment {
    pub scale: Vec<f32>,
    pub shift: Vec<f32>,
    /// Mean world-space distance between corresponding points before (s = 1, o = 0) and after.
    pub residual_before: f64,
    pub residual_after: f64,
    /// Correspondences used.
    pub correspondences: usize,
    /// Views whose scale was held at [`AlignParams::min_scale`].
    pub clamped: Vec<bool>,
}

impl Alignment {
    /// View `i`'s depth with its scale and shift applied (clamped to stay positive).
    pub fn apply(&self, i: usize, depth: &DepthMap) -> DepthMap {
        let d = depth.to_depth();
        let (s, o) = (self.scale[i], self.shift[i]);
        let values = d.values.iter().map(|z| (s * z + o).max(crate::map::MIN_POSITIVE)).collect();
        DepthMap::new(d.width, d.height, values, MapKind::Depth)
    }
}

/// A correspondence's contribution: world point difference = A·θ_local + c, with θ_local =
/// (s_i, o_i, s_j, o_j).
struct Row {
    i: usize,
    j: usize,
    /// Columns for s_i, o_i, s_j, o_j (each a world-space 3-vector).
    cols: [DVec3; 4],
    constant: DVec3,
}

impl Row {
    fn residual(&self, s: &[f64], o: &[f64]) -> DVec3 {
        self.cols[0] * s[self.i] + self.cols[1] * o[self.i] + self.cols[2] * s[self.j] + self.cols[3] * o[self.j] + self.constant
    }
}

/// Camera-to-world rotation and centre, and the ray (unit z, camera frame) of pixel (x, y).
struct Cam {
    r_c2w: DMat3,
    center: DVec3,
    fx: f64,
    fy: f64,
    cx: f64,
    cy: f64,
}

impl Cam {
    fn new(c: &Camera) -> Self {
        let r = c.rotation.as_dmat3();
        Cam { r_c2w: r.transpose(), center: c.center().as_dvec3(), fx: c.fx as f64, fy: c.fy as f64, cx: c.cx as f64, cy: c.cy as f64 }
    }
    /// World direction of the ray through pixel index (x, y) (centre at +0.5), scaled to unit z.
    fn ray(&self, x: f64, y: f64) -> DVec3 {
        self.r_c2w * DVec3::new((x + 0.5 - self.cx) / self.fx, (y + 0.5 - self.cy) / self.fy, 1.0)
    }
}

/// Finds per-view scale and shift of depth so that flow correspondences meet in 3D.
pub fn align_depths(views: &[AlignView], flows: &[FlowPair], params: &AlignParams) -> Result<Alignment, DepthError> {
    if views.len() < 2 {
        return Err(DepthError::Input(format!("alignment needs at least 2 views, got {}", views.len())));
    }
    let cams: Vec<Cam> = views.iter().map(|v| Cam::new(v.camera)).collect();
    // Depth per view and the world-space maps the spec warps: ray·z (for s) and ray (for o).
    let mut depths = Vec::new();
    for (k, v) in views.iter().enumerate() {
        let (w, h) = (v.camera.width, v.camera.height);
        v.depth.check_size(w, h, &format!("depth of view {k}"), &format!("view {k}'s camera"))?;
        let d = v.depth.to_depth();
        if d.values.iter().any(|z| !(z.is_finite() && *z > 0.0)) {
            return Err(DepthError::Input(format!("depth of view {k} has non-positive or non-finite values")));
        }
        depths.push(d);
    }
    let stride = params.stride.max(1) as usize;
    let mut rows = Vec::new();
    for (pi, pair) in flows.iter().enumerate() {
        let (i, j) = (pair.from, pair.to);
        if i >= views.len() || j >= views.len() || i == j {
            return Err(DepthError::Input(format!("flow pair {pi}: views ({i}, {j}) are not two of the {} views", views.len())));
        }
        let f = pair.flow;
        let (w, h) = (views[i].camera.width as usize, views[i].camera.height as usize);
        if (f.width as usize, f.height as usize) != (w, h) {
            return Err(DepthError::Size {
                what: format!("flow {i}→{j}"),
                got_w: f.width,
                got_h: f.height,
                want_w: w as u32,
                want_h: h as u32,
                of: format!("view {i}"),
            });
        }
        let n_px = w * h;
        if f.u.len() != n_px || f.v.len() != n_px || f.valid.len() != n_px {
            return Err(DepthError::Input(format!(
                "flow {i}→{j}: u/v/valid hold {}/{}/{} values, a {w}×{h} field needs {n_px}",
                f.u.len(),
                f.v.len(),
                f.valid.len()
            )));
        }
        let (wj, hj) = (views[j].camera.width as usize, views[j].camera.height as usize);
        let zj = &depths[j].values;
        for y in (0..h).step_by(stride) {
            for x in (0..w).step_by(stride) {
                let p = y * w + x;
                if f.valid[p] <= 0.0 || !(f.u[p].is_finite() && f.v[p].is_finite()) {
                    continue;
                }
                let qx = x as f32 + f.u[p];
                let qy = y as f32 + f.v[p];
                if qx < 0.0 || qy < 0.0 || qx > (wj - 1) as f32 || qy > (hj - 1) as f32 {
                    continue;
                }
                // Bilinear warp of view j's maps ray·z and ray, as the spec warps X_j.
                let (x0, y0) = (qx.floor() as usize, qy.floor() as usize);
                let (x1, y1) = ((x0 + 1).min(wj - 1), (y0 + 1).min(hj - 1));
                let (tx, ty) = ((qx - x0 as f32) as f64, (qy - y0 as f32) as f64);
                let taps = [(x0, y0, (1.0 - tx) * (1.0 - ty)), (x1, y0, tx * (1.0 - ty)), (x0, y1, (1.0 - tx) * ty), (x1, y1, tx * ty)];
                let (mut rz, mut r1) = (DVec3::ZERO, DVec3::ZERO);
                for (xx, yy, wt) in taps {
                    let ray = cams[j].ray(xx as f64, yy as f64);
                    rz += ray * (zj[yy * wj + xx] as f64 * wt);
                    r1 += ray * wt;
                }
                let ray_i = cams[i].ray(x as f64, y as f64);
                let zi = depths[i].values[p] as f64;
                rows.push(Row {
                    i,
                    j,
                    cols: [ray_i * zi, ray_i, -rz, -r1],
                    constant: cams[i].center - cams[j].center,
                });
            }
        }
    }
    let n = views.len();
    let mut s = vec![1.0f64; n];
    let mut o = vec![0.0f64; n];
    let mean_residual = |s: &[f64], o: &[f64]| -> f64 {
        if rows.is_empty() {
            return 0.0;
        }
        rows.iter().map(|r| r.residual(s, o).length()).sum::<f64>() / rows.len() as f64
    };
    let residual_before = mean_residual(&s, &o);
    if rows.is_empty() {
        return Err(DepthError::Input("alignment: no valid flow correspondence between the views".into()));
    }
    let mut weights = vec![1.0f64; rows.len()];
    let mut clamped = vec![false; n];
    let rounds = params.irls_iterations.max(1);
    let mut round = 0;
    let mut extra = 0;
    while round < rounds + extra {
        if round > 0 {
            // IRLS towards the spec's L1: weight 1/max(|r|, δ), δ a small fraction of the median
            // residual so that inliers are not over-weighted.
            let res: Vec<f64> = rows.iter().map(|r| r.residual(&s, &o).length()).collect();
            let mut sorted = res.clone();
            sorted.sort_by(f64::total_cmp);
            let delta = (sorted[sorted.len() / 2] * 0.1).max(1e-12);
            for (w, r) in weights.iter_mut().zip(&res) {
                *w = 1.0 / r.max(delta);
            }
        }
        let m = 2 * n;
        let mut ata = vec![0.0f64; m * m];
        let mut atb = vec![0.0f64; m];
        for (r, &wt) in rows.iter().zip(&weights) {
            let idx = [2 * r.i, 2 * r.i + 1, 2 * r.j, 2 * r.j + 1];
            for a in 0..4 {
                for b in 0..4 {
                    ata[idx[a] * m + idx[b]] += wt * r.cols[a].dot(r.cols[b]);
                }
                atb[idx[a]] -= wt * r.cols[a].dot(r.constant);
            }
        }
        // The prior's weight relative to the data term's scale (mean diagonal of AᵀA).
        let diag_mean = (0..m).map(|k| ata[k * m + k]).sum::<f64>() / m as f64;
        let lambda = params.prior_weight * diag_mean;
        for k in 0..n {
            // Towards s = 1 (or, for a clamped view, a stiff pull to the bound) and o = 0.
            let (target, weight) = match (clamped[k], params.min_scale) {
                (true, Some(bound)) => (bound, 1e8 * diag_mean),
                _ => (1.0, lambda),
            };
            ata[2 * k * m + 2 * k] += weight;
            atb[2 * k] += weight * target;
            ata[(2 * k + 1) * m + 2 * k + 1] += lambda;
        }
        let theta = solve(ata, atb, m).ok_or_else(|| DepthError::Input("alignment: the correspondences do not determine scale and shift (singular system)".into()))?;
        for k in 0..n {
            s[k] = theta[2 * k];
            o[k] = theta[2 * k + 1];
        }
        if let Some(bound) = params.min_scale {
            // One view at a time, the most negative first: a view pulled below the bound by
            // another's contradicting depth recovers once that one is held.
            let worst = (0..n).filter(|&k| !clamped[k] && s[k] < bound).min_by(|&a, &b| s[a].total_cmp(&s[b]));
            let changed = worst.is_some();
            if let Some(k) = worst {
                clamped[k] = true;
            }
            // Re-solve with the bound held (active set); a few rounds so the weights follow.
            if changed && round + 1 >= rounds + extra {
                extra += 3;
            }
        }
        round += 1;
    }
    if let Some(bound) = params.min_scale {
        for k in 0..n {
            if clamped[k] {
                s[k] = bound;
            }
        }
    }
    if s.iter().chain(&o).any(|v| !v.is_finite()) {
        return Err(DepthError::Input("alignment produced a non-finite scale or shift".into()));
    }
    Ok(Alignment {
        scale: s.iter().map(|&v| v as f32).collect(),
        shift: o.iter().map(|&v| v as f32).collect(),
        residual_before,
        residual_after: mean_residual(&s, &o),
        correspondences: rows.len(),
        clamped,
    })
}

/// Gaussian elimination with partial pivoting on a small dense system.
fn solve(mut a: Vec<f64>, mut b: Vec<f64>, m: usize) -> Option<Vec<f64>> {
    for col in 0..m {
        let piv = (col..m).max_by(|&x, &y| a[x * m + col].abs().total_cmp(&a[y * m + col].abs()))?;
        if a[piv * m + col].abs() < 1e-300 {
            return None;
        }
        if piv != col {
            for k in 0..m {
                a.swap(piv * m + k, col * m + k);
            }
            b.swap(piv, col);
        }
        for r in col + 1..m {
            let f = a[r * m + col] / a[col * m + col];
            for k in col..m {
                a[r * m + k] -= f * a[col * m + k];
            }
            b[r] -= f * b[col];
        }
    }
    let mut x = vec![0.0; m];
    for r in (0..m).rev() {
        let mut acc = b[r];
        for k in r + 1..m {
            acc -= a[r * m + k] * x[k];
        }
        x[r] = acc / a[r * m + r];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

/// The world-space point of every pixel of a view at the given depth (row-major), the map X
/// the spec's flow loss compares. Handy for tests and for the trainer's initial positions.
pub fn world_points(camera: &Camera, depth: &DepthMap) -> Vec<glam::Vec3> {
    let cam = Cam::new(camera);
    let d = depth.to_depth();
    let w = d.width as usize;
    d.values
        .iter()
        .enumerate()
        .map(|(p, &z)| (cam.center + cam.ray((p % w) as f64, (p / w) as f64) * z as f64).as_vec3())
        .collect()
}
