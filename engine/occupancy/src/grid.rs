//! The voxel grid and the class conventions of the occupancy labels.

use crate::OccError;
use glam::{IVec3, Vec3};

/// An axis-aligned voxel grid. Voxel (x, y, z) has flat index (x·Y + y)·Z + z — the C order
/// of Occ3D's `semantics[200][200][16]` arrays, so labels read from disk need no reshuffle.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VoxelGrid {
    pub dims: [usize; 3],
    /// Edge length of a voxel in metres.
    pub voxel_size: f32,
    /// World position of the grid's minimum corner.
    pub origin: Vec3,
}

impl VoxelGrid {
    pub fn new(dims: [usize; 3], voxel_size: f32, origin: Vec3) -> Result<Self, OccError> {
        if dims.contains(&0) {
            return Err(OccError::Invalid(format!("voxel grid {dims:?} has an empty axis")));
        }
        if !(voxel_size > 0.0 && voxel_size.is_finite()) {
            return Err(OccError::Invalid(format!("voxel size {voxel_size} must be finite and > 0")));
        }
        Ok(VoxelGrid { dims, voxel_size, origin })
    }

    /// Occ3D-nuScenes: 200×200×16 voxels of 0.4 m over x, y ∈ [−40, 40] m, z ∈ [−1, 5.4] m.
    pub fn occ3d_nuscenes() -> Self {
        VoxelGrid { dims: [200, 200, 16], voxel_size: 0.4, origin: Vec3::new(-40.0, -40.0, -1.0) }
    }

    pub fn len(&self) -> usize {
        self.dims[0] * self.dims[1] * self.dims[2]
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn index(&self, x: usize, y: usize, z: usize) -> usize {
        (x * self.dims[1] + y) * self.dims[2] + z
    }

    pub fn coords(&self, i: usize) -> [usize; 3] {
        let z = i % self.dims[2];
        let y = (i / self.dims[2]) % self.dims[1];
        let x = i / (self.dims[2] * self.dims[1]);
        [x, y, z]
    }

    pub fn centre(&self, i: usize) -> Vec3 {
        let [x, y, z] = self.coords(i);
        self.origin + (Vec3::new(x as f32, y as f32, z as f32) + 0.5) * self.voxel_size
    }

    /// World extent: (min corner, max corner).
    pub fn bounds(&self) -> (Vec3, Vec3) {
        let d = Vec3::new(self.dims[0] as f32, self.dims[1] as f32, self.dims[2] as f32);
        (self.origin, self.origin + d * self.voxel_size)
    }

    /// The voxel holding world point `p` (may lie outside the grid).
    pub fn cell_of(&self, p: Vec3) -> IVec3 {
        ((p - self.origin) / self.voxel_size).floor().as_ivec3()
    }

    pub fn contains_cell(&self, c: IVec3) -> bool {
        c.x >= 0 && c.y >= 0 && c.z >= 0 && (c.x as usize) < self.dims[0] && (c.y as usize) < self.dims[1] && (c.z as usize) < self.dims[2]
    }

    pub fn contains_point(&self, p: Vec3) -> bool {
        let (lo, hi) = self.bounds();
        p.cmpge(lo).all() && p.cmplt(hi).all()
    }

    /// Checks that a per-voxel array has `per_voxel` values for every voxel.
    pub fn check_len(&self, what: &str, got: usize, per_voxel: usize) -> Result<(), OccError> {
        let want = self.len() * per_voxel;
        if got != want {
            let [x, y, z] = self.dims;
            return Err(OccError::shape(
                what,
                format!("has {got} values, expected {want} ({x}×{y}×{z} voxels × {per_voxel})"),
            ));
        }
        Ok(())
    }
}

/// Label value of voxels without ground truth (not observed); ignored by every loss and metric.
pub const UNOBSERVED: u8 = 255;

/// The classes of a label set: `names[0..free]` are occupied classes, `free` is the last
/// class (empty space); `dynamic[c]` says whether class c can move (vehicles, pedestrians).
#[derive(Clone, Debug, PartialEq)]
pub struct ClassSet {
    pub names: Vec<String>,
    pub dynamic: Vec<bool>,
}

impl ClassSet {
    /// The 17 OpenOcc classes (the VoxelSplat spec's order); 0–7 dynamic, 16 free.
    pub fn openocc() -> Self {
        let names = [
            "car", "truck", "trailer", "bus", "construction_vehicle", "bicycle", "motorcycle", "pedestrian",
            "traffic_cone", "barrier", "driveable_surface", "other_flat", "sidewalk", "terrain", "manmade",
            "vegetation", "free",
        ];
        ClassSet::from_names(&names, &names[..8])
    }

    /// Occ3D-nuScenes' 18 classes (`labels.npz` semantics): 0 others … 16 vegetation, 17 free.
    pub fn occ3d_nuscenes() -> Self {
        let names = [
            "others", "barrier", "bicycle", "bus", "car", "construction_vehicle", "motorcycle", "pedestrian",
            "traffic_cone", "trailer", "truck", "driveable_surface", "other_flat", "sidewalk", "terrain", "manmade",
            "vegetation", "free",
        ];
        let dynamic = ["bicycle", "bus", "car", "construction_vehicle", "motorcycle", "pedestrian", "trailer", "truck"];
        ClassSet::from_names(&names, &dynamic)
    }

    fn from_names(names: &[&str], dynamic: &[&str]) -> Self {
        ClassSet { names: names.iter().map(|s| s.to_string()).collect(), dynamic: names.iter().map(|n| dynamic.contains(n)).collect() }
    }

    /// The synthetic street's subset, in OpenOcc order: car and pedestrian are dynamic.
    pub fn street() -> Self {
        let names = ["car", "pedestrian", "driveable_surface", "sidewalk", "manmade", "vegetation", "free"];
        ClassSet::from_names(&names, &names[..2])
    }

    /// Number of classes including free.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Index of the free class (the last one).
    pub fn free(&self) -> u8 {
        (self.names.len() - 1) as u8
    }

    pub fn is_dynamic(&self, label: u8) -> bool {
        self.dynamic.get(label as usize).copied().unwrap_or(false) && self.is_occupied(label)
    }

    pub fn is_occupied(&self, label: u8) -> bool {
        label < self.free()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_and_coords_round_trip_in_occ3d_order() {
        let g = VoxelGrid::new([4, 3, 2], 0.5, Vec3::new(-1.0, -1.0, 0.0)).unwrap();
        assert_eq!(g.index(1, 2, 1), (3 + 2) * 2 + 1);
        for i in 0..g.len() {
            let [x, y, z] = g.coords(i);
            assert_eq!(g.index(x, y, z), i);
            assert_eq!(g.cell_of(g.centre(i)), IVec3::new(x as i32, y as i32, z as i32));
        }
        assert!(g.check_len("labels", 23, 1).unwrap_err().to_string().contains("expected 24"));
    }
}
