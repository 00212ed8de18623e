//! Images as the loaders hand them out: f32 RGB in [0, 1] (+ optional alpha), decoding,
//! compositing, area-filter resizing and undistortion.

use super::distortion::Distortion;
use super::error::{DatasetError, ErrorKind};
use rayon::prelude::*;
use std::path::Path;

/// An f32 image, row-major, top row first.
#[derive(Clone, Debug, PartialEq)]
pub struct Image {
    pub width: u32,
    pub height: u32,
    /// Interleaved RGB, `3 · width · height` values in [0, 1]. When the file had alpha, the
    /// colour is already composited onto the dataset's background.
    pub rgb: Vec<f32>,
    /// The file's alpha channel (`width · height` values in [0, 1]), resampled like the colour;
    /// `None` for files without alpha.
    pub alpha: Option<Vec<f32>>,
}

impl Image {
    /// RGB of the pixel in column `x`, row `y`.
    pub fn pixel(&self, x: u32, y: u32) -> [f32; 3] {
        let i = 3 * (y as usize * self.width as usize + x as usize);
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }

    /// Composites the colour onto `background` using the alpha channel (kept). No-op without
    /// alpha.
    pub fn composite(&mut self, background: [f32; 3]) {
        let Some(alpha) = &self.alpha else { return };
        self.rgb
            .par_chunks_mut(3)
            .zip(alpha.par_iter())
            .for_each(|(c, &a)| {
                for k in 0..3 {
                    c[k] = c[k] * a + background[k] * (1.0 - a);
                }
            });
    }

    /// Resamples to `width`×`height` with an area (box) filter: each output pixel is the
    /// area-weighted mean of the input pixels its footprint covers, for any ratio. Meant for
    /// downscaling; the image maps [0, W]×[0, H] onto [0, w]×[0, h], so intrinsics scale by
    /// w/W and h/H.
    pub fn resize_area(&self, width: u32, height: u32) -> Image {
        if width == self.width && height == self.height {
            return self.clone();
        }
        let wx = area_weights(self.width as usize, width as usize);
        let wy = area_weights(self.height as usize, height as usize);
        let rgb = resample(
            &self.rgb,
            3,
            self.width as usize,
            self.height as usize,
            &wx,
            &wy,
        );
        let alpha = self
            .alpha
            .as_ref()
            .map(|a| resample(a, 1, self.width as usize, self.height as usize, &wx, &wy));
        Image {
            width,
            height,
            rgb,
            alpha,
        }
    }

    /// The pinhole image with the same intrinsics that the distorted image `self` was taken
    /// with: each output pixel centre is pushed through the lens model (forward, so no
    /// inversion is needed) and the source is sampled bilinearly. Points that land outside the
    /// source take the nearest edge pixel.
    pub fn undistort(&self, fx: f64, fy: f64, cx: f64, cy: f64, dist: &Distortion) -> Image {
        let (w, h) = (self.width as usize, self.height as usize);
        let map = |i: usize, j: usize| -> (f64, f64) {
            let x = (j as f64 + 0.5 - cx) / fx;
            let y = (i as f64 + 0.5 - cy) / fy;
            let (xd, yd) = dist.distort(x, y);
            // Pixel centres sit at +0.5: continuous coordinate → sample index space.
            (fx * xd + cx - 0.5, fy * yd + cy - 0.5)
        };
        let sample = |src: &[f32], c: usize, out: &mut [f32], i: usize| {
            for j in 0..w {
                let (u, v) = map(i, j);
                let u = if u.is_finite() {
                    u.clamp(0.0, (w - 1) as f64)
                } else {
                    0.0
                };
                let v = if v.is_finite() {
                    v.clamp(0.0, (h - 1) as f64)
                } else {
                    0.0
                };
                let (x0, y0) = (u.floor() as usize, v.floor() as usize);
                let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
                let (tx, ty) = ((u - x0 as f64) as f32, (v - y0 as f64) as f32);
                for k in 0..c {
                    let p = |x: usize, y: usize| src[c * (y * w + x) + k];
                    let top = p(x0, y0) * (1.0 - tx) + p(x1, y0) * tx;
                    let bottom = p(x0, y1) * (1.0 - tx) + p(x1, y1) * tx;
                    out[c * j + k] = top * (1.0 - ty) + bottom * ty;
                }
            }
        };
        let mut rgb = vec![0.0; 3 * w * h];
        rgb.par_chunks_mut(3 * w)
            .enumerate()
            .for_each(|(i, row)| sample(&self.rgb, 3, row, i));
        let alpha = self.alpha.as_ref().map(|a| {
            let mut out = vec![0.0; w * h];
            out.par_chunks_mut(w)
                .enumerate()
                .for_each(|(i, row)| sample(a, 1, row, i));
            out
        });
        Image {
            width: self.width,
            height: self.height,
            rgb,
            alpha,
        }
    }
}

