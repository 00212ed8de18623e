//! COLMAP sparse models, text and binary: `cameras`, `images`, `points3D`.
//!
//! Layouts (see COLMAP's documentation): text files are whitespace-separated with `#` comment
//! lines; `images.txt` has two lines per image, the second (possibly empty) holding the 2-D
//! points. Binary files are little-endian with u64 counts; every count is checked against the
//! bytes left in the file before anything is allocated from it.
//!
//! Poses are world-to-camera, `X_cam = R(q)·X_world + t`, q = (qw, qx, qy, qz), OpenCV camera
//! axes, pixel centres at +0.5 — kiln's own convention, so conversion is only quaternion →
//! matrix.

use super::distortion::Distortion;
use super::error::DatasetError;
use crate::camera::Camera;
use glam::{DMat3, DQuat, DVec3, Vec3};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The COLMAP camera models kiln reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CameraModel {
    /// f, cx, cy
    SimplePinhole,
    /// fx, fy, cx, cy
    Pinhole,
    /// f, cx, cy, k
    SimpleRadial,
    /// f, cx, cy, k1, k2
    Radial,
    /// fx, fy, cx, cy, k1, k2, p1, p2
    Opencv,
}

/// COLMAP's model ids and parameter counts, including the models kiln refuses, so that the
/// error can name them.
const MODELS: [(&str, usize); 12] = [
    ("SIMPLE_PINHOLE", 3),
    ("PINHOLE", 4),
    ("SIMPLE_RADIAL", 4),
    ("RADIAL", 5),
    ("OPENCV", 8),
    ("OPENCV_FISHEYE", 8),
    ("FULL_OPENCV", 12),
    ("FOV", 5),
    ("SIMPLE_RADIAL_FISHEYE", 4),
    ("RADIAL_FISHEYE", 5),
    ("THIN_PRISM_FISHEYE", 12),
    ("RAD_TAN_THIN_PRISM_FISHEYE", 16),
];

const SUPPORTED: &str = "SIMPLE_PINHOLE, PINHOLE, SIMPLE_RADIAL, RADIAL, OPENCV";

impl CameraModel {
    pub fn id(self) -> i32 {
        match self {
            CameraModel::SimplePinhole => 0,
            CameraModel::Pinhole => 1,
            CameraModel::SimpleRadial => 2,
            CameraModel::Radial => 3,
            CameraModel::Opencv => 4,
        }
    }

