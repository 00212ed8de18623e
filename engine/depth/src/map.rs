//! Per-pixel depth or disparity of one view.

use crate::DepthError;

/// What the values of a [`DepthMap`] are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapKind {
    /// Distance along the camera's optical axis (z), any positive scale.
    Depth,
    /// Inverse depth up to scale (and, for relative models, shift): larger is nearer.
    Disparity,
}

/// A row-major, top-row-first map of `width · height` values, depth or disparity.
#[derive(Clone, Debug, PartialEq)]
pub struct DepthMap {
    pub width: u32,
    pub height: u32,
    pub values: Vec<f32>,
    pub kind: MapKind,
}

/// Smallest value a depth or disparity is clamped to before it is inverted.
pub const MIN_POSITIVE: f32 = 1e-6;

impl DepthMap {
    pub fn new(width: u32, height: u32, values: Vec<f32>, kind: MapKind) -> Self {
        assert_eq!(values.len(), width as usize * height as usize, "DepthMap: values do not match the size");
        DepthMap { width, height, values, kind }
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn at(&self, x: u32, y: u32) -> f32 {
        self.values[y as usize * self.width as usize + x as usize]
    }

    /// The same map as disparity (1 / depth for depth maps; values ≤ 0 are clamped first).
    pub fn to_disparity(&self) -> DepthMap {
        match self.kind {
            MapKind::Disparity => self.clone(),
            MapKind::Depth => self.inverted(MapKind::Disparity),
        }
    }

    /// The same map as depth (1 / disparity for disparity maps; values ≤ 0 are clamped first).
    pub fn to_depth(&self) -> DepthMap {
        match self.kind {
            MapKind::Depth => self.clone(),
            MapKind::Disparity => self.inverted(MapKind::Depth),
        }
    }

    fn inverted(&self, kind: MapKind) -> DepthMap {
        let values = self.values.iter().map(|v| 1.0 / v.max(MIN_POSITIVE)).collect();
        DepthMap { width: self.width, height: self.height, values, kind }
    }

    /// Bilinear resampling to `width`×`height` (pixel centres aligned, as images are resized:
    /// the map covers [0, W]×[0, H] before and after). Used to bring a network's output back to
    /// the image size.
    pub fn resize_bilinear(&self, width: u32, height: u32) -> DepthMap {
        if width == self.width && height == self.height {
            return self.clone();
        }
        let values = resize_bilinear(&self.values, 1, self.width, self.height, width, height);
        DepthMap { width, height, values, kind: self.kind }
    }

    /// Checks that the map is `width`×`height`; `what` names the map and `of` the view.
    pub fn check_size(&self, width: u32, height: u32, what: &str, of: &str) -> Result<(), DepthError> {
        if (self.width, self.height) != (width, height) {
            return Err(DepthError::Size {
                what: what.into(),
                got_w: self.width,
                got_h: self.height,
                want_w: width,
                want_h: height,
                of: of.into(),
            });
        }
        Ok(())
    }
}

/// Resize with a triangle (bilinear) filter whose support widens with the downscale factor, as
/// PIL's `BILINEAR` does: antialiased when shrinking, plain bilinear when enlarging. Networks are
/// fed this way (their reference numbers come from such resizes).
pub(crate) fn resize_triangle(src: &[f32], channels: usize, sw: u32, sh: u32, dw: u32, dh: u32) -> Vec<f32> {
    let wx = triangle_weights(sw as usize, dw as usize);
    let wy = triangle_weights(sh as usize, dh as usize);
    let (sw, dw, dh) = (sw as usize, dw as usize, dh as usize);
    // Rows first (x), then columns (y).
    let sh = sh as usize;
    let mut tmp = vec![0.0f32; dw * sh * channels];
    for y in 0..sh {
        for (x, taps) in wx.iter().enumerate() {
            for c in 0..channels {
                tmp[(y * dw + x) * channels + c] = taps.iter().map(|&(j, w)| w * src[(y * sw + j) * channels + c]).sum();
            }
        }
    }
    let mut out = vec![0.0f32; dw * dh * channels];
    for (y, taps) in wy.iter().enumerate() {
        for x in 0..dw {
            for c in 0..channels {
                out[(y * dw + x) * channels + c] = taps.iter().map(|&(j, w)| w * tmp[(j * dw + x) * channels + c]).sum();
            }
        }
    }
    out
}

/// Per output index: (source index, weight) of a triangle filter, weights summing to 1.
fn triangle_weights(src: usize, dst: usize) -> Vec<Vec<(usize, f32)>> {
    let scale = src as f64 / dst as f64;
    let support = scale.max(1.0);
    (0..dst)
        .map(|i| {
            let center = (i as f64 + 0.5) * scale;
            let lo = ((center - support).floor().max(0.0)) as usize;
            let hi = ((center + support).ceil() as usize).min(src);
            let mut taps: Vec<(usize, f64)> = (lo..hi)
                .map(|j| (j, (1.0 - ((j as f64 + 0.5 - center) / support).abs()).max(0.0)))
                .filter(|(_, w)| *w > 0.0)
                .collect();
            if taps.is_empty() {
                taps.push((((center.floor()) as usize).min(src - 1), 1.0));
            }
            let total: f64 = taps.iter().map(|t| t.1).sum();
            taps.into_iter().map(|(j, w)| (j, (w / total) as f32)).collect()
        })
        .collect()
}

/// Bilinear resize of an interleaved `channels`-channel map, pixel centres aligned
/// (source coordinate = (x + 0.5) · W / w − 0.5, clamped to the edge).
pub(crate) fn resize_bilinear(src: &[f32], channels: usize, sw: u32, sh: u32, dw: u32, dh: u32) -> Vec<f32> {
    use rayon::prelude::*;
    let (sw, sh, dw, dh) = (sw as usize, sh as usize, dw as usize, dh as usize);
    let mut out = vec![0.0f32; dw * dh * channels];
    let sx = sw as f32 / dw as f32;
    let sy = sh as f32 / dh as f32;
    out.par_chunks_mut(dw * channels).enumerate().for_each(|(y, row)| {
        let fy = ((y as f32 + 0.5) * sy - 0.5).clamp(0.0, (sh - 1) as f32);
        let y0 = fy.floor() as usize;
        let y1 = (y0 + 1).min(sh - 1);
        let ty = fy - y0 as f32;
        for x in 0..dw {
            let fx = ((x as f32 + 0.5) * sx - 0.5).clamp(0.0, (sw - 1) as f32);
            let x0 = fx.floor() as usize;
            let x1 = (x0 + 1).min(sw - 1);
            let tx = fx - x0 as f32;
            for c in 0..channels {
                let p = |xx: usize, yy: usize| src[(yy * sw + xx) * channels + c];
                let top = p(x0, y0) * (1.0 - tx) + p(x1, y0) * tx;
                let bottom = p(x0, y1) * (1.0 - tx) + p(x1, y1) * tx;
                row[x * channels + c] = top * (1.0 - ty) + bottom * ty;
            }
        }
    });
    out
}

/// Bilinear sample of a single-channel map at pixel-index coordinates (x, y) (pixel (i, j) is
/// at (i, j)), coordinates clamped to the map. The flow kernels sample the same way
/// (flow_common.wgsl `sample_clamped`).
#[inline]
pub(crate) fn sample_clamped(data: &[f32], w: usize, h: usize, x: f32, y: f32) -> f32 {
    let x = x.clamp(0.0, (w - 1) as f32);
    let y = y.clamp(0.0, (h - 1) as f32);
    let x0 = (x.floor() as usize).min(w - 1);
    let y0 = (y.floor() as usize).min(h - 1);
    let x1 = (x0 + 1).min(w - 1);
    let y1 = (y0 + 1).min(h - 1);
    let tx = x - x0 as f32;
    let ty = y - y0 as f32;
    let top = data[y0 * w + x0] + (data[y0 * w + x1] - data[y0 * w + x0]) * tx;
    let bottom = data[y1 * w + x0] + (data[y1 * w + x1] - data[y1 * w + x0]) * tx;
    top + (bottom - top) * ty
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triangle_resize_keeps_constants_and_means() {
        let (sw, sh) = (37u32, 23u32);
        let src: Vec<f32> = (0..sw * sh * 3).map(|i| if i % 3 == 1 { 0.25 } else { (i % 17) as f32 }).collect();
        for (dw, dh) in [(11, 7), (37, 23), (80, 50)] {
            let out = resize_triangle(&src, 3, sw, sh, dw, dh);
            assert_eq!(out.len(), (dw * dh * 3) as usize);
            // Constant channel stays constant (weights sum to one).
            assert!(out.iter().skip(1).step_by(3).all(|v| (v - 0.25).abs() < 1e-6));
        }
        // Same size: identity.
        assert_eq!(resize_triangle(&src, 3, sw, sh, sw, sh), src);
    }

    #[test]
    fn bilinear_sample_matches_hand_values() {
        let data = [0.0, 1.0, 2.0, 3.0]; // 2×2
        assert_eq!(sample_clamped(&data, 2, 2, 0.5, 0.5), 1.5);
        assert_eq!(sample_clamped(&data, 2, 2, -3.0, 0.0), 0.0);
        assert_eq!(sample_clamped(&data, 2, 2, 1.0, 5.0), 3.0);
        let m = DepthMap::new(2, 2, vec![1.0, 2.0, 4.0, 8.0], MapKind::Depth);
        assert_eq!(m.to_disparity().values, vec![1.0, 0.5, 0.25, 0.125]);
        assert_eq!(m.to_disparity().to_depth(), m);
    }
}
