//! Voxel ray casting (Amanatides & Woo): visibility masks and the RayIoU metric's first hits.

use crate::grid::VoxelGrid;
use glam::Vec3;

/// Where a ray first meets an occupied voxel.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hit {
    pub voxel: usize,
    /// Distance along the (unit) ray from its origin to the voxel's entry face.
    pub distance: f32,
}

/// Walks the voxels a ray crosses, in order, from `origin` along unit `dir` up to `max_dist`.
/// `visit(voxel, entry distance)` returns true to stop. Returns the voxel it stopped at.
pub fn walk(grid: &VoxelGrid, origin: Vec3, dir: Vec3, max_dist: f32, mut visit: impl FnMut(usize, f32) -> bool) -> Option<Hit> {
    let (lo, hi) = grid.bounds();
    // Clip the ray to the grid's box.
    let inv = dir.recip();
    let t0 = (lo - origin) * inv;
    let t1 = (hi - origin) * inv;
    let tmin = t0.min(t1);
    let tmax = t0.max(t1);
    let mut t_enter = tmin.x.max(tmin.y).max(tmin.z).max(0.0);
    let t_exit = tmax.x.min(tmax.y).min(tmax.z).min(max_dist);
    if !(t_enter < t_exit) {
        return None;
    }
    let p = origin + dir * (t_enter + 1e-5);
    let mut cell = grid.cell_of(p).clamp(glam::IVec3::ZERO, glam::IVec3::new(grid.dims[0] as i32 - 1, grid.dims[1] as i32 - 1, grid.dims[2] as i32 - 1));
    let step = glam::IVec3::new(dir.x.signum() as i32, dir.y.signum() as i32, dir.z.signum() as i32);
    let vs = grid.voxel_size;
    let next_boundary = |c: i32, s: i32, o: f32| o + (c + if s > 0 { 1 } else { 0 }) as f32 * vs;
    let mut t_next = Vec3::new(
        if dir.x != 0.0 { (next_boundary(cell.x, step.x, grid.origin.x) - origin.x) * inv.x } else { f32::INFINITY },
        if dir.y != 0.0 { (next_boundary(cell.y, step.y, grid.origin.y) - origin.y) * inv.y } else { f32::INFINITY },
        if dir.z != 0.0 { (next_boundary(cell.z, step.z, grid.origin.z) - origin.z) * inv.z } else { f32::INFINITY },
    );
    let t_delta = (Vec3::splat(vs) * inv).abs();
    loop {
        if !grid.contains_cell(cell) || t_enter >= t_exit {
            return None;
        }
        let v = grid.index(cell.x as usize, cell.y as usize, cell.z as usize);
        if visit(v, t_enter) {
            return Some(Hit { voxel: v, distance: t_enter });
        }
        if t_next.x <= t_next.y && t_next.x <= t_next.z {
            t_enter = t_next.x;
            t_next.x += t_delta.x;
            cell.x += step.x;
        } else if t_next.y <= t_next.z {
            t_enter = t_next.y;
            t_next.y += t_delta.y;
            cell.y += step.y;
        } else {
            t_enter = t_next.z;
            t_next.z += t_delta.z;
            cell.z += step.z;
        }
    }
}

/// The first voxel along the ray whose label is occupied (`occupied(label)`).
pub fn first_hit(grid: &VoxelGrid, labels: &[u8], occupied: impl Fn(u8) -> bool, origin: Vec3, dir: Vec3, max_dist: f32) -> Option<Hit> {
    walk(grid, origin, dir, max_dist, |v, _| occupied(labels[v]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walk_visits_cells_in_order_and_stops_at_the_first_occupied() {
        let g = VoxelGrid::new([10, 3, 3], 1.0, Vec3::ZERO).unwrap();
        let mut labels = vec![0u8; g.len()];
        labels[g.index(7, 1, 1)] = 1;
        let mut seen = Vec::new();
        let hit = walk(&g, Vec3::new(-2.0, 1.5, 1.5), Vec3::X, 100.0, |v, _| {
            seen.push(g.coords(v)[0]);
            labels[v] == 1
        })
        .unwrap();
        assert_eq!(seen, (0..=7).collect::<Vec<_>>());
        assert!((hit.distance - 9.0).abs() < 1e-4, "{}", hit.distance);
        assert_eq!(first_hit(&g, &labels, |l| l == 1, Vec3::new(9.5, 1.5, 1.5), -Vec3::X, 100.0).map(|h| h.voxel), Some(g.index(7, 1, 1)));
        assert!(first_hit(&g, &labels, |l| l == 1, Vec3::new(-2.0, 0.5, 0.5), Vec3::X, 100.0).is_none());
        // A diagonal ray crosses every cell it passes through exactly once.
        let mut cells = Vec::new();
        walk(&g, Vec3::new(0.1, 0.2, 0.3), Vec3::new(1.0, 0.2, 0.25).normalize(), 100.0, |v, _| {
            cells.push(v);
            false
        });
        let mut dedup = cells.clone();
        dedup.dedup();
        assert_eq!(cells, dedup);
        assert_eq!(*cells.last().unwrap() / 9, 9);
    }
}
