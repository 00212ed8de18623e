//! Pinhole cameras in kiln's convention.

use glam::{Mat3, Vec3};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A pinhole camera: OpenCV axes, world-to-camera pose `x_cam = R x_world + t`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Camera {
    pub width: u32,
    pub height: u32,
    pub fx: f32,
    pub fy: f32,
    pub cx: f32,
    pub cy: f32,
    /// World-to-camera rotation.
    pub rotation: Mat3,
    /// World-to-camera translation.
    pub translation: Vec3,
    /// Gaussians whose camera-space depth is outside [near, far] are culled.
    pub near: f32,
    pub far: f32,
}

#[derive(Debug, thiserror::Error)]
pub enum CameraError {
    #[error("{path}: cannot read camera file: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: not a kiln camera JSON: {source}")]
    Json { path: PathBuf, source: serde_json::Error },
    #[error("{path}: invalid camera: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

impl Camera {
    /// A camera at the origin looking down +z, with the principal point at the image centre.
    pub fn identity(width: u32, height: u32, fx: f32, fy: f32) -> Self {
        Camera {
            width,
            height,
            fx,
            fy,
            cx: width as f32 * 0.5,
            cy: height as f32 * 0.5,
            rotation: Mat3::IDENTITY,
            translation: Vec3::ZERO,
            near: 0.01,
            far: 1e10,
        }
    }

    /// A camera at `eye` looking at `target`; `up` is the world's up direction (the camera's
    /// y axis points away from it, as OpenCV's y points down).
    pub fn look_at(width: u32, height: u32, fx: f32, fy: f32, eye: Vec3, target: Vec3, up: Vec3) -> Self {
        let z = (target - eye).normalize();
        let x = z.cross(up).normalize();
        let y = z.cross(x);
        // Rows of the world-to-camera rotation are the camera axes in world coordinates.
        let rotation = Mat3::from_cols(x, y, z).transpose();
        let translation = -(rotation * eye);
        Camera { rotation, translation, ..Camera::identity(width, height, fx, fy) }
    }

    /// Camera centre in world coordinates: −Rᵀt.
    pub fn center(&self) -> Vec3 {
        -(self.rotation.transpose() * self.translation)
    }

    pub fn world_to_camera(&self, p: Vec3) -> Vec3 {
        self.rotation * p + self.translation
    }

    /// Number of 16×16 tiles across and down.
    pub fn tiles(&self, tile: u32) -> (u32, u32) {
        (self.width.div_ceil(tile), self.height.div_ceil(tile))
    }

    /// Checks that the camera can be rendered: positive size and focal lengths, finite values,
    /// a rotation matrix, 0 < near < far.
    pub fn validate(&self) -> Result<(), String> {
        if self.width == 0 || self.height == 0 {
            return Err(format!("image size {}x{} is empty", self.width, self.height));
        }
        let scalars = [self.fx, self.fy, self.cx, self.cy, self.near, self.far];
        if scalars.iter().any(|v| !v.is_finite())
            || !self.rotation.is_finite()
            || !self.translation.is_finite()
        {
            return Err("a value is not finite".into());
        }
        if self.fx <= 0.0 || self.fy <= 0.0 {
            return Err(format!("focal lengths must be positive (fx {}, fy {})", self.fx, self.fy));
        }
        if !(self.near > 0.0 && self.near < self.far) {
            return Err(format!("need 0 < near < far (near {}, far {})", self.near, self.far));
        }
        let rrt = self.rotation * self.rotation.transpose();
        if !rrt.abs_diff_eq(Mat3::IDENTITY, 1e-3) || self.rotation.determinant() < 0.0 {
            return Err("rotation is not a proper rotation matrix".into());
        }
        Ok(())
    }

    /// Reads a camera from kiln's JSON form (see [`CameraJson`]).
    pub fn load_json(path: &Path) -> Result<Self, CameraError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| CameraError::Io { path: path.into(), source })?;
        let json: CameraJson = serde_json::from_str(&text)
            .map_err(|source| CameraError::Json { path: path.into(), source })?;
        let cam = json.to_camera();
        cam.validate().map_err(|reason| CameraError::Invalid { path: path.into(), reason })?;
        Ok(cam)
    }

    pub fn to_json(&self) -> CameraJson {
        let r = self.rotation.transpose(); // columns of Rᵀ are rows of R
        CameraJson {
            width: self.width,
            height: self.height,
            fx: self.fx,
            fy: self.fy,
            cx: Some(self.cx),
            cy: Some(self.cy),
            rotation: Some([r.x_axis.into(), r.y_axis.into(), r.z_axis.into()]),
            translation: Some(self.translation.into()),
            eye: None,
            target: None,
            up: None,
            near: Some(self.near),
            far: Some(self.far),
        }
    }
}

