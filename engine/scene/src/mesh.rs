//! Triangle meshes and point clouds: OBJ, OFF and PLY readers and writers.
//!
//! ```no_run
//! use kiln_scene::mesh::{Mesh, PointCloud};
//! let mesh = Mesh::read("shapes/faust_r/tr_reg_000.off")?;   // format from the extension
//! println!("{} vertices, {} triangles, area {}", mesh.num_vertices(), mesh.num_faces(), mesh.area());
//! mesh.write("out.ply")?;                                      // OFF / PLY / OBJ, with colours
//! let cloud = PointCloud::read("scan.ply")?;                   // vertices of any of the formats
//! # Ok::<(), kiln_scene::mesh::MeshError>(())
//! ```
//!
//! # Vertex order
//! Vertices keep the order of the file. Correspondence files (`.vts`, `.map`) index vertices in
//! file order, so this matters. That is also why OBJ has its own small reader here: `tobj`
//! renumbers vertices in order of first use and drops unreferenced ones.
//!
//! # What is tolerated, what is refused
//! Refused with a [`MeshError`] naming the file: unreadable or malformed files, a mesh with no
//! vertices (or, for [`Mesh::read`], no faces), a non-finite coordinate (NaN/inf, with its
//! vertex), a face index outside the vertex list (with face and index), a face with fewer than
//! three corners.
//!
//! Tolerated: CRLF line endings, `#` comments, polygons (triangulated as a fan from the first
//! corner), OBJ `v/vt/vn` corners and negative (relative) indices, OBJ per-vertex colours
//! `v x y z r g b`, OFF/COFF/NOFF headers with per-vertex colours, ASCII and binary (either
//! endianness) PLY with extra elements and properties (skipped), unreferenced vertices (kept:
//! they still count for correspondences; operators give them zero mass), and degenerate faces:
//! triangles that repeat a vertex are dropped and counted in [`Mesh::dropped_faces`].
//! Manifoldness is not required here; methods that need it check it themselves
//! ([`Mesh::edge_report`] gives the counts).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Why a mesh or point cloud could not be read or written. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum MeshError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: line {line}: {msg}")]
    Parse { path: PathBuf, line: usize, msg: String },
    #[error("{path}: {msg}")]
    Format { path: PathBuf, msg: String },
    #[error("{path}: unsupported mesh format {ext:?} (expected .obj, .off or .ply)")]
    Unsupported { path: PathBuf, ext: String },
    #[error("{path}: empty mesh ({what})")]
    Empty { path: PathBuf, what: &'static str },
    #[error("{path}: vertex {vertex} has a non-finite coordinate {coords:?}")]
    NonFinite { path: PathBuf, vertex: usize, coords: [f64; 3] },
    #[error("{path}: face {face} refers to vertex {index} but the mesh has {num_vertices} vertices (0-based)")]
    IndexOutOfRange { path: PathBuf, face: usize, index: i64, num_vertices: usize },
    #[error("{path}: face {face} has {corners} corners (at least 3 needed)")]
    ShortFace { path: PathBuf, face: usize, corners: usize },
}

/// A triangle mesh in f64 positions (file order), with optional per-vertex colours in [0, 1].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Mesh {
    pub positions: Vec<[f64; 3]>,
    pub faces: Vec<[u32; 3]>,
    pub colors: Option<Vec<[f32; 3]>>,
    /// Faces dropped at load because they repeat a vertex (zero area by construction).
    pub dropped_faces: usize,
}

/// A set of points (no connectivity), with optional colours.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PointCloud {
    pub positions: Vec<[f64; 3]>,
    pub colors: Option<Vec<[f32; 3]>>,
}

/// Edge statistics for manifoldness checks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EdgeReport {
    pub edges: usize,
    /// Edges used by exactly one face.
    pub boundary: usize,
    /// Edges used by more than two faces.
    pub non_manifold: usize,
    /// Vertices used by no face.
    pub unreferenced_vertices: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MeshFormat {
    Obj,
    Off,
    Ply,
}

