//! Triangle meshes (OBJ, OFF, PLY through [`kiln_scene::mesh`]) drawn by a small render
//! pipeline (`view_mesh.wgsl`): per-vertex colours or a scalar field through a colour map, a
//! headlight, a depth buffer. Two meshes and a point-to-point map make a matched pair: the
//! first is coloured by its coordinates and the second gets those colours through the map,
//! the picture functional-map users check a correspondence with.
//!
//! [`reference_render`] is the CPU rasterizer of the same math that the tests compare against.

use super::{Bounds, SceneKind, ViewStyle};
use crate::present::{DisplayMode, Target, TARGET_FORMAT};
use crate::ViewError;
use glam::{Mat4, Vec3};
use kiln_gpu::{GpuContext, GpuTimer};
use kiln_scene::mesh::Mesh;
use kiln_scene::Camera;
use std::path::Path;
use std::sync::Arc;

const DEPTH_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Depth32Float;
/// Light that reaches faces seen edge-on (the rest is the headlight's |n·v|).
pub const AMBIENT: f32 = 0.25;
/// The colour of a mesh without colours or field.
const PLAIN: [f32; 3] = [0.78, 0.78, 0.8];

/// One mesh of a scene, placed at `offset`.
#[derive(Clone, Debug)]
pub struct MeshPart {
    pub name: String,
    pub mesh: Mesh,
    pub offset: Vec3,
    /// Per-vertex scalar fields that can colour it: (name, one value per vertex).
    pub fields: Vec<(String, Vec<f32>)>,
}

/// How vertices are coloured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coloring {
    /// The mesh's own colours (or the colours a map transferred), plain grey without.
    Colors,
    /// One grey: shape only.
    Plain,
    /// Field `k` of each part through the colour map, over its own min–max.
    Field(usize),
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Vertex {
    position: [f32; 3],
    normal: [f32; 3],
    color: [f32; 3],
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct MeshUniforms {
    world_to_camera: [[f32; 4]; 4],
    intrinsics: [f32; 4],
    viewport: [f32; 4],
    shading: [f32; 4],
}

/// Everything a frame of the mesh pass needs on the host, also the reference's input.
#[derive(Clone, Debug)]
pub struct MeshGeometry {
    pub positions: Vec<Vec3>,
    pub normals: Vec<Vec3>,
    pub colors: Vec<[f32; 3]>,
    pub triangles: Vec<[u32; 3]>,
}

pub struct MeshScene {
    pub name: String,
    pub source: String,
    pub parts: Vec<MeshPart>,
    pub coloring: Coloring,
    /// A point-to-point map from the second part's vertices to the first's (a matched pair).
    pub map: Option<Vec<u32>>,
    geometry: MeshGeometry,
    uploaded: Option<Coloring>,
    pipeline: wgpu::RenderPipeline,
    vertices: Option<wgpu::Buffer>,
    indices: wgpu::Buffer,
    depth: Option<(u32, u32, wgpu::TextureView)>,
    bounds: Bounds,
}

/// Area-weighted vertex normals (zero-area faces add nothing; isolated vertices get +z).
pub fn vertex_normals(positions: &[Vec3], triangles: &[[u32; 3]]) -> Vec<Vec3> {
    let mut n = vec![Vec3::ZERO; positions.len()];
    for t in triangles {
        let [a, b, c] = t.map(|i| positions[i as usize]);
        // The cross product's length is twice the area: the weighting comes for free.
        let face = (b - a).cross(c - a);
        for &i in t {
            n[i as usize] += face;
        }
    }
    n.into_iter().map(|v| v.try_normalize().unwrap_or(Vec3::Z)).collect()
}

/// Viridis, sampled at nine points and interpolated linearly: perceptually ordered and
/// readable by colour-blind users, the default of matplotlib and of most mesh viewers.
pub fn colormap(t: f32) -> [f32; 3] {
    const STOPS: [[f32; 3]; 9] = [
        [0.267, 0.005, 0.329],
        [0.283, 0.141, 0.458],
        [0.254, 0.265, 0.530],
        [0.207, 0.372, 0.553],
        [0.164, 0.471, 0.558],
        [0.128, 0.567, 0.551],
        [0.135, 0.659, 0.518],
        [0.267, 0.749, 0.441],
        [0.993, 0.906, 0.144],
    ];
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 };
    let x = t * (STOPS.len() - 1) as f32;
    let i = (x.floor() as usize).min(STOPS.len() - 2);
    let f = x - i as f32;
    std::array::from_fn(|c| STOPS[i][c] * (1.0 - f) + STOPS[i + 1][c] * f)
}

