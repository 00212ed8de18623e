//! Point-cloud Laplacian after Sharp & Crane, "A Laplacian for Nonmanifold Triangle Meshes"
//! (SGP 2020), point-cloud construction: for every point, its k nearest neighbours are
//! projected to the tangent plane (normal = least principal direction of the centred
//! neighbourhood), triangulated by 2-D Delaunay, and the triangles incident to the point kept.
//! The union of these local triangles (each surface triangle appears about three times) is a
//! non-manifold triangle soup; its robust Laplacian ([`crate::robust`]: mollified lengths,
//! tufted cover, intrinsic Delaunay flips) is divided by 3.
//! Not robust to collinear or coplanar-degenerate clouds (they are refused).

use crate::ball_tree::BallTree;
use crate::error::{Result, SpectralError};
use crate::laplacian::{dot, sub, Operators};
use crate::intrinsic::tangent_basis;
use crate::robust::{tufted_laplacian_scaled, RobustOptions};
use faer::{Mat, Side};
use rayon::prelude::*;

/// Options of [`point_cloud_laplacian`].
#[derive(Clone, Copy, Debug)]
pub struct PointCloudOptions {
    /// Neighbours per point (the paper's default: 30).
    pub neighbours: usize,
    /// Mollification as a fraction of the mean edge length (the paper's default: 1e-5).
    pub mollify: f64,
}

impl Default for PointCloudOptions {
    fn default() -> Self {
        Self { neighbours: 30, mollify: 1e-5 }
    }
}

/// The `k` nearest neighbours of every point (excluding itself), nearest first: a ball tree
/// ([`crate::ball_tree`], O(n log n)), exact in f32 distances (neighbours whose distances tie in
/// f32 may come in either order).
pub fn knn(points: &[[f64; 3]], k: usize) -> Vec<Vec<usize>> {
    let tree = BallTree::from_fn(points.len(), 3, |i, a| points[i][a]);
    points
        .par_iter()
        .enumerate()
        .map(|(i, p)| {
            let q = [p[0] as f32, p[1] as f32, p[2] as f32];
            tree.k_nearest(&q, k, Some(i as u32)).into_iter().map(|(j, _)| j as usize).collect()
        })
        .collect()
}

/// [`knn`] by brute force in f64 (O(n²)): the reference the tree is tested against.
pub fn knn_brute_force(points: &[[f64; 3]], k: usize) -> Vec<Vec<usize>> {
    points
        .par_iter()
        .enumerate()
        .map(|(i, p)| {
            let mut d: Vec<(f64, usize)> = points.iter().enumerate().filter(|&(j, _)| j != i).map(|(j, q)| (dot(sub(*p, *q), sub(*p, *q)), j)).collect();
            let k = k.min(d.len());
            d.select_nth_unstable_by(k.saturating_sub(1), |a, b| a.0.total_cmp(&b.0));
            let mut out: Vec<(f64, usize)> = d[..k].to_vec();
            out.sort_by(|a, b| a.0.total_cmp(&b.0));
            out.into_iter().map(|(_, j)| j).collect()
        })
        .collect()
}