impl MeshFormat {
    pub fn from_path(path: &Path) -> Result<Self, MeshError> {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
        match ext.as_str() {
            "obj" => Ok(Self::Obj),
            "off" => Ok(Self::Off),
            "ply" => Ok(Self::Ply),
            _ => Err(MeshError::Unsupported { path: path.to_path_buf(), ext }),
        }
    }
}

/// What a reader produces before validation: polygons, not yet triangulated.
#[derive(Default)]
struct RawMesh {
    positions: Vec<[f64; 3]>,
    colors: Option<Vec<[f32; 3]>>,
    /// Polygons with 0-based indices as read (may be out of range: checked in `finish`).
    polygons: Vec<Vec<i64>>,
}

impl Mesh {
    /// Reads an OBJ, OFF or PLY mesh (by extension). Requires at least one face.
    pub fn read(path: impl AsRef<Path>) -> Result<Self, MeshError> {
        let path = path.as_ref();
        let mesh = read_any(path)?;
        if mesh.faces.is_empty() {
            return Err(MeshError::Empty { path: path.to_path_buf(), what: "no faces" });
        }
        Ok(mesh)
    }

    /// Builds a mesh from positions and triangles, with the same checks as the readers
    /// (`name` stands in for the file name in errors).
    pub fn from_parts(
        name: &str,
        positions: Vec<[f64; 3]>,
        faces: Vec<[u32; 3]>,
        colors: Option<Vec<[f32; 3]>>,
    ) -> Result<Self, MeshError> {
        let raw = RawMesh {
            positions,
            colors,
            polygons: faces.iter().map(|f| f.iter().map(|&i| i as i64).collect()).collect(),
        };
        let mesh = raw.finish(Path::new(name))?;
        if mesh.faces.is_empty() {
            return Err(MeshError::Empty { path: name.into(), what: "no faces" });
        }
        Ok(mesh)
    }

    pub fn num_vertices(&self) -> usize {
        self.positions.len()
    }

    pub fn num_faces(&self) -> usize {
        self.faces.len()
    }

    /// A colouring by normalized coordinates (x → red, y → green, z → blue over the bounding
    /// box): smooth and different everywhere, so a copy transferred through a correspondence
    /// shows where the map tears or flips (`kiln match --colors`, `kiln view A B --map`).
    pub fn coordinate_colors(&self) -> Vec<[f32; 3]> {
        let mut lo = [f64::INFINITY; 3];
        let mut hi = [f64::NEG_INFINITY; 3];
        for p in &self.positions {
            for k in 0..3 {
                lo[k] = lo[k].min(p[k]);
                hi[k] = hi[k].max(p[k]);
            }
        }
        self.positions.iter().map(|p| std::array::from_fn(|k| ((p[k] - lo[k]) / (hi[k] - lo[k]).max(1e-12)) as f32)).collect()
    }

    /// Positions converted to f32 (GPU upload, viewer).
    pub fn positions_f32(&self) -> Vec<[f32; 3]> {
        self.positions.iter().map(|p| [p[0] as f32, p[1] as f32, p[2] as f32]).collect()
    }

    /// Area of each triangle.
    pub fn face_areas(&self) -> Vec<f64> {
        self.faces
            .iter()
            .map(|f| {
                let [a, b, c] = f.map(|i| self.positions[i as usize]);
                0.5 * norm(cross(sub(b, a), sub(c, a)))
            })
            .collect()
    }

    /// Total surface area.
    pub fn area(&self) -> f64 {
        self.face_areas().iter().sum()
    }

    /// Scales positions about the origin by `s`.
    pub fn scale(&mut self, s: f64) {
        for p in &mut self.positions {
            *p = p.map(|x| x * s);
        }
    }

    /// Counts boundary and non-manifold edges and unreferenced vertices.
    pub fn edge_report(&self) -> EdgeReport {
        let mut count: HashMap<(u32, u32), u32> = HashMap::with_capacity(self.faces.len() * 2);
        let mut used = vec![false; self.positions.len()];
        for f in &self.faces {
            for k in 0..3 {
                let (a, b) = (f[k], f[(k + 1) % 3]);
                *count.entry((a.min(b), a.max(b))).or_default() += 1;
                used[a as usize] = true;
            }
        }
        EdgeReport {
            edges: count.len(),
            boundary: count.values().filter(|&&c| c == 1).count(),
            non_manifold: count.values().filter(|&&c| c > 2).count(),
            unreferenced_vertices: used.iter().filter(|&&u| !u).count(),
        }
    }

