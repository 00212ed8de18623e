//! Functional maps on point clouds (no faces): [`Shape`]s built from points and a basis — the
//! robust point-cloud Laplacian's eigenbasis, or a learned basis (feature `learned`) — for
//! [`crate::pipeline::match_shapes`].
//!
//! What a point-cloud shape carries, and why:
//! - **Mass.** Point-cloud Laplacian: its lumped mass, after scaling the cloud to unit area
//!   (the area is that mass's sum). Learned basis: the network's own density (it sums to 1, the
//!   same normalization as a unit-area surface). The learned functions are orthonormal in that
//!   density (`Φᵀ M Φ = I`), which is what ZoomOut's `C = Φ₂ᵀ M₂ Φ₁[p2p]` needs to be a projection;
//!   borrowing the point-cloud Laplacian's mass would break that and would build the operator
//!   the learned basis is meant to avoid.
//! - **Eigenvalues.** Point-cloud Laplacian: its eigenvalues. Learned basis: the eigenvalue proxy
//!   λ̂_k = 1 / mean_f e_k(f) on the cloud's own probe functions ([`eigenvalue_proxy`]) —
//!   monotone in k like eigenvalues, and operator-free. WKS (log-spaced energies) and the
//!   resolvent mask (scale-normalized) only need a monotone spectrum of the right order; the
//!   proxy's spacing is not a Laplacian's, which is one reason the learned basis matches worse.
//! - **Orientation, without the mesh's faces**: the fit's orientation term and the multi-start's
//!   orientation score need oriented triangles. A cloud shape carries its own
//!   ([`crate::cloud_orient`]: normals by local PCA oriented over a kNN spanning tree, the local
//!   Delaunay triangles wound by them, an edge-manifold, consistently oriented subset), so
//!   [`cloud_match_config`] keeps the mesh pipeline's orientation term and the orientation
//!   filter of its multi-start, which steer away from / reject left/right mirror maps that
//!   commutativity alone cannot tell from the right one. [`without_orientation_term`] keeps
//!   only the filter; [`unoriented`] neither (how clouds were matched before).
//! - **No operator** for a learned basis: its `ops.stiffness` is the zero matrix (matching only
//!   uses the basis, the eigenvalues and the mass).

use crate::eigen::{eigen_shift_invert, Basis, EigenOptions};
use crate::error::{Result, SpectralError};
use crate::cloud_orient::{orient_cloud, DEFAULT_NEIGHBOURS};
use crate::laplacian::{FaceGeometry, Operators};
use crate::learned::{nested_loss, normalize_to_unit_sphere, probes, ProbeConfig, Projection, Smoothing};
use crate::pipeline::{MatchConfig, Shape};
use crate::pointcloud::{point_cloud_laplacian, PointCloudOptions};
use faer::sparse::SparseColMat;
use faer::{Mat, MatRef};
use kiln_scene::mesh::Mesh;

/// What [`Shape`] holds for a cloud: its points and the oriented triangles built from them
/// alone ([`orient_cloud`]; no face of any mesh is used).
fn cloud_mesh(points: Vec<[f64; 3]>, faces: Vec<[u32; 3]>) -> Mesh {
    Mesh { positions: points, faces, colors: None, dropped_faces: 0 }
}

fn centred(points: &[[f64; 3]]) -> Vec<[f64; 3]> {
    let n = points.len().max(1) as f64;
    let c: [f64; 3] = std::array::from_fn(|a| points.iter().map(|p| p[a]).sum::<f64>() / n);
    points.iter().map(|p| std::array::from_fn(|a| p[a] - c[a])).collect()
}

/// A shape from a cloud and the robust point-cloud Laplacian's first `k` eigenpairs: centred,
/// scaled to unit area (the Laplacian's total mass), like [`Shape::from_mesh`] for meshes.
pub fn pointcloud_shape(name: String, points: &[[f64; 3]], k: usize, opts: PointCloudOptions) -> Result<Shape> {
    let mut pts = centred(points);
    let mut ops = point_cloud_laplacian(&pts, opts, &name)?;
    let area = ops.total_area();
    if !(area > 0.0 && area.is_finite()) {
        return Err(SpectralError::invalid(&name, format!("the point-cloud Laplacian's area is {area}")));
    }
    // Cotangent weights are scale-free in 2-D; only the mass scales (by s²).
    let s = 1.0 / area.sqrt();
    pts.iter_mut().for_each(|p| *p = p.map(|x| x * s));
    ops.mass.iter_mut().for_each(|m| *m *= s * s);
    let basis = eigen_shift_invert(&ops, k, EigenOptions::default(), &name)?;
    let faces = orient_cloud(&pts, opts.neighbours, &name)?.faces;
    let mesh = cloud_mesh(pts, faces);
    let faces = FaceGeometry::new(&mesh);
    Ok(Shape { name, mesh, ops, faces, basis, original_area: area })
}

