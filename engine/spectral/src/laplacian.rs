//! Cotangent Laplacian (stiffness) with lumped mass, and the per-face geometry the other
//! operators (gradients, orientation, heat-method divergence) share.
//!
//! Convention: `W` is positive semi-definite, `W_ij = −½(cot α_ij + cot β_ij)` off the diagonal,
//! `W_ii = −Σ_j W_ij`, so `W φ = λ M φ` has λ ≥ 0. `M` is diagonal: a third of the area of the
//! incident triangles per vertex.

use crate::error::{Result, SpectralError};
use faer::sparse::{SparseColMat, Triplet};
use kiln_scene::mesh::Mesh;

/// Guards cotangents of degenerate triangles (the denominator is twice the area), as
/// potpourri3d does.
const COT_EPS: f64 = 1e-10;

/// Stiffness and mass of a surface (or point cloud), in vertex order.
#[derive(Clone, Debug)]
pub struct Operators {
    /// Positive semi-definite stiffness matrix `W` (symmetric, both triangles stored).
    pub stiffness: SparseColMat<usize, f64>,
    /// Lumped (diagonal) mass.
    pub mass: Vec<f64>,
}

impl Operators {
    pub fn num_vertices(&self) -> usize {
        self.mass.len()
    }

    pub fn total_area(&self) -> f64 {
        self.mass.iter().sum()
    }

    /// `y = W x` for a dense vector.
    pub fn apply_stiffness(&self, x: &[f64]) -> Vec<f64> {
        let w = self.stiffness.as_ref();
        let mut y = vec![0.0; x.len()];
        for j in 0..w.ncols() {
            let xj = x[j];
            for (i, v) in w.row_idx_of_col(j).zip(w.val_of_col(j)) {
                y[i] += v * xj;
            }
        }
        y
    }
}

/// Checks that a mesh suits the cotangent operators: every face non-degenerate is not
/// required (degenerate faces get zero weight), but the mesh must have faces and positive area.
pub fn check_surface(mesh: &Mesh, what: &str) -> Result<()> {
    if mesh.faces.is_empty() {
        return Err(SpectralError::invalid(what, "the mesh has no faces"));
    }
    let area = mesh.area();
    if !(area > 0.0) || !area.is_finite() {
        return Err(SpectralError::invalid(what, format!("the mesh has zero or invalid total area ({area})")));
    }
    Ok(())
}

/// Cotangent of the angle at `o` in the triangle (o, a, b).
fn cot_at(o: [f64; 3], a: [f64; 3], b: [f64; 3]) -> f64 {
    let u = sub(a, o);
    let v = sub(b, o);
    dot(u, v) / norm(cross(u, v)).max(COT_EPS)
}

/// Cotangent stiffness + lumped mass. Unreferenced vertices get a tiny mass (1e-8 of the mean)
/// so that `M` stays invertible; they decouple from the rest of the spectrum.
pub fn cotangent(mesh: &Mesh, what: &str) -> Result<Operators> {
    check_surface(mesh, what)?;
    let n = mesh.num_vertices();
    let p = &mesh.positions;
    let mut trip = Vec::with_capacity(mesh.faces.len() * 12);
    let mut diag = vec![0.0; n];
    let mut mass = vec![0.0; n];
    for f in &mesh.faces {
        let [i, j, k] = f.map(|x| x as usize);
        let area = 0.5 * norm(cross(sub(p[j], p[i]), sub(p[k], p[i])));
        for (a, b, o) in [(i, j, k), (j, k, i), (k, i, j)] {
            let w = 0.5 * cot_at(p[o], p[a], p[b]);
            trip.push(Triplet::new(a, b, -w));
            trip.push(Triplet::new(b, a, -w));
            diag[a] += w;
            diag[b] += w;
        }
        for v in [i, j, k] {
            mass[v] += area / 3.0;
        }
    }
    for (i, d) in diag.iter().enumerate() {
        trip.push(Triplet::new(i, i, *d));
    }
    let mean = mass.iter().sum::<f64>() / n as f64;
    for m in &mut mass {
        if *m <= 0.0 {
            *m = 1e-8 * mean;
        }
    }
    let stiffness = SparseColMat::try_new_from_triplets(n, n, &trip)
        .map_err(|e| SpectralError::invalid(what, format!("sparse assembly failed: {e:?}")))?;
    Ok(Operators { stiffness, mass })
}

/// Per-face quantities: unit normal, area and, for each corner c, `J_c = n × e_c / 2` where
/// `e_c` is the edge opposite c (counter-clockwise). The gradient of a piecewise-linear g on the
/// face is `Σ_c g_c J_c / area`.
#[derive(Clone, Debug)]
pub struct FaceGeometry {
    pub normals: Vec<[f64; 3]>,
    pub areas: Vec<f64>,
    pub jc: Vec<[[f64; 3]; 3]>,
}

impl FaceGeometry {
    pub fn new(mesh: &Mesh) -> Self {
        let p = &mesh.positions;
        let mut normals = Vec::with_capacity(mesh.faces.len());
        let mut areas = Vec::with_capacity(mesh.faces.len());
        let mut jc = Vec::with_capacity(mesh.faces.len());
        for f in &mesh.faces {
            let [a, b, c] = f.map(|x| p[x as usize]);
            let cr = cross(sub(b, a), sub(c, a));
            let len = norm(cr).max(COT_EPS);
            let n = cr.map(|x| x / len);
            normals.push(n);
            areas.push(0.5 * len);
            let half = |e: [f64; 3]| cross(n, e).map(|x| 0.5 * x);
            jc.push([half(sub(c, b)), half(sub(a, c)), half(sub(b, a))]);
        }
        Self { normals, areas, jc }
    }

    /// Gradient of a vertex function on face `fi` (`corner_values` in face order).
    pub fn gradient(&self, fi: usize, g: [f64; 3]) -> [f64; 3] {
        let j = &self.jc[fi];
        let a = self.areas[fi].max(COT_EPS);
        std::array::from_fn(|d| (g[0] * j[0][d] + g[1] * j[1][d] + g[2] * j[2][d]) / a)
    }
}

pub(crate) fn sub(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}
pub(crate) fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}
pub(crate) fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]
}
pub(crate) fn norm(a: [f64; 3]) -> f64 {
    dot(a, a).sqrt()
}