    /// Writes OBJ, OFF or PLY (by extension); colours are written when present
    /// (OBJ `v x y z r g b`, COFF, PLY uchar red/green/blue).
    pub fn write(&self, path: impl AsRef<Path>) -> Result<(), MeshError> {
        let path = path.as_ref();
        let fmt = MeshFormat::from_path(path)?;
        let io = |source| MeshError::Io { path: path.to_path_buf(), source };
        let file = std::fs::File::create(path).map_err(io)?;
        let mut w = BufWriter::new(file);
        match fmt {
            MeshFormat::Obj => write_obj(&mut w, &self.positions, self.colors.as_deref(), &self.faces),
            MeshFormat::Off => write_off(&mut w, &self.positions, self.colors.as_deref(), &self.faces),
            MeshFormat::Ply => write_ply(&mut w, &self.positions, self.colors.as_deref(), &self.faces),
        }
        .and_then(|_| w.flush())
        .map_err(io)
    }

    /// The vertices as a point cloud (colours kept).
    pub fn to_point_cloud(&self) -> PointCloud {
        PointCloud { positions: self.positions.clone(), colors: self.colors.clone() }
    }
}

impl PointCloud {
    /// Reads the vertices of an OBJ, OFF or PLY file (faces, if any, are ignored).
    pub fn read(path: impl AsRef<Path>) -> Result<Self, MeshError> {
        let mesh = read_any(path.as_ref())?;
        Ok(PointCloud { positions: mesh.positions, colors: mesh.colors })
    }

    /// Builds a cloud from f32 points (e.g. a splat scene's means), checking for NaN/inf.
    pub fn from_f32(name: &str, points: &[[f32; 3]]) -> Result<Self, MeshError> {
        let positions: Vec<[f64; 3]> = points.iter().map(|p| p.map(f64::from)).collect();
        check_vertices(Path::new(name), &positions)?;
        Ok(PointCloud { positions, colors: None })
    }

    pub fn len(&self) -> usize {
        self.positions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }

    /// Writes the points as OBJ, OFF or PLY (no faces).
    pub fn write(&self, path: impl AsRef<Path>) -> Result<(), MeshError> {
        let mesh = Mesh { positions: self.positions.clone(), faces: vec![], colors: self.colors.clone(), dropped_faces: 0 };
        mesh.write(path)
    }
}

fn read_any(path: &Path) -> Result<Mesh, MeshError> {
    let fmt = MeshFormat::from_path(path)?;
    let bytes = std::fs::read(path).map_err(|source| MeshError::Io { path: path.to_path_buf(), source })?;
    let raw = match fmt {
        MeshFormat::Obj => parse_obj(path, &text(path, &bytes)?)?,
        MeshFormat::Off => parse_off(path, &text(path, &bytes)?)?,
        MeshFormat::Ply => parse_ply(path, &bytes)?,
    };
    raw.finish(path)
}

fn text<'a>(path: &Path, bytes: &'a [u8]) -> Result<&'a str, MeshError> {
    std::str::from_utf8(bytes).map_err(|e| MeshError::Format { path: path.to_path_buf(), msg: format!("not UTF-8 text ({e})") })
}

fn check_vertices(path: &Path, positions: &[[f64; 3]]) -> Result<(), MeshError> {
    if positions.is_empty() {
        return Err(MeshError::Empty { path: path.to_path_buf(), what: "no vertices" });
    }
    if let Some((vertex, p)) = positions.iter().enumerate().find(|(_, p)| p.iter().any(|x| !x.is_finite())) {
        return Err(MeshError::NonFinite { path: path.to_path_buf(), vertex, coords: *p });
    }
    Ok(())
}