/// For each output index along an axis of `n_out` samples covering `n_in` input samples: the
/// first input index and the normalised overlap weights.
fn area_weights(n_in: usize, n_out: usize) -> Vec<(usize, Vec<f32>)> {
    let scale = n_in as f64 / n_out as f64;
    (0..n_out)
        .map(|o| {
            let (start, end) = (o as f64 * scale, (o + 1) as f64 * scale);
            let first = (start.floor() as usize).min(n_in - 1);
            let last = ((end.ceil() as usize).max(first + 1)).min(n_in);
            let mut ws: Vec<f64> = (first..last)
                .map(|i| (end.min(i as f64 + 1.0) - start.max(i as f64)).max(0.0))
                .collect();
            let sum: f64 = ws.iter().sum();
            if sum > 0.0 {
                ws.iter_mut().for_each(|w| *w /= sum);
            } else {
                ws = vec![1.0];
            }
            (first, ws.into_iter().map(|w| w as f32).collect())
        })
        .collect()
}

/// Separable resampling of interleaved `c`-channel data: rows first, then columns.
fn resample(
    src: &[f32],
    c: usize,
    w: usize,
    h: usize,
    wx: &[(usize, Vec<f32>)],
    wy: &[(usize, Vec<f32>)],
) -> Vec<f32> {
    let (ow, oh) = (wx.len(), wy.len());
    // Horizontal pass: h rows of ow pixels.
    let mut tmp = vec![0.0f32; c * ow * h];
    tmp.par_chunks_mut(c * ow).enumerate().for_each(|(y, row)| {
        let srow = &src[c * w * y..c * w * (y + 1)];
        for (o, (first, ws)) in wx.iter().enumerate() {
            for (n, &wt) in ws.iter().enumerate() {
                let s = c * (first + n);
                for k in 0..c {
                    row[c * o + k] += wt * srow[s + k];
                }
            }
        }
    });
    // Vertical pass.
    let mut out = vec![0.0f32; c * ow * oh];
    out.par_chunks_mut(c * ow).enumerate().for_each(|(o, row)| {
        let (first, ws) = &wy[o];
        for (n, &wt) in ws.iter().enumerate() {
            let srow = &tmp[c * ow * (first + n)..c * ow * (first + n + 1)];
            for (d, s) in row.iter_mut().zip(srow) {
                *d += wt * s;
            }
        }
    });
    out
}

/// Width and height of an image file, from its header only.
pub fn image_size(path: &Path) -> Result<(u32, u32), DatasetError> {
    let reader = image::ImageReader::open(path).map_err(|e| DatasetError::io(path, e))?;
    let reader = reader
        .with_guessed_format()
        .map_err(|e| DatasetError::io(path, e))?;
    reader
        .into_dimensions()
        .map_err(|e| DatasetError::new(path, ErrorKind::Image(e.to_string())))
}