    pub fn name(self) -> &'static str {
        MODELS[self.id() as usize].0
    }

    pub fn num_params(self) -> usize {
        MODELS[self.id() as usize].1
    }

    fn from_id(id: i32) -> Option<Self> {
        Some(match id {
            0 => CameraModel::SimplePinhole,
            1 => CameraModel::Pinhole,
            2 => CameraModel::SimpleRadial,
            3 => CameraModel::Radial,
            4 => CameraModel::Opencv,
            _ => return None,
        })
    }

    /// The model of a name, or the reason it cannot be used.
    pub fn from_name(name: &str) -> Result<Self, String> {
        match MODELS.iter().position(|(n, _)| *n == name) {
            Some(id) => Self::from_id(id as i32).ok_or_else(|| {
                format!("camera model {name} is not supported (kiln reads {SUPPORTED})")
            }),
            None => Err(format!(
                "unknown camera model {name:?} (kiln reads {SUPPORTED})"
            )),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ColmapCamera {
    pub id: u32,
    pub model: CameraModel,
    pub width: u32,
    pub height: u32,
    /// The model's parameters, in COLMAP's order (see [`CameraModel`]).
    pub params: Vec<f64>,
}

impl ColmapCamera {
    /// (fx, fy, cx, cy) in pixels at `width`×`height`.
    pub fn intrinsics(&self) -> (f64, f64, f64, f64) {
        let p = &self.params;
        match self.model {
            CameraModel::SimplePinhole | CameraModel::SimpleRadial | CameraModel::Radial => {
                (p[0], p[0], p[1], p[2])
            }
            CameraModel::Pinhole | CameraModel::Opencv => (p[0], p[1], p[2], p[3]),
        }
    }

    /// The lens distortion (zero for the pinhole models).
    pub fn distortion(&self) -> Distortion {
        let p = &self.params;
        match self.model {
            CameraModel::SimplePinhole | CameraModel::Pinhole => Distortion::default(),
            CameraModel::SimpleRadial => Distortion {
                k1: p[3],
                ..Default::default()
            },
            CameraModel::Radial => Distortion {
                k1: p[3],
                k2: p[4],
                ..Default::default()
            },
            CameraModel::Opencv => Distortion {
                k1: p[4],
                k2: p[5],
                p1: p[6],
                p2: p[7],
                ..Default::default()
            },
        }
    }

    fn check(&self, path: &Path) -> Result<(), DatasetError> {
        if self.params.iter().any(|v| !v.is_finite()) {
            return Err(DatasetError::non_finite(
                path,
                format!("camera {} has parameters {:?}", self.id, self.params),
            ));
        }
        let (fx, fy, _, _) = self.intrinsics();
        if self.width == 0 || self.height == 0 || fx <= 0.0 || fy <= 0.0 {
            return Err(DatasetError::malformed(
                path,
                format!(
                    "camera {} has size {}x{} and focal {fx}, {fy}",
                    self.id, self.width, self.height
                ),
            ));
        }
        Ok(())
    }
}

/// A 2-D observation in an image.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point2D {
    pub xy: [f64; 2],
    /// The 3-D point it belongs to (COLMAP writes −1 for none).
    pub point3d_id: Option<u64>,
}

/// A registered image: world-to-camera pose and its camera.
#[derive(Clone, Debug, PartialEq)]
pub struct ColmapImage {
    pub id: u32,
    /// World-to-camera rotation as a quaternion (w, x, y, z), as stored (not renormalised).
    pub qvec: [f64; 4],
    /// World-to-camera translation.
    pub tvec: [f64; 3],
    pub camera_id: u32,
    /// File name relative to the images folder.
    pub name: String,
    pub points2d: Vec<Point2D>,
}

impl ColmapImage {
    /// World-to-camera rotation matrix of the (normalised) quaternion.
    pub fn rotation(&self) -> DMat3 {
        let [w, x, y, z] = self.qvec;
        DMat3::from_quat(DQuat::from_xyzw(x, y, z, w).normalize())
    }

    /// Camera centre in world coordinates, −Rᵀt.
    pub fn center(&self) -> DVec3 {
        -(self.rotation().transpose() * DVec3::from(self.tvec))
    }

    /// The kiln camera of this image (pinhole part of `camera`; distortion is not applied).
    pub fn to_camera(&self, camera: &ColmapCamera) -> Camera {
        let (fx, fy, cx, cy) = camera.intrinsics();
        let mut cam = Camera::identity(camera.width, camera.height, fx as f32, fy as f32);
        cam.cx = cx as f32;
        cam.cy = cy as f32;
        cam.rotation = self.rotation().as_mat3();
        cam.translation = Vec3::new(
            self.tvec[0] as f32,
            self.tvec[1] as f32,
            self.tvec[2] as f32,
        );
        cam
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ColmapPoint {
    pub id: u64,
    pub xyz: [f64; 3],
    pub rgb: [u8; 3],
    /// Mean reprojection error in pixels.
    pub error: f64,
    /// (image id, index of the 2-D point in that image).
    pub track: Vec<(u32, u32)>,
}

/// Which files to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Text,
    Binary,
}

/// A COLMAP sparse model.
#[derive(Clone, Debug, PartialEq)]
pub struct ColmapModel {
    pub cameras: BTreeMap<u32, ColmapCamera>,
    /// In file order.
    pub images: Vec<ColmapImage>,
    pub points: Vec<ColmapPoint>,
}

impl ColmapModel {
    /// Reads `cameras`, `images` and `points3D` from `dir`, each from its `.bin` where present,
    /// else its `.txt`. Checks that every image's camera exists.
    pub fn read(dir: &Path) -> Result<Self, DatasetError> {
        let pick = |stem: &str| -> Result<PathBuf, DatasetError> {
            let bin = dir.join(format!("{stem}.bin"));
            let txt = dir.join(format!("{stem}.txt"));
            if bin.is_file() {
                Ok(bin)
            } else if txt.is_file() {
                Ok(txt)
            } else {
                Err(DatasetError::missing(
                    &bin,
                    format!("COLMAP model file not found (nor {stem}.txt)"),
                ))
            }
        };
        let cams = pick("cameras")?;
        let imgs = pick("images")?;
        let pts = pick("points3D")?;
        let model = ColmapModel {
            cameras: read_cameras(&cams)?,
            images: read_images(&imgs)?,
            points: read_points3d(&pts)?,
        };
        model.check_references(&imgs)?;
        Ok(model)
    }

    /// Reads the three files of one encoding.
    pub fn read_encoding(dir: &Path, encoding: Encoding) -> Result<Self, DatasetError> {
        let ext = match encoding {
            Encoding::Text => "txt",
            Encoding::Binary => "bin",
        };
        let imgs = dir.join(format!("images.{ext}"));
        let model = ColmapModel {
            cameras: read_cameras(&dir.join(format!("cameras.{ext}")))?,
            images: read_images(&imgs)?,
            points: read_points3d(&dir.join(format!("points3D.{ext}")))?,
        };
        model.check_references(&imgs)?;
        Ok(model)
    }

    fn check_references(&self, images_path: &Path) -> Result<(), DatasetError> {
        for img in &self.images {
            if !self.cameras.contains_key(&img.camera_id) {
                return Err(DatasetError::inconsistent(
                    images_path,
                    format!(
                        "image {} ({}) refers to camera {}, which cameras.* does not define",
                        img.id, img.name, img.camera_id
                    ),
                ));
            }
        }
        Ok(())
    }
}

fn is_binary(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("bin"))
}

/// `cameras.bin` or `cameras.txt`, by extension.
pub fn read_cameras(path: &Path) -> Result<BTreeMap<u32, ColmapCamera>, DatasetError> {
    if is_binary(path) {
        read_cameras_binary(path)
    } else {
        read_cameras_text(path)
    }
}

/// `images.bin` or `images.txt`, by extension.
pub fn read_images(path: &Path) -> Result<Vec<ColmapImage>, DatasetError> {
    if is_binary(path) {
        read_images_binary(path)
    } else {
        read_images_text(path)
    }
}

/// `points3D.bin` or `points3D.txt`, by extension.
pub fn read_points3d(path: &Path) -> Result<Vec<ColmapPoint>, DatasetError> {
    if is_binary(path) {
        read_points3d_binary(path)
    } else {
        read_points3d_text(path)
    }
}

// ---------------------------------------------------------------------------------------------
// Text

fn read_text(path: &Path) -> Result<String, DatasetError> {
    let bytes = std::fs::read(path).map_err(|e| DatasetError::io(path, e))?;
    String::from_utf8(bytes).map_err(|e| {
        DatasetError::malformed(
            path,
            format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
        )
    })
}

/// Parses whitespace-separated fields of one line, naming the field in errors.
struct Fields<'a> {
    path: &'a Path,
    line: usize,
    it: std::str::SplitWhitespace<'a>,
}

