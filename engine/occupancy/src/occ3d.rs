//! Readers for Occ3D-nuScenes ground truth: `labels.npz` with `semantics`, `mask_lidar` and
//! `mask_camera`, each a (200, 200, 16) uint8 (or bool) array in C order — the same voxel
//! order as [`VoxelGrid`].
//!
//! The .npz container is a zip archive (read with the `zip` crate, already in kiln's tree);
//! the .npy header is a small Python dict literal, parsed here because the one .npy crate in
//! the tree (npyz) needs its own zip feature and brings more than these three arrays need.

use crate::grid::{ClassSet, VoxelGrid, UNOBSERVED};
use crate::OccError;
use std::io::Read;
use std::path::{Path, PathBuf};

/// A decoded .npy array of bytes (uint8 / int8 / bool).
#[derive(Clone, Debug, PartialEq)]
pub struct NpyBytes {
    pub shape: Vec<usize>,
    pub data: Vec<u8>,
}

/// Parses a .npy file of a one-byte dtype (`|u1`, `|i1`, `|b1`). `what` names the array in
/// errors.
pub fn parse_npy_bytes(bytes: &[u8], what: &str) -> Result<NpyBytes, String> {
    let bad = |r: &str| format!("{what}: {r}");
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad("not a .npy array (missing the \\x93NUMPY magic)"));
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
        v => return Err(bad(&format!(".npy format version {v} is not supported"))),
    };
    let header = bytes.get(start..start + header_len).ok_or_else(|| bad("truncated .npy header"))?;
    let header = std::str::from_utf8(header).map_err(|_| bad(".npy header is not text"))?;
    let field = |key: &str| -> Result<&str, String> {
        let at = header.find(&format!("'{key}'")).ok_or_else(|| bad(&format!(".npy header has no '{key}'")))?;
        let rest = &header[at + key.len() + 2..];
        let colon = rest.find(':').ok_or_else(|| bad("malformed .npy header"))?;
        Ok(rest[colon + 1..].trim_start())
    };
    let descr = field("descr")?;
    let dtype = descr.trim_start_matches(['\'', '"']).split(['\'', '"']).next().unwrap_or("");
    if !matches!(dtype, "|u1" | "<u1" | "u1" | "|i1" | "|b1" | "?") {
        return Err(bad(&format!("dtype {dtype} is not supported (expected uint8 or bool)")));
    }
    if field("fortran_order")?.starts_with("True") {
        return Err(bad("Fortran-ordered arrays are not supported (save with C order)"));
    }
    let shape_text = field("shape")?;
    let close = shape_text.find(')').ok_or_else(|| bad("malformed shape in .npy header"))?;
    let shape: Vec<usize> = shape_text[1..close]
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().map_err(|_| bad(&format!("malformed shape {}", &shape_text[..=close]))))
        .collect::<Result<_, _>>()?;
    let count: usize = shape.iter().product();
    let data = bytes.get(start + header_len..).ok_or_else(|| bad("truncated .npy data"))?;
    if data.len() != count {
        return Err(bad(&format!("holds {} bytes of data, shape {:?} needs {count}", data.len(), shape)));
    }
    Ok(NpyBytes { shape, data: data.to_vec() })
}

/// Occ3D ground truth of one sample.
#[derive(Clone, Debug, PartialEq)]
pub struct Occ3dLabels {
    pub grid: VoxelGrid,
    /// Class per voxel (Occ3D-nuScenes: 0–16 classes, 17 free).
    pub semantics: Vec<u8>,
    pub mask_lidar: Vec<bool>,
    pub mask_camera: Vec<bool>,
}

/// Which visibility mask turns voxels into "unobserved" for training and evaluation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mask {
    Camera,
    Lidar,
    None,
}

impl Occ3dLabels {
    /// Reads `labels.npz`; every array must have the grid's shape and the labels must belong
    /// to `classes`.
    pub fn read(path: &Path, grid: &VoxelGrid, classes: &ClassSet) -> Result<Self, OccError> {
        let err = |reason: String| OccError::File { path: path.to_path_buf(), reason };
        let file = std::fs::File::open(path).map_err(|e| err(format!("cannot open: {e}")))?;
        let mut zip = zip::ZipArchive::new(file).map_err(|e| err(format!("not an .npz (zip) archive: {e}")))?;
        let mut array = |name: &str| -> Result<NpyBytes, OccError> {
            let mut entry = zip.by_name(&format!("{name}.npy")).map_err(|_| err(format!("has no array `{name}`")))?;
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).map_err(|e| err(format!("cannot read `{name}`: {e}")))?;
            let a = parse_npy_bytes(&bytes, name).map_err(err)?;
            if a.shape != grid.dims {
                return Err(err(format!("`{name}` has shape {:?}, expected {:?} (the voxel grid)", a.shape, grid.dims)));
            }
            Ok(a)
        };
        let semantics = array("semantics")?.data;
        let mask_lidar = array("mask_lidar")?.data.into_iter().map(|b| b != 0).collect();
        let mask_camera = array("mask_camera")?.data.into_iter().map(|b| b != 0).collect();
        if let Some((i, &l)) = semantics.iter().enumerate().find(|(_, l)| **l as usize >= classes.len()) {
            return Err(err(format!("`semantics` has label {l} at voxel {:?}, but there are {} classes", grid.coords(i), classes.len())));
        }
        Ok(Occ3dLabels { grid: *grid, semantics, mask_lidar, mask_camera })
    }

    /// Reads `<dir>/labels.npz` with the Occ3D-nuScenes grid and classes.
    pub fn read_nuscenes(dir: &Path) -> Result<Self, OccError> {
        let path: PathBuf = if dir.is_dir() { dir.join("labels.npz") } else { dir.to_path_buf() };
        Self::read(&path, &VoxelGrid::occ3d_nuscenes(), &ClassSet::occ3d_nuscenes())
    }

    /// Training labels: the semantics with [`UNOBSERVED`] (255) outside the chosen mask.
    pub fn training_labels(&self, mask: Mask) -> Vec<u8> {
        self.semantics
            .iter()
            .enumerate()
            .map(|(i, &l)| match mask {
                Mask::Camera if !self.mask_camera[i] => UNOBSERVED,
                Mask::Lidar if !self.mask_lidar[i] => UNOBSERVED,
                _ => l,
            })
            .collect()
    }
}