/// Reads per-vertex scalar fields from a text file: one line per vertex, one column per field
/// (the layout of `kiln basis`'s eigenvectors.txt). Columns are named `<file> [k]`.
pub fn read_fields(path: &Path, num_vertices: usize) -> Result<Vec<(String, Vec<f32>)>, ViewError> {
    let err = |message: String| ViewError::Io { path: path.to_path_buf(), message };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let rows: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#')).collect();
    if rows.len() != num_vertices {
        return Err(err(format!("{} rows of values but the mesh has {num_vertices} vertices", rows.len())));
    }
    let mut columns: Vec<Vec<f32>> = Vec::new();
    for (r, line) in rows.iter().enumerate() {
        let values: Vec<f32> = line
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<f32>().map_err(|_| err(format!("line {}: {s:?} is not a number", r + 1))))
            .collect::<Result<_, _>>()?;
        if r == 0 {
            columns = vec![Vec::with_capacity(num_vertices); values.len()];
        }
        if values.len() != columns.len() || values.is_empty() {
            return Err(err(format!("line {}: {} values, expected {}", r + 1, values.len(), columns.len().max(1))));
        }
        if let Some(v) = values.iter().find(|v| !v.is_finite()) {
            return Err(err(format!("line {}: non-finite value {v}", r + 1)));
        }
        for (c, v) in values.into_iter().enumerate() {
            columns[c].push(v);
        }
    }
    let stem = path.file_name().map_or_else(|| "field".to_string(), |n| n.to_string_lossy().to_string());
    Ok(columns.into_iter().enumerate().map(|(k, v)| (format!("{stem} [{k}]"), v)).collect())
}

/// Reads a point-to-point map file (`kiln match --out`): one line per vertex of the second
/// mesh, the 0-based index of its match on the first.
pub fn read_map(path: &Path, n_second: usize, n_first: usize) -> Result<Vec<u32>, ViewError> {
    Ok(kiln_scene::mesh::read_point_map(path, n_second, n_first)?)
}

impl MeshScene {
    /// One mesh file, optionally with scalar fields (see [`read_fields`]).
    pub fn open(ctx: &Arc<GpuContext>, path: &Path, fields: Option<&Path>) -> Result<Self, ViewError> {
        let mesh = Mesh::read(path)?;
        let fields = fields.map(|f| read_fields(f, mesh.num_vertices())).transpose()?.unwrap_or_default();
        let name = file_name(path);
        let coloring = if !fields.is_empty() { Coloring::Field(0) } else { Coloring::Colors };
        Self::new(ctx, vec![MeshPart { name: name.clone(), mesh, offset: Vec3::ZERO, fields }], None, coloring, name, path.display().to_string())
    }