/// kiln's camera file: intrinsics in pixels, and either a world-to-camera pose
/// (`rotation` as three rows, `translation`) or a look-at pose (`eye`, `target`, optional
/// world `up`, default −y, which keeps OpenCV's y-down image axis along world +y). With neither,
/// the camera sits at the origin looking down +z. `cx`/`cy` default to the image centre,
/// `near`/`far` to 0.01 / 1e10.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraJson {
    pub width: u32,
    pub height: u32,
    pub fx: f32,
    pub fy: f32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cx: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cy: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<[[f32; 3]; 3]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub translation: Option<[f32; 3]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eye: Option<[f32; 3]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<[f32; 3]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub up: Option<[f32; 3]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub near: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub far: Option<f32>,
}

impl CameraJson {
    pub fn to_camera(&self) -> Camera {
        let mut cam = match (self.eye, self.target) {
            (Some(eye), Some(target)) => Camera::look_at(
                self.width,
                self.height,
                self.fx,
                self.fy,
                eye.into(),
                target.into(),
                self.up.map(Vec3::from).unwrap_or(Vec3::NEG_Y),
            ),
            _ => {
                let mut c = Camera::identity(self.width, self.height, self.fx, self.fy);
                if let Some(rows) = self.rotation {
                    c.rotation = Mat3::from_cols(rows[0].into(), rows[1].into(), rows[2].into()).transpose();
                }
                if let Some(t) = self.translation {
                    c.translation = t.into();
                }
                c
            }
        };
        if let Some(cx) = self.cx {
            cam.cx = cx;
        }
        if let Some(cy) = self.cy {
            cam.cy = cy;
        }
        if let Some(n) = self.near {
            cam.near = n;
        }
        if let Some(f) = self.far {
            cam.far = f;
        }
        cam
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn look_at_puts_target_on_the_optical_axis() {
        let cam = Camera::look_at(64, 48, 50.0, 50.0, Vec3::new(1.0, 2.0, -5.0), Vec3::ZERO, Vec3::NEG_Y);
        let p = cam.world_to_camera(Vec3::ZERO);
        assert!(p.x.abs() < 1e-5 && p.y.abs() < 1e-5 && p.z > 0.0, "{p}");
        assert!((cam.center() - Vec3::new(1.0, 2.0, -5.0)).length() < 1e-5);
        cam.validate().unwrap();
    }

    #[test]
    fn json_round_trip() {
        let cam = Camera::look_at(64, 48, 50.0, 40.0, Vec3::new(1.0, 2.0, -5.0), Vec3::ZERO, Vec3::NEG_Y);
        let text = serde_json::to_string(&cam.to_json()).unwrap();
        let back: CameraJson = serde_json::from_str(&text).unwrap();
        let back = back.to_camera();
        assert!(back.rotation.abs_diff_eq(cam.rotation, 1e-6));
        assert_eq!(back.translation, cam.translation);
        assert_eq!((back.fx, back.fy, back.cx, back.cy), (cam.fx, cam.fy, cam.cx, cam.cy));
    }

    #[test]
    fn bad_camera_files_name_the_file() {
        let dir = std::env::temp_dir().join(format!("kiln-cam-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("bad.json");
        std::fs::write(&p, "{\"width\": 10}").unwrap();
        let e = Camera::load_json(&p).unwrap_err().to_string();
        assert!(e.contains("bad.json"), "{e}");
        std::fs::write(&p, r#"{"width": 10, "height": 10, "fx": -1, "fy": 1}"#).unwrap();
        let e = Camera::load_json(&p).unwrap_err().to_string();
        assert!(e.contains("bad.json") && e.contains("focal"), "{e}");
        assert!(Camera::load_json(&dir.join("missing.json")).unwrap_err().to_string().contains("missing.json"));
    }
}