impl RawMesh {
    /// Validates indices and coordinates, triangulates polygons (fan) and drops faces that
    /// repeat a vertex.
    fn finish(self, path: &Path) -> Result<Mesh, MeshError> {
        check_vertices(path, &self.positions)?;
        let n = self.positions.len();
        if let Some(c) = &self.colors {
            if c.len() != n {
                return Err(MeshError::Format { path: path.to_path_buf(), msg: format!("{} colours for {n} vertices", c.len()) });
            }
        }
        let mut faces = Vec::with_capacity(self.polygons.len());
        let mut dropped = 0;
        for (fi, poly) in self.polygons.iter().enumerate() {
            if poly.len() < 3 {
                return Err(MeshError::ShortFace { path: path.to_path_buf(), face: fi, corners: poly.len() });
            }
            if let Some(&index) = poly.iter().find(|&&i| i < 0 || i as usize >= n) {
                return Err(MeshError::IndexOutOfRange { path: path.to_path_buf(), face: fi, index, num_vertices: n });
            }
            for k in 1..poly.len() - 1 {
                let t = [poly[0] as u32, poly[k] as u32, poly[k + 1] as u32];
                if t[0] == t[1] || t[1] == t[2] || t[0] == t[2] {
                    dropped += 1;
                } else {
                    faces.push(t);
                }
            }
        }
        Ok(Mesh { positions: self.positions, faces, colors: self.colors, dropped_faces: dropped })
    }
}

fn parse_err(path: &Path, line: usize, msg: impl Into<String>) -> MeshError {
    MeshError::Parse { path: path.to_path_buf(), line, msg: msg.into() }
}

fn parse_f64(path: &Path, line: usize, tok: Option<&str>, what: &str) -> Result<f64, MeshError> {
    let tok = tok.ok_or_else(|| parse_err(path, line, format!("missing {what}")))?;
    // "nan"/"inf" parse here on purpose: they are reported as non-finite with their vertex.
    tok.parse::<f64>().map_err(|_| parse_err(path, line, format!("bad {what} {tok:?}")))
}

fn parse_obj(path: &Path, src: &str) -> Result<RawMesh, MeshError> {
    let mut raw = RawMesh::default();
    let mut colors: Vec<[f32; 3]> = Vec::new();
    for (ln, line) in src.lines().enumerate() {
        let ln = ln + 1;
        let line = line.split('#').next().unwrap_or("").trim();
        let mut toks = line.split_whitespace();
        match toks.next() {
            Some("v") => {
                let vals: Vec<&str> = toks.collect();
                let mut p = [0.0; 3];
                for (k, v) in p.iter_mut().enumerate() {
                    *v = parse_f64(path, ln, vals.get(k).copied(), "coordinate")?;
                }
                raw.positions.push(p);
                if vals.len() >= 6 {
                    let mut c = [0.0f32; 3];
                    for (k, v) in c.iter_mut().enumerate() {
                        *v = parse_f64(path, ln, Some(vals[3 + k]), "colour")? as f32;
                    }
                    colors.push(c);
                }
            }
            Some("f") => {
                let nv = raw.positions.len() as i64;
                let mut poly = Vec::new();
                for corner in toks {
                    let idx = corner.split('/').next().unwrap_or("");
                    let i: i64 = idx.parse().map_err(|_| parse_err(path, ln, format!("bad face index {corner:?}")))?;
                    // OBJ is 1-based; negative indices count back from the latest vertex.
                    poly.push(match i {
                        0 => return Err(parse_err(path, ln, "face index 0 (OBJ indices start at 1)")),
                        i if i > 0 => i - 1,
                        i => nv + i,
                    });
                }
                raw.polygons.push(poly);
            }
            _ => {}
        }
    }
    if !colors.is_empty() {
        if colors.len() != raw.positions.len() {
            return Err(MeshError::Format {
                path: path.to_path_buf(),
                msg: format!("only {} of {} vertices have colours", colors.len(), raw.positions.len()),
            });
        }
        raw.colors = Some(normalize_colors(colors));
    }
    Ok(raw)
}

/// Colours given as 0–255 are brought to [0, 1].
fn normalize_colors(mut c: Vec<[f32; 3]>) -> Vec<[f32; 3]> {
    if c.iter().flatten().any(|&x| x > 1.0) {
        for v in &mut c {
            *v = v.map(|x| x / 255.0);
        }
    }
    c
}