impl<'a> Fields<'a> {
    fn new(path: &'a Path, line: usize, text: &'a str) -> Self {
        Fields {
            path,
            line,
            it: text.split_whitespace(),
        }
    }

    fn err(&self, msg: String) -> DatasetError {
        DatasetError::malformed(self.path, msg).at_line(self.line)
    }

    fn next(&mut self, what: &str) -> Result<&'a str, DatasetError> {
        self.it
            .next()
            .ok_or_else(|| self.err(format!("missing {what}")))
    }

    fn parse<T: std::str::FromStr>(&mut self, what: &str) -> Result<T, DatasetError> {
        let s = self.next(what)?;
        s.parse()
            .map_err(|_| self.err(format!("{what} {s:?} is not a valid number")))
    }

    fn finite(&mut self, what: &str) -> Result<f64, DatasetError> {
        let v: f64 = self.parse(what)?;
        if !v.is_finite() {
            return Err(
                DatasetError::non_finite(self.path, format!("{what} is {v}")).at_line(self.line),
            );
        }
        Ok(v)
    }
}

fn data_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
}

pub fn read_cameras_text(path: &Path) -> Result<BTreeMap<u32, ColmapCamera>, DatasetError> {
    let text = read_text(path)?;
    let mut cameras = BTreeMap::new();
    for (n, line) in data_lines(&text) {
        let mut f = Fields::new(path, n, line);
        let id: u32 = f.parse("CAMERA_ID")?;
        let model_name = f.next("MODEL")?;
        let model = CameraModel::from_name(model_name)
            .map_err(|m| DatasetError::unsupported(path, m).at_line(n))?;
        let width: u32 = f.parse("WIDTH")?;
        let height: u32 = f.parse("HEIGHT")?;
        let params: Vec<f64> =
            f.it.by_ref()
                .map(|s| s.parse::<f64>())
                .collect::<Result<_, _>>()
                .map_err(|_| {
                    DatasetError::malformed(path, format!("camera {id}: PARAMS are not numbers"))
                        .at_line(n)
                })?;
        if params.len() != model.num_params() {
            return Err(DatasetError::malformed(
                path,
                format!(
                    "{} needs {} parameters, camera {id} has {}",
                    model.name(),
                    model.num_params(),
                    params.len()
                ),
            )
            .at_line(n));
        }
        let cam = ColmapCamera {
            id,
            model,
            width,
            height,
            params,
        };
        cam.check(path).map_err(|e| e.at_line(n))?;
        if cameras.insert(id, cam).is_some() {
            return Err(
                DatasetError::malformed(path, format!("camera id {id} appears twice")).at_line(n),
            );
        }
    }
    Ok(cameras)
}

