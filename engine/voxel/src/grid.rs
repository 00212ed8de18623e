//! The dense voxel grid: values at grid points spanning a box, trilinear interpolation,
//! softplus density and sigmoid colour (SH degree 0), resampling for coarse-to-fine growth, and
//! the grid file (a kiln_run checkpoint holding the two tensors and the layout as metadata).

use crate::error::{Result, VoxelError};
use crate::rng::Rng;
use glam::Vec3;
use kiln_run::Checkpoint;
use rayon::prelude::*;
use std::path::Path;

/// Density scale of Vox-E/ReLU-Fields: (√27 · 100 / ‖extent‖) / 3, 33.3 for a 3×3×3 box.
pub fn default_density_scale(extent: Vec3) -> f32 {
    (27f32.sqrt() * 100.0 / extent.length()) / 3.0
}

/// A dense grid of `dims` points spanning `[bbox_min, bbox_max]`; point (i, j, k) at
/// `bbox_min + (i, j, k) / (dims − 1) · extent`, index `i + nx·(j + ny·k)`.
/// Per point: one raw density (σ = softplus(raw · density_scale)) and three colour features
/// (colour = sigmoid(feature)), interpolated trilinearly before the nonlinearity.
#[derive(Clone, Debug, PartialEq)]
pub struct VoxelGrid {
    pub dims: [u32; 3],
    pub bbox_min: Vec3,
    pub bbox_max: Vec3,
    pub density_scale: f32,
    pub density: Vec<f32>,
    /// Three per point, interleaved (rgb).
    pub features: Vec<f32>,
}

/// Trilinear sample of the raw values at a point: (raw density, raw features).
#[derive(Clone, Copy, Debug)]
pub struct Corners {
    pub base: usize,
    pub idx: [usize; 8],
    pub w: [f64; 8],
}

pub fn softplus(x: f64) -> f64 {
    if x > 20.0 { x } else { x.exp().ln_1p() }
}

pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

impl VoxelGrid {
    /// A grid with every density and feature at the given values.
    pub fn constant(dims: [u32; 3], bbox_min: Vec3, bbox_max: Vec3, density: f32, feature: f32) -> Result<VoxelGrid> {
        let g = VoxelGrid {
            dims,
            bbox_min,
            bbox_max,
            density_scale: default_density_scale(bbox_max - bbox_min),
            density: vec![density; Self::count_of(dims)?],
            features: vec![feature; Self::count_of(dims)? * 3],
        };
        g.validate()?;
        Ok(g)
    }

    /// Seeded random initialization: raw density U(density.0, density.1), features U(−f, f).
    pub fn random(dims: [u32; 3], bbox_min: Vec3, bbox_max: Vec3, density: (f32, f32), feature: f32, seed: u64) -> Result<VoxelGrid> {
        let mut g = Self::constant(dims, bbox_min, bbox_max, 0.0, 0.0)?;
        let mut rng = Rng::new(seed);
        for d in &mut g.density {
            *d = rng.range(density.0, density.1);
        }
        for f in &mut g.features {
            *f = rng.range(-feature, feature);
        }
        Ok(g)
    }

    fn count_of(dims: [u32; 3]) -> Result<usize> {
        if dims.iter().any(|&d| d < 2) {
            return Err(VoxelError::Grid(format!("dimensions {dims:?}: need at least 2 points per axis")));
        }
        let n = dims.iter().map(|&d| d as u64).product::<u64>();
        if n > (1 << 30) {
            return Err(VoxelError::Grid(format!("dimensions {dims:?}: more than 2^30 points")));
        }
        Ok(n as usize)
    }

    pub fn len(&self) -> usize {
        self.density.len()
    }
    pub fn is_empty(&self) -> bool {
        self.density.is_empty()
    }