    /// A matched pair: `first` coloured by its coordinates (or its own colours), `second` by
    /// the first's colours through `map` (second's vertex → first's vertex), side by side.
    pub fn open_pair(ctx: &Arc<GpuContext>, first: &Path, second: &Path, map: &Path) -> Result<Self, ViewError> {
        let a = Mesh::read(first)?;
        let b = Mesh::read(second)?;
        let p2p = read_map(map, b.num_vertices(), a.num_vertices())?;
        let name = format!("{} matched to {}", file_name(second), file_name(first));
        let source = format!("{} matched to {} by {}", second.display(), first.display(), map.display());
        Self::pair(ctx, a, b, p2p, file_name(first), file_name(second), name, source)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn pair(ctx: &Arc<GpuContext>, mut a: Mesh, mut b: Mesh, p2p: Vec<u32>, name_a: String, name_b: String, name: String, source: String) -> Result<Self, ViewError> {
        if p2p.len() != b.num_vertices() || p2p.iter().any(|&i| i as usize >= a.num_vertices()) {
            return Err(ViewError::Render(format!("{source}: the map needs one index below {} per vertex of the second mesh ({})", a.num_vertices(), b.num_vertices())));
        }
        let colors = a.colors.clone().unwrap_or_else(|| a.coordinate_colors());
        b.colors = Some(p2p.iter().map(|&i| colors[i as usize]).collect());
        a.colors = Some(colors);
        // Side by side along x, with a gap of a tenth of the larger width.
        let (lo_a, hi_a) = extent(&a);
        let (lo_b, hi_b) = extent(&b);
        let gap = 0.1 * (hi_a.x - lo_a.x).max(hi_b.x - lo_b.x);
        let ca = 0.5 * (lo_a + hi_a);
        let cb = 0.5 * (lo_b + hi_b);
        let offset_b = Vec3::new(hi_a.x + gap - lo_b.x, ca.y - cb.y, ca.z - cb.z);
        let parts = vec![
            MeshPart { name: name_a, mesh: a, offset: Vec3::ZERO, fields: Vec::new() },
            MeshPart { name: name_b, mesh: b, offset: offset_b, fields: Vec::new() },
        ];
        let mut scene = Self::new(ctx, parts, Some(p2p), Coloring::Colors, name, source)?;
        // Shapes of this kind are y-up (FAUST, SMAL, most scans) and face +z.
        scene.bounds.up = Vec3::Y;
        scene.bounds.front = Vec3::NEG_Z;
        Ok(scene)
    }

    pub fn new(ctx: &Arc<GpuContext>, parts: Vec<MeshPart>, map: Option<Vec<u32>>, coloring: Coloring, name: String, source: String) -> Result<Self, ViewError> {
        if parts.is_empty() {
            return Err(ViewError::Render(format!("{source}: no mesh")));
        }
        let geometry = geometry(&parts, coloring);
        let indices = buffer(ctx, "viewer mesh indices", bytemuck::cast_slice(&geometry.triangles), wgpu::BufferUsages::INDEX);
        let bounds = mesh_bounds(&geometry.positions);
        Ok(MeshScene {
            name,
            source,
            parts,
            coloring,
            map,
            geometry,
            uploaded: None,
            pipeline: pipeline(ctx)?,
            vertices: None,
            indices,
            depth: None,
            bounds,
        })
    }

    /// Which way is up and which way the home camera looks (meshes default to y-up, facing −z).
    pub fn set_orientation(&mut self, up: Vec3, front: Vec3) {
        self.bounds.up = up;
        self.bounds.front = front;
    }

    /// The host geometry the next frame draws (the reference's input).
    pub fn geometry(&self) -> &MeshGeometry {
        &self.geometry
    }

    fn upload(&mut self, ctx: &GpuContext) {
        if self.uploaded == Some(self.coloring) && self.vertices.is_some() {
            return;
        }
        self.geometry = geometry(&self.parts, self.coloring);
        let g = &self.geometry;
        let vertices: Vec<Vertex> = (0..g.positions.len())
            .map(|i| Vertex { position: g.positions[i].to_array(), normal: g.normals[i].to_array(), color: g.colors[i] })
            .collect();
        self.vertices = Some(buffer(ctx, "viewer mesh vertices", bytemuck::cast_slice(&vertices), wgpu::BufferUsages::VERTEX));
        self.uploaded = Some(self.coloring);
    }

    fn depth_view(&mut self, ctx: &GpuContext, w: u32, h: u32) -> &wgpu::TextureView {
        if self.depth.as_ref().is_none_or(|(dw, dh, _)| (*dw, *dh) != (w, h)) {
            let texture = ctx.device.create_texture(&wgpu::TextureDescriptor {
                label: Some("viewer mesh depth"),
                size: wgpu::Extent3d { width: w, height: h, depth_or_array_layers: 1 },
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format: DEPTH_FORMAT,
                usage: wgpu::TextureUsages::RENDER_ATTACHMENT,
                view_formats: &[],
            });
            self.depth = Some((w, h, texture.create_view(&Default::default())));
        }
        &self.depth.as_ref().expect("made above").2
    }
}

fn buffer(ctx: &GpuContext, label: &str, bytes: &[u8], usage: wgpu::BufferUsages) -> wgpu::Buffer {
    use wgpu::util::DeviceExt;
    ctx.device.create_buffer_init(&wgpu::util::BufferInitDescriptor { label: Some(label), contents: bytes, usage })
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().to_string())
}

