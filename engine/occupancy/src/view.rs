//! Occupancy and scene flow as a coloured triangle mesh, so `kiln view` (or any mesh viewer)
//! shows a prediction: the outer faces of occupied voxels coloured by class, and an arrow on
//! moving objects along their velocity. A mesh rather than a volume renderer because class
//! labels are discrete — flat-shaded voxel faces are what users of Occ3D-style data expect
//! (the nuScenes/OpenOcc visualizers draw the same cubes) — and because the viewer's mesh pass
//! already has a CPU reference.

use crate::grid::{ClassSet, VoxelGrid};
use crate::OccError;
use glam::Vec3;

/// How [`occupancy_mesh`] draws flow.
#[derive(Clone, Copy, Debug)]
pub struct FlowArrows {
    /// Arrow length = speed × this many seconds.
    pub seconds: f32,
    /// Voxels slower than this (m/s) get no arrow.
    pub min_speed: f32,
    /// One arrow per `stride`×`stride` columns (on the top dynamic voxel of the column).
    pub stride: usize,
}

impl Default for FlowArrows {
    fn default() -> Self {
        FlowArrows { seconds: 0.5, min_speed: 0.2, stride: 2 }
    }
}

/// Arrow colour: black reads on every class colour of the palette.
pub const ARROW_COLOR: [f32; 3] = [0.05, 0.05, 0.05];

/// The colour of a class, by name: the nuScenes / Occ3D convention where the class has one,
/// grey otherwise.
pub fn class_color(name: &str) -> [f32; 3] {
    let rgb: [u8; 3] = match name {
        "car" => [255, 158, 0],
        "truck" => [255, 99, 71],
        "trailer" => [255, 140, 0],
        "bus" => [255, 127, 80],
        "construction_vehicle" => [233, 150, 70],
        "bicycle" => [220, 20, 60],
        "motorcycle" => [255, 61, 99],
        "pedestrian" => [0, 0, 230],
        "traffic_cone" => [47, 79, 79],
        "barrier" => [112, 128, 144],
        "driveable_surface" => [0, 207, 191],
        "other_flat" => [175, 0, 75],
        "sidewalk" => [75, 0, 75],
        "terrain" => [112, 180, 60],
        "manmade" => [222, 184, 135],
        "vegetation" => [0, 175, 0],
        _ => [128, 128, 128],
    };
    rgb.map(|c| c as f32 / 255.0)
}

/// Triangles with per-vertex positions and colours (each face has its own vertices, so a
/// mesh viewer shades the cubes flat).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ColoredTriangles {
    pub positions: Vec<[f64; 3]>,
    pub colors: Vec<[f32; 3]>,
    pub faces: Vec<[u32; 3]>,
}

impl ColoredTriangles {
    fn quad(&mut self, corners: [Vec3; 4], color: [f32; 3]) {
        let base = self.positions.len() as u32;
        for c in corners {
            self.positions.push([c.x as f64, c.y as f64, c.z as f64]);
            self.colors.push(color);
        }
        self.faces.push([base, base + 1, base + 2]);
        self.faces.push([base, base + 2, base + 3]);
    }

    fn triangle(&mut self, corners: [Vec3; 3], color: [f32; 3]) {
        let base = self.positions.len() as u32;
        for c in corners {
            self.positions.push([c.x as f64, c.y as f64, c.z as f64]);
            self.colors.push(color);
        }
        self.faces.push([base, base + 1, base + 2]);
    }

    /// Appends `other` (indices shifted).
    pub fn append(&mut self, other: ColoredTriangles) {
        let base = self.positions.len() as u32;
        self.positions.extend(other.positions);
        self.colors.extend(other.colors);
        self.faces.extend(other.faces.into_iter().map(|f| f.map(|i| i + base)));
    }
}

/// The six face directions of a voxel: (neighbour step, the face's four corners as unit-cube
/// offsets, counter-clockwise seen from outside).
const FACES: [([i32; 3], [[f32; 3]; 4]); 6] = [
    ([-1, 0, 0], [[0., 0., 0.], [0., 0., 1.], [0., 1., 1.], [0., 1., 0.]]),
    ([1, 0, 0], [[1., 0., 0.], [1., 1., 0.], [1., 1., 1.], [1., 0., 1.]]),
    ([0, -1, 0], [[0., 0., 0.], [1., 0., 0.], [1., 0., 1.], [0., 0., 1.]]),
    ([0, 1, 0], [[0., 1., 0.], [0., 1., 1.], [1., 1., 1.], [1., 1., 0.]]),
    ([0, 0, -1], [[0., 0., 0.], [0., 1., 0.], [1., 1., 0.], [1., 0., 0.]]),
    ([0, 0, 1], [[0., 0., 1.], [1., 0., 1.], [1., 1., 1.], [0., 1., 1.]]),
];