pub fn read_images_text(path: &Path) -> Result<Vec<ColmapImage>, DatasetError> {
    let text = read_text(path)?;
    let lines: Vec<&str> = text.lines().collect();
    let mut images = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let (n, line) = (i + 1, lines[i].trim());
        i += 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut f = Fields::new(path, n, line);
        let id: u32 = f.parse("IMAGE_ID")?;
        let mut qvec = [0.0; 4];
        for (k, name) in ["QW", "QX", "QY", "QZ"].iter().enumerate() {
            qvec[k] = f.finite(name)?;
        }
        let mut tvec = [0.0; 3];
        for (k, name) in ["TX", "TY", "TZ"].iter().enumerate() {
            tvec[k] = f.finite(name)?;
        }
        let camera_id: u32 = f.parse("CAMERA_ID")?;
        // The name is the rest of the line (so names with spaces survive).
        let name = rest_after_fields(line, 9).to_string();
        if name.is_empty() {
            return Err(f.err("missing NAME".into()));
        }
        check_quaternion(path, id, &qvec).map_err(|e| e.at_line(n))?;
        // The next line, even when empty, lists the 2-D points.
        let mut points2d = Vec::new();
        if i < lines.len() {
            let (pn, pline) = (i + 1, lines[i]);
            i += 1;
            let vals: Vec<&str> = pline.split_whitespace().collect();
            if !vals.len().is_multiple_of(3) {
                return Err(DatasetError::malformed(
                    path,
                    format!(
                        "image {id}: POINTS2D has {} values, not a multiple of 3 (X Y POINT3D_ID)",
                        vals.len()
                    ),
                )
                .at_line(pn));
            }
            points2d.reserve(vals.len() / 3);
            for t in vals.chunks_exact(3) {
                let x: f64 = t[0]
                    .parse()
                    .ok()
                    .filter(|v: &f64| v.is_finite())
                    .ok_or_else(|| {
                        DatasetError::malformed(
                            path,
                            format!("image {id}: X {:?} is not a finite number", t[0]),
                        )
                        .at_line(pn)
                    })?;
                let y: f64 = t[1]
                    .parse()
                    .ok()
                    .filter(|v: &f64| v.is_finite())
                    .ok_or_else(|| {
                        DatasetError::malformed(
                            path,
                            format!("image {id}: Y {:?} is not a finite number", t[1]),
                        )
                        .at_line(pn)
                    })?;
                let pid: i64 = t[2].parse().map_err(|_| {
                    DatasetError::malformed(
                        path,
                        format!("image {id}: POINT3D_ID {:?} is not an integer", t[2]),
                    )
                    .at_line(pn)
                })?;
                points2d.push(Point2D {
                    xy: [x, y],
                    point3d_id: u64::try_from(pid).ok(),
                });
            }
        }
        images.push(ColmapImage {
            id,
            qvec,
            tvec,
            camera_id,
            name,
            points2d,
        });
    }
    Ok(images)
}

