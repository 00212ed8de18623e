//! Correspondence evaluation: `.vts` ground truth and the mean geodesic error.
//!
//! Protocol (pyFM `eval/evaluate.py`, ×100): for shapes X (shape 1) and Y (shape 2) with a
//! predicted point map T: Y → X, `err_j = d_X(T(vts_Y[j]), vts_X[j]) / √area(X)`; report
//! 100 × mean. Geodesics by the heat method on X.

use crate::error::{Result, SpectralError};
use crate::geodesic::HeatGeodesics;
use std::path::Path;

/// Reads a `.vts` file (one 1-based vertex index per line) into 0-based indices, checking that
/// every index lies on a shape with `num_vertices` vertices.
pub fn read_vts(path: impl AsRef<Path>, num_vertices: usize) -> Result<Vec<usize>> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|source| SpectralError::Io { path: path.into(), source })?;
    let mut out = Vec::new();
    for (ln, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        let v: usize = t.parse().map_err(|_| SpectralError::Parse { path: path.into(), line: ln + 1, msg: format!("not a vertex index: {t:?}") })?;
        if v == 0 || v > num_vertices {
            return Err(SpectralError::Parse {
                path: path.into(),
                line: ln + 1,
                msg: format!("vertex {v} is outside the shape's 1..={num_vertices} (1-based indices)"),
            });
        }
        out.push(v - 1);
    }
    if out.is_empty() {
        return Err(SpectralError::Parse { path: path.into(), line: 0, msg: "no correspondences".into() });
    }
    Ok(out)
}

/// Reads a point map (one 0-based index per line, one line per vertex of shape 2) and checks it
/// against the vertex counts (the file format lives with the mesh readers, which the viewer
/// shares).
pub fn read_map(path: impl AsRef<Path>, n2: usize, n1: usize) -> Result<Vec<u32>> {
    Ok(kiln_scene::mesh::read_point_map(path, n2, n1)?)
}

/// Writes a point map, one 0-based index per line.
pub fn write_map(path: impl AsRef<Path>, p2p: &[u32]) -> Result<()> {
    Ok(kiln_scene::mesh::write_point_map(path, p2p)?)
}

/// Geodesic distance table on X from the ground-truth points `vts_x` (unique sources).
pub struct GroundTruthDistances {
    sources: Vec<usize>,
    /// For each line of the `.vts`, its column in `table`.
    column: Vec<usize>,
    table: faer::Mat<f32>,
    sqrt_area: f64,
}

impl GroundTruthDistances {
    /// Distances from every point of `vts_x` (optionally only every `stride`-th line).
    pub fn new(heat: &HeatGeodesics, vts_x: &[usize], area: f64, stride: usize) -> Self {
        let lines: Vec<usize> = (0..vts_x.len()).step_by(stride.max(1)).collect();
        let mut sources: Vec<usize> = lines.iter().map(|&l| vts_x[l]).collect();
        sources.sort_unstable();
        sources.dedup();
        let column = (0..vts_x.len()).map(|l| sources.binary_search(&vts_x[l]).unwrap_or(usize::MAX)).collect();
        let table = heat.distances(&sources);
        Self { sources, column, table, sqrt_area: area.sqrt() }
    }

    pub fn num_sources(&self) -> usize {
        self.sources.len()
    }

    /// Per-line normalized errors of a point map Y → X (lines without a source are skipped).
    pub fn errors(&self, vts_y: &[usize], p2p_yx: &[u32]) -> Vec<f64> {
        let mut out = Vec::new();
        for (l, &y) in vts_y.iter().enumerate() {
            let Some(&col) = self.column.get(l) else { break };
            if col == usize::MAX {
                continue;
            }
            let pred = p2p_yx[y] as usize;
            out.push(self.table[(pred, col)] as f64 / self.sqrt_area);
        }
        out
    }

    /// 100 × mean normalized geodesic error.
    pub fn mean_error_x100(&self, vts_y: &[usize], p2p_yx: &[u32]) -> f64 {
        let e = self.errors(vts_y, p2p_yx);
        100.0 * e.iter().sum::<f64>() / e.len().max(1) as f64
    }
}

/// Checks that two `.vts` files describe the same template (same number of lines).
pub fn check_vts_pair(a: &[usize], b: &[usize], what: &str) -> Result<()> {
    if a.len() != b.len() {
        return Err(SpectralError::invalid(what, format!("the two .vts files have {} and {} lines", a.len(), b.len())));
    }
    Ok(())
}