fn extent(mesh: &Mesh) -> (Vec3, Vec3) {
    mesh.positions.iter().fold((Vec3::splat(f32::INFINITY), Vec3::splat(f32::NEG_INFINITY)), |(lo, hi), p| {
        let v = Vec3::new(p[0] as f32, p[1] as f32, p[2] as f32);
        (lo.min(v), hi.max(v))
    })
}

fn mesh_bounds(positions: &[Vec3]) -> Bounds {
    let (lo, hi) = positions.iter().fold((Vec3::splat(f32::INFINITY), Vec3::splat(f32::NEG_INFINITY)), |(lo, hi), p| (lo.min(*p), hi.max(*p)));
    let center = 0.5 * (lo + hi);
    let radius = 0.5 * (hi - lo).length();
    Bounds { center, radius: if radius > 0.0 && radius.is_finite() { radius } else { 1.0 }, up: Vec3::Y, front: Vec3::NEG_Z }
}

/// All parts in one vertex list, coloured as `coloring` says.
fn geometry(parts: &[MeshPart], coloring: Coloring) -> MeshGeometry {
    let mut g = MeshGeometry { positions: Vec::new(), normals: Vec::new(), colors: Vec::new(), triangles: Vec::new() };
    for part in parts {
        let base = g.positions.len() as u32;
        let positions: Vec<Vec3> = part.mesh.positions.iter().map(|p| Vec3::new(p[0] as f32, p[1] as f32, p[2] as f32) + part.offset).collect();
        g.normals.extend(vertex_normals(&positions, &part.mesh.faces));
        let n = positions.len();
        g.positions.extend(positions);
        let colors: Vec<[f32; 3]> = match coloring {
            Coloring::Colors => part.mesh.colors.clone().unwrap_or_else(|| vec![PLAIN; n]),
            Coloring::Plain => vec![PLAIN; n],
            Coloring::Field(k) => match part.fields.get(k) {
                Some((_, values)) => {
                    let (lo, hi) = values.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), v| (a.min(*v), b.max(*v)));
                    values.iter().map(|v| colormap((v - lo) / (hi - lo).max(1e-30))).collect()
                }
                None => vec![PLAIN; n],
            },
        };
        g.colors.extend(colors);
        g.triangles.extend(part.mesh.faces.iter().map(|f| f.map(|i| i + base)));
    }
    g
}

