//! A COLMAP sparse model plus its image folder as a dataset.

use super::colmap::ColmapModel;
use super::error::DatasetError;
use super::{Focal, Intrinsics, LoadOptions, Parsed, Points, ViewSpec};
use glam::DVec3;
use std::path::{Path, PathBuf};

/// The folder holding `cameras.{bin,txt}`: `<root>/sparse/0`, `<root>/sparse` or `<root>`.
pub(crate) fn model_dir(root: &Path) -> Option<PathBuf> {
    [
        root.join("sparse").join("0"),
        root.join("sparse"),
        root.to_path_buf(),
    ]
    .into_iter()
    .find(|d| d.join("cameras.bin").is_file() || d.join("cameras.txt").is_file())
}

/// `<root>/images`; when `root` is itself a `sparse/0` or `sparse` folder, the `images` beside
/// that `sparse`.
fn default_images_dir(root: &Path, model: &Path) -> PathBuf {
    let is = |p: &Path, name: &str| p.file_name().is_some_and(|n| n == name);
    if model == root {
        if is(root, "0") && root.parent().is_some_and(|p| is(p, "sparse")) {
            if let Some(base) = root.parent().and_then(Path::parent) {
                return base.join("images");
            }
        }
        if is(root, "sparse") {
            if let Some(base) = root.parent() {
                return base.join("images");
            }
        }
    }
    root.join("images")
}

pub(crate) fn load(root: &Path, opts: &LoadOptions) -> Result<Parsed, DatasetError> {
    let dir = model_dir(root).ok_or_else(|| {
        DatasetError::missing(
            &root.join("sparse").join("0").join("cameras.bin"),
            "COLMAP model not found (looked for cameras.bin|txt in sparse/0, sparse and the folder itself)",
        )
    })?;
    let model = ColmapModel::read(&dir)?;
    let images_dir = opts
        .images_dir
        .clone()
        .unwrap_or_else(|| default_images_dir(root, &dir));
    if !images_dir.is_dir() {
        return Err(DatasetError::missing(
            &images_dir,
            "COLMAP images folder not found (expected next to sparse/; set LoadOptions::images_dir)",
        ));
    }
    let listed_in = ["images.bin", "images.txt"]
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
        .unwrap_or_default();
    let cameras_file = ["cameras.bin", "cameras.txt"]
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
        .unwrap_or_default();
    let names: std::collections::HashMap<u32, String> = model.images.iter().map(|i| (i.id, i.name.clone())).collect();
    let mut images: Vec<_> = model.images.iter().collect();
    images.sort_by(|a, b| a.name.cmp(&b.name));
    let views = images
        .into_iter()
        .map(|img| {
            let cam = &model.cameras[&img.camera_id];
            let (fx, fy, cx, cy) = cam.intrinsics();
            ViewSpec {
                name: img.name.clone(),
                image_path: images_dir.join(&img.name),
                listed_in: listed_in.clone(),
                missing_hint: "",
                rotation: img.rotation(),
                translation: DVec3::from(img.tvec),
                intrinsics: Intrinsics {
                    fx: Focal::Pixels(fx),
                    fy: Focal::Pixels(fy),
                    c: Some([cx, cy]),
                    size: Some((cam.width, cam.height)),
                    distortion: cam.distortion(),
                    describe: format!("camera {} ({})", cam.id, cam.model.name()),
                    file: cameras_file.clone(),
                },
                bounds: None,
            }
        })
        .collect();
    Ok(Parsed {
        train: views,
        val: Vec::new(),
        test: Vec::new(),
        points: Some(Points::from_colmap(&model.points, |id| names.get(&id).cloned())),
        has_splits: false,
    })
}
