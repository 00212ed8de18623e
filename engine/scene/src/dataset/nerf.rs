//! NeRF / Blender and nerfstudio `transforms.json`.
//!
//! Each frame: `file_path` (relative to the JSON's folder, with or without extension) and a 4×4
//! (or 3×4) camera-to-world `transform_matrix` in the OpenGL convention (x right, y up, camera
//! looking down −z). kiln flips the y and z axes to OpenCV's and inverts to world-to-camera.
//! Intrinsics may sit at the top level or in each frame (the frame wins): `fl_x`, `fl_y`, `cx`,
//! `cy`, `w`, `h`, `camera_angle_x`, `camera_angle_y`, `k1`–`k4`, `p1`, `p2`, `camera_model`.

use super::distortion::Distortion;
use super::error::DatasetError;
use super::{orthonormalize, Focal, Intrinsics, Parsed, ViewSpec};
use glam::{DMat3, DVec3};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// The split files of a NeRF dataset folder (or the file itself).
pub(crate) fn load(root: &Path) -> Result<Parsed, DatasetError> {
    // One transforms file without splits: every view trains.
    let single_file = |path: &Path| -> Result<Parsed, DatasetError> {
        Ok(Parsed {
            train: read_transforms(path)?,
            val: Vec::new(),
            test: Vec::new(),
            points: None,
            has_splits: false,
        })
    };
    if root.is_file() {
        return single_file(root);
    }
    let split = |name: &str| -> Result<Option<Vec<ViewSpec>>, DatasetError> {
        let p = root.join(name);
        if p.is_file() {
            read_transforms(&p).map(Some)
        } else {
            Ok(None)
        }
    };
    if let Some(train) = split("transforms_train.json")? {
        let val = split("transforms_val.json")?.unwrap_or_default();
        let test = split("transforms_test.json")?.unwrap_or_default();
        return Ok(Parsed {
            train,
            val,
            test,
            points: None,
            has_splits: true,
        });
    }
    let single = root.join("transforms.json");
    if single.is_file() {
        return single_file(&single);
    }
    Err(DatasetError::missing(
        &single,
        "NeRF transforms file not found (nor transforms_train.json)",
    ))
}

/// Parses JSON, naming NaN / Infinity (which Python's json writes, and JSON forbids) as such.
fn parse_json(path: &Path, text: &str) -> Result<Value, DatasetError> {
    serde_json::from_str(text).map_err(|e| {
        let (line, col) = (e.line(), e.column());
        // serde_json points at or just past the offending character: look around it.
        let text_line = text.lines().nth(line.saturating_sub(1)).unwrap_or("");
        let start = col.saturating_sub(12).min(text_line.len());
        let window = text_line.get(start..).unwrap_or("");
        let window: String = window.chars().take(24).collect();
        let bad = ["-Infinity", "Infinity", "NaN", "nan", "-inf", "inf"].into_iter().find(|t| window.contains(t));
        if let Some(word) = bad {
            DatasetError::non_finite(path, format!("{word} near column {col} (JSON numbers in poses and intrinsics must be finite)"))
                .at_line(line)
        } else {
            let msg = e.to_string();
            let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
            DatasetError::malformed(path, format!("invalid JSON: {msg} (column {col})")).at_line(line)
        }
    })
}

/// A number from the frame, else from the top level.
fn number(
    path: &Path,
    frame: &Map<String, Value>,
    top: &Map<String, Value>,
    key: &str,
    what: &str,
) -> Result<Option<f64>, DatasetError> {
    let Some(v) = frame.get(key).or_else(|| top.get(key)) else {
        return Ok(None);
    };
    if v.is_null() {
        return Ok(None);
    }
    let x = v.as_f64().ok_or_else(|| {
        DatasetError::malformed(path, format!("{what}: {key} is {v}, not a number"))
    })?;
    if !x.is_finite() {
        return Err(DatasetError::non_finite(
            path,
            format!("{what}: {key} is {x}"),
        ));
    }
    Ok(Some(x))
}