fn parse_off(path: &Path, src: &str) -> Result<RawMesh, MeshError> {
    // Tokens with their line numbers, comments stripped; OFF allows counts on the header line.
    let mut lines = src
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.split('#').next().unwrap_or("").trim()))
        .filter(|(_, l)| !l.is_empty());
    let (hl, header) = lines.next().ok_or_else(|| MeshError::Empty { path: path.to_path_buf(), what: "empty file" })?;
    let mut htoks = header.split_whitespace();
    let magic = htoks.next().unwrap_or("");
    let (has_color, has_normal) = match magic {
        "OFF" => (false, false),
        "COFF" => (true, false),
        "NOFF" => (false, true),
        "CNOFF" | "NCOFF" => (true, true),
        _ => return Err(parse_err(path, hl, format!("not an OFF file (header {magic:?})"))),
    };
    let rest: Vec<&str> = htoks.collect();
    let (cl, counts) = if rest.is_empty() {
        lines.next().map(|(l, s)| (l, s.split_whitespace().collect::<Vec<_>>())).ok_or_else(|| parse_err(path, hl, "missing counts"))?
    } else {
        (hl, rest)
    };
    let count = |k: usize, what: &str| -> Result<usize, MeshError> {
        counts.get(k).and_then(|s| s.parse().ok()).ok_or_else(|| parse_err(path, cl, format!("bad {what} count")))
    };
    let (nv, nf) = (count(0, "vertex")?, count(1, "face")?);
    let mut raw = RawMesh { positions: Vec::with_capacity(nv), ..Default::default() };
    let mut colors = Vec::new();
    for _ in 0..nv {
        let (ln, l) = lines.next().ok_or_else(|| parse_err(path, cl, format!("file ends before vertex {} of {nv}", raw.positions.len())))?;
        let toks: Vec<&str> = l.split_whitespace().collect();
        let mut p = [0.0; 3];
        for (k, v) in p.iter_mut().enumerate() {
            *v = parse_f64(path, ln, toks.get(k).copied(), "coordinate")?;
        }
        raw.positions.push(p);
        if has_color {
            let off = if has_normal { 6 } else { 3 };
            let mut c = [0.0f32; 3];
            for (k, v) in c.iter_mut().enumerate() {
                *v = parse_f64(path, ln, toks.get(off + k).copied(), "colour")? as f32;
            }
            colors.push(c);
        }
    }
    for fi in 0..nf {
        let (ln, l) = lines.next().ok_or_else(|| parse_err(path, cl, format!("file ends before face {fi} of {nf}")))?;
        let mut toks = l.split_whitespace();
        let k: usize = toks.next().and_then(|s| s.parse().ok()).ok_or_else(|| parse_err(path, ln, "bad face corner count"))?;
        let poly: Vec<i64> = toks
            .take(k)
            .map(|s| s.parse::<i64>().map_err(|_| parse_err(path, ln, format!("bad face index {s:?}"))))
            .collect::<Result<_, _>>()?;
        if poly.len() != k {
            return Err(parse_err(path, ln, format!("face has {} of its {k} indices", poly.len())));
        }
        raw.polygons.push(poly);
    }
    if has_color {
        raw.colors = Some(normalize_colors(colors));
    }
    Ok(raw)
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum PlyType {
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
    F32,
    F64,
}

impl PlyType {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "char" | "int8" => Self::I8,
            "uchar" | "uint8" => Self::U8,
            "short" | "int16" => Self::I16,
            "ushort" | "uint16" => Self::U16,
            "int" | "int32" => Self::I32,
            "uint" | "uint32" => Self::U32,
            "float" | "float32" => Self::F32,
            "double" | "float64" => Self::F64,
            _ => return None,
        })
    }
    fn size(self) -> usize {
        match self {
            Self::I8 | Self::U8 => 1,
            Self::I16 | Self::U16 => 2,
            Self::I32 | Self::U32 | Self::F32 => 4,
            Self::F64 => 8,
        }
    }
    fn is_int(self) -> bool {
        !matches!(self, Self::F32 | Self::F64)
    }
}