/// The text after the first `n` whitespace-separated fields, trimmed.
fn rest_after_fields(line: &str, n: usize) -> &str {
    let mut rest = line.trim_start();
    for _ in 0..n {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        rest = rest[end..].trim_start();
    }
    rest.trim_end()
}

fn check_quaternion(path: &Path, id: u32, q: &[f64; 4]) -> Result<(), DatasetError> {
    let norm = q.iter().map(|v| v * v).sum::<f64>().sqrt();
    if !norm.is_finite() || norm <= 1e-8 {
        return Err(DatasetError::non_finite(
            path,
            format!("image {id} has a degenerate rotation quaternion {q:?}"),
        ));
    }
    Ok(())
}

pub fn read_points3d_text(path: &Path) -> Result<Vec<ColmapPoint>, DatasetError> {
    let text = read_text(path)?;
    let mut points = Vec::new();
    for (n, line) in data_lines(&text) {
        let mut f = Fields::new(path, n, line);
        let id: u64 = f.parse("POINT3D_ID")?;
        let xyz = [f.finite("X")?, f.finite("Y")?, f.finite("Z")?];
        let rgb = [f.parse("R")?, f.parse("G")?, f.parse("B")?];
        let error: f64 = f.parse("ERROR")?;
        let rest: Vec<&str> = f.it.by_ref().collect();
        if !rest.len().is_multiple_of(2) {
            return Err(DatasetError::malformed(
                path,
                format!("point {id}: TRACK has an odd number of values"),
            )
            .at_line(n));
        }
        let track = rest
            .chunks_exact(2)
            .map(|p| Some((p[0].parse::<u32>().ok()?, p[1].parse::<u32>().ok()?)))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                DatasetError::malformed(path, format!("point {id}: TRACK holds a non-integer"))
                    .at_line(n)
            })?;
        points.push(ColmapPoint {
            id,
            xyz,
            rgb,
            error,
            track,
        });
    }
    Ok(points)
}

// ---------------------------------------------------------------------------------------------
// Binary

/// A bounds-checked little-endian reader over a whole file.
struct Bin<'a> {
    path: &'a Path,
    data: &'a [u8],
    pos: usize,
}