/// The visible faces of occupied voxels (a face is drawn where the neighbour is free,
/// unobserved or outside the grid), coloured by class, moved by `offset`; with `flow` (two
/// values per voxel, vx and vy in m/s, as the street benchmark and Occ3D give it) an arrow on
/// moving dynamic voxels.
pub fn occupancy_mesh(
    grid: &VoxelGrid,
    classes: &ClassSet,
    labels: &[u8],
    flow: Option<&[f32]>,
    arrows: &FlowArrows,
    offset: Vec3,
) -> Result<ColoredTriangles, OccError> {
    grid.check_len("labels", labels.len(), 1)?;
    if let Some(f) = flow {
        grid.check_len("flow", f.len(), 2)?;
    }
    let [nx, ny, nz] = grid.dims;
    let occupied = |x: i32, y: i32, z: i32| -> bool {
        x >= 0 && y >= 0 && z >= 0 && (x as usize) < nx && (y as usize) < ny && (z as usize) < nz && classes.is_occupied(labels[grid.index(x as usize, y as usize, z as usize)])
    };
    let colors: Vec<[f32; 3]> = classes.names.iter().map(|n| class_color(n)).collect();
    let s = grid.voxel_size;
    let mut out = ColoredTriangles::default();
    for x in 0..nx {
        for y in 0..ny {
            for z in 0..nz {
                let label = labels[grid.index(x, y, z)];
                if !classes.is_occupied(label) {
                    continue;
                }
                let corner = grid.origin + offset + Vec3::new(x as f32, y as f32, z as f32) * s;
                for (step, quad) in FACES {
                    if occupied(x as i32 + step[0], y as i32 + step[1], z as i32 + step[2]) {
                        continue;
                    }
                    out.quad(quad.map(|c| corner + Vec3::from(c) * s), colors[label as usize]);
                }
            }
        }
    }
    if let Some(flow) = flow {
        let stride = arrows.stride.max(1);
        for x in (0..nx).step_by(stride) {
            for y in (0..ny).step_by(stride) {
                // The top dynamic voxel of the column carries the arrow, drawn just above it.
                let Some(z) = (0..nz).rev().find(|&z| classes.is_dynamic(labels[grid.index(x, y, z)])) else { continue };
                let i = grid.index(x, y, z);
                let v = Vec3::new(flow[2 * i], flow[2 * i + 1], 0.0);
                if !(v.length() >= arrows.min_speed) {
                    continue;
                }
                let start = grid.origin + offset + (Vec3::new(x as f32, y as f32, z as f32) + Vec3::new(0.5, 0.5, 1.3)) * s;
                arrow(&mut out, start, v * arrows.seconds, 0.12 * s);
            }
        }
    }
    Ok(out)
}

/// A square shaft of half-width `w` from `start` along `d`, with a pyramid head.
fn arrow(out: &mut ColoredTriangles, start: Vec3, d: Vec3, w: f32) {
    let len = d.length();
    if !(len > 0.0) {
        return;
    }
    let dir = d / len;
    // Flow is horizontal here, but keep the frame valid for any direction.
    let side = if dir.z.abs() < 0.9 { dir.cross(Vec3::Z).normalize() } else { dir.cross(Vec3::X).normalize() };
    let up = side.cross(dir);
    let head = (3.0 * w).min(0.5 * len);
    let shaft_end = start + dir * (len - head);
    let ring = |c: Vec3, r: f32| [c + (side + up) * r, c + (up - side) * r, c - (side + up) * r, c + (side - up) * r];
    let (a, b) = (ring(start, w), ring(shaft_end, w));
    for k in 0..4 {
        let n = (k + 1) % 4;
        out.quad([a[k], b[k], b[n], a[n]], ARROW_COLOR);
    }
    out.quad([a[3], a[2], a[1], a[0]], ARROW_COLOR);
    let base = ring(shaft_end, 2.0 * w);
    let tip = start + d;
    for k in 0..4 {
        out.triangle([base[k], tip, base[(k + 1) % 4]], ARROW_COLOR);
    }
    out.quad([base[3], base[2], base[1], base[0]], ARROW_COLOR);
}