/// A shape from a cloud and a given basis (M-orthonormal in `mass`, ascending `eigenvalues`);
/// no operator is built (the stiffness is the zero matrix). The points are centred and scaled
/// into the unit sphere and get their oriented triangles ([`orient_cloud`]); a cloud that
/// cannot be oriented (a collinear neighbourhood) is refused.
pub fn shape_from_basis(name: String, points: &[[f64; 3]], basis: Basis, mass: Vec<f64>) -> Result<Shape> {
    let n = points.len();
    if basis.eigenvectors.nrows() != n || mass.len() != n || basis.eigenvectors.ncols() != basis.k() {
        return Err(SpectralError::invalid(&name, format!("{n} points, a {}×{} basis with {} eigenvalues, {} masses", basis.eigenvectors.nrows(), basis.eigenvectors.ncols(), basis.k(), mass.len())));
    }
    if basis.eigenvalues.windows(2).any(|w| !(w[1] >= w[0])) || mass.iter().any(|m| !(*m > 0.0)) {
        return Err(SpectralError::invalid(&name, "the eigenvalues must ascend and the masses be positive"));
    }
    let stiffness = SparseColMat::<usize, f64>::try_new_from_triplets(n, n, &[]).map_err(|e| SpectralError::invalid(&name, format!("{e:?}")))?;
    let pts = normalize_to_unit_sphere(points);
    let faces = orient_cloud(&pts, DEFAULT_NEIGHBOURS, &name)?.faces;
    let mesh = cloud_mesh(pts, faces);
    let faces = FaceGeometry::new(&mesh);
    let original_area = mass.iter().sum();
    Ok(Shape { name, mesh, ops: Operators { stiffness, mass }, faces, basis, original_area })
}

/// The learned basis's eigenvalue proxy λ̂_k = 1 / mean_f e_k(f) (k = 1..K) on `cfg.count`
/// probe functions of the cloud (normalized to the unit sphere, as the network sees it).
/// Ascending: the nested projection errors can only fall with k.
pub fn eigenvalue_proxy(points: &[[f64; 3]], basis: MatRef<'_, f64>, cfg: &ProbeConfig) -> Result<Vec<f64>> {
    let normalized = normalize_to_unit_sphere(points);
    let f = probes(&Smoothing::new(&normalized, cfg)?, cfg);
    let mut proxy = nested_loss(basis, f.as_ref(), Projection::Euclidean)?.eigenvalue_proxy();
    // Round-off can break ties the wrong way; the proxy is monotone by construction.
    for i in 1..proxy.len() {
        proxy[i] = proxy[i].max(proxy[i - 1]);
    }
    Ok(proxy)
}

/// The matching configuration for point clouds with a basis of `k` functions: the mesh
/// pipeline's, orientation term and multi-start orientation filter included (cloud shapes
/// carry oriented triangles), with the fitted sizes and ZoomOut scaled down when the basis is
/// small (a learned basis has K = 32: fits at 10, 15 and 20, chosen at 26, ZoomOut by 2 to K).
/// On 36 FAUST_r pairs this is the best of the three variants on average, but the term also
/// spoils some pairs that the filter alone gets right ([`without_orientation_term`];
/// docs/LEARNED_BASIS.md).
pub fn cloud_match_config(k: usize) -> MatchConfig {
    let mut cfg = MatchConfig::default();
    cfg.k_basis = k;
    if k < cfg.zoomout.map_or(0, |z| z.0) {
        cfg.k_descr = k;
        cfg.k_fit = (k * 5 / 8).max(2);
        cfg.extra_fit_sizes = vec![(k * 5 / 16).max(2), (k * 15 / 32).max(2)];
        cfg.probe_size = (k * 13 / 16).max(cfg.k_fit);
        cfg.zoomout = Some((k, 2));
    }
    cfg
}

/// `cfg` without the fit's orientation term, keeping the multi-start's orientation filter.
pub fn without_orientation_term(mut cfg: MatchConfig) -> MatchConfig {
    cfg.weights.orient = 0.0;
    cfg
}

/// `cfg` without orientation: no orientation term in the fit, and the multi-start chooses by
/// Laplacian commutativity alone (how point clouds were matched before they had oriented
/// triangles; kept for the before/after tables).
pub fn unoriented(mut cfg: MatchConfig) -> MatchConfig {
    cfg.weights.orient = 0.0;
    cfg.orientation_margin = f64::INFINITY;
    cfg
}

/// The learned basis of a cloud as a matching [`Shape`] (network inference on kiln's device,
/// the density as mass, the eigenvalue proxy on `probe_cfg` probes).
#[cfg(feature = "learned")]
pub fn learned_shape(name: String, points: &[[f64; 3]], net: &kiln_nn::BasisNet, density: bool, probe_cfg: &ProbeConfig) -> Result<Shape> {
    let learned = crate::basis_model::infer(net, density, points)?;
    let eigenvalues = eigenvalue_proxy(points, learned.basis.as_ref(), probe_cfg)?;
    shape_from_basis(name, points, Basis { eigenvalues, eigenvectors: learned.basis }, learned.mass)
}

/// The first `k` columns of a basis as a new basis (ZoomOut and the fit use prefixes, so a
/// truncated basis is a smaller, equally valid one).
pub fn truncate(basis: &Basis, k: usize) -> Basis {
    let k = k.min(basis.k());
    Basis { eigenvalues: basis.eigenvalues[..k].to_vec(), eigenvectors: Mat::from_fn(basis.eigenvectors.nrows(), k, |i, j| basis.eigenvectors[(i, j)]) }
}