fn pipeline(ctx: &GpuContext) -> Result<wgpu::RenderPipeline, ViewError> {
    let source = kiln_gpu::shaders::source("view_mesh.wgsl").ok_or_else(|| ViewError::Render("view_mesh.wgsl is missing from the shader table".into()))?;
    let module = ctx.device.create_shader_module(wgpu::ShaderModuleDescriptor { label: Some("view_mesh.wgsl"), source: wgpu::ShaderSource::Wgsl(source) });
    let vertex_layout = wgpu::VertexBufferLayout {
        array_stride: std::mem::size_of::<Vertex>() as u64,
        step_mode: wgpu::VertexStepMode::Vertex,
        attributes: &wgpu::vertex_attr_array![0 => Float32x3, 1 => Float32x3, 2 => Float32x3],
    };
    Ok(ctx.device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
        label: Some("viewer mesh"),
        layout: None,
        vertex: wgpu::VertexState { module: &module, entry_point: Some("vs_main"), buffers: &[Some(vertex_layout)], compilation_options: Default::default() },
        // Scans and shape collections mix windings: draw both sides, light |n·v|.
        primitive: wgpu::PrimitiveState { topology: wgpu::PrimitiveTopology::TriangleList, cull_mode: None, ..Default::default() },
        depth_stencil: Some(wgpu::DepthStencilState {
            format: DEPTH_FORMAT,
            depth_write_enabled: Some(true),
            depth_compare: Some(wgpu::CompareFunction::Less),
            stencil: Default::default(),
            bias: Default::default(),
        }),
        multisample: Default::default(),
        fragment: Some(wgpu::FragmentState {
            module: &module,
            entry_point: Some("fs_main"),
            targets: &[Some(wgpu::ColorTargetState { format: TARGET_FORMAT, blend: None, write_mask: wgpu::ColorWrites::ALL })],
            compilation_options: Default::default(),
        }),
        multiview_mask: None,
        cache: None,
    }))
}

fn uniforms(camera: &Camera, style: &ViewStyle) -> MeshUniforms {
    let r = camera.rotation;
    let t = camera.translation;
    // Column-major world → camera transform.
    let m = Mat4::from_cols(r.col(0).extend(0.0), r.col(1).extend(0.0), r.col(2).extend(0.0), t.extend(1.0));
    let mode = match style.mode {
        DisplayMode::Color => 0.0,
        DisplayMode::Depth => 1.0,
        DisplayMode::Alpha => 2.0,
    };
    MeshUniforms {
        world_to_camera: m.to_cols_array_2d(),
        intrinsics: [camera.fx, camera.fy, camera.cx, camera.cy],
        viewport: [camera.width as f32, camera.height as f32, camera.near, camera.far],
        shading: [AMBIENT, style.depth_range.0, style.depth_range.1, mode],
    }
}

/// The colour a covered pixel gets, as the fragment shader computes it.
fn shade(color: [f32; 3], normal_cam: Vec3, pos_cam: Vec3, style: &ViewStyle) -> [f32; 3] {
    match style.mode {
        DisplayMode::Color => {
            let n = normal_cam.normalize_or_zero();
            let v = (-pos_cam).normalize_or_zero();
            let s = AMBIENT + (1.0 - AMBIENT) * n.dot(v).abs();
            color.map(|c| (c * s).clamp(0.0, 1.0))
        }
        DisplayMode::Depth => {
            let t = ((pos_cam.z - style.depth_range.0) / (style.depth_range.1 - style.depth_range.0).max(1e-12)).clamp(0.0, 1.0);
            [1.0 - t; 3]
        }
        DisplayMode::Alpha => [1.0; 3],
    }
}