pub(crate) fn read_transforms(path: &Path) -> Result<Vec<ViewSpec>, DatasetError> {
    let text = std::fs::read_to_string(path).map_err(|e| DatasetError::io(path, e))?;
    let json = parse_json(path, &text)?;
    let top = json
        .as_object()
        .ok_or_else(|| DatasetError::malformed(path, "the top level is not a JSON object"))?;
    let frames = top
        .get("frames")
        .and_then(Value::as_array)
        .ok_or_else(|| DatasetError::malformed(path, "no \"frames\" array"))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let empty = Map::new();
    let mut views = Vec::with_capacity(frames.len());
    for (i, frame) in frames.iter().enumerate() {
        let what = format!("frame {i}");
        let f = frame
            .as_object()
            .ok_or_else(|| DatasetError::malformed(path, format!("{what} is not an object")))?;
        if let Some(model) = f
            .get("camera_model")
            .or_else(|| top.get("camera_model"))
            .and_then(Value::as_str)
        {
            if !matches!(
                model,
                "OPENCV" | "PINHOLE" | "SIMPLE_PINHOLE" | "SIMPLE_RADIAL" | "RADIAL"
            ) {
                return Err(DatasetError::unsupported(
                    path,
                    format!(
                        "{what}: camera_model {model} is not supported (kiln reads OPENCV/PINHOLE)"
                    ),
                ));
            }
        }
        let file_path = f.get("file_path").and_then(Value::as_str).ok_or_else(|| {
            DatasetError::malformed(path, format!("{what} has no \"file_path\" string"))
        })?;
        let image_path = resolve_image(base, file_path);

        let c2w = matrix(path, f.get("transform_matrix"), &what)?;
        // OpenGL camera axes (right, up, back) → OpenCV (right, down, forward).
        let gl = DMat3::from_cols(c2w[0], c2w[1], c2w[2]);
        let center = c2w[3];
        let cv = DMat3::from_cols(gl.x_axis, -gl.y_axis, -gl.z_axis);
        let cv = orthonormalize(cv, 1e-2).ok_or_else(|| {
            DatasetError::malformed(
                path,
                format!("{what}: transform_matrix is not a rotation + translation"),
            )
        })?;
        let rotation = cv.transpose();
        let translation = -(rotation * center);

        let num = |key: &str| number(path, f, top, key, &what);
        let num_frame_first = |key: &str| number(path, f, &empty, key, &what);
        let w = num("w")?;
        let h = num("h")?;
        let size = match (w, h) {
            (Some(w), Some(h)) if w >= 1.0 && h >= 1.0 && w < 1e6 && h < 1e6 => {
                Some((w.round() as u32, h.round() as u32))
            }
            (None, None) => None,
            _ => {
                return Err(DatasetError::malformed(
                    path,
                    format!("{what}: w, h must both be positive sizes"),
                ))
            }
        };
        // fl_x (frame, then top) beats camera_angle_x (frame, then top).
        let fl_x = num_frame_first("fl_x")?.or(number(path, top, &empty, "fl_x", &what)?);
        let angle_x = num("camera_angle_x")?;
        let fl_y = num_frame_first("fl_y")?.or(number(path, top, &empty, "fl_y", &what)?);
        let angle_y = num("camera_angle_y")?;
        let cx = num("cx")?;
        let cy = num("cy")?;
        let distortion = Distortion {
            k1: num("k1")?.unwrap_or(0.0),
            k2: num("k2")?.unwrap_or(0.0),
            k3: num("k3")?.unwrap_or(0.0),
            k4: num("k4")?.unwrap_or(0.0),
            p1: num("p1")?.unwrap_or(0.0),
            p2: num("p2")?.unwrap_or(0.0),
        };
        let fx = match (fl_x, angle_x) {
            (Some(f), _) => Focal::Pixels(f),
            (None, Some(a)) => Focal::AngleX(a),
            (None, None) => {
                return Err(DatasetError::malformed(
                    path,
                    format!("{what}: no focal length (fl_x or camera_angle_x)"),
                ))
            }
        };
        let fy = match (fl_y, angle_y) {
            (Some(f), _) => Focal::Pixels(f),
            (None, Some(a)) if fl_x.is_none() => Focal::AngleY(a),
            _ => Focal::SameAsFx,
        };
        let c = match (cx, cy) {
            (Some(cx), Some(cy)) => Some([cx, cy]),
            (None, None) => None,
            _ => {
                return Err(DatasetError::malformed(
                    path,
                    format!("{what}: cx and cy must be given together"),
                ))
            }
        };
        views.push(ViewSpec {
            name: file_path.to_string(),
            image_path,
            listed_in: path.to_path_buf(),
            missing_hint: "; also tried .png, .jpg, .jpeg",
            rotation,
            translation,
            intrinsics: Intrinsics {
                fx,
                fy,
                c,
                size,
                distortion,
                describe: format!("{what} camera"),
                file: path.to_path_buf(),
            },
            bounds: None,
        });
    }
    Ok(views)
}

/// `file_path` as given if that file exists, else with `.png`, `.jpg` or `.jpeg` appended
/// (either case); the given path when none exists (the loader then reports it missing).
fn resolve_image(base: &Path, file_path: &str) -> PathBuf {
    // Drop `./` components so that messages show clean paths.
    let rel: PathBuf = Path::new(file_path)
        .components()
        .filter(|c| *c != std::path::Component::CurDir)
        .collect();
    let p = base.join(rel);
    if p.is_file() {
        return p;
    }
    for ext in ["png", "jpg", "jpeg", "PNG", "JPG", "JPEG"] {
        let mut s = p.clone().into_os_string();
        s.push(".");
        s.push(ext);
        let q = PathBuf::from(s);
        if q.is_file() {
            return q;
        }
    }
    p
}

/// Columns (x, y, z axes and translation) of a 4×4 or 3×4 row-major matrix.
fn matrix(path: &Path, v: Option<&Value>, what: &str) -> Result<[DVec3; 4], DatasetError> {
    let bad = || {
        DatasetError::malformed(
            path,
            format!("{what}: transform_matrix is not a 4x4 or 3x4 array of numbers"),
        )
    };
    let rows = v.and_then(Value::as_array).ok_or_else(bad)?;
    if rows.len() != 4 && rows.len() != 3 {
        return Err(bad());
    }
    let mut m = [[0.0f64; 4]; 3];
    for (r, row) in rows.iter().take(3).enumerate() {
        let row = row.as_array().filter(|a| a.len() == 4).ok_or_else(bad)?;
        for (c, x) in row.iter().enumerate() {
            let x = x.as_f64().ok_or_else(bad)?;
            if !x.is_finite() {
                return Err(DatasetError::non_finite(
                    path,
                    format!("{what}: transform_matrix holds {x}"),
                ));
            }
            m[r][c] = x;
        }
    }
    let col = |c: usize| DVec3::new(m[0][c], m[1][c], m[2][c]);
    Ok([col(0), col(1), col(2), col(3)])
}
