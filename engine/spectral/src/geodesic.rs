//! Geodesic distances: the heat method (Crane et al. 2013), batched over many sources with two
//! prefactored sparse Cholesky solves, and exact edge-graph Dijkstra (an upper bound, used to
//! check the heat method).
//!
//! Heat method: `(M + tW) u = δ_s` with t = h² (mean edge length squared); per face
//! `X = −∇u / |∇u|`; `W φ = b` with `b_c = Σ_{f∋c} ⟨X_f, J_c⟩` (the weak divergence); then
//! `φ − φ(s)`. The Poisson system uses `W + εM`, ε = 1e-6/area (W alone is singular; b sums to
//! zero, so the shift only perturbs φ by a relative 1e-7).

use crate::eigen::factor_shifted;
use crate::error::Result;
use crate::laplacian::{dot, norm, sub, FaceGeometry, Operators};
use faer::linalg::solvers::Solve;
use faer::sparse::linalg::solvers::Llt;
use faer::Mat;
use kiln_scene::mesh::Mesh;
use rayon::prelude::*;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Prefactored heat-method solver for one mesh.
pub struct HeatGeodesics<'a> {
    mesh: &'a Mesh,
    faces: FaceGeometry,
    heat: Llt<usize, f64>,
    poisson: Llt<usize, f64>,
}

impl<'a> HeatGeodesics<'a> {
    pub fn new(mesh: &'a Mesh, ops: &Operators) -> Result<Self> {
        let mut sum = 0.0;
        for f in &mesh.faces {
            for k in 0..3 {
                sum += norm(sub(mesh.positions[f[k] as usize], mesh.positions[f[(k + 1) % 3] as usize]));
            }
        }
        let h = sum / (3 * mesh.faces.len()) as f64;
        let t = h * h;
        // (M + tW) = t (W + M/t).
        let heat = factor_shifted(ops, 1.0 / t, "heat method")?;
        let poisson = factor_shifted(ops, 1e-6 / ops.total_area(), "heat method")?;
        Ok(Self { mesh, faces: FaceGeometry::new(mesh), heat, poisson })
    }

    /// Distances from each source (columns) to every vertex (rows), f32.
    pub fn distances(&self, sources: &[usize]) -> Mat<f32> {
        const BLOCK: usize = 64;
        let n = self.mesh.num_vertices();
        let chunks: Vec<&[usize]> = sources.chunks(BLOCK).collect();
        let blocks: Vec<Mat<f64>> = chunks.par_iter().map(|s| self.block(s)).collect();
        let mut out = Mat::<f32>::zeros(n, sources.len());
        for (b, blk) in blocks.iter().enumerate() {
            for c in 0..blk.ncols() {
                for i in 0..n {
                    out[(i, b * BLOCK + c)] = blk[(i, c)] as f32;
                }
            }
        }
        out
    }

    fn block(&self, sources: &[usize]) -> Mat<f64> {
        let n = self.mesh.num_vertices();
        let m = sources.len();
        let mut u = Mat::<f64>::zeros(n, m);
        for (c, &s) in sources.iter().enumerate() {
            u[(s, c)] = 1.0;
        }
        self.heat.solve_in_place(u.as_mut());
        let mut b = Mat::<f64>::zeros(n, m);
        for (fi, f) in self.mesh.faces.iter().enumerate() {
            let [i, j, k] = f.map(|v| v as usize);
            let jc = &self.faces.jc[fi];
            for c in 0..m {
                let g = self.faces.gradient(fi, [u[(i, c)], u[(j, c)], u[(k, c)]]);
                let len = norm(g);
                if len == 0.0 {
                    continue;
                }
                let x = g.map(|v| -v / len);
                b[(i, c)] += dot(x, jc[0]);
                b[(j, c)] += dot(x, jc[1]);
                b[(k, c)] += dot(x, jc[2]);
            }
        }
        self.poisson.solve_in_place(b.as_mut());
        for (c, &s) in sources.iter().enumerate() {
            let base = b[(s, c)];
            for i in 0..n {
                b[(i, c)] = (b[(i, c)] - base).max(0.0);
            }
        }
        b
    }
}

/// Exact shortest paths along mesh edges from `source` (an upper bound of the geodesic distance).
pub fn dijkstra(mesh: &Mesh, source: usize) -> Vec<f64> {
    let n = mesh.num_vertices();
    let mut adj: Vec<Vec<(usize, f64)>> = vec![Vec::new(); n];
    for f in &mesh.faces {
        for k in 0..3 {
            let (a, b) = (f[k] as usize, f[(k + 1) % 3] as usize);
            let w = norm(sub(mesh.positions[a], mesh.positions[b]));
            adj[a].push((b, w));
            adj[b].push((a, w));
        }
    }
    let mut dist = vec![f64::INFINITY; n];
    let mut heap = BinaryHeap::new();
    dist[source] = 0.0;
    heap.push(Reverse((0u64, source)));
    while let Some(Reverse((d, v))) = heap.pop() {
        let d = f64::from_bits(d);
        if d > dist[v] {
            continue;
        }
        for &(w, len) in &adj[v] {
            let nd = d + len;
            if nd < dist[w] {
                dist[w] = nd;
                // Non-negative f64 order equals their bit patterns' order.
                heap.push(Reverse((nd.to_bits(), w)));
            }
        }
    }
    dist
}