impl<'a> Bin<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], DatasetError> {
        if self.data.len() - self.pos < n {
            return Err(DatasetError::truncated(
                self.path,
                format!(
                    "{what} needs {n} bytes at offset {}, the file has {} bytes",
                    self.pos,
                    self.data.len()
                ),
            ));
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u8(&mut self, what: &str) -> Result<u8, DatasetError> {
        Ok(self.take(1, what)?[0])
    }
    fn u64(&mut self, what: &str) -> Result<u64, DatasetError> {
        Ok(u64::from_le_bytes(self.take(8, what)?.try_into().unwrap()))
    }
    fn i64(&mut self, what: &str) -> Result<i64, DatasetError> {
        Ok(i64::from_le_bytes(self.take(8, what)?.try_into().unwrap()))
    }
    fn i32(&mut self, what: &str) -> Result<i32, DatasetError> {
        Ok(i32::from_le_bytes(self.take(4, what)?.try_into().unwrap()))
    }
    fn f64(&mut self, what: &str) -> Result<f64, DatasetError> {
        Ok(f64::from_le_bytes(self.take(8, what)?.try_into().unwrap()))
    }

    /// A non-negative i32 id.
    fn id32(&mut self, what: &str) -> Result<u32, DatasetError> {
        let at = self.pos;
        let v = self.i32(what)?;
        u32::try_from(v).map_err(|_| {
            DatasetError::malformed(self.path, format!("{what} {v} at offset {at} is negative"))
        })
    }

    /// A u64 count of records of at least `min_bytes` each, checked against the bytes left.
    fn count(&mut self, what: &str, min_bytes: u64) -> Result<usize, DatasetError> {
        let at = self.pos;
        let n = self.u64(&format!("number of {what}"))?;
        let left = (self.data.len() - self.pos) as u64;
        match n.checked_mul(min_bytes) {
            Some(need) if need <= left => Ok(n as usize),
            _ => Err(DatasetError::truncated(
                self.path,
                format!(
                    "{n} {what} announced at offset {at} need at least {} bytes, only {left} follow",
                    n.saturating_mul(min_bytes)
                ),
            )),
        }
    }

    fn finite(&mut self, what: &str) -> Result<f64, DatasetError> {
        let at = self.pos;
        let v = self.f64(what)?;
        if !v.is_finite() {
            return Err(DatasetError::non_finite(
                self.path,
                format!("{what} at offset {at} is {v}"),
            ));
        }
        Ok(v)
    }

    fn finish(&self) -> Result<(), DatasetError> {
        if self.pos != self.data.len() {
            return Err(DatasetError::malformed(
                self.path,
                format!(
                    "{} unexpected bytes after the last record at offset {}",
                    self.data.len() - self.pos,
                    self.pos
                ),
            ));
        }
        Ok(())
    }
}

fn read_binary(path: &Path) -> Result<Vec<u8>, DatasetError> {
    std::fs::read(path).map_err(|e| DatasetError::io(path, e))
}

pub fn read_cameras_binary(path: &Path) -> Result<BTreeMap<u32, ColmapCamera>, DatasetError> {
    let data = read_binary(path)?;
    let mut b = Bin {
        path,
        data: &data,
        pos: 0,
    };
    // Smallest record: ids, model, width, height + 3 params.
    let n = b.count("cameras", 4 + 4 + 8 + 8 + 3 * 8)?;
    let mut cameras = BTreeMap::new();
    for _ in 0..n {
        let id = b.id32("camera id")?;
        let at = b.pos;
        let model_id = b.i32("model id")?;
        let model = match CameraModel::from_id(model_id) {
            Some(m) => m,
            None => {
                let msg = match usize::try_from(model_id).ok().and_then(|i| MODELS.get(i)) {
                    Some((name, _)) => format!(
                        "camera {id}: model {name} is not supported (kiln reads {SUPPORTED})"
                    ),
                    None => {
                        format!("camera {id}: unknown camera model id {model_id} at offset {at}")
                    }
                };
                return Err(DatasetError::unsupported(path, msg));
            }
        };
        let width = b.u64("width")?;
        let height = b.u64("height")?;
        let (Ok(width), Ok(height)) = (u32::try_from(width), u32::try_from(height)) else {
            return Err(DatasetError::malformed(
                path,
                format!("camera {id}: size {width}x{height} is too large"),
            ));
        };
        let mut params = Vec::with_capacity(model.num_params());
        for _ in 0..model.num_params() {
            params.push(b.f64("camera parameter")?);
        }
        let cam = ColmapCamera {
            id,
            model,
            width,
            height,
            params,
        };
        cam.check(path)?;
        if cameras.insert(id, cam).is_some() {
            return Err(DatasetError::malformed(
                path,
                format!("camera id {id} appears twice"),
            ));
        }
    }
    b.finish()?;
    Ok(cameras)
}