/// Delaunay triangulation of 2-D points (Bowyer–Watson, O(m²): local neighbourhoods only).
pub(crate) fn delaunay_2d(pts: &[[f64; 2]]) -> Vec<[usize; 3]> {
    let m = pts.len();
    let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
    for p in pts {
        for a in 0..2 {
            lo[a] = lo[a].min(p[a]);
            hi[a] = hi[a].max(p[a]);
        }
    }
    let span = (hi[0] - lo[0]).max(hi[1] - lo[1]).max(1e-300);
    let c = [(lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0];
    let mut all = pts.to_vec();
    all.push([c[0] - 20.0 * span, c[1] - 20.0 * span]);
    all.push([c[0] + 20.0 * span, c[1] - 20.0 * span]);
    all.push([c[0], c[1] + 20.0 * span]);
    let mut tris: Vec<[usize; 3]> = vec![[m, m + 1, m + 2]];
    let in_circle = |t: &[usize; 3], p: [f64; 2]| {
        let [a, b, cc] = t.map(|i| all[i]);
        let (ax, ay) = (a[0] - p[0], a[1] - p[1]);
        let (bx, by) = (b[0] - p[0], b[1] - p[1]);
        let (cx, cy) = (cc[0] - p[0], cc[1] - p[1]);
        let det = (ax * ax + ay * ay) * (bx * cy - cx * by) - (bx * bx + by * by) * (ax * cy - cx * ay) + (cx * cx + cy * cy) * (ax * by - bx * ay);
        let orient = (b[0] - a[0]) * (cc[1] - a[1]) - (b[1] - a[1]) * (cc[0] - a[0]);
        if orient > 0.0 { det > 0.0 } else { det < 0.0 }
    };
    for i in 0..m {
        let p = all[i];
        let (bad, keep): (Vec<[usize; 3]>, Vec<[usize; 3]>) = tris.iter().partition(|t| in_circle(t, p));
        // Boundary of the cavity: edges of bad triangles not shared by two bad triangles.
        let mut edges: Vec<(usize, usize)> = Vec::new();
        for t in &bad {
            for k in 0..3 {
                let e = (t[k], t[(k + 1) % 3]);
                if let Some(pos) = edges.iter().position(|&(a, b)| (a, b) == (e.1, e.0) || (a, b) == e) {
                    edges.swap_remove(pos);
                } else {
                    edges.push(e);
                }
            }
        }
        tris = keep;
        tris.extend(edges.into_iter().map(|(a, b)| [a, b, i]));
    }
    tris.retain(|t| t.iter().all(|&v| v < m));
    tris
}

/// Least principal direction of the neighbourhood (normal) and two tangent axes.
pub(crate) fn tangent_frame(points: &[[f64; 3]], center: usize, nbrs: &[usize]) -> Option<([f64; 3], [f64; 3])> {
    let n = (nbrs.len() + 1) as f64;
    let mut mean = points[center];
    for &j in nbrs {
        for a in 0..3 {
            mean[a] += points[j][a];
        }
    }
    mean = mean.map(|x| x / n);
    let mut cov = Mat::<f64>::zeros(3, 3);
    for &j in nbrs.iter().chain(std::iter::once(&center)) {
        let d = sub(points[j], mean);
        for a in 0..3 {
            for b in 0..3 {
                cov[(a, b)] += d[a] * d[b];
            }
        }
    }
    let evd = cov.self_adjoint_eigen(Side::Lower).ok()?;
    let (s, u) = (evd.S(), evd.U());
    // Ascending: column 0 is the normal; refuse collinear neighbourhoods.
    if s[1] <= 1e-12 * s[2].max(1e-300) {
        return None;
    }
    Some(([u[(0, 2)], u[(1, 2)], u[(2, 2)]], [u[(0, 1)], u[(1, 1)], u[(2, 1)]]))
}

/// The point-cloud Laplacian (stiffness and lumped mass), normals estimated from the
/// neighbourhoods.
pub fn point_cloud_laplacian(points: &[[f64; 3]], opts: PointCloudOptions, what: &str) -> Result<Operators> {
    build(points, None, opts, what)
}

/// The point-cloud Laplacian with given unit normals (e.g. a scan's): each neighbourhood is
/// projected to the plane orthogonal to its point's normal instead of the estimated one.
pub fn point_cloud_laplacian_with_normals(points: &[[f64; 3]], normals: &[[f64; 3]], opts: PointCloudOptions, what: &str) -> Result<Operators> {
    if normals.len() != points.len() {
        return Err(SpectralError::invalid(what, format!("{} normals for {} points", normals.len(), points.len())));
    }
    if let Some(i) = normals.iter().position(|v| !(dot(*v, *v) > 0.0 && dot(*v, *v).is_finite())) {
        return Err(SpectralError::invalid(what, format!("normal {i} {:?} is zero or not finite", normals[i])));
    }
    build(points, Some(normals), opts, what)
}

fn build(points: &[[f64; 3]], normals: Option<&[[f64; 3]]>, opts: PointCloudOptions, what: &str) -> Result<Operators> {
    let n = points.len();
    if n < 4 {
        return Err(SpectralError::invalid(what, format!("{n} points: a Laplacian needs at least 4")));
    }
    if let Some(i) = points.iter().position(|p| p.iter().any(|x| !x.is_finite())) {
        return Err(SpectralError::invalid(what, format!("point {i} has a non-finite coordinate {:?}", points[i])));
    }
    if opts.neighbours < 3 || opts.neighbours >= n {
        return Err(SpectralError::invalid(what, format!("{} neighbours for {n} points: need at least 3 and fewer than the points", opts.neighbours)));
    }
    let nbrs = knn(points, opts.neighbours);
    let local: Vec<Option<Vec<[usize; 3]>>> = (0..n)
        .into_par_iter()
        .map(|i| {
            let (e1, e2) = match normals {
                Some(nr) => tangent_basis(nr[i].map(|x| x / dot(nr[i], nr[i]).sqrt())),
                None => tangent_frame(points, i, &nbrs[i])?,
            };
            let ids: Vec<usize> = std::iter::once(i).chain(nbrs[i].iter().copied()).collect();
            let flat: Vec<[f64; 2]> = ids.iter().map(|&j| {
                let d = sub(points[j], points[i]);
                [dot(d, e1), dot(d, e2)]
            }).collect();
            Some(delaunay_2d(&flat).into_iter().filter(|t| t.contains(&0)).map(|t| t.map(|k| ids[k])).collect())
        })
        .collect();
    let mut tris: Vec<[u32; 3]> = Vec::new();
    for (i, l) in local.into_iter().enumerate() {
        match l {
            Some(t) => tris.extend(t.into_iter().map(|t| t.map(|v| v as u32))),
            None => return Err(SpectralError::invalid(what, format!("the neighbourhood of point {i} is degenerate (collinear)"))),
        }
    }
    let mut covered = vec![false; n];
    for t in &tris {
        for &v in t {
            covered[v as usize] = true;
        }
    }
    if let Some(i) = covered.iter().position(|&c| !c) {
        return Err(SpectralError::invalid(what, format!("point {i} is in no local triangle (isolated or duplicate point)")));
    }
    // The union of the local triangles is a non-manifold soup (each surface triangle about three
    // times): tufted cover, intrinsic Delaunay flips, cotangent operators, divided by 3.
    let robust = RobustOptions { mollify: opts.mollify, ..RobustOptions::default() };
    Ok(tufted_laplacian_scaled(points, &tris, robust, 1.0 / 3.0, what)?.operators)
}