struct PlyProp {
    name: String,
    ty: PlyType,
    /// Some(count type) for list properties.
    list: Option<PlyType>,
}

struct PlyElement {
    name: String,
    count: usize,
    props: Vec<PlyProp>,
}

#[derive(Clone, Copy, PartialEq)]
enum PlyEncoding {
    Ascii,
    Le,
    Be,
}

/// Reads scalars of a PLY body, ASCII or binary.
struct PlyReader<'a> {
    path: &'a Path,
    bytes: &'a [u8],
    pos: usize,
    enc: PlyEncoding,
    /// ASCII: current line number (for errors).
    line: usize,
}

impl PlyReader<'_> {
    fn value(&mut self, ty: PlyType) -> Result<f64, MeshError> {
        if self.enc == PlyEncoding::Ascii {
            // Skip whitespace, counting lines.
            while self.pos < self.bytes.len() && self.bytes[self.pos].is_ascii_whitespace() {
                if self.bytes[self.pos] == b'\n' {
                    self.line += 1;
                }
                self.pos += 1;
            }
            let start = self.pos;
            while self.pos < self.bytes.len() && !self.bytes[self.pos].is_ascii_whitespace() {
                self.pos += 1;
            }
            if start == self.pos {
                return Err(parse_err(self.path, self.line, "file ends early"));
            }
            let tok = std::str::from_utf8(&self.bytes[start..self.pos]).unwrap_or("?");
            return tok.parse::<f64>().map_err(|_| parse_err(self.path, self.line, format!("bad number {tok:?}")));
        }
        let n = ty.size();
        let b = self.bytes.get(self.pos..self.pos + n).ok_or_else(|| MeshError::Format {
            path: self.path.to_path_buf(),
            msg: "binary PLY body ends early".into(),
        })?;
        self.pos += n;
        let mut a = [0u8; 8];
        a[..n].copy_from_slice(b);
        if self.enc == PlyEncoding::Be {
            a[..n].reverse();
        }
        Ok(match ty {
            PlyType::I8 => a[0] as i8 as f64,
            PlyType::U8 => a[0] as f64,
            PlyType::I16 => i16::from_le_bytes([a[0], a[1]]) as f64,
            PlyType::U16 => u16::from_le_bytes([a[0], a[1]]) as f64,
            PlyType::I32 => i32::from_le_bytes([a[0], a[1], a[2], a[3]]) as f64,
            PlyType::U32 => u32::from_le_bytes([a[0], a[1], a[2], a[3]]) as f64,
            PlyType::F32 => f32::from_le_bytes([a[0], a[1], a[2], a[3]]) as f64,
            PlyType::F64 => f64::from_le_bytes(a),
        })
    }
}

