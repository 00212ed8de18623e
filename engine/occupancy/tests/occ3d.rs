//! Occ3D `labels.npz` reading: a round trip through a numpy-format archive, and clear errors.

use kiln_occupancy::grid::UNOBSERVED;
use kiln_occupancy::occ3d::{parse_npy_bytes, Mask, Occ3dLabels};
use kiln_occupancy::{ClassSet, VoxelGrid};
use glam::Vec3;
use std::io::Write;
use std::path::Path;

fn npy(shape: &[usize], dtype: &str, data: &[u8]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_text = if shape.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut header = format!("{{'descr': '{dtype}', 'fortran_order': False, 'shape': {shape_text}, }}");
    // numpy pads the header with spaces to a multiple of 64 bytes, ending in a newline.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    out.extend(data);
    out
}

fn write_npz(path: &Path, arrays: &[(&str, Vec<u8>)]) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let opts = zip::write::FileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in arrays {
        zip.start_file(format!("{name}.npy"), opts).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
}

#[test]
fn labels_npz_round_trip_and_masks() {
    let dir = std::env::temp_dir().join(format!("kiln-occ3d-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let grid = VoxelGrid::new([6, 5, 4], 0.4, Vec3::ZERO).unwrap();
    let classes = ClassSet::occ3d_nuscenes();
    let n = grid.len();
    let sem: Vec<u8> = (0..n).map(|i| (i % 18) as u8).collect();
    let cam: Vec<u8> = (0..n).map(|i| (i % 3 != 0) as u8).collect();
    let lidar: Vec<u8> = (0..n).map(|i| (i % 2 == 0) as u8).collect();
    let path = dir.join("labels.npz");
    write_npz(&path, &[("semantics", npy(&grid.dims, "|u1", &sem)), ("mask_lidar", npy(&grid.dims, "|u1", &lidar)), ("mask_camera", npy(&grid.dims, "|b1", &cam))]);
    let labels = Occ3dLabels::read(&path, &grid, &classes).unwrap();
    assert_eq!(labels.semantics, sem);
    assert_eq!(labels.mask_camera, cam.iter().map(|&b| b != 0).collect::<Vec<_>>());
    let t = labels.training_labels(Mask::Camera);
    assert!((0..n).all(|i| if cam[i] != 0 { t[i] == sem[i] } else { t[i] == UNOBSERVED }));
    assert_eq!(labels.training_labels(Mask::None), sem);

    // Wrong shape: names the file, the array and both shapes.
    let bad = dir.join("bad_shape.npz");
    write_npz(&bad, &[("semantics", npy(&[6, 5, 3], "|u1", &sem[..90])), ("mask_lidar", npy(&grid.dims, "|u1", &lidar)), ("mask_camera", npy(&grid.dims, "|u1", &cam))]);
    let e = Occ3dLabels::read(&bad, &grid, &classes).unwrap_err().to_string();
    assert!(e.contains("bad_shape.npz") && e.contains("semantics") && e.contains("[6, 5, 3]") && e.contains("[6, 5, 4]"), "{e}");
    // The nuScenes grid rejects this file's shape too.
    let e = Occ3dLabels::read_nuscenes(&path).unwrap_err().to_string();
    assert!(e.contains("[200, 200, 16]"), "{e}");
    // A missing array, a label outside the classes, a wrong dtype, not a zip.
    let missing = dir.join("missing.npz");
    write_npz(&missing, &[("semantics", npy(&grid.dims, "|u1", &sem))]);
    let e = Occ3dLabels::read(&missing, &grid, &classes).unwrap_err().to_string();
    assert!(e.contains("mask_lidar"), "{e}");
    let high: Vec<u8> = sem.iter().map(|&l| if l == 5 { 40 } else { l }).collect();
    let badlabel = dir.join("badlabel.npz");
    write_npz(&badlabel, &[("semantics", npy(&grid.dims, "|u1", &high)), ("mask_lidar", npy(&grid.dims, "|u1", &lidar)), ("mask_camera", npy(&grid.dims, "|u1", &cam))]);
    let e = Occ3dLabels::read(&badlabel, &grid, &classes).unwrap_err().to_string();
    assert!(e.contains("label 40") && e.contains("18 classes"), "{e}");
    let floats = npy(&grid.dims, "<f4", &vec![0u8; n * 4]);
    assert!(parse_npy_bytes(&floats, "semantics").unwrap_err().contains("<f4"));
    let text = dir.join("text.npz");
    std::fs::write(&text, "hello").unwrap();
    let e = Occ3dLabels::read(&text, &grid, &classes).unwrap_err().to_string();
    assert!(e.contains("text.npz") && e.contains("zip"), "{e}");
    let e = Occ3dLabels::read(&dir.join("nope.npz"), &grid, &classes).unwrap_err().to_string();
    assert!(e.contains("nope.npz") && e.contains("cannot open"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}