/// Decodes an image file (PNG or JPEG, 8 or 16 bit, grey or colour, with or without alpha) to
/// f32 RGB in [0, 1] and, where the file has one, an alpha channel. No colour-space conversion.
pub fn decode(path: &Path) -> Result<Image, DatasetError> {
    let reader = image::ImageReader::open(path).map_err(|e| DatasetError::io(path, e))?;
    let reader = reader
        .with_guessed_format()
        .map_err(|e| DatasetError::io(path, e))?;
    let img = reader
        .decode()
        .map_err(|e| DatasetError::new(path, ErrorKind::Image(e.to_string())))?;
    let (width, height) = (img.width(), img.height());
    if width == 0 || height == 0 {
        return Err(DatasetError::new(
            path,
            ErrorKind::Image("image is empty".into()),
        ));
    }
    if img.color().has_alpha() {
        let rgba = img.into_rgba32f().into_raw();
        let mut rgb = Vec::with_capacity(3 * rgba.len() / 4);
        let mut alpha = Vec::with_capacity(rgba.len() / 4);
        for p in rgba.chunks_exact(4) {
            rgb.extend_from_slice(&p[..3]);
            alpha.push(p[3]);
        }
        Ok(Image {
            width,
            height,
            rgb,
            alpha: Some(alpha),
        })
    } else {
        Ok(Image {
            width,
            height,
            rgb: img.into_rgb32f().into_raw(),
            alpha: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(w: u32, h: u32) -> Image {
        let mut rgb = Vec::new();
        for y in 0..h {
            for x in 0..w {
                rgb.extend_from_slice(&[x as f32, y as f32, 1.0]);
            }
        }
        Image {
            width: w,
            height: h,
            rgb,
            alpha: None,
        }
    }

    #[test]
    fn integer_box_downscale_averages_blocks() {
        let img = ramp(8, 4).resize_area(2, 1);
        // Block 0: x 0..4 → mean 1.5; block 1: x 4..8 → 5.5; y 0..4 → 1.5.
        assert_eq!(img.pixel(0, 0), [1.5, 1.5, 1.0]);
        assert_eq!(img.pixel(1, 0), [5.5, 1.5, 1.0]);
    }

    #[test]
    fn fractional_area_downscale_weights_by_overlap_and_keeps_the_mean() {
        let src = ramp(10, 7);
        let img = src.resize_area(4, 3);
        // Output pixel o covers [2.5·o, 2.5·o + 2.5) of pixels valued by their column index:
        // o = 0 → (0 + 1 + 2·0.5) / 2.5 = 0.8, then 3.2, 5.8, 8.2.
        for (o, want) in [0.8f32, 3.2, 5.8, 8.2].into_iter().enumerate() {
            assert!(
                (img.pixel(o as u32, 0)[0] - want).abs() < 1e-5,
                "{o}: {:?}",
                img.pixel(o as u32, 0)
            );
        }
        let mean =
            |im: &Image| im.rgb.iter().step_by(3).sum::<f32>() / (im.width * im.height) as f32;
        assert!((mean(&img) - mean(&src)).abs() < 1e-4);
    }

    #[test]
    fn undistort_inverts_a_synthetic_distortion() {
        // Draw a smooth pattern as a distorted camera sees it, undistort, compare with the
        // pattern drawn by the pinhole camera.
        let (w, h, f, cx, cy) = (64u32, 48u32, 50.0, 32.0, 24.0);
        let d = Distortion {
            k1: -0.1,
            k2: 0.01,
            p1: 1e-3,
            ..Default::default()
        };
        let pattern = |x: f64, y: f64| ((3.0 * x).sin() * (2.0 * y).cos() * 0.5 + 0.5) as f32;
        let mut distorted = Vec::new();
        let mut pinhole = Vec::new();
        for i in 0..h {
            for j in 0..w {
                let (xd, yd) = ((j as f64 + 0.5 - cx) / f, (i as f64 + 0.5 - cy) / f);
                let (x, y) = d.undistort(xd, yd);
                let v = pattern(x, y);
                distorted.extend_from_slice(&[v, v, v]);
                let p = pattern(xd, yd);
                pinhole.extend_from_slice(&[p, p, p]);
            }
        }
        let img = Image {
            width: w,
            height: h,
            rgb: distorted,
            alpha: None,
        };
        let out = img.undistort(f, f, cx, cy, &d);
        let mut worst: f32 = 0.0;
        for i in 4..h - 4 {
            for j in 4..w - 4 {
                let k = 3 * (i * w + j) as usize;
                worst = worst.max((out.rgb[k] - pinhole[k]).abs());
            }
        }
        assert!(worst < 0.01, "{worst}");
    }
}