pub fn read_images_binary(path: &Path) -> Result<Vec<ColmapImage>, DatasetError> {
    let data = read_binary(path)?;
    let mut b = Bin {
        path,
        data: &data,
        pos: 0,
    };
    // Smallest record: id, 7 f64, camera id, empty name + NUL, point count.
    let n = b.count("images", 4 + 7 * 8 + 4 + 1 + 8)?;
    let mut images = Vec::with_capacity(n);
    for _ in 0..n {
        let id = b.id32("image id")?;
        let mut qvec = [0.0; 4];
        for (k, q) in ["qw", "qx", "qy", "qz"].iter().enumerate() {
            qvec[k] = b.finite(&format!("image {id} {q}"))?;
        }
        let mut tvec = [0.0; 3];
        for (k, t) in ["tx", "ty", "tz"].iter().enumerate() {
            tvec[k] = b.finite(&format!("image {id} {t}"))?;
        }
        check_quaternion(path, id, &qvec)?;
        let camera_id = b.id32("camera id")?;
        let rest = &b.data[b.pos..];
        let Some(len) = rest.iter().position(|&c| c == 0) else {
            return Err(DatasetError::truncated(
                path,
                format!(
                    "image {id}: name at offset {} has no terminating NUL",
                    b.pos
                ),
            ));
        };
        let name = String::from_utf8_lossy(&rest[..len]).into_owned();
        b.pos += len + 1;
        let np = b.count(&format!("2-D points of image {id}"), 24)?;
        let mut points2d = Vec::with_capacity(np);
        for _ in 0..np {
            let x = b.f64("point x")?;
            let y = b.f64("point y")?;
            let pid = b.i64("point3D id")?;
            points2d.push(Point2D {
                xy: [x, y],
                point3d_id: u64::try_from(pid).ok(),
            });
        }
        images.push(ColmapImage {
            id,
            qvec,
            tvec,
            camera_id,
            name,
            points2d,
        });
    }
    b.finish()?;
    Ok(images)
}

pub fn read_points3d_binary(path: &Path) -> Result<Vec<ColmapPoint>, DatasetError> {
    let data = read_binary(path)?;
    let mut b = Bin {
        path,
        data: &data,
        pos: 0,
    };
    // Smallest record: id, xyz, rgb, error, track length.
    let n = b.count("points", 8 + 24 + 3 + 8 + 8)?;
    let mut points = Vec::with_capacity(n);
    for _ in 0..n {
        let id = b.u64("point id")?;
        let xyz = [
            b.finite("point x")?,
            b.finite("point y")?,
            b.finite("point z")?,
        ];
        let rgb = [b.u8("red")?, b.u8("green")?, b.u8("blue")?];
        let error = b.f64("point error")?;
        let nt = b.count(&format!("track entries of point {id}"), 8)?;
        let mut track = Vec::with_capacity(nt);
        for _ in 0..nt {
            track.push((b.id32("track image id")?, b.id32("track point2D index")?));
        }
        points.push(ColmapPoint {
            id,
            xyz,
            rgb,
            error,
            track,
        });
    }
    b.finish()?;
    Ok(points)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_after_fields_keeps_names_with_spaces() {
        assert_eq!(
            rest_after_fields("1 1 0 0 0 0 0 0 1 my image.png ", 9),
            "my image.png"
        );
        assert_eq!(rest_after_fields("1 1 0 0 0 0 0 0 1", 9), "");
    }

    #[test]
    fn model_names() {
        assert_eq!(CameraModel::from_name("OPENCV"), Ok(CameraModel::Opencv));
        assert!(CameraModel::from_name("FULL_OPENCV")
            .unwrap_err()
            .contains("not supported"));
        assert!(CameraModel::from_name("FOO")
            .unwrap_err()
            .contains("unknown"));
    }
}