fn parse_ply(path: &Path, bytes: &[u8]) -> Result<RawMesh, MeshError> {
    let fmt_err = |msg: String| MeshError::Format { path: path.to_path_buf(), msg };
    let header_end = bytes
        .windows(10)
        .position(|w| w == b"end_header")
        .ok_or_else(|| fmt_err("not a PLY file (no end_header)".into()))?;
    let header = std::str::from_utf8(&bytes[..header_end]).map_err(|_| fmt_err("PLY header is not text".into()))?;
    let mut body = header_end + 10;
    // The header ends with "end_header\n" (or \r\n).
    while body < bytes.len() && bytes[body] != b'\n' {
        body += 1;
    }
    body += 1;
    let header_lines = header.lines().count() + 1;

    let mut enc = None;
    let mut elements: Vec<PlyElement> = Vec::new();
    for (i, line) in header.lines().enumerate() {
        let toks: Vec<&str> = line.split_whitespace().collect();
        let ln = i + 1;
        match toks.first().copied() {
            Some("ply") if i == 0 => {}
            _ if i == 0 => return Err(fmt_err("not a PLY file (first line is not \"ply\")".into())),
            Some("format") => {
                enc = Some(match toks.get(1).copied() {
                    Some("ascii") => PlyEncoding::Ascii,
                    Some("binary_little_endian") => PlyEncoding::Le,
                    Some("binary_big_endian") => PlyEncoding::Be,
                    other => return Err(parse_err(path, ln, format!("unknown PLY format {other:?}"))),
                })
            }
            Some("element") => {
                let count = toks.get(2).and_then(|s| s.parse().ok()).ok_or_else(|| parse_err(path, ln, "bad element count"))?;
                elements.push(PlyElement { name: toks.get(1).unwrap_or(&"").to_string(), count, props: vec![] });
            }
            Some("property") => {
                let el = elements.last_mut().ok_or_else(|| parse_err(path, ln, "property before any element"))?;
                let bad = || parse_err(path, ln, format!("bad property line {line:?}"));
                let prop = if toks.get(1) == Some(&"list") {
                    PlyProp {
                        name: toks.get(4).ok_or_else(bad)?.to_string(),
                        list: Some(toks.get(2).and_then(|s| PlyType::parse(s)).ok_or_else(bad)?),
                        ty: toks.get(3).and_then(|s| PlyType::parse(s)).ok_or_else(bad)?,
                    }
                } else {
                    PlyProp {
                        name: toks.get(2).ok_or_else(bad)?.to_string(),
                        list: None,
                        ty: toks.get(1).and_then(|s| PlyType::parse(s)).ok_or_else(bad)?,
                    }
                };
                el.props.push(prop);
            }
            _ => {} // comment, obj_info
        }
    }
    let enc = enc.ok_or_else(|| fmt_err("PLY header has no format line".into()))?;
    let mut r = PlyReader { path, bytes, pos: body, enc, line: header_lines + 1 };
    let mut raw = RawMesh::default();
    let mut found_vertex = false;
    for el in &elements {
        let find = |n: &str| el.props.iter().position(|p| p.name == n && p.list.is_none());
        let is_vertex = el.name == "vertex";
        let xyz = [find("x"), find("y"), find("z")];
        let rgb = [find("red"), find("green"), find("blue")];
        let has_rgb = rgb.iter().all(Option::is_some);
        let face_prop = el.props.iter().position(|p| p.list.is_some() && (p.name == "vertex_indices" || p.name == "vertex_index"));
        if is_vertex {
            found_vertex = true;
            if xyz.iter().any(Option::is_none) {
                return Err(fmt_err("PLY vertex element lacks x, y or z".into()));
            }
            raw.positions.reserve(el.count);
        }
        let color_scale = if has_rgb && el.props[rgb[0].unwrap()].ty.is_int() { 1.0 / 255.0 } else { 1.0 };
        let mut colors = Vec::new();
        let mut vals = vec![0.0f64; el.props.len()];
        for _ in 0..el.count {
            let mut poly = Vec::new();
            for (pi, p) in el.props.iter().enumerate() {
                if let Some(ct) = p.list {
                    let n = r.value(ct)?;
                    if !(0.0..=1e6).contains(&n) {
                        return Err(fmt_err(format!("PLY list length {n} in element {}", el.name)));
                    }
                    for _ in 0..n as usize {
                        let v = r.value(p.ty)?;
                        if Some(pi) == face_prop && el.name == "face" {
                            poly.push(v as i64);
                        }
                    }
                } else {
                    vals[pi] = r.value(p.ty)?;
                }
            }
            if is_vertex {
                raw.positions.push(xyz.map(|k| vals[k.unwrap()]));
                if has_rgb {
                    colors.push(rgb.map(|k| (vals[k.unwrap()] * color_scale) as f32));
                }
            } else if el.name == "face" && face_prop.is_some() {
                raw.polygons.push(poly);
            }
        }
        if is_vertex && has_rgb {
            raw.colors = Some(colors);
        }
    }
    if !found_vertex {
        return Err(MeshError::Empty { path: path.to_path_buf(), what: "no vertex element" });
    }
    Ok(raw)
}

fn write_obj(w: &mut impl Write, pos: &[[f64; 3]], col: Option<&[[f32; 3]]>, faces: &[[u32; 3]]) -> std::io::Result<()> {
    let mut s = String::new();
    for (i, p) in pos.iter().enumerate() {
        s.clear();
        write!(s, "v {} {} {}", p[0], p[1], p[2]).unwrap();
        if let Some(c) = col {
            write!(s, " {} {} {}", c[i][0], c[i][1], c[i][2]).unwrap();
        }
        writeln!(w, "{s}")?;
    }
    for f in faces {
        writeln!(w, "f {} {} {}", f[0] + 1, f[1] + 1, f[2] + 1)?;
    }
    Ok(())
}

