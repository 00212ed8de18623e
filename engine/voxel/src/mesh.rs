//! Mesh export of a grid's density level set. The surface is extracted by marching
//! tetrahedra — the table-free member of the marching-cubes family: each cell is split into six
//! tetrahedra around its main diagonal, so neighbouring cells agree on shared faces and the
//! mesh has no cracks or ambiguous cases. Vertices lie on grid edges (linear interpolation of
//! σ), are shared between triangles, and carry the interpolated colour. Triangles face outward
//! (from high to low density). Written as OBJ (with `v x y z r g b` colours) or binary PLY.

use crate::error::{Result, VoxelError};
use crate::grid::VoxelGrid;
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

#[derive(Clone, Debug, Default)]
pub struct VoxelMesh {
    pub positions: Vec<[f32; 3]>,
    pub colors: Vec<[f32; 3]>,
    pub faces: Vec<[u32; 3]>,
}

/// The six tetrahedra of a cell (corner bits: x = 1, y = 2, z = 4), all around diagonal 0–7.
const TETS: [[usize; 4]; 6] = [[0, 1, 3, 7], [0, 3, 2, 7], [0, 2, 6, 7], [0, 6, 4, 7], [0, 4, 5, 7], [0, 5, 1, 7]];

/// The surface σ = `level` of the grid (σ = softplus(raw · scale) at grid points).
pub fn extract(grid: &VoxelGrid, level: f32) -> VoxelMesh {
    let [nx, ny, nz] = grid.dims.map(|d| d as usize);
    let sigma: Vec<f32> = (0..grid.len()).map(|i| grid.sigma_at(i)).collect();
    let mut mesh = VoxelMesh::default();
    let mut edge_vertex: HashMap<(u32, u32), u32> = HashMap::new();
    let pos = |i: usize| grid.point((i % nx) as u32, ((i / nx) % ny) as u32, (i / (nx * ny)) as u32);
    let mut vertex = |mesh: &mut VoxelMesh, a: usize, b: usize| -> u32 {
        let key = (a.min(b) as u32, a.max(b) as u32);
        *edge_vertex.entry(key).or_insert_with(|| {
            let (sa, sb) = (sigma[a], sigma[b]);
            let t = ((level - sa) / (sb - sa)).clamp(0.0, 1.0);
            let p = pos(a).lerp(pos(b), t);
            let (ca, cb) = (grid.color_at(a), grid.color_at(b));
            mesh.positions.push(p.to_array());
            mesh.colors.push(std::array::from_fn(|c| ca[c] + t * (cb[c] - ca[c])));
            (mesh.positions.len() - 1) as u32
        })
    };
    for z in 0..nz - 1 {
        for y in 0..ny - 1 {
            for x in 0..nx - 1 {
                let base = x + nx * (y + ny * z);
                let corner: [usize; 8] = std::array::from_fn(|k| base + (k & 1) + ((k >> 1) & 1) * nx + ((k >> 2) & 1) * nx * ny);
                let inside: [bool; 8] = std::array::from_fn(|k| sigma[corner[k]] > level);
                if inside.iter().all(|&b| b) || inside.iter().all(|&b| !b) {
                    continue;
                }
                for tet in TETS {
                    let v: [usize; 4] = tet.map(|k| corner[k]);
                    let ins: Vec<usize> = v.iter().copied().filter(|&i| sigma[i] > level).collect();
                    let outs: Vec<usize> = v.iter().copied().filter(|&i| sigma[i] <= level).collect();
                    let tris: Vec<[u32; 3]> = match ins.len() {
                        1 => vec![[vertex(&mut mesh, ins[0], outs[0]), vertex(&mut mesh, ins[0], outs[1]), vertex(&mut mesh, ins[0], outs[2])]],
                        3 => vec![[vertex(&mut mesh, outs[0], ins[0]), vertex(&mut mesh, outs[0], ins[1]), vertex(&mut mesh, outs[0], ins[2])]],
                        2 => {
                            let a = vertex(&mut mesh, ins[0], outs[0]);
                            let b = vertex(&mut mesh, ins[0], outs[1]);
                            let c = vertex(&mut mesh, ins[1], outs[1]);
                            let d = vertex(&mut mesh, ins[1], outs[0]);
                            vec![[a, b, c], [a, c, d]]
                        }
                        _ => vec![],
                    };
                    // Orient outward: the normal points from the inside corners to the outside ones.
                    let ci = ins.iter().map(|&i| pos(i)).sum::<glam::Vec3>() / ins.len().max(1) as f32;
                    let co = outs.iter().map(|&i| pos(i)).sum::<glam::Vec3>() / outs.len().max(1) as f32;
                    for t in tris {
                        if t[0] == t[1] || t[1] == t[2] || t[0] == t[2] {
                            continue;
                        }
                        let p: [glam::Vec3; 3] = t.map(|i| glam::Vec3::from(mesh.positions[i as usize]));
                        let nrm = (p[1] - p[0]).cross(p[2] - p[0]);
                        mesh.faces.push(if nrm.dot(co - ci) >= 0.0 { t } else { [t[0], t[2], t[1]] });
                    }
                }
            }
        }
    }
    mesh
}

impl VoxelMesh {
    /// Writes OBJ (`.obj`) or binary little-endian PLY (`.ply`), by extension.
    pub fn write(&self, path: &Path) -> Result<()> {
        let ext = path.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase());
        let io = |e: std::io::Error| VoxelError::file(path, e);
        let file = std::fs::File::create(path).map_err(io)?;
        let mut w = std::io::BufWriter::new(file);
        match ext.as_deref() {
            Some("obj") => {
                writeln!(w, "# kiln voxel mesh: {} vertices, {} faces", self.positions.len(), self.faces.len()).map_err(io)?;
                for (p, c) in self.positions.iter().zip(&self.colors) {
                    writeln!(w, "v {} {} {} {} {} {}", p[0], p[1], p[2], c[0], c[1], c[2]).map_err(io)?;
                }
                for f in &self.faces {
                    writeln!(w, "f {} {} {}", f[0] + 1, f[1] + 1, f[2] + 1).map_err(io)?;
                }
            }
            Some("ply") => {
                write!(
                    w,
                    "ply\nformat binary_little_endian 1.0\nelement vertex {}\nproperty float x\nproperty float y\nproperty float z\nproperty uchar red\nproperty uchar green\nproperty uchar blue\nelement face {}\nproperty list uchar int vertex_indices\nend_header\n",
                    self.positions.len(),
                    self.faces.len()
                )
                .map_err(io)?;
                for (p, c) in self.positions.iter().zip(&self.colors) {
                    for v in p {
                        w.write_all(&v.to_le_bytes()).map_err(io)?;
                    }
                    w.write_all(&c.map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)).map_err(io)?;
                }
                for f in &self.faces {
                    w.write_all(&[3u8]).map_err(io)?;
                    for &i in f {
                        w.write_all(&(i as i32).to_le_bytes()).map_err(io)?;
                    }
                }
            }
            _ => return Err(VoxelError::file(path, "mesh files end in .obj or .ply")),
        }
        w.flush().map_err(io)?;
        Ok(())
    }
}
