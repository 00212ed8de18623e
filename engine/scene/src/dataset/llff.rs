//! LLFF: `poses_bounds.npy` plus `images_<factor>` folders.
//!
//! Each row of the N×17 array reshapes (row-major) to a 3×5 matrix `[R | t | hwf]` followed by
//! `near, far`. R is camera-to-world with columns (down, right, back); t is the camera centre;
//! hwf = (H, W, focal) at full resolution. kiln's OpenCV axes are (right, down, forward) =
//! (R₁, R₀, −R₂). Row i belongs to the i-th image of the folder in sorted order. The principal
//! point is the image centre and the focal scales with the image size.

use super::colmap;
use super::error::DatasetError;
use super::npy::read_npy;
use super::raster::image_size;
use super::{orthonormalize, Focal, Intrinsics, LoadOptions, Parsed, Points, ViewSpec};
use glam::{DMat3, DVec3};
use std::path::{Path, PathBuf};

/// One LLFF pose row, converted.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LlffPose {
    /// World-to-camera rotation (OpenCV axes) and translation.
    pub rotation: DMat3,
    pub translation: DVec3,
    pub center: DVec3,
    /// Full-resolution height, width and focal (pixels).
    pub hwf: [f64; 3],
    pub near: f64,
    pub far: f64,
}

/// Reads and converts `poses_bounds.npy`.
pub fn read_poses_bounds(path: &Path) -> Result<Vec<LlffPose>, DatasetError> {
    let arr = read_npy(path)?;
    if arr.shape.len() != 2 || arr.shape[1] != 17 {
        return Err(DatasetError::malformed(
            path,
            format!("shape {:?} is not N×17", arr.shape),
        ));
    }
    arr.data
        .chunks_exact(17)
        .enumerate()
        .map(|(i, row)| {
            if let Some(k) = row.iter().position(|v| !v.is_finite()) {
                return Err(DatasetError::non_finite(
                    path,
                    format!("row {i} column {k} is {}", row[k]),
                ));
            }
            let m = |r: usize, c: usize| row[5 * r + c];
            let col = |c: usize| DVec3::new(m(0, c), m(1, c), m(2, c));
            let (down, right, back) = (col(0), col(1), col(2));
            let c2w = DMat3::from_cols(right, down, -back);
            let c2w = orthonormalize(c2w, 1e-2).ok_or_else(|| {
                DatasetError::malformed(
                    path,
                    format!("row {i}: the 3×3 pose block is not a rotation"),
                )
            })?;
            let center = col(3);
            let rotation = c2w.transpose();
            let hwf = [m(0, 4), m(1, 4), m(2, 4)];
            let (near, far) = (row[15], row[16]);
            if hwf.iter().any(|&v| v <= 0.0) {
                return Err(DatasetError::malformed(
                    path,
                    format!("row {i}: H, W, focal {hwf:?} must be positive"),
                ));
            }
            Ok(LlffPose {
                rotation,
                translation: -(rotation * center),
                center,
                hwf,
                near,
                far,
            })
        })
        .collect()
}

fn is_image(p: &Path) -> bool {
    p.is_file()
        && p.extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| ["png", "jpg", "jpeg"].contains(&e.to_ascii_lowercase().as_str()))
}

/// The image files of a folder, sorted by name.
fn list_images(dir: &Path) -> Result<Vec<PathBuf>, DatasetError> {
    let rd = std::fs::read_dir(dir).map_err(|e| DatasetError::io(dir, e))?;
    let mut files: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| is_image(p))
        .collect();
    files.sort();
    Ok(files)
}

/// `images_<factor>` folders (and `images` as factor 1) under root.
fn candidate_folders(root: &Path) -> Vec<(u32, PathBuf)> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(root) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let factor = if name == "images" {
                Some(1)
            } else {
                name.strip_prefix("images_")
                    .and_then(|s| s.parse::<u32>().ok())
                    .filter(|&f| f > 0)
            };
            if let (Some(f), true) = (factor, e.path().is_dir()) {
                out.push((f, e.path()));
            }
        }
    }
    out.sort();
    out
}