fn write_off(w: &mut impl Write, pos: &[[f64; 3]], col: Option<&[[f32; 3]]>, faces: &[[u32; 3]]) -> std::io::Result<()> {
    writeln!(w, "{}", if col.is_some() { "COFF" } else { "OFF" })?;
    writeln!(w, "{} {} 0", pos.len(), faces.len())?;
    for (i, p) in pos.iter().enumerate() {
        match col {
            // COFF colours as 0–255 integers plus alpha, the common convention.
            Some(c) => {
                let q = c[i].map(|x| (x.clamp(0.0, 1.0) * 255.0).round() as u8);
                writeln!(w, "{} {} {} {} {} {} 255", p[0], p[1], p[2], q[0], q[1], q[2])?
            }
            None => writeln!(w, "{} {} {}", p[0], p[1], p[2])?,
        }
    }
    for f in faces {
        writeln!(w, "3 {} {} {}", f[0], f[1], f[2])?;
    }
    Ok(())
}

fn write_ply(w: &mut impl Write, pos: &[[f64; 3]], col: Option<&[[f32; 3]]>, faces: &[[u32; 3]]) -> std::io::Result<()> {
    writeln!(w, "ply\nformat binary_little_endian 1.0\ncomment written by kiln")?;
    writeln!(w, "element vertex {}\nproperty double x\nproperty double y\nproperty double z", pos.len())?;
    if col.is_some() {
        writeln!(w, "property uchar red\nproperty uchar green\nproperty uchar blue")?;
    }
    writeln!(w, "element face {}\nproperty list uchar int vertex_indices\nend_header", faces.len())?;
    for (i, p) in pos.iter().enumerate() {
        for x in p {
            w.write_all(&x.to_le_bytes())?;
        }
        if let Some(c) = col {
            w.write_all(&c[i].map(|x| (x.clamp(0.0, 1.0) * 255.0).round() as u8))?;
        }
    }
    for f in faces {
        w.write_all(&[3u8])?;
        for &i in f {
            w.write_all(&(i as i32).to_le_bytes())?;
        }
    }
    Ok(())
}

fn sub(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}
fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]
}
fn norm(a: [f64; 3]) -> f64 {
    (a[0] * a[0] + a[1] * a[1] + a[2] * a[2]).sqrt()
}

/// Reads a point-to-point map between two shapes: one 0-based index per line, line `j` holding
/// the vertex of the first shape (`n_first` vertices) that vertex `j` of the second shape
/// (`n_second` vertices) maps to — pyFM's `p2p_21`, and what `kiln match --out` writes.
pub fn read_point_map(path: impl AsRef<Path>, n_second: usize, n_first: usize) -> Result<Vec<u32>, MeshError> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|source| MeshError::Io { path: path.into(), source })?;
    let mut map = Vec::with_capacity(n_second);
    for (ln, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        let parse_err = |msg: String| MeshError::Parse { path: path.into(), line: ln + 1, msg };
        let v: usize = t.parse().map_err(|_| parse_err(format!("not a vertex index: {t:?}")))?;
        if v >= n_first {
            return Err(parse_err(format!("vertex {v} is outside the first shape's 0..{n_first} (0-based)")));
        }
        map.push(v as u32);
    }
    if map.len() != n_second {
        return Err(MeshError::Format { path: path.into(), msg: format!("{} entries, but the second shape has {n_second} vertices", map.len()) });
    }
    Ok(map)
}

/// Writes a point-to-point map as [`read_point_map`] reads it.
pub fn write_point_map(path: impl AsRef<Path>, map: &[u32]) -> Result<(), MeshError> {
    let path = path.as_ref();
    let mut s = String::with_capacity(map.len() * 6);
    for v in map {
        let _ = writeln!(s, "{v}");
    }
    std::fs::write(path, s).map_err(|source| MeshError::Io { path: path.into(), source })
}
