//! User-supplied per-view maps: depth or disparity (16-bit grey PNG, `.npy`) and optical flow
//! (Middlebury `.flo`, `.npy`). Each reader checks the size against the view it is for and
//! names the file in every error.

use crate::{DepthError, DepthMap, Flow, MapKind};
use std::path::Path;

/// Reads a depth or disparity map and checks it is `width`×`height` (the view's image size).
///
/// - PNG: one grey channel, 16 or 8 bit; values are taken as stored (units do not matter:
///   depth is aligned up to scale and shift later).
/// - `.npy`: f4 or f8 of shape (H, W), (1, H, W) or (H, W, 1).
///
/// Depth must be finite and > 0 everywhere; disparity finite, ≥ 0, and not all zero.
pub fn read_depth_file(path: impl AsRef<Path>, kind: MapKind, width: u32, height: u32) -> Result<DepthMap, DepthError> {
    let path = path.as_ref();
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).unwrap_or_default();
    let map = match ext.as_str() {
        "png" => read_png(path, kind)?,
        "npy" => read_npy_map(path, kind)?,
        other => {
            return Err(DepthError::format(path, format!("unknown depth-map extension {other:?} (use a 16-bit .png or .npy)")))
        }
    };
    map.check_size(width, height, &format!("depth map {}", path.display()), "the view's image")?;
    check_values(path, &map)?;
    Ok(map)
}

fn read_png(path: &Path, kind: MapKind) -> Result<DepthMap, DepthError> {
    let bytes = std::fs::read(path).map_err(|e| DepthError::io(path, e))?;
    let img = image::load_from_memory_with_format(&bytes, image::ImageFormat::Png)
        .map_err(|e| DepthError::format(path, format!("not a readable PNG: {e}")))?;
    let (w, h) = (img.width(), img.height());
    let values: Vec<f32> = match img {
        image::DynamicImage::ImageLuma16(buf) => buf.into_raw().into_iter().map(f32::from).collect(),
        image::DynamicImage::ImageLuma8(buf) => buf.into_raw().into_iter().map(f32::from).collect(),
        other => {
            return Err(DepthError::format(
                path,
                format!("depth PNG must have one grey channel (16 or 8 bit), found {:?}", other.color()),
            ))
        }
    };
    Ok(DepthMap::new(w, h, values, kind))
}

fn read_npy_map(path: &Path, kind: MapKind) -> Result<DepthMap, DepthError> {
    let arr = read_npy(path)?;
    let (h, w) = match arr.shape.as_slice() {
        [h, w] | [1, h, w] | [h, w, 1] => (*h, *w),
        other => return Err(DepthError::format(path, format!("array of shape {other:?} is not one map (H, W)"))),
    };
    let values = arr.data.iter().map(|&v| v as f32).collect();
    Ok(DepthMap::new(w as u32, h as u32, values, kind))
}

fn read_npy(path: &Path) -> Result<kiln_scene::dataset::npy::NpyArray, DepthError> {
    kiln_scene::dataset::npy::read_npy(path).map_err(|e| match e.kind {
        kiln_scene::dataset::ErrorKind::Io(io) => DepthError::io(path, io),
        other => DepthError::format(path, other.to_string()),
    })
}

fn check_values(path: &Path, map: &DepthMap) -> Result<(), DepthError> {
    if let Some(i) = map.values.iter().position(|v| !v.is_finite()) {
        return Err(DepthError::format(path, format!("non-finite value at pixel ({}, {})", i % map.width as usize, i / map.width as usize)));
    }
    match map.kind {
        MapKind::Depth => {
            let bad = map.values.iter().filter(|v| **v <= 0.0).count();
            if bad > 0 {
                return Err(DepthError::format(path, format!("{bad} pixels have depth ≤ 0 (depth must be positive everywhere)")));
            }
        }
        MapKind::Disparity => {
            if map.values.iter().any(|v| *v < 0.0) {
                return Err(DepthError::format(path, "negative disparity"));
            }
            if map.values.iter().all(|v| *v == 0.0) {
                return Err(DepthError::format(path, "disparity is zero everywhere"));
            }
        }
    }
    Ok(())
}

/// Middlebury `.flo` marker for unknown flow: components above this are invalid.
const FLO_UNKNOWN: f32 = 1e9;

