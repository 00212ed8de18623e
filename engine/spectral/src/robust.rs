//! The robust Laplacian of Sharp & Crane, "A Laplacian for Nonmanifold Triangle Meshes" (SGP
//! 2020): cotangent stiffness and lumped mass of the intrinsic Delaunay triangulation of the
//! *tufted cover* of any triangle soup.
//!
//! Steps ([`tufted_laplacian`]):
//! 1. Edge lengths from the positions, *mollified* as in the paper: with ε = `mollify` × the mean
//!    length of the (distinct) edges, every length grows by δ = max(0, max over face corners of
//!    ε − (l_j + l_k − l_i)), so that every triangle satisfies the triangle inequality with margin
//!    ε. δ is 0 for meshes without near-degenerate triangles, so those keep their exact geometry.
//! 2. The tufted cover ([`crate::intrinsic`]): every face twice (front and back), the face sides
//!    around each edge glued pairwise in angular order, so every edge has exactly two sides —
//!    non-manifold edges (three or more faces), non-manifold (bow-tie) vertices, duplicate faces
//!    and boundaries are all fine.
//! 3. Intrinsic Delaunay flips until every edge's cotangent weight is ≥ −`delaunay_tolerance`
//!    (1e-6 as in the authors' code), with a flip-count guard that ends in an error.
//! 4. Cotangent stiffness and lumped mass of the flipped triangulation, halved (the cover is a
//!    double cover). On an intrinsically Delaunay manifold mesh this *is* the cotangent Laplacian.
//!
//! Refused, with an error naming the input: no faces (after dropping faces that repeat a vertex,
//! which carry no area), a face index out of range, a non-finite coordinate, all edges of zero
//! length, and — only with `mollify = 0` — a degenerate triangle. Unreferenced vertices are kept
//! with a tiny mass and no stiffness, as in [`crate::laplacian::cotangent`].

use crate::error::{Result, SpectralError};
use crate::intrinsic::IntrinsicTriangulation;
use crate::laplacian::{norm, sub, Operators};
use faer::sparse::{SparseColMat, Triplet};
use kiln_scene::mesh::Mesh;

/// Options of [`robust_laplacian`] and [`tufted_laplacian`].
#[derive(Clone, Copy, Debug)]
pub struct RobustOptions {
    /// Mollification ε as a fraction of the mean edge length (the paper's default: 1e-5; 0 turns
    /// it off, and then degenerate triangles are refused).
    pub mollify: f64,
    /// An edge is Delaunay when its cotangent weight ½(cot α + cot β) ≥ −tolerance.
    pub delaunay_tolerance: f64,
    /// Flip-count guard (default: 100 × the edges of the cover); reaching it is an error.
    pub max_flips: Option<usize>,
}

impl Default for RobustOptions {
    fn default() -> Self {
        Self { mollify: 1e-5, delaunay_tolerance: 1e-6, max_flips: None }
    }
}

/// The robust operators with what it took to build them.
#[derive(Clone, Debug)]
pub struct TuftedLaplacian {
    pub operators: Operators,
    /// Intrinsic edge flips performed.
    pub flips: usize,
    /// The length δ added to every edge by the mollification (0 when no triangle needed it).
    pub mollification: f64,
    /// Input faces dropped because they repeat a vertex.
    pub dropped_faces: usize,
    /// Faces of the tufted cover (twice the faces used).
    pub cover_faces: usize,
    /// Edges left below the Delaunay tolerance because both their sides lie in one
    /// (self-glued) face, which no flip can change.
    pub unflippable: usize,
}

/// The robust Laplacian of a mesh (manifold or not): stiffness and lumped mass.
pub fn robust_laplacian(mesh: &Mesh, opts: RobustOptions, what: &str) -> Result<Operators> {
    Ok(tufted_laplacian(&mesh.positions, &mesh.faces, opts, what)?.operators)
}

/// The robust Laplacian of a triangle soup (see the module documentation).
pub fn tufted_laplacian(positions: &[[f64; 3]], faces: &[[u32; 3]], opts: RobustOptions, what: &str) -> Result<TuftedLaplacian> {
    tufted_laplacian_scaled(positions, faces, opts, 1.0, what)
}

