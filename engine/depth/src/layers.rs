//! Depth layers: disparity clustered into C groups, one mask per group (spec, Initialization
//! 3). The spec clusters with agglomerative clustering on every 10th pixel; kiln uses 1-D
//! k-means (Lloyd) on the same sample, initialised at evenly spaced quantiles, which is
//! deterministic and for one-dimensional data gives contiguous disparity intervals as Ward
//! linkage does. Every pixel then takes the nearest centre.

use crate::{DepthError, DepthMap};

#[derive(Clone, Debug, PartialEq)]
pub struct LayerParams {
    /// Number of layers C (the spec: 5).
    pub count: usize,
    /// Cluster every `stride`-th pixel (the spec: 10).
    pub stride: usize,
    pub max_iterations: usize,
}

impl Default for LayerParams {
    fn default() -> Self {
        LayerParams { count: 5, stride: 10, max_iterations: 100 }
    }
}

/// Each pixel's layer, layers ordered far → near (increasing disparity).
#[derive(Clone, Debug, PartialEq)]
pub struct DepthLayers {
    pub width: u32,
    pub height: u32,
    pub count: usize,
    /// Layer of each pixel, row-major, in 0..count.
    pub labels: Vec<u8>,
    /// Disparity centre of each layer, increasing.
    pub centers: Vec<f32>,
}

impl DepthLayers {
    /// The 0/1 mask of layer `c`, row-major.
    pub fn mask(&self, c: usize) -> Vec<f32> {
        self.labels.iter().map(|&l| if l as usize == c { 1.0 } else { 0.0 }).collect()
    }

    /// All masks as one-hot rows: `[pixel][layer]`, `width · height · count` values.
    pub fn one_hot(&self) -> Vec<f32> {
        let mut out = vec![0.0; self.labels.len() * self.count];
        for (i, &l) in self.labels.iter().enumerate() {
            out[i * self.count + l as usize] = 1.0;
        }
        out
    }
}

/// Clusters the map's disparity into layers (depth maps are inverted first).
pub fn depth_layers(map: &DepthMap, params: &LayerParams) -> Result<DepthLayers, DepthError> {
    if params.count == 0 || params.count > 255 {
        return Err(DepthError::Input(format!("layer count {} must be in 1..=255", params.count)));
    }
    if map.is_empty() {
        return Err(DepthError::Input("cannot cluster an empty map into layers".into()));
    }
    let disp = map.to_disparity().values;
    if disp.iter().any(|d| !d.is_finite()) {
        return Err(DepthError::Input("disparity holds non-finite values; cannot cluster".into()));
    }
    let mut sample: Vec<f32> = disp.iter().step_by(params.stride.max(1)).copied().collect();
    sample.sort_by(f32::total_cmp);
    let k = params.count;
    let n = sample.len();
    // Quantile initialisation: centre c at the (c + 0.5)/k quantile.
    let mut centers: Vec<f32> = (0..k).map(|c| sample[(((c as f32 + 0.5) / k as f32) * n as f32) as usize % n]).collect();
    for _ in 0..params.max_iterations {
        let mut sum = vec![0.0f64; k];
        let mut cnt = vec![0usize; k];
        for &d in &sample {
            let c = nearest(&centers, d);
            sum[c] += d as f64;
            cnt[c] += 1;
        }
        let next: Vec<f32> =
            (0..k).map(|c| if cnt[c] > 0 { (sum[c] / cnt[c] as f64) as f32 } else { centers[c] }).collect();
        let moved = next.iter().zip(&centers).any(|(a, b)| a != b);
        centers = next;
        if !moved {
            break;
        }
    }
    centers.sort_by(f32::total_cmp);
    let labels = disp.iter().map(|&d| nearest(&centers, d) as u8).collect();
    Ok(DepthLayers { width: map.width, height: map.height, count: k, labels, centers })
}

fn nearest(centers: &[f32], d: f32) -> usize {
    let mut best = 0;
    for (c, &m) in centers.iter().enumerate() {
        if (d - m).abs() < (d - centers[best]).abs() {
            best = c;
        }
    }
    best
}