/// Reads a flow field (from the view it belongs to, towards another view) and checks it is
/// `width`×`height`. Flow (u, v) at pixel p means p corresponds to p + (u, v) in pixels.
///
/// - `.flo` (Middlebury): `PIEH` tag, i32 width, i32 height, interleaved f32 (u, v), row-major.
///   Components above 1e9 (the format's "unknown") are marked invalid.
/// - `.npy`: f4/f8 of shape (H, W, 2) or (2, H, W).
///
/// Non-finite vectors are marked invalid; every other pixel is valid.
pub fn read_flow_file(path: impl AsRef<Path>, width: u32, height: u32) -> Result<Flow, DepthError> {
    let path = path.as_ref();
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).unwrap_or_default();
    let (w, h, u, v) = match ext.as_str() {
        "flo" => read_flo(path)?,
        "npy" => {
            let arr = read_npy(path)?;
            match arr.shape.as_slice() {
                [h, w, 2] => {
                    let u = arr.data.iter().step_by(2).map(|&x| x as f32).collect();
                    let v = arr.data.iter().skip(1).step_by(2).map(|&x| x as f32).collect();
                    (*w, *h, u, v)
                }
                [2, h, w] => {
                    let n = h * w;
                    let u = arr.data[..n].iter().map(|&x| x as f32).collect();
                    let v = arr.data[n..].iter().map(|&x| x as f32).collect();
                    (*w, *h, u, v)
                }
                other => {
                    return Err(DepthError::format(path, format!("array of shape {other:?} is not a flow field (H, W, 2) or (2, H, W)")))
                }
            }
        }
        other => return Err(DepthError::format(path, format!("unknown flow-file extension {other:?} (use .flo or .npy)"))),
    };
    if (w as u32, h as u32) != (width, height) {
        return Err(DepthError::Size {
            what: format!("flow file {}", path.display()),
            got_w: w as u32,
            got_h: h as u32,
            want_w: width,
            want_h: height,
            of: "the view's image".into(),
        });
    }
    let valid = u
        .iter()
        .zip(&v)
        .map(|(a, b): (&f32, &f32)| {
            let ok = a.is_finite() && b.is_finite() && a.abs() < FLO_UNKNOWN && b.abs() < FLO_UNKNOWN;
            if ok { 1.0 } else { 0.0 }
        })
        .collect::<Vec<f32>>();
    // Invalid vectors become zero so that nothing downstream meets a NaN.
    let clean = |x: Vec<f32>| -> Vec<f32> { x.into_iter().zip(&valid).map(|(a, m)| if *m > 0.0 { a } else { 0.0 }).collect() };
    Ok(Flow { width, height, u: clean(u), v: clean(v), valid })
}

fn read_flo(path: &Path) -> Result<(usize, usize, Vec<f32>, Vec<f32>), DepthError> {
    let bytes = std::fs::read(path).map_err(|e| DepthError::io(path, e))?;
    if bytes.len() < 12 || &bytes[..4] != b"PIEH" {
        return Err(DepthError::format(path, "not a .flo file (no PIEH tag)"));
    }
    let w = i32::from_le_bytes(bytes[4..8].try_into().unwrap());
    let h = i32::from_le_bytes(bytes[8..12].try_into().unwrap());
    if w <= 0 || h <= 0 || w > 1 << 16 || h > 1 << 16 {
        return Err(DepthError::format(path, format!("implausible size {w}×{h} in the header")));
    }
    let (w, h) = (w as usize, h as usize);
    let need = 12 + w * h * 8;
    if bytes.len() < need {
        return Err(DepthError::format(path, format!("truncated: {w}×{h} flow needs {need} bytes, file has {}", bytes.len())));
    }
    let floats: Vec<f32> = bytes[12..need].chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
    let u = floats.iter().step_by(2).copied().collect();
    let v = floats.iter().skip(1).step_by(2).copied().collect();
    Ok((w, h, u, v))
}

/// Writes a flow field as Middlebury `.flo` (invalid pixels as the format's "unknown" value).
pub fn write_flo(path: impl AsRef<Path>, flow: &Flow) -> Result<(), DepthError> {
    let path = path.as_ref();
    let mut bytes = Vec::with_capacity(12 + flow.u.len() * 8);
    bytes.extend_from_slice(b"PIEH");
    bytes.extend_from_slice(&(flow.width as i32).to_le_bytes());
    bytes.extend_from_slice(&(flow.height as i32).to_le_bytes());
    for i in 0..flow.u.len() {
        let (u, v) = if flow.valid[i] > 0.0 { (flow.u[i], flow.v[i]) } else { (1e10, 1e10) };
        bytes.extend_from_slice(&u.to_le_bytes());
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(path, bytes).map_err(|e| DepthError::io(path, e))
}