    /// Checks the layout: sizes, a box with positive extent, finite values.
    pub fn validate(&self) -> Result<()> {
        let n = Self::count_of(self.dims)?;
        if self.density.len() != n || self.features.len() != 3 * n {
            return Err(VoxelError::Grid(format!(
                "dimensions {:?} need {n} densities and {} features, found {} and {}",
                self.dims,
                3 * n,
                self.density.len(),
                self.features.len()
            )));
        }
        let e = self.bbox_max - self.bbox_min;
        if !(e.x > 0.0 && e.y > 0.0 && e.z > 0.0) || !e.is_finite() || !self.bbox_min.is_finite() {
            return Err(VoxelError::Grid(format!("box {:?}..{:?} has no positive extent", self.bbox_min, self.bbox_max)));
        }
        if !(self.density_scale.is_finite() && self.density_scale > 0.0) {
            return Err(VoxelError::Grid(format!("density scale {} is not positive", self.density_scale)));
        }
        if let Some(i) = self.density.iter().chain(&self.features).position(|v| !v.is_finite()) {
            return Err(VoxelError::Grid(format!("value {i} is not finite")));
        }
        Ok(())
    }

    pub fn index(&self, i: u32, j: u32, k: u32) -> usize {
        (i + self.dims[0] * (j + self.dims[1] * k)) as usize
    }

    /// World position of grid point (i, j, k).
    pub fn point(&self, i: u32, j: u32, k: u32) -> Vec3 {
        let n = Vec3::new(self.dims[0] as f32 - 1.0, self.dims[1] as f32 - 1.0, self.dims[2] as f32 - 1.0);
        self.bbox_min + Vec3::new(i as f32, j as f32, k as f32) / n * (self.bbox_max - self.bbox_min)
    }

    /// Spacing of grid points along x (the smallest axis spacing when not cubic).
    pub fn voxel_size(&self) -> f32 {
        let e = self.bbox_max - self.bbox_min;
        (0..3).map(|a| e[a] / (self.dims[a] - 1) as f32).fold(f32::INFINITY, f32::min)
    }

    /// The corners and trilinear weights around `p` (f64, as the reference), None outside the box.
    pub fn corners(&self, p: [f64; 3]) -> Option<Corners> {
        let mut u = [0f64; 3];
        for a in 0..3 {
            let lo = self.bbox_min[a] as f64;
            let hi = self.bbox_max[a] as f64;
            u[a] = (p[a] - lo) / (hi - lo) * (self.dims[a] - 1) as f64;
            if !(u[a] >= 0.0 && u[a] <= (self.dims[a] - 1) as f64) {
                return None;
            }
        }
        let i0: [usize; 3] = std::array::from_fn(|a| (u[a].floor() as usize).min(self.dims[a] as usize - 2));
        let f: [f64; 3] = std::array::from_fn(|a| u[a] - i0[a] as f64);
        let (nx, ny) = (self.dims[0] as usize, self.dims[1] as usize);
        let base = i0[0] + nx * (i0[1] + ny * i0[2]);
        let mut c = Corners { base, idx: [0; 8], w: [0.0; 8] };
        for k in 0..8 {
            let b = [k & 1, (k >> 1) & 1, (k >> 2) & 1];
            c.idx[k] = base + b[0] + b[1] * nx + b[2] * nx * ny;
            c.w[k] = (0..3).map(|a| if b[a] == 1 { f[a] } else { 1.0 - f[a] }).product();
        }
        Some(c)
    }

    /// Raw density and raw features at `p` (trilinear), None outside the box.
    pub fn sample_raw(&self, p: [f64; 3]) -> Option<(f64, [f64; 3])> {
        let c = self.corners(p)?;
        let mut raw = 0.0;
        let mut feat = [0.0; 3];
        for k in 0..8 {
            raw += c.w[k] * self.density[c.idx[k]] as f64;
            for ch in 0..3 {
                feat[ch] += c.w[k] * self.features[3 * c.idx[k] + ch] as f64;
            }
        }
        Some((raw, feat))
    }

    /// σ at grid point `i`.
    pub fn sigma_at(&self, i: usize) -> f32 {
        softplus(self.density[i] as f64 * self.density_scale as f64) as f32
    }

    /// Colour (sigmoid of the features) at grid point `i`.
    pub fn color_at(&self, i: usize) -> [f32; 3] {
        std::array::from_fn(|c| sigmoid(self.features[3 * i + c] as f64) as f32)
    }