/// The CPU reference of the mesh pass: for each pixel centre, the nearest triangle covering it
/// (perspective-correct barycentrics, depth test on camera z), shaded as the fragment shader
/// does; background elsewhere. Triangles that reach behind the near plane are skipped (the
/// GPU clips them; the tests keep meshes in front). Returns RGBA8 rows.
pub fn reference_render(geometry: &MeshGeometry, camera: &Camera, style: &ViewStyle) -> Vec<u8> {
    use rayon::prelude::*;
    let (w, h) = (camera.width as usize, camera.height as usize);
    let cam_pos: Vec<Vec3> = geometry.positions.iter().map(|p| camera.world_to_camera(*p)).collect();
    let cam_nrm: Vec<Vec3> = geometry.normals.iter().map(|n| camera.rotation * *n).collect();
    let project = |p: Vec3| glam::Vec2::new(camera.fx * p.x / p.z + camera.cx, camera.fy * p.y / p.z + camera.cy);
    let tris: Vec<[u32; 3]> = geometry.triangles.iter().copied().filter(|t| t.iter().all(|&i| cam_pos[i as usize].z > camera.near)).collect();
    let background = match style.mode {
        DisplayMode::Color => style.background,
        _ => [0.0; 3],
    };
    let to_u8 = crate::present::to_u8;
    (0..h)
        .into_par_iter()
        .flat_map_iter(|y| {
            let mut row = Vec::with_capacity(w * 4);
            for x in 0..w {
                let p = glam::Vec2::new(x as f32 + 0.5, y as f32 + 0.5);
                let mut best: Option<(f32, [f32; 3])> = None;
                for t in &tris {
                    let [a, b, c] = t.map(|i| project(cam_pos[i as usize]));
                    let area = (b - a).perp_dot(c - a);
                    if area.abs() < 1e-12 {
                        continue;
                    }
                    let l0 = (c - b).perp_dot(p - b) / area;
                    let l1 = (a - c).perp_dot(p - c) / area;
                    let l2 = 1.0 - l0 - l1;
                    if l0 < 0.0 || l1 < 0.0 || l2 < 0.0 {
                        continue;
                    }
                    // Perspective-correct weights: screen barycentrics over each vertex's z.
                    let z = t.map(|i| cam_pos[i as usize].z);
                    let q = [l0 / z[0], l1 / z[1], l2 / z[2]];
                    let sum = q[0] + q[1] + q[2];
                    let wts = q.map(|v| v / sum);
                    let depth = 1.0 / sum;
                    if best.is_some_and(|(d, _)| d <= depth) {
                        continue;
                    }
                    let lerp3 = |f: &dyn Fn(usize) -> Vec3| f(0) * wts[0] + f(1) * wts[1] + f(2) * wts[2];
                    let pos = lerp3(&|k| cam_pos[t[k] as usize]);
                    let nrm = lerp3(&|k| cam_nrm[t[k] as usize]);
                    let col = lerp3(&|k| Vec3::from(geometry.colors[t[k] as usize]));
                    best = Some((depth, shade(col.to_array(), nrm, pos, style)));
                }
                let rgb = best.map_or(background, |(_, c)| c);
                row.extend([to_u8(rgb[0]), to_u8(rgb[1]), to_u8(rgb[2]), 255]);
            }
            row
        })
        .collect()
}

impl SceneKind for MeshScene {
    fn title(&self) -> String {
        self.name.clone()
    }

    fn stats(&self) -> Vec<(String, String)> {
        let mut s = Vec::new();
        for p in &self.parts {
            let report = p.mesh.edge_report();
            s.push((p.name.clone(), format!("{} vertices, {} faces", super::splats::group_thousands(p.mesh.num_vertices()), super::splats::group_thousands(p.mesh.num_faces()))));
            if report.boundary > 0 || report.non_manifold > 0 {
                s.push(("  edges".into(), format!("{} boundary, {} non-manifold", report.boundary, report.non_manifold)));
            }
        }
        if let Some(map) = &self.map {
            let mut hit = vec![false; self.parts[0].mesh.num_vertices()];
            map.iter().for_each(|&i| hit[i as usize] = true);
            let covered = hit.iter().filter(|h| **h).count();
            s.push(("map".into(), format!("{} to {}: reaches {:.1} % of the first", self.parts[1].name, self.parts[0].name, 100.0 * covered as f64 / hit.len().max(1) as f64)));
        }
        s.push(("source".into(), self.source.clone()));
        s
    }

    fn bounds(&self) -> Bounds {
        self.bounds
    }

    fn background(&self) -> Option<[f32; 3]> {
        Some([1.0; 3])
    }

