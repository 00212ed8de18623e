//! Radial-tangential lens distortion (COLMAP's SIMPLE_RADIAL, RADIAL and OPENCV models, and
//! nerfstudio's `k1…k4, p1, p2`), in normalised camera coordinates.

/// Brown–Conrady distortion: for an undistorted normalised point (x, y) with r² = x² + y²,
///
/// ```text
/// radial = 1 + k1 r² + k2 r⁴ + k3 r⁶ + k4 r⁸
/// x_d = x·radial + 2 p1 x y + p2 (r² + 2x²)
/// y_d = y·radial + p1 (r² + 2y²) + 2 p2 x y
/// ```
///
/// which is COLMAP's OPENCV model with k3 = k4 = 0 (SIMPLE_RADIAL: k1 only; RADIAL: k1, k2).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Distortion {
    pub k1: f64,
    pub k2: f64,
    pub k3: f64,
    pub k4: f64,
    pub p1: f64,
    pub p2: f64,
}

impl Distortion {
    pub fn is_zero(&self) -> bool {
        [self.k1, self.k2, self.k3, self.k4, self.p1, self.p2]
            .iter()
            .all(|&v| v == 0.0)
    }

    pub fn is_finite(&self) -> bool {
        [self.k1, self.k2, self.k3, self.k4, self.p1, self.p2]
            .iter()
            .all(|v| v.is_finite())
    }

    /// Undistorted normalised point → distorted normalised point (the lens model itself).
    pub fn distort(&self, x: f64, y: f64) -> (f64, f64) {
        let r2 = x * x + y * y;
        let radial = 1.0 + r2 * (self.k1 + r2 * (self.k2 + r2 * (self.k3 + r2 * self.k4)));
        let xd = x * radial + 2.0 * self.p1 * x * y + self.p2 * (r2 + 2.0 * x * x);
        let yd = y * radial + self.p1 * (r2 + 2.0 * y * y) + 2.0 * self.p2 * x * y;
        (xd, yd)
    }

    /// Distorted normalised point → undistorted, by Newton's method on [`Self::distort`]
    /// (converges in a few steps for the distortions of real lenses; returns the last iterate
    /// where the model folds over and has no inverse).
    pub fn undistort(&self, xd: f64, yd: f64) -> (f64, f64) {
        let (mut x, mut y) = (xd, yd);
        for _ in 0..20 {
            let r2 = x * x + y * y;
            let radial = 1.0 + r2 * (self.k1 + r2 * (self.k2 + r2 * (self.k3 + r2 * self.k4)));
            // d radial / d r²
            let d = self.k1 + r2 * (2.0 * self.k2 + r2 * (3.0 * self.k3 + r2 * 4.0 * self.k4));
            let (fx, fy) = self.distort(x, y);
            let (ex, ey) = (fx - xd, fy - yd);
            let jxx = radial + 2.0 * x * x * d + 2.0 * self.p1 * y + 6.0 * self.p2 * x;
            let jxy = 2.0 * x * y * d + 2.0 * self.p1 * x + 2.0 * self.p2 * y;
            let jyx = jxy;
            let jyy = radial + 2.0 * y * y * d + 6.0 * self.p1 * y + 2.0 * self.p2 * x;
            let det = jxx * jyy - jxy * jyx;
            if !det.is_finite() || det.abs() < 1e-12 {
                break;
            }
            let dx = (jyy * ex - jxy * ey) / det;
            let dy = (jxx * ey - jyx * ex) / det;
            x -= dx;
            y -= dy;
            if dx.abs() < 1e-14 && dy.abs() < 1e-14 {
                break;
            }
        }
        (x, y)
    }

    /// Largest displacement, in pixels, that the distortion applies to a pixel of a
    /// `width`×`height` image with these intrinsics (sampled on a 17×17 grid that includes the
    /// borders and corners). Used to decide whether a distortion is small enough to ignore.
    pub fn max_displacement_px(
        &self,
        fx: f64,
        fy: f64,
        cx: f64,
        cy: f64,
        width: u32,
        height: u32,
    ) -> f64 {
        if self.is_zero() {
            return 0.0;
        }
        let n = 16;
        let mut worst: f64 = 0.0;
        for i in 0..=n {
            for j in 0..=n {
                let u = width as f64 * j as f64 / n as f64;
                let v = height as f64 * i as f64 / n as f64;
                let (x, y) = ((u - cx) / fx, (v - cy) / fy);
                let (xd, yd) = self.distort(x, y);
                let d = ((xd - x) * fx).hypot((yd - y) * fy);
                worst = worst.max(if d.is_finite() { d } else { f64::INFINITY });
            }
        }
        worst
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newton_inverts_the_model() {
        let d = Distortion {
            k1: -0.157,
            k2: 0.02,
            k3: 0.0,
            k4: 0.0,
            p1: 1e-3,
            p2: -2e-3,
        };
        for &(x, y) in &[(0.0, 0.0), (0.3, -0.2), (-0.8, 0.6), (0.5, 0.5)] {
            let (xd, yd) = d.distort(x, y);
            let (xu, yu) = d.undistort(xd, yd);
            assert!(
                (xu - x).abs() < 1e-12 && (yu - y).abs() < 1e-12,
                "{x},{y} -> {xu},{yu}"
            );
        }
    }

    #[test]
    fn displacement_of_fern_camera() {
        // colmap/fern_colmap: SIMPLE_RADIAL 504×378, f 417.29, k 0.0231: a few pixels at the corners.
        let d = Distortion {
            k1: 0.0231,
            ..Default::default()
        };
        let px = d.max_displacement_px(417.29, 417.29, 252.0, 189.0, 504, 378);
        assert!(px > 3.0 && px < 6.0, "{px}");
        assert_eq!(
            Distortion::default().max_displacement_px(1.0, 1.0, 0.0, 0.0, 10, 10),
            0.0
        );
    }
}