/// Ground truth (left) and prediction (right, shifted by the grid's y extent plus a gap) in
/// one mesh. Prediction voxels where the ground truth is unobserved are hidden, so both
/// halves show the same region.
pub fn comparison_mesh(
    grid: &VoxelGrid,
    classes: &ClassSet,
    truth: (&[u8], &[f32]),
    prediction: (&[u8], &[f32]),
    arrows: &FlowArrows,
) -> Result<ColoredTriangles, OccError> {
    grid.check_len("predicted labels", prediction.0.len(), 1)?;
    let masked: Vec<u8> = truth.0.iter().zip(prediction.0).map(|(&t, &p)| if t == crate::grid::UNOBSERVED { classes.free() } else { p }).collect();
    let mut out = occupancy_mesh(grid, classes, truth.0, Some(truth.1), arrows, Vec3::ZERO)?;
    let shift = Vec3::new(0.0, grid.dims[1] as f32 * grid.voxel_size * 1.1, 0.0);
    out.append(occupancy_mesh(grid, classes, &masked, Some(prediction.1), arrows, shift)?);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn street_grid() -> (VoxelGrid, ClassSet) {
        (VoxelGrid::new([4, 4, 3], 0.5, Vec3::ZERO).unwrap(), ClassSet::street())
    }

    #[test]
    fn one_voxel_is_a_closed_cube_of_its_class_colour() {
        let (grid, classes) = street_grid();
        let mut labels = vec![classes.free(); grid.len()];
        labels[grid.index(1, 2, 0)] = 4; // manmade
        let m = occupancy_mesh(&grid, &classes, &labels, None, &FlowArrows::default(), Vec3::ZERO).unwrap();
        assert_eq!(m.faces.len(), 12);
        assert!(m.colors.iter().all(|&c| c == class_color("manmade")));
        let lo = m.positions.iter().fold([f64::MAX; 3], |a, p| [a[0].min(p[0]), a[1].min(p[1]), a[2].min(p[2])]);
        let hi = m.positions.iter().fold([f64::MIN; 3], |a, p| [a[0].max(p[0]), a[1].max(p[1]), a[2].max(p[2])]);
        assert_eq!((lo, hi), ([0.5, 1.0, 0.0], [1.0, 1.5, 0.5]));
        // Outward orientation: every face normal points away from the cube's centre.
        let c = glam::DVec3::new(0.75, 1.25, 0.25);
        for f in &m.faces {
            let p = f.map(|i| glam::DVec3::from(m.positions[i as usize]));
            let n = (p[1] - p[0]).cross(p[2] - p[0]);
            assert!(n.dot((p[0] + p[1] + p[2]) / 3.0 - c) > 0.0, "face {f:?} points inwards");
        }
    }

    #[test]
    fn shared_faces_between_occupied_voxels_are_not_drawn() {
        let (grid, classes) = street_grid();
        let mut labels = vec![classes.free(); grid.len()];
        labels[grid.index(0, 0, 0)] = 2;
        labels[grid.index(1, 0, 0)] = 3;
        // Unobserved neighbours count as empty.
        labels[grid.index(2, 0, 0)] = crate::grid::UNOBSERVED;
        let m = occupancy_mesh(&grid, &classes, &labels, None, &FlowArrows::default(), Vec3::ZERO).unwrap();
        assert_eq!(m.faces.len(), 2 * 10);
    }

    #[test]
    fn moving_objects_get_one_arrow_along_their_velocity() {
        let (grid, classes) = street_grid();
        let mut labels = vec![classes.free(); grid.len()];
        let mut flow = vec![0.0; 2 * grid.len()];
        let car = grid.index(2, 2, 1);
        labels[car] = 0;
        labels[grid.index(2, 2, 0)] = 0;
        flow[2 * car] = 4.0;
        let arrows = FlowArrows { seconds: 0.25, min_speed: 0.1, stride: 1 };
        let m = occupancy_mesh(&grid, &classes, &labels, Some(&flow), &arrows, Vec3::ZERO).unwrap();
        let arrow: Vec<[f64; 3]> = m.positions.iter().zip(&m.colors).filter(|(_, &c)| c == ARROW_COLOR).map(|(p, _)| *p).collect();
        assert!(!arrow.is_empty());
        let tip_x = arrow.iter().map(|p| p[0]).fold(f64::MIN, f64::max);
        // Starts at the voxel centre x = 1.25 and is 4 m/s × 0.25 s long.
        assert!((tip_x - 2.25).abs() < 1e-5, "{tip_x}");
        assert!(arrow.iter().all(|p| p[2] > 1.0), "the arrow sits above the top voxel");
        // A static scene has none.
        let still = occupancy_mesh(&grid, &classes, &labels, Some(&vec![0.0; 2 * grid.len()]), &arrows, Vec3::ZERO).unwrap();
        assert!(still.colors.iter().all(|&c| c != ARROW_COLOR));
    }

    #[test]
    fn wrong_sizes_are_errors() {
        let (grid, classes) = street_grid();
        let labels = vec![classes.free(); grid.len() - 1];
        assert!(occupancy_mesh(&grid, &classes, &labels, None, &FlowArrows::default(), Vec3::ZERO).is_err());
        let labels = vec![classes.free(); grid.len()];
        assert!(occupancy_mesh(&grid, &classes, &labels, Some(&[0.0; 3]), &FlowArrows::default(), Vec3::ZERO).is_err());
    }

    #[test]
    fn comparison_hides_prediction_where_truth_is_unobserved() {
        let (grid, classes) = street_grid();
        let mut truth = vec![crate::grid::UNOBSERVED; grid.len()];
        truth[grid.index(0, 0, 0)] = 2;
        let pred = vec![4u8; grid.len()];
        let zeros = vec![0.0; 2 * grid.len()];
        let m = comparison_mesh(&grid, &classes, (&truth, &zeros), (&pred, &zeros), &FlowArrows::default()).unwrap();
        // One cube on each side.
        assert_eq!(m.faces.len(), 24);
        assert!(m.positions.iter().any(|p| p[1] > 2.0));
    }
}