    fn ui(&mut self, ui: &mut egui::Ui) -> bool {
        let before = self.coloring;
        let fields: Vec<String> = self.parts[0].fields.iter().map(|(n, _)| n.clone()).collect();
        ui.horizontal(|ui| {
            ui.selectable_value(&mut self.coloring, Coloring::Colors, if self.map.is_some() { "map colours" } else { "colours" });
            ui.selectable_value(&mut self.coloring, Coloring::Plain, "plain");
        });
        if !fields.is_empty() {
            let mut k = match self.coloring {
                Coloring::Field(k) => k,
                _ => 0,
            };
            let field_on = matches!(self.coloring, Coloring::Field(_));
            let label = if field_on { fields[k].clone() } else { "scalar field…".to_string() };
            egui::ComboBox::from_id_salt("mesh field").selected_text(label).show_ui(ui, |ui| {
                for (i, name) in fields.iter().enumerate() {
                    if ui.selectable_label(field_on && i == k, name).clicked() {
                        k = i;
                        self.coloring = Coloring::Field(i);
                    }
                }
            });
            if field_on {
                ui.add(egui::Slider::new(&mut k, 0..=fields.len() - 1).text("field"));
                self.coloring = Coloring::Field(k);
            }
        }
        before != self.coloring
    }

    fn draw(&mut self, ctx: &Arc<GpuContext>, camera: &Camera, style: &ViewStyle, target: &Target, mut timer: Option<&mut GpuTimer>) -> Result<(), ViewError> {
        self.upload(ctx);
        let uniform = ctx.uniform("viewer mesh uniforms", &uniforms(camera, style));
        let bind = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("viewer mesh"),
            layout: &self.pipeline.get_bind_group_layout(0),
            entries: &[wgpu::BindGroupEntry { binding: 0, resource: uniform.as_entire_binding() }],
        });
        let clear = match style.mode {
            DisplayMode::Color => style.background,
            _ => [0.0; 3],
        };
        let mut enc = ctx.encoder("viewer mesh");
        {
            let timestamp_writes = timer.as_deref_mut().and_then(|t| {
                t.pass("mesh").map(|w| wgpu::RenderPassTimestampWrites {
                    query_set: w.query_set,
                    beginning_of_pass_write_index: w.beginning_of_pass_write_index,
                    end_of_pass_write_index: w.end_of_pass_write_index,
                })
            });
            let depth = self.depth_view(ctx, camera.width, camera.height).clone();
            let mut pass = enc.begin_render_pass(&wgpu::RenderPassDescriptor {
                label: Some("viewer mesh"),
                color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                    view: &target.view,
                    depth_slice: None,
                    resolve_target: None,
                    ops: wgpu::Operations {
                        load: wgpu::LoadOp::Clear(wgpu::Color { r: clear[0] as f64, g: clear[1] as f64, b: clear[2] as f64, a: 1.0 }),
                        store: wgpu::StoreOp::Store,
                    },
                })],
                depth_stencil_attachment: Some(wgpu::RenderPassDepthStencilAttachment {
                    view: &depth,
                    depth_ops: Some(wgpu::Operations { load: wgpu::LoadOp::Clear(1.0), store: wgpu::StoreOp::Store }),
                    stencil_ops: None,
                }),
                timestamp_writes,
                occlusion_query_set: None,
                multiview_mask: None,
            });
            pass.set_pipeline(&self.pipeline);
            pass.set_bind_group(0, &bind, &[]);
            pass.set_vertex_buffer(0, self.vertices.as_ref().expect("uploaded above").slice(..));
            pass.set_index_buffer(self.indices.slice(..), wgpu::IndexFormat::Uint32);
            pass.draw_indexed(0..(self.geometry.triangles.len() * 3) as u32, 0, 0..1);
        }
        if let Some(t) = timer {
            t.resolve(&mut enc);
        }
        ctx.submit(enc);
        Ok(())
    }
}