    /// The same field on a grid of `dims` points over the same box (trilinear resampling of the
    /// raw values): coarse-to-fine growth.
    pub fn resampled(&self, dims: [u32; 3]) -> Result<VoxelGrid> {
        let n = Self::count_of(dims)?;
        let mut out = VoxelGrid { dims, density: vec![0.0; n], features: vec![0.0; 3 * n], ..self.clone() };
        let nx = dims[0] as usize;
        let ny = dims[1] as usize;
        let rows: Vec<(Vec<f32>, Vec<f32>)> = (0..n / nx)
            .into_par_iter()
            .map(|row| {
                let j = (row % ny) as u32;
                let k = (row / ny) as u32;
                let mut d = Vec::with_capacity(nx);
                let mut f = Vec::with_capacity(3 * nx);
                for i in 0..nx as u32 {
                    let p = out.point(i, j, k);
                    // Clamp into the box: the end points may round just outside.
                    let q = p.clamp(self.bbox_min, self.bbox_max);
                    let (raw, feat) = self.sample_raw([q.x as f64, q.y as f64, q.z as f64]).unwrap_or((0.0, [0.0; 3]));
                    d.push(raw as f32);
                    f.extend(feat.iter().map(|&v| v as f32));
                }
                (d, f)
            })
            .collect();
        for (row, (d, f)) in rows.into_iter().enumerate() {
            out.density[row * nx..(row + 1) * nx].copy_from_slice(&d);
            out.features[3 * row * nx..3 * (row + 1) * nx].copy_from_slice(&f);
        }
        Ok(out)
    }

    /// The grid as a checkpoint (tensors "density" and "features"; layout in the metadata).
    pub fn to_checkpoint(&self, extra: serde_json::Value) -> Checkpoint {
        let mut ck = Checkpoint::new(serde_json::json!({
            "kind": "kiln voxel grid",
            "dims": self.dims,
            "bbox_min": self.bbox_min.to_array(),
            "bbox_max": self.bbox_max.to_array(),
            "density_scale": self.density_scale,
            "extra": extra,
        }));
        ck.push("density", self.density.clone());
        ck.push("features", self.features.clone());
        ck
    }

    /// Reads a grid back from a checkpoint made by [`VoxelGrid::to_checkpoint`].
    pub fn from_checkpoint(ck: &Checkpoint, what: &Path) -> Result<VoxelGrid> {
        let bad = |m: &str| VoxelError::file(what, format!("not a kiln voxel grid: {m}"));
        if ck.meta["kind"] != "kiln voxel grid" {
            return Err(bad("missing kind \"kiln voxel grid\""));
        }
        let dims: [u32; 3] = serde_json::from_value(ck.meta["dims"].clone()).map_err(|_| bad("dims"))?;
        let bmin: [f32; 3] = serde_json::from_value(ck.meta["bbox_min"].clone()).map_err(|_| bad("bbox_min"))?;
        let bmax: [f32; 3] = serde_json::from_value(ck.meta["bbox_max"].clone()).map_err(|_| bad("bbox_max"))?;
        let scale = ck.meta["density_scale"].as_f64().ok_or_else(|| bad("density_scale"))? as f32;
        let g = VoxelGrid {
            dims,
            bbox_min: Vec3::from(bmin),
            bbox_max: Vec3::from(bmax),
            density_scale: scale,
            density: ck.get("density").ok_or_else(|| bad("no density tensor"))?.to_vec(),
            features: ck.get("features").ok_or_else(|| bad("no features tensor"))?.to_vec(),
        };
        g.validate().map_err(|e| VoxelError::file(what, e))?;
        Ok(g)
    }

    /// Writes the grid file (atomically, through kiln_run's checkpoint format).
    pub fn save(&self, path: &Path) -> Result<()> {
        self.to_checkpoint(serde_json::Value::Null).save(path)?;
        Ok(())
    }

    pub fn load(path: &Path) -> Result<VoxelGrid> {
        let ck = Checkpoint::load(path)?;
        Self::from_checkpoint(&ck, path)
    }
}