/// [`tufted_laplacian`] with stiffness and mass multiplied by `scale` (the point-cloud
/// Laplacian divides by 3, each surface triangle appearing about three times).
pub(crate) fn tufted_laplacian_scaled(positions: &[[f64; 3]], faces: &[[u32; 3]], opts: RobustOptions, scale: f64, what: &str) -> Result<TuftedLaplacian> {
    let n = positions.len();
    if let Some(i) = positions.iter().position(|p| p.iter().any(|x| !x.is_finite())) {
        return Err(SpectralError::invalid(what, format!("vertex {i} has a non-finite coordinate {:?}", positions[i])));
    }
    if let Some((fi, &v)) = faces.iter().enumerate().find_map(|(fi, f)| f.iter().find(|&&v| v as usize >= n).map(|v| (fi, v))) {
        return Err(SpectralError::invalid(what, format!("face {fi} refers to vertex {v} but there are {n} vertices")));
    }
    if !(opts.mollify >= 0.0 && opts.mollify.is_finite()) || !(opts.delaunay_tolerance >= 0.0) {
        return Err(SpectralError::invalid(what, format!("invalid robust-Laplacian options {opts:?} (mollify and tolerance must be ≥ 0)")));
    }
    // Faces that repeat a vertex have no area and no proper edges: dropped (counted).
    let used: Vec<usize> = (0..faces.len()).filter(|&i| {
        let f = faces[i];
        f[0] != f[1] && f[1] != f[2] && f[2] != f[0]
    }).collect();
    let soup: Vec<[u32; 3]> = used.iter().map(|&i| faces[i]).collect();
    if soup.is_empty() {
        return Err(SpectralError::invalid(what, format!("no faces with three distinct vertices ({} given)", faces.len())));
    }
    let edge_len = |a: u32, b: u32| norm(sub(positions[a as usize], positions[b as usize]));
    let mut lengths: Vec<[f64; 3]> = soup.iter().map(|f| std::array::from_fn(|k| edge_len(f[k], f[(k + 1) % 3]))).collect();

    // Mollification (step 1): ε from the mean over distinct edges, as the authors' code does.
    let mut keys: Vec<(u32, u32)> = soup.iter().flat_map(|f| (0..3).map(move |k| (f[k].min(f[(k + 1) % 3]), f[k].max(f[(k + 1) % 3])))).collect();
    keys.sort_unstable();
    keys.dedup();
    let mean_len = keys.iter().map(|&(a, b)| edge_len(a, b)).sum::<f64>() / keys.len() as f64;
    if !(mean_len > 0.0 && mean_len.is_finite()) {
        return Err(SpectralError::invalid(what, "every edge has zero length (all face vertices coincide)"));
    }
    let eps = opts.mollify * mean_len;
    let delta = lengths.iter().flat_map(|l| (0..3).map(move |k| eps - (l[(k + 1) % 3] + l[(k + 2) % 3] - l[k]))).fold(0.0f64, f64::max);
    for l in &mut lengths {
        *l = l.map(|x| x + delta);
    }

    let mut cover = IntrinsicTriangulation::tufted_cover(positions, &soup, &lengths);
    if let Some(f) = cover.degenerate_face() {
        let input = used[f / 2];
        return Err(SpectralError::invalid(what, format!("face {input} {:?} is degenerate (zero area); use a mollification > 0", faces[input])));
    }
    let max_flips = opts.max_flips.unwrap_or(100 * cover.num_edges());
    let outcome = cover.flip_to_delaunay(opts.delaunay_tolerance, max_flips).map_err(|flips| {
        SpectralError::invalid(what, format!("the intrinsic Delaunay flips did not finish within {flips} flips ({} edges in the tufted cover)", cover.num_edges()))
    })?;
    if let Some(f) = cover.degenerate_face() {
        return Err(SpectralError::invalid(what, format!("intrinsic face {f} became degenerate during the Delaunay flips (numerically degenerate input)")));
    }
    // Step 4: half of the cover's operators.
    let (trip, mut mass) = cover.cotangent_terms(n, 0.5 * scale);
    let mean = mass.iter().sum::<f64>() / n as f64;
    for m in &mut mass {
        if *m <= 0.0 {
            *m = 1e-8 * mean;
        }
    }
    let trip: Vec<Triplet<usize, usize, f64>> = trip.into_iter().map(|(i, j, v)| Triplet::new(i, j, v)).collect();
    let stiffness = SparseColMat::try_new_from_triplets(n, n, &trip).map_err(|e| SpectralError::invalid(what, format!("sparse assembly failed: {e:?}")))?;
    Ok(TuftedLaplacian {
        operators: Operators { stiffness, mass },
        flips: outcome.flips,
        mollification: delta,
        dropped_faces: faces.len() - soup.len(),
        cover_faces: cover.num_faces(),
        unflippable: outcome.unflippable,
    })
}