fn choose_folder(root: &Path, opts: &LoadOptions, npy: &Path) -> Result<PathBuf, DatasetError> {
    if let Some(d) = &opts.images_dir {
        return Ok(d.clone());
    }
    if let Some(f) = opts.llff_factor {
        let name = if f == 1 {
            "images".to_string()
        } else {
            format!("images_{f}")
        };
        let d = root.join(&name);
        if !d.is_dir() {
            return Err(DatasetError::missing(
                &d,
                format!("LLFF image folder {name} not found (llff_factor {f})"),
            ));
        }
        return Ok(d);
    }
    // Folders with images, with the longer side of their first image.
    let mut found: Vec<(u32, PathBuf)> = Vec::new();
    for (_, dir) in candidate_folders(root) {
        if let Some(first) = list_images(&dir)?.first() {
            let (w, h) = image_size(first)?;
            found.push((w.max(h), dir));
        }
    }
    found.sort();
    let pick = match opts.resolution {
        Some(r) => found.iter().find(|(side, _)| *side >= r).or(found.last()),
        None => found.last(),
    };
    pick.map(|(_, d)| d.clone()).ok_or_else(|| {
        DatasetError::missing(
            &root.join("images"),
            format!(
                "no LLFF image folder (images or images_<N> with PNG/JPEG files) beside {}",
                npy.display()
            ),
        )
    })
}

pub(crate) fn load(root: &Path, opts: &LoadOptions) -> Result<Parsed, DatasetError> {
    let (root, npy) = if root.is_file() {
        (
            root.parent().unwrap_or(Path::new(".")).to_path_buf(),
            root.to_path_buf(),
        )
    } else {
        (root.to_path_buf(), root.join("poses_bounds.npy"))
    };
    let poses = read_poses_bounds(&npy)?;
    if poses.is_empty() {
        return Err(DatasetError::inconsistent(&npy, "no poses"));
    }
    let dir = choose_folder(&root, opts, &npy)?;
    let images = list_images(&dir)?;
    if images.len() != poses.len() {
        return Err(DatasetError::inconsistent(
            &dir,
            format!(
                "{} images but {} has {} poses",
                images.len(),
                npy.display(),
                poses.len()
            ),
        ));
    }
    let views: Vec<ViewSpec> = images
        .into_iter()
        .zip(&poses)
        .map(|(image_path, p)| {
            let [h, w, f] = p.hwf;
            ViewSpec {
                name: image_path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                image_path,
                listed_in: dir.clone(),
                missing_hint: "",
                rotation: p.rotation,
                translation: p.translation,
                intrinsics: Intrinsics {
                    fx: Focal::Pixels(f),
                    fy: Focal::Pixels(f),
                    c: Some([0.5 * w, 0.5 * h]),
                    size: Some((w.round() as u32, h.round() as u32)),
                    distortion: Default::default(),
                    describe: "LLFF camera".into(),
                    file: npy.clone(),
                },
                bounds: Some([p.near as f32, p.far as f32]),
            }
        })
        .collect();
    // COLMAP points in the poses' frame, when the LLFF folder keeps them.
    let sparse = root.join("sparse").join("0");
    let points = ["points3D.bin", "points3D.txt"]
        .iter()
        .map(|n| sparse.join(n))
        .find(|p| p.is_file())
        .map(|p| colmap::read_points3d(&p))
        .transpose()?
        .map(|pts| {
            // LLFF keeps no images.bin: COLMAP numbered the images 1..n in the sorted order
            // poses_bounds.npy follows (imgs2poses), so image id k is view k − 1.
            let names: Vec<String> = views.iter().map(|v| v.name.clone()).collect();
            Points::from_colmap(&pts, |id| names.get((id as usize).wrapping_sub(1)).cloned())
        });
    Ok(Parsed {
        train: views,
        val: Vec::new(),
        test: Vec::new(),
        points,
        has_splits: false,
    })
}
