//! Edge-aware filtering of monocular disparity before it initialises Gaussians (spec,
//! Initialization 2): normalise `d / max(d) + 0.2`, then a few bilateral passes that smooth
//! noise inside surfaces but never average across a depth discontinuity.

use crate::{DepthError, DepthMap, MapKind};
use kiln_scene::dataset::Image;
use rayon::prelude::*;

/// The spec's normalised disparity `d / max(d) + 0.2` (values in [0.2, 1.2]; depth 1/that is
/// ≈ 0.83 … 5). Depth maps are inverted first.
pub fn normalized_disparity(map: &DepthMap) -> Result<DepthMap, DepthError> {
    let disp = map.to_disparity();
    let max = disp.values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if !(max.is_finite() && max > 0.0) {
        return Err(DepthError::Input(format!("disparity has no positive maximum (max {max}); cannot normalise")));
    }
    let values = disp.values.iter().map(|d| d.max(0.0) / max + 0.2).collect();
    Ok(DepthMap::new(map.width, map.height, values, MapKind::Disparity))
}

/// Parameters of [`bilateral_filter`]. Defaults are the spec's (after 3D-Photo-Inpainting's
/// "sparse bilateral filtering"): 5 passes of window 7, 7, 5, 5, 5; σ_s = 4 px, σ_r = 0.5, and
/// a discontinuity threshold of 0.1 in normalised disparity.
#[derive(Clone, Debug, PartialEq)]
pub struct BilateralParams {
    /// Window size (odd, pixels) of each pass; one pass per entry.
    pub window_sizes: Vec<u32>,
    /// Spatial Gaussian σ in pixels.
    pub sigma_space: f32,
    /// Range Gaussian σ on the (disparity) values.
    pub sigma_range: f32,
    /// Neighbours whose value differs from the centre by more than this are left out: the
    /// filter never averages across an edge in the disparity.
    pub discontinuity: f32,
    /// Joint (cross) bilateral: also weight by the guide image's colour difference with this σ
    /// (RGB in [0, 1], L2 distance). `None`: disparity alone decides.
    pub sigma_color: Option<f32>,
}

impl Default for BilateralParams {
    fn default() -> Self {
        BilateralParams {
            window_sizes: vec![7, 7, 5, 5, 5],
            sigma_space: 4.0,
            sigma_range: 0.5,
            discontinuity: 0.1,
            sigma_color: None,
        }
    }
}

/// Iterated (joint) bilateral filter of a map (normally normalised disparity). With
/// `sigma_color` set, `guide` (the view's image, same size) adds a colour term so that edges in
/// the image also stop the smoothing.
pub fn bilateral_filter(map: &DepthMap, guide: Option<&Image>, params: &BilateralParams) -> Result<DepthMap, DepthError> {
    let bad = |m: String| Err(DepthError::Input(format!("bilateral filter: {m}")));
    if params.window_sizes.iter().any(|s| s % 2 == 0 || *s == 0) {
        return bad(format!("window sizes {:?} must be odd", params.window_sizes));
    }
    if !(params.sigma_space > 0.0 && params.sigma_range > 0.0 && params.discontinuity > 0.0) {
        return bad("sigma_space, sigma_range and discontinuity must be positive".into());
    }
    let color = match (params.sigma_color, guide) {
        (Some(s), Some(img)) => {
            if !(s > 0.0) {
                return bad(format!("sigma_color {s} must be positive"));
            }
            if (img.width, img.height) != (map.width, map.height) {
                return bad(format!("guide image is {}×{}, map is {}×{}", img.width, img.height, map.width, map.height));
            }
            Some((s, img))
        }
        (Some(_), None) => return bad("sigma_color needs a guide image".into()),
        _ => None,
    };
    let (w, h) = (map.width as usize, map.height as usize);
    let mut cur = map.values.clone();
    let inv2s = 1.0 / (2.0 * params.sigma_space * params.sigma_space);
    let inv2r = 1.0 / (2.0 * params.sigma_range * params.sigma_range);
    for &size in &params.window_sizes {
        let r = (size / 2) as i64;
        let src = &cur;
        let next: Vec<f32> = (0..w * h)
            .into_par_iter()
            .map(|i| {
                let (x, y) = ((i % w) as i64, (i / w) as i64);
                let c = src[i];
                let (mut sum, mut wsum) = (0.0f32, 0.0f32);
                for dy in -r..=r {
                    let yy = y + dy;
                    if yy < 0 || yy >= h as i64 {
                        continue;
                    }
                    for dx in -r..=r {
                        let xx = x + dx;
                        if xx < 0 || xx >= w as i64 {
                            continue;
                        }
                        let j = yy as usize * w + xx as usize;
                        let d = src[j] - c;
                        if d.abs() > params.discontinuity {
                            continue;
                        }
                        let mut wt = (-((dx * dx + dy * dy) as f32) * inv2s - d * d * inv2r).exp();
                        if let Some((sc, img)) = color {
                            let dc: f32 = (0..3).map(|k| (img.rgb[3 * j + k] - img.rgb[3 * i + k]).powi(2)).sum();
                            wt *= (-dc / (2.0 * sc * sc)).exp();
                        }
                        sum += wt * src[j];
                        wsum += wt;
                    }
                }
                // The centre always contributes (weight 1), so wsum ≥ 1.
                sum / wsum
            })
            .collect();
        cur = next;
    }
    Ok(DepthMap::new(map.width, map.height, cur, map.kind))
}
