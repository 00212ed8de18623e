//! PLY files for Gaussian clouds (the standard 3DGS layout) and plain point clouds.
//!
//! **Writing** produces `binary_little_endian 1.0` with one `vertex` element whose float
//! properties follow the reference 3DGS implementation:
//!
//! ```text
//! x y z nx ny nz f_dc_0 f_dc_1 f_dc_2 f_rest_0 … f_rest_{3(K−1)−1}
//! opacity scale_0 scale_1 scale_2 rot_0 rot_1 rot_2 rot_3 [feat_0 … feat_{C−1}]
//! ```
//!
//! with K = (degree+1)². `f_rest` is channel-major: `f_rest[c·(K−1) + (k−1)] = sh[k][c]`.
//! `opacity` is the logit, `scale_*` the log-scales, `rot_0..3` the quaternion (w, x, y, z),
//! normals are written as 0. `feat_*` (the cloud's extra feature channels) are a kiln
//! extension; other viewers ignore unknown properties.
//!
//! **Reading** accepts ASCII and binary (little/big-endian) PLY, properties in any order and
//! of any scalar type, and skips unknown properties, list properties and other elements.
//! The SH degree comes from the number of `f_rest_*` properties (0, 9, 24, 45).
//! Non-finite values load as they are (the renderer culls them).
//!
//! The reader never panics and never allocates from a header count before checking it
//! against the bytes actually present: a header that claims more data than the file holds
//! is a [`PlyErrorKind::Truncated`] error, more data than the header accounts for is
//! [`PlyErrorKind::TrailingData`].

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;

use glam::Vec3;

use crate::cloud::{sh_coeffs, GaussianCloud};

/// Name used in errors of the in-memory readers.
const MEMORY_NAME: &str = "<memory>";
/// Name used in errors of [`write_gaussians_to`].
const WRITER_NAME: &str = "<writer>";
/// Degree-0 SH basis constant: colour = 0.5 + C0 · f_dc.
const SH_C0: f32 = 0.282_094_8;
/// Vertices per chunk when writing.
const WRITE_CHUNK: usize = 4096;

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

/// A PLY read or write failure. Displays as one line: `<file>: <cause>`.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {kind}")]
pub struct PlyError {
    file: String,
    kind: PlyErrorKind,
}

impl PlyError {
    fn new(file: impl Into<String>, kind: PlyErrorKind) -> Self {
        PlyError {
            file: file.into(),
            kind,
        }
    }

    /// The file (or `<memory>` / `<writer>` for the in-memory variants).
    pub fn file(&self) -> &str {
        &self.file
    }

    /// What went wrong.
    pub fn kind(&self) -> &PlyErrorKind {
        &self.kind
    }
}

/// The cause of a [`PlyError`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlyErrorKind {
    #[error("I/O error: {0}")]
    Io(#[source] io::Error),
    #[error("not a PLY file (it does not start with a 'ply' line)")]
    NotPly,
    #[error("malformed PLY header, line {line}: {msg}")]
    Header { line: usize, msg: String },
    #[error("unsupported PLY: {0}")]
    Unsupported(String),
    /// The data ends before the header's counts are satisfied.
    #[error("truncated data: the file ends inside {element} {index} of {count}{detail}")]
    Truncated {
        element: String,
        index: u64,
        count: u64,
        detail: String,
    },
    /// Data left over after every element the header declares.
    #[error("{0} after the last element (a header count is too small?)")]
    TrailingData(String),
    #[error("no '{0}' element in the header")]
    MissingElement(String),
    #[error("missing required {element} properties: {}", .names.join(", "))]
    MissingProperties { element: String, names: Vec<String> },
    #[error(
        "{0} f_rest_* properties match no SH degree (expected 0, 9, 24 or 45 for degrees 0 to 3)"
    )]
    ShRestCount(usize),
    #[error("invalid value {token} for property '{property}' of {element} {index}")]
    BadValue {
        element: String,
        index: u64,
        property: String,
        token: String,
    },
    #[error("cannot write an invalid cloud: {0}")]
    InvalidCloud(String),
}

/// Quotes a piece of header or data text for an error message: escaped, at most 48 chars.
fn show(text: &[u8]) -> String {
    let s = String::from_utf8_lossy(text);
    let short: String = s.chars().take(48).collect();
    if short.len() < s.len() {
        format!("{short:?}…")
    } else {
        format!("{short:?}")
    }
}

// ---------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------

/// Property names of a written Gaussian PLY, in file order.
pub fn gaussian_property_names(sh_degree: u32, feature_channels: usize) -> Vec<String> {
    let rest = 3 * (sh_coeffs(sh_degree) - 1);
    let mut names: Vec<String> = [
        "x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2",
    ]
    .map(String::from)
    .into();
    names.extend((0..rest).map(|i| format!("f_rest_{i}")));
    names.extend(
        [
            "opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3",
        ]
        .map(String::from),
    );
    names.extend((0..feature_channels).map(|i| format!("feat_{i}")));
    names
}

/// Writes `cloud` as a binary little-endian 3DGS PLY file.
pub fn write_gaussians(path: &Path, cloud: &GaussianCloud) -> Result<(), PlyError> {
    let name = path.display().to_string();
    // Check first, so an invalid cloud does not leave an empty file behind.
    cloud
        .validate()
        .map_err(|e| PlyError::new(name.clone(), PlyErrorKind::InvalidCloud(e)))?;
    let io_err = |e| PlyError::new(name.clone(), PlyErrorKind::Io(e));
    let file = File::create(path).map_err(io_err)?;
    let mut out = BufWriter::new(file);
    write_cloud(&mut out, cloud).map_err(|k| PlyError::new(name.clone(), k))?;
    out.into_inner().map_err(|e| io_err(e.into_error()))?;
    Ok(())
}

/// Writes `cloud` as a binary little-endian 3DGS PLY to any writer (errors name `<writer>`).
pub fn write_gaussians_to<W: Write>(mut writer: W, cloud: &GaussianCloud) -> Result<(), PlyError> {
    write_cloud(&mut writer, cloud)
        .and_then(|()| writer.flush().map_err(PlyErrorKind::Io))
        .map_err(|k| PlyError::new(WRITER_NAME, k))
}

/// Reads a Gaussian cloud from a 3DGS PLY file.
pub fn read_gaussians(path: &Path) -> Result<GaussianCloud, PlyError> {
    let name = path.display().to_string();
    let bytes = read_file(path).map_err(|k| PlyError::new(name.clone(), k))?;
    parse_gaussians(&bytes).map_err(|k| PlyError::new(name, k))
}

/// Reads a Gaussian cloud from PLY bytes (errors name `<memory>`).
pub fn read_gaussians_from_bytes(bytes: &[u8]) -> Result<GaussianCloud, PlyError> {
    parse_gaussians(bytes).map_err(|k| PlyError::new(MEMORY_NAME, k))
}

/// Reads positions and colours from a point-cloud PLY (COLMAP, trimesh, Open3D exports…).
///
/// Colours come from `red green blue` (or `diffuse_red…`, or `r g b`): integer types are
/// scaled by their range (uchar/char by 255, ushort/short by 65535, wider ints by 255),
/// float colours are taken as [0, 1] unless some exceed 1, in which case all are divided
/// by 255. Without those, a 3DGS file's `f_dc_*` give 0.5 + C0·f_dc; otherwise white.
/// Colours are clamped to [0, 1] (NaN becomes 0). Positions load as they are.
pub fn read_point_cloud(path: &Path) -> Result<(Vec<Vec3>, Vec<[f32; 3]>), PlyError> {
    let name = path.display().to_string();
    let bytes = read_file(path).map_err(|k| PlyError::new(name.clone(), k))?;
    parse_points(&bytes).map_err(|k| PlyError::new(name, k))
}

/// [`read_point_cloud`] on PLY bytes (errors name `<memory>`).
pub fn read_point_cloud_from_bytes(bytes: &[u8]) -> Result<(Vec<Vec3>, Vec<[f32; 3]>), PlyError> {
    parse_points(bytes).map_err(|k| PlyError::new(MEMORY_NAME, k))
}

/// Reads a whole file, refusing early (before reading it all) if it does not start with `ply`.
fn read_file(path: &Path) -> Result<Vec<u8>, PlyErrorKind> {
    let mut file = File::open(path).map_err(PlyErrorKind::Io)?;
    let mut magic = Vec::with_capacity(4);
    (&mut file)
        .take(4)
        .read_to_end(&mut magic)
        .map_err(PlyErrorKind::Io)?;
    if !magic.starts_with(b"ply") {
        return Err(PlyErrorKind::NotPly);
    }
    let size_hint = file.metadata().map(|m| m.len() as usize).unwrap_or(0);
    let mut bytes = Vec::new();
    // The hint is the real file size; a failed reservation just falls back to growing.
    let _ = bytes.try_reserve_exact(size_hint);
    bytes.extend_from_slice(&magic);
    file.read_to_end(&mut bytes).map_err(PlyErrorKind::Io)?;
    Ok(bytes)
}

// ---------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------

fn write_cloud(out: &mut dyn Write, cloud: &GaussianCloud) -> Result<(), PlyErrorKind> {
    cloud.validate().map_err(PlyErrorKind::InvalidCloud)?;
    let n = cloud.len();
    let k = sh_coeffs(cloud.sh_degree);
    let fc = cloud.feature_channels;

    let mut header = String::new();
    header.push_str("ply\nformat binary_little_endian 1.0\n");
    let _ = writeln!(
        header,
        "comment kiln Gaussian splats (3DGS layout, SH degree {}, {} kiln feature channels)",
        cloud.sh_degree, fc
    );
    let _ = writeln!(header, "element vertex {n}");
    for name in gaussian_property_names(cloud.sh_degree, fc) {
        let _ = writeln!(header, "property float {name}");
    }
    header.push_str("end_header\n");
    out.write_all(header.as_bytes()).map_err(PlyErrorKind::Io)?;

    let floats_per_row = 6 + 3 * k + 8 + fc;
    let mut buf: Vec<u8> = Vec::with_capacity(WRITE_CHUNK.min(n.max(1)) * floats_per_row * 4);
    for start in (0..n).step_by(WRITE_CHUNK) {
        buf.clear();
        let mut put = |v: f32| buf.extend_from_slice(&v.to_le_bytes());
        for i in start..(start + WRITE_CHUNK).min(n) {
            let m = cloud.means[i];
            [m.x, m.y, m.z, 0.0, 0.0, 0.0]
                .into_iter()
                .for_each(&mut put);
            let sh = &cloud.sh[i * k * 3..(i + 1) * k * 3];
            (0..3).for_each(|c| put(sh[c]));
            for c in 0..3 {
                (1..k).for_each(|b| put(sh[b * 3 + c]));
            }
            put(cloud.opacity_logits[i]);
            let s = cloud.log_scales[i];
            [s.x, s.y, s.z].into_iter().for_each(&mut put);
            cloud.rotations[i].into_iter().for_each(&mut put);
            cloud.features[i * fc..(i + 1) * fc]
                .iter()
                .copied()
                .for_each(&mut put);
        }
        out.write_all(&buf).map_err(PlyErrorKind::Io)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Header
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Ascii,
    BinaryLe,
    BinaryBe,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scalar {
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
    F32,
    F64,
}

impl Scalar {
    fn parse(name: &str) -> Option<Scalar> {
        Some(match name {
            "char" | "int8" => Scalar::I8,
            "uchar" | "uint8" => Scalar::U8,
            "short" | "int16" => Scalar::I16,
            "ushort" | "uint16" => Scalar::U16,
            "int" | "int32" => Scalar::I32,
            "uint" | "uint32" => Scalar::U32,
            "float" | "float32" => Scalar::F32,
            "double" | "float64" => Scalar::F64,
            _ => return None,
        })
    }

    fn size(self) -> usize {
        match self {
            Scalar::I8 | Scalar::U8 => 1,
            Scalar::I16 | Scalar::U16 => 2,
            Scalar::I32 | Scalar::U32 | Scalar::F32 => 4,
            Scalar::F64 => 8,
        }
    }

    fn is_float(self) -> bool {
        matches!(self, Scalar::F32 | Scalar::F64)
    }

    /// Decodes one value; `b` must hold at least `self.size()` bytes.
    fn decode(self, b: &[u8], be: bool) -> f32 {
        fn arr<const N: usize>(b: &[u8]) -> [u8; N] {
            let mut a = [0u8; N];
            a.copy_from_slice(&b[..N]);
            a
        }
        macro_rules! num {
            ($t:ty, $n:literal) => {{
                let a = arr::<$n>(b);
                if be {
                    <$t>::from_be_bytes(a)
                } else {
                    <$t>::from_le_bytes(a)
                }
            }};
        }
        match self {
            Scalar::I8 => b[0] as i8 as f32,
            Scalar::U8 => b[0] as f32,
            Scalar::I16 => num!(i16, 2) as f32,
            Scalar::U16 => num!(u16, 2) as f32,
            Scalar::I32 => num!(i32, 4) as f32,
            Scalar::U32 => num!(u32, 4) as f32,
            Scalar::F32 => num!(f32, 4),
            Scalar::F64 => num!(f64, 8) as f32,
        }
    }

    /// Decodes a list length (integer types only; negative → `None`).
    fn decode_count(self, b: &[u8], be: bool) -> Option<u64> {
        let v = match self {
            Scalar::I8 => b[0] as i8 as i64,
            Scalar::U8 => b[0] as i64,
            Scalar::I16 | Scalar::U16 | Scalar::I32 | Scalar::U32 => {
                let mut a = [0u8; 4];
                let n = self.size();
                a[..n].copy_from_slice(&b[..n]);
                let raw = if be {
                    u32::from_be_bytes(a) >> (8 * (4 - n))
                } else {
                    u32::from_le_bytes(a)
                };
                match self {
                    Scalar::I16 => raw as u16 as i16 as i64,
                    Scalar::U16 => raw as u16 as i64,
                    Scalar::I32 => raw as i32 as i64,
                    _ => raw as i64,
                }
            }
            Scalar::F32 | Scalar::F64 => return None,
        };
        u64::try_from(v).ok()
    }

    /// Parses one ASCII token as this type, converted to f32.
    fn parse_ascii(self, token: &[u8]) -> Option<f32> {
        let s = std::str::from_utf8(token).ok()?;
        match self {
            Scalar::F32 => s.parse::<f32>().ok(),
            Scalar::F64 => s.parse::<f64>().ok().map(|v| v as f32),
            _ => self.parse_ascii_int(s).map(|v| v as f32),
        }
    }

    fn parse_ascii_int(self, s: &str) -> Option<i64> {
        let v = s.parse::<i64>().ok()?;
        let (lo, hi) = match self {
            Scalar::I8 => (i8::MIN as i64, i8::MAX as i64),
            Scalar::U8 => (0, u8::MAX as i64),
            Scalar::I16 => (i16::MIN as i64, i16::MAX as i64),
            Scalar::U16 => (0, u16::MAX as i64),
            Scalar::I32 => (i32::MIN as i64, i32::MAX as i64),
            Scalar::U32 => (0, u32::MAX as i64),
            Scalar::F32 | Scalar::F64 => return None,
        };
        (lo..=hi).contains(&v).then_some(v)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PropKind {
    Scalar(Scalar),
    List { count: Scalar, item: Scalar },
}

#[derive(Clone, Debug)]
struct Property {
    name: String,
    kind: PropKind,
}

#[derive(Clone, Debug)]
struct Element {
    name: String,
    count: u64,
    props: Vec<Property>,
}

impl Element {
    fn prop(&self, name: &str) -> Option<usize> {
        self.props.iter().position(|p| p.name == name)
    }

    /// Bytes per instance in binary, if no property is a list.
    fn fixed_row_size(&self) -> Option<usize> {
        self.props
            .iter()
            .map(|p| match p.kind {
                PropKind::Scalar(s) => Some(s.size()),
                PropKind::List { .. } => None,
            })
            .sum()
    }

    /// Fewest bytes an instance can take in binary (lists counted as empty).
    fn min_row_size(&self) -> usize {
        self.props
            .iter()
            .map(|p| match p.kind {
                PropKind::Scalar(s) => s.size(),
                PropKind::List { count, .. } => count.size(),
            })
            .sum()
    }
}

#[derive(Debug)]
struct Header {
    format: Format,
    elements: Vec<Element>,
    /// Offset of the first data byte.
    body_start: usize,
}

fn parse_header(bytes: &[u8]) -> Result<Header, PlyErrorKind> {
    if !bytes.starts_with(b"ply") {
        return Err(PlyErrorKind::NotPly);
    }
    let mut format = None;
    let mut elements: Vec<Element> = Vec::new();
    let mut pos = 0usize;
    let mut line_no = 0usize;
    loop {
        if pos >= bytes.len() {
            return Err(PlyErrorKind::Header {
                line: line_no,
                msg: "the header ends without 'end_header'".into(),
            });
        }
        line_no += 1;
        let end = bytes[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |e| pos + e);
        let raw = &bytes[pos..end];
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        pos = (end + 1).min(bytes.len());
        let err = |msg: String| PlyErrorKind::Header { line: line_no, msg };

        let Ok(line) = std::str::from_utf8(raw) else {
            if line_no == 1 {
                return Err(PlyErrorKind::NotPly);
            }
            return Err(err(format!("not text: {}", show(raw))));
        };
        let mut words = line.split_ascii_whitespace();
        let keyword = words.next().unwrap_or("");
        if line_no == 1 {
            if line.trim() != "ply" {
                return Err(PlyErrorKind::NotPly);
            }
            continue;
        }
        let rest: Vec<&str> = words.collect();
        match keyword {
            "" | "comment" | "obj_info" => {}
            "format" => {
                if format.is_some() {
                    return Err(err("a second 'format' line".into()));
                }
                let [fmt, version] = rest[..] else {
                    return Err(err(format!(
                        "expected 'format <type> 1.0', got {}",
                        show(raw)
                    )));
                };
                if version != "1.0" && version != "1" {
                    return Err(PlyErrorKind::Unsupported(format!(
                        "format version {}",
                        show(version.as_bytes())
                    )));
                }
                format = Some(match fmt {
                    "ascii" => Format::Ascii,
                    "binary_little_endian" => Format::BinaryLe,
                    "binary_big_endian" => Format::BinaryBe,
                    other => {
                        return Err(PlyErrorKind::Unsupported(format!(
                            "format {}",
                            show(other.as_bytes())
                        )))
                    }
                });
            }
            "element" => {
                let [name, count] = rest[..] else {
                    return Err(err(format!(
                        "expected 'element <name> <count>', got {}",
                        show(raw)
                    )));
                };
                let count: u64 = count
                    .parse()
                    .map_err(|_| err(format!("bad element count {}", show(count.as_bytes()))))?;
                if elements.iter().any(|e| e.name == name) {
                    return Err(err(format!(
                        "a second element named {}",
                        show(name.as_bytes())
                    )));
                }
                elements.push(Element {
                    name: name.to_string(),
                    count,
                    props: Vec::new(),
                });
            }
            "property" => {
                let Some(element) = elements.last_mut() else {
                    return Err(err("a property before any element".into()));
                };
                let ty = |t: &str| {
                    Scalar::parse(t).ok_or_else(|| {
                        PlyErrorKind::Unsupported(format!("property type {}", show(t.as_bytes())))
                    })
                };
                let (name, kind) = match rest[..] {
                    ["list", count, item, name] => {
                        let count = ty(count)?;
                        if count.is_float() {
                            return Err(err(format!("list length type of '{name}' is not an integer")));
                        }
                        (
                            name,
                            PropKind::List {
                                count,
                                item: ty(item)?,
                            },
                        )
                    }
                    [t, name] if t != "list" => (name, PropKind::Scalar(ty(t)?)),
                    _ => {
                        return Err(err(format!(
                        "expected 'property <type> <name>' or 'property list <type> <type> <name>', got {}",
                        show(raw)
                    )))
                    }
                };
                if element.prop(name).is_some() {
                    return Err(err(format!(
                        "a second property {} in element '{}'",
                        show(name.as_bytes()),
                        element.name
                    )));
                }
                element.props.push(Property {
                    name: name.to_string(),
                    kind,
                });
            }
            "end_header" => {
                let Some(format) = format else {
                    return Err(err("no 'format' line before 'end_header'".into()));
                };
                return Ok(Header {
                    format,
                    elements,
                    body_start: pos,
                });
            }
            _ => return Err(err(format!("unknown keyword {}", show(keyword.as_bytes())))),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Body
// ---------------------------------------------------------------------------------------

/// Reads the body, returning the properties `wanted` (indices into the target element's
/// properties, all scalars) of every instance of element `target`, row-major.
fn read_body(
    bytes: &[u8],
    header: &Header,
    target: usize,
    wanted: &[usize],
) -> Result<Vec<f32>, PlyErrorKind> {
    let el = &header.elements[target];
    let mut slots = vec![None; el.props.len()];
    for (slot, &p) in wanted.iter().enumerate() {
        if let PropKind::List { .. } = el.props[p].kind {
            return Err(PlyErrorKind::Unsupported(format!(
                "{} property '{}' is a list",
                el.name, el.props[p].name
            )));
        }
        slots[p] = Some(slot);
    }
    let data = &bytes[header.body_start.min(bytes.len())..];
    match header.format {
        Format::Ascii => read_ascii(data, header, target, &slots, wanted.len()),
        Format::BinaryLe => read_binary(data, header, target, &slots, wanted.len(), false),
        Format::BinaryBe => read_binary(data, header, target, &slots, wanted.len(), true),
    }
}

fn truncated(el: &Element, index: u64, detail: String) -> PlyErrorKind {
    PlyErrorKind::Truncated {
        element: el.name.clone(),
        index,
        count: el.count,
        detail,
    }
}

fn read_binary(
    data: &[u8],
    header: &Header,
    target: usize,
    slots: &[Option<usize>],
    width: usize,
    be: bool,
) -> Result<Vec<f32>, PlyErrorKind> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    for (ei, el) in header.elements.iter().enumerate() {
        if el.props.is_empty() || el.count == 0 {
            continue; // takes no bytes, whatever the count
        }
        let is_target = ei == target;
        let remaining = data.len() - pos;
        if let Some(row) = el.fixed_row_size() {
            // Fixed-size rows: check the whole element against the file before touching it.
            let need = u128::from(el.count) * row as u128;
            if need > remaining as u128 {
                return Err(truncated(
                    el,
                    (remaining / row) as u64,
                    format!(
                        " ('{}' data needs {need} bytes, {remaining} present)",
                        el.name
                    ),
                ));
            }
            let need = need as usize; // ≤ remaining
            let block = &data[pos..pos + need];
            pos += need;
            if is_target && width > 0 {
                let mut plan = Vec::with_capacity(width);
                let mut offset = 0;
                for (p, slot) in el.props.iter().zip(slots) {
                    if let PropKind::Scalar(s) = p.kind {
                        if let Some(slot) = *slot {
                            plan.push((offset, s, slot));
                        }
                        offset += s.size();
                    }
                }
                // count ≤ remaining / row and width ≤ row, so this is at most 4 × file size.
                out = vec![0f32; el.count as usize * width];
                let rows = block.chunks_exact(row).zip(out.chunks_exact_mut(width));
                if !be && plan.iter().all(|&(_, s, _)| s == Scalar::F32) {
                    // The common case (every 3DGS writer): little-endian floats.
                    for (src, dst) in rows {
                        for &(offset, _, slot) in &plan {
                            let mut a = [0u8; 4];
                            a.copy_from_slice(&src[offset..offset + 4]);
                            dst[slot] = f32::from_le_bytes(a);
                        }
                    }
                } else {
                    for (src, dst) in rows {
                        for &(offset, s, slot) in &plan {
                            dst[slot] = s.decode(&src[offset..], be);
                        }
                    }
                }
            }
        } else {
            // Rows with lists: walk them. Every row takes ≥ 1 byte, so the loop is bounded
            // by the data, not by the claimed count.
            let min_row = el.min_row_size().max(1);
            if is_target {
                let cap =
                    (el.count.min((remaining / min_row) as u64) as usize).saturating_mul(width);
                out = Vec::with_capacity(cap);
            }
            let mut row = vec![0f32; if is_target { width } else { 0 }];
            for i in 0..el.count {
                for (p, slot) in el.props.iter().zip(slots) {
                    let left = data.len() - pos;
                    match p.kind {
                        PropKind::Scalar(s) => {
                            if left < s.size() {
                                return Err(truncated(el, i, String::new()));
                            }
                            if is_target {
                                if let Some(slot) = *slot {
                                    row[slot] = s.decode(&data[pos..], be);
                                }
                            }
                            pos += s.size();
                        }
                        PropKind::List { count, item } => {
                            if left < count.size() {
                                return Err(truncated(el, i, String::new()));
                            }
                            let n = count.decode_count(&data[pos..], be).ok_or_else(|| {
                                PlyErrorKind::BadValue {
                                    element: el.name.clone(),
                                    index: i,
                                    property: p.name.clone(),
                                    token: "(negative list length)".into(),
                                }
                            })?;
                            pos += count.size();
                            let len = u128::from(n) * item.size() as u128;
                            if len > (data.len() - pos) as u128 {
                                return Err(truncated(
                                    el,
                                    i,
                                    format!(" (list '{}' claims {n} items)", p.name),
                                ));
                            }
                            pos += len as usize;
                        }
                    }
                }
                if is_target {
                    out.extend_from_slice(&row);
                }
            }
        }
    }
    if pos < data.len() {
        return Err(PlyErrorKind::TrailingData(format!(
            "{} bytes of data",
            data.len() - pos
        )));
    }
    Ok(out)
}

/// Whitespace-separated tokens of an ASCII body.
struct Tokens<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for Tokens<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let rest = &self.data[self.pos..];
        let start = rest.iter().position(|b| !b.is_ascii_whitespace())?;
        let len = rest[start..]
            .iter()
            .position(|b| b.is_ascii_whitespace())
            .unwrap_or(rest.len() - start);
        self.pos += start + len;
        Some(&rest[start..start + len])
    }
}

fn read_ascii(
    data: &[u8],
    header: &Header,
    target: usize,
    slots: &[Option<usize>],
    width: usize,
) -> Result<Vec<f32>, PlyErrorKind> {
    let mut out = Vec::new();
    let mut tokens = Tokens { data, pos: 0 };
    for (ei, el) in header.elements.iter().enumerate() {
        if el.props.is_empty() || el.count == 0 {
            continue;
        }
        let is_target = ei == target;
        if is_target {
            // Each value takes at least two bytes (digit + separator): cap by the data size.
            let max_rows = (data.len() / (2 * el.props.len()) + 1) as u64;
            out = Vec::with_capacity((el.count.min(max_rows) as usize).saturating_mul(width));
        }
        let mut row = vec![0f32; if is_target { width } else { 0 }];
        // Every row consumes ≥ 1 token, so this loop is bounded by the data.
        for i in 0..el.count {
            for (p, slot) in el.props.iter().zip(slots) {
                let bad = |token: &[u8]| PlyErrorKind::BadValue {
                    element: el.name.clone(),
                    index: i,
                    property: p.name.clone(),
                    token: show(token),
                };
                let token = tokens
                    .next()
                    .ok_or_else(|| truncated(el, i, String::new()))?;
                match p.kind {
                    PropKind::Scalar(s) => {
                        if is_target {
                            if let Some(slot) = *slot {
                                row[slot] = s.parse_ascii(token).ok_or_else(|| bad(token))?;
                            }
                        }
                    }
                    PropKind::List { count, .. } => {
                        let n = std::str::from_utf8(token)
                            .ok()
                            .and_then(|s| count.parse_ascii_int(s))
                            .and_then(|v| u64::try_from(v).ok())
                            .ok_or_else(|| bad(token))?;
                        for _ in 0..n {
                            tokens.next().ok_or_else(|| {
                                truncated(el, i, format!(" (list '{}' claims {n} items)", p.name))
                            })?;
                        }
                    }
                }
            }
            if is_target {
                out.extend_from_slice(&row);
            }
        }
    }
    if let Some(extra) = tokens.next() {
        return Err(PlyErrorKind::TrailingData(format!(
            "unexpected value {}",
            show(extra)
        )));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Gaussians and points
// ---------------------------------------------------------------------------------------

fn vertex_element(header: &Header) -> Result<(usize, &Element), PlyErrorKind> {
    header
        .elements
        .iter()
        .enumerate()
        .find(|(_, e)| e.name == "vertex")
        .ok_or_else(|| PlyErrorKind::MissingElement("vertex".into()))
}

fn missing_props(el: &Element, names: &[String]) -> Result<(), PlyErrorKind> {
    let missing: Vec<String> = names
        .iter()
        .filter(|n| el.prop(n).is_none())
        .cloned()
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(PlyErrorKind::MissingProperties {
            element: el.name.clone(),
            names: missing,
        })
    }
}

fn parse_gaussians(bytes: &[u8]) -> Result<GaussianCloud, PlyErrorKind> {
    let header = parse_header(bytes)?;
    let (vi, el) = vertex_element(&header)?;

    // Wanted properties: the written order, without normals.
    let core: Vec<String> = gaussian_property_names(0, 0)
        .into_iter()
        .filter(|n| !matches!(n.as_str(), "nx" | "ny" | "nz"))
        .collect();
    missing_props(el, &core)?;
    let rest_count = el
        .props
        .iter()
        .filter(|p| p.name.starts_with("f_rest_"))
        .count();
    let sh_degree = match rest_count {
        0 => 0,
        9 => 1,
        24 => 2,
        45 => 3,
        other => return Err(PlyErrorKind::ShRestCount(other)),
    };
    let feature_channels = el
        .props
        .iter()
        .filter(|p| p.name.starts_with("feat_"))
        .count();
    let names: Vec<String> = gaussian_property_names(sh_degree, feature_channels)
        .into_iter()
        .filter(|n| !matches!(n.as_str(), "nx" | "ny" | "nz"))
        .collect();
    missing_props(el, &names)?; // gaps in f_rest_* / feat_* numbering
    let wanted: Vec<usize> = names.iter().filter_map(|n| el.prop(n)).collect();
    let width = wanted.len();
    let rows = read_body(bytes, &header, vi, &wanted)?;

    let k = sh_coeffs(sh_degree);
    let n = rows.len().checked_div(width).unwrap_or(0);
    // Column offsets in a row (see `names`): x y z | f_dc 3 | f_rest 3(k-1) | opacity |
    // scale 3 | rot 4 | feat C.
    let dc = 3;
    let rest = dc + 3;
    let opacity = rest + 3 * (k - 1);
    let scale = opacity + 1;
    let rot = scale + 3;
    let feat = rot + 4;
    let rows = || rows.chunks_exact(width.max(1)).take(n);
    let mut sh = vec![0f32; n * k * 3];
    for (r, out) in rows().zip(sh.chunks_exact_mut(k * 3)) {
        let (dc_out, rest_out) = out.split_at_mut(3);
        dc_out.copy_from_slice(&r[dc..dc + 3]);
        // f_rest is channel-major: f_rest[c·(k−1) + (b−1)] = sh[b][c].
        let f_rest = &r[rest..rest + 3 * (k - 1)];
        for (b, rgb) in rest_out.chunks_exact_mut(3).enumerate() {
            for (c, v) in rgb.iter_mut().enumerate() {
                *v = f_rest[c * (k - 1) + b];
            }
        }
    }
    let cloud = GaussianCloud {
        means: rows().map(|r| Vec3::new(r[0], r[1], r[2])).collect(),
        log_scales: rows()
            .map(|r| Vec3::new(r[scale], r[scale + 1], r[scale + 2]))
            .collect(),
        rotations: rows()
            .map(|r| [r[rot], r[rot + 1], r[rot + 2], r[rot + 3]])
            .collect(),
        opacity_logits: rows().map(|r| r[opacity]).collect(),
        sh_degree,
        sh,
        feature_channels,
        features: if feature_channels == 0 {
            Vec::new()
        } else {
            rows()
                .flat_map(|r| r[feat..feat + feature_channels].iter().copied())
                .collect()
        },
    };
    Ok(cloud)
}

fn parse_points(bytes: &[u8]) -> Result<(Vec<Vec3>, Vec<[f32; 3]>), PlyErrorKind> {
    let header = parse_header(bytes)?;
    let (vi, el) = vertex_element(&header)?;
    let xyz: Vec<String> = ["x", "y", "z"].map(String::from).into();
    missing_props(el, &xyz)?;

    enum Colour {
        White,
        Channels([Scalar; 3]),
        ShDc,
    }
    let triples = [
        ["red", "green", "blue"],
        ["diffuse_red", "diffuse_green", "diffuse_blue"],
        ["r", "g", "b"],
        ["f_dc_0", "f_dc_1", "f_dc_2"],
    ];
    let mut colour = Colour::White;
    let mut names = xyz;
    for (t, triple) in triples.iter().enumerate() {
        let found = triple.map(|n| el.prop(n));
        if found.iter().all(Option::is_none) {
            continue;
        }
        let triple: Vec<String> = triple.map(String::from).into();
        missing_props(el, &triple)?; // e.g. red and green but no blue
        let types = found.map(|i| match i.map(|i| el.props[i].kind) {
            Some(PropKind::Scalar(s)) => s,
            _ => Scalar::F32, // lists are refused by read_body
        });
        colour = if t == 3 {
            Colour::ShDc
        } else {
            Colour::Channels(types)
        };
        names.extend(triple);
        break;
    }
    let wanted: Vec<usize> = names.iter().filter_map(|n| el.prop(n)).collect();
    let width = wanted.len();
    let rows = read_body(bytes, &header, vi, &wanted)?;
    let n = rows.len() / width;

    let positions: Vec<Vec3> = rows
        .chunks_exact(width)
        .map(|r| Vec3::new(r[0], r[1], r[2]))
        .collect();
    let clamp = |v: f32| if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) };
    let colours: Vec<[f32; 3]> = match colour {
        Colour::White => vec![[1.0; 3]; n],
        Colour::ShDc => rows
            .chunks_exact(width)
            .map(|r| [0, 1, 2].map(|c| clamp(0.5 + SH_C0 * r[3 + c])))
            .collect(),
        Colour::Channels(types) => {
            // Float colours stored as 0..255 (some exporters do this): detect by range.
            let float_max = rows
                .chunks_exact(width)
                .flat_map(|r| {
                    (0..3)
                        .filter(|&c| types[c].is_float())
                        .map(move |c| r[3 + c])
                })
                .filter(|v| v.is_finite())
                .fold(0.0f32, f32::max);
            let float_range = if float_max > 1.0 { 255.0 } else { 1.0 };
            let range = types.map(|s| match s {
                Scalar::F32 | Scalar::F64 => float_range,
                Scalar::U16 | Scalar::I16 => 65535.0,
                _ => 255.0,
            });
            rows.chunks_exact(width)
                .map(|r| [0, 1, 2].map(|c| clamp(r[3 + c] / range[c])))
                .collect()
        }
    };
    Ok((positions, colours))
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::time::{Duration, Instant};

    // ---- helpers ------------------------------------------------------------------

    /// xorshift64*: deterministic, dependency-free.
    struct Rng(u64);

    impl Rng {
        fn next_u64(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        /// Any bit pattern: NaNs with payloads, ±inf, subnormals, -0.0 included.
        fn bits(&mut self) -> f32 {
            f32::from_bits(self.next_u64() as u32)
        }
        fn uniform(&mut self) -> f32 {
            (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32 * 8.0 - 4.0
        }
        fn small_int(&mut self) -> f32 {
            (self.next_u64() % 100) as f32
        }
    }

    fn random_cloud(
        n: usize,
        sh_degree: u32,
        fc: usize,
        rng: &mut Rng,
        gen: fn(&mut Rng) -> f32,
    ) -> GaussianCloud {
        let k = sh_coeffs(sh_degree);
        let mut v3 = || Vec3::new(gen(rng), gen(rng), gen(rng));
        let means = (0..n).map(|_| v3()).collect();
        let log_scales = (0..n).map(|_| v3()).collect();
        GaussianCloud {
            means,
            log_scales,
            rotations: (0..n)
                .map(|_| [gen(rng), gen(rng), gen(rng), gen(rng)])
                .collect(),
            opacity_logits: (0..n).map(|_| gen(rng)).collect(),
            sh_degree,
            sh: (0..n * k * 3).map(|_| gen(rng)).collect(),
            feature_channels: fc,
            features: (0..n * fc).map(|_| gen(rng)).collect(),
        }
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    fn bits3(v: &[Vec3]) -> Vec<u32> {
        v.iter()
            .flat_map(|p| p.to_array())
            .map(f32::to_bits)
            .collect()
    }

    fn assert_bitwise_eq(a: &GaussianCloud, b: &GaussianCloud) {
        assert_eq!(a.len(), b.len());
        assert_eq!(a.sh_degree, b.sh_degree);
        assert_eq!(a.feature_channels, b.feature_channels);
        assert_eq!(bits3(&a.means), bits3(&b.means), "means");
        assert_eq!(bits3(&a.log_scales), bits3(&b.log_scales), "log_scales");
        let rot = |c: &GaussianCloud| bits(&c.rotations.concat());
        assert_eq!(rot(a), rot(b), "rotations");
        assert_eq!(bits(&a.opacity_logits), bits(&b.opacity_logits), "opacity");
        assert_eq!(bits(&a.sh), bits(&b.sh), "sh");
        assert_eq!(bits(&a.features), bits(&b.features), "features");
        b.validate().unwrap();
    }

    fn temp_path(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kiln-ply-tests-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    fn to_bytes(cloud: &GaussianCloud) -> Vec<u8> {
        let mut out = Vec::new();
        write_gaussians_to(&mut out, cloud).unwrap();
        out
    }

    fn header_len(bytes: &[u8]) -> usize {
        bytes
            .windows(11)
            .position(|w| w == b"end_header\n")
            .unwrap()
            + 11
    }

    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Enc {
        Ascii,
        Le,
        Be,
    }

    /// An element for `build`: property specs as in the header ("float x",
    /// "list uchar int idx") and rows of values (a list value is its length, then items).
    struct El {
        name: String,
        props: Vec<String>,
        rows: Vec<Vec<f64>>,
    }

    fn el(name: &str, props: &[&str], rows: Vec<Vec<f64>>) -> El {
        El {
            name: name.into(),
            props: props.iter().map(|s| s.to_string()).collect(),
            rows,
        }
    }

    fn put(out: &mut Vec<u8>, enc: Enc, ty: &str, v: f64) {
        if enc == Enc::Ascii {
            let text = match ty {
                "float" | "float32" => format!("{}", v as f32),
                "double" | "float64" => format!("{v}"),
                _ => format!("{}", v as i64),
            };
            out.extend_from_slice(text.as_bytes());
            out.push(b' ');
            return;
        }
        macro_rules! bytes {
            ($x:expr) => {
                if enc == Enc::Be {
                    $x.to_be_bytes().to_vec()
                } else {
                    $x.to_le_bytes().to_vec()
                }
            };
        }
        let b = match ty {
            "char" | "int8" => bytes!(v as i8),
            "uchar" | "uint8" => bytes!(v as u8),
            "short" | "int16" => bytes!(v as i16),
            "ushort" | "uint16" => bytes!(v as u16),
            "int" | "int32" => bytes!(v as i32),
            "uint" | "uint32" => bytes!(v as u32),
            "float" | "float32" => bytes!(v as f32),
            "double" | "float64" => bytes!(v),
            other => panic!("test bug: type {other}"),
        };
        out.extend_from_slice(&b);
    }

    fn build(enc: Enc, elements: &[El]) -> Vec<u8> {
        let fmt = match enc {
            Enc::Ascii => "ascii",
            Enc::Le => "binary_little_endian",
            Enc::Be => "binary_big_endian",
        };
        let mut out = format!("ply\nformat {fmt} 1.0\ncomment test file\n").into_bytes();
        for e in elements {
            out.extend_from_slice(format!("element {} {}\n", e.name, e.rows.len()).as_bytes());
            for p in &e.props {
                out.extend_from_slice(format!("property {p}\n").as_bytes());
            }
        }
        out.extend_from_slice(b"end_header\n");
        for e in elements {
            for row in &e.rows {
                let mut vals = row.iter().copied();
                for p in &e.props {
                    let w: Vec<&str> = p.split_whitespace().collect();
                    if w[0] == "list" {
                        let n = vals.next().unwrap();
                        put(&mut out, enc, w[1], n);
                        for _ in 0..n as usize {
                            put(&mut out, enc, w[2], vals.next().unwrap());
                        }
                    } else {
                        put(&mut out, enc, w[0], vals.next().unwrap());
                    }
                }
                assert!(vals.next().is_none(), "test bug: row too long");
                if enc == Enc::Ascii {
                    out.push(b'\n');
                }
            }
        }
        out
    }

    /// The value a 3DGS property of splat `i` holds; unknown names get filler values.
    fn value_of(c: &GaussianCloud, i: usize, name: &str) -> f64 {
        let k = sh_coeffs(c.sh_degree);
        let idx = |prefix: &str| {
            name.strip_prefix(prefix)
                .and_then(|s| s.parse::<usize>().ok())
        };
        let v = match name {
            "x" => c.means[i].x,
            "y" => c.means[i].y,
            "z" => c.means[i].z,
            "opacity" => c.opacity_logits[i],
            _ => {
                if let Some(j) = idx("f_dc_") {
                    c.sh[i * k * 3 + j]
                } else if let (Some(j), true) = (idx("f_rest_"), k > 1) {
                    let (ch, b) = (j / (k - 1), j % (k - 1) + 1);
                    c.sh[(i * k + b) * 3 + ch]
                } else if let Some(j) = idx("scale_") {
                    c.log_scales[i][j]
                } else if let Some(j) = idx("rot_") {
                    c.rotations[i][j]
                } else if let Some(j) = idx("feat_") {
                    c.features[i * c.feature_channels + j]
                } else {
                    (i % 7) as f32 + 0.5 // filler for unknown properties
                }
            }
        };
        v as f64
    }

    /// A `vertex` element holding `cloud` with the given property specs (lists get [2, 7, 8]).
    fn vertex_el(cloud: &GaussianCloud, props: &[String]) -> El {
        let rows = (0..cloud.len())
            .map(|i| {
                props
                    .iter()
                    .flat_map(|p| {
                        let w: Vec<&str> = p.split_whitespace().collect();
                        if w[0] == "list" {
                            vec![2.0, 7.0, 8.0]
                        } else {
                            vec![value_of(cloud, i, w[1])]
                        }
                    })
                    .collect()
            })
            .collect();
        El {
            name: "vertex".into(),
            props: props.to_vec(),
            rows,
        }
    }

    /// The standard property names of `cloud`, without normals, in a scrambled order.
    fn shuffled_names(cloud: &GaussianCloud, rng: &mut Rng) -> Vec<String> {
        let mut names: Vec<String> =
            gaussian_property_names(cloud.sh_degree, cloud.feature_channels)
                .into_iter()
                .filter(|n| !n.starts_with('n'))
                .collect();
        for i in (1..names.len()).rev() {
            let j = (rng.next_u64() % (i as u64 + 1)) as usize;
            names.swap(i, j);
        }
        names
    }

    /// Writes `bytes` to a temp file named `name`, reads it with `read`, expects an error
    /// whose one-line message names the file; returns it.
    fn file_err<T: std::fmt::Debug>(
        name: &str,
        bytes: &[u8],
        read: fn(&Path) -> Result<T, PlyError>,
    ) -> PlyError {
        let path = temp_path(name);
        std::fs::write(&path, bytes).unwrap();
        let err = read(&path).expect_err("expected an error");
        let msg = err.to_string();
        assert!(msg.contains(name), "message does not name the file: {msg}");
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(!msg.contains('\n'), "message is not one line: {msg:?}");
        assert_eq!(err.file(), path.display().to_string());
        let _ = std::fs::remove_file(&path);
        err
    }

    // ---- writing and round trips --------------------------------------------------

    #[test]
    fn ply_roundtrip_is_bitwise_exact_for_all_degrees_and_features() {
        let mut rng = Rng(0x1234_5678_9abc_def1);
        for degree in 0..=3 {
            for fc in [0, 3] {
                let cloud = random_cloud(37, degree, fc, &mut rng, Rng::bits);
                let path = temp_path(&format!("roundtrip_d{degree}_f{fc}.ply"));
                write_gaussians(&path, &cloud).unwrap();
                let back = read_gaussians(&path).unwrap();
                assert_bitwise_eq(&cloud, &back);

                // In-memory variants produce and accept the same bytes.
                let bytes = to_bytes(&cloud);
                assert_eq!(bytes, std::fs::read(&path).unwrap());
                assert_bitwise_eq(&cloud, &read_gaussians_from_bytes(&bytes).unwrap());
                let _ = std::fs::remove_file(&path);
            }
        }
    }

    #[test]
    fn ply_roundtrip_empty_and_multi_chunk_clouds() {
        let mut rng = Rng(99);
        for n in [0, 1, WRITE_CHUNK + 3] {
            let cloud = random_cloud(n, 1, 2, &mut rng, Rng::bits);
            let bytes = to_bytes(&cloud);
            let back = read_gaussians_from_bytes(&bytes).unwrap();
            assert_bitwise_eq(&cloud, &back);
            let row = (6 + 3 * 4 + 8 + 2) * 4;
            assert_eq!(bytes.len(), header_len(&bytes) + n * row);
        }
    }

    #[test]
    fn ply_header_has_the_standard_names_in_order() {
        let mut rng = Rng(5);
        let mut expected: Vec<String> = [
            "x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2",
        ]
        .map(String::from)
        .into();
        expected.extend((0..45).map(|i| format!("f_rest_{i}")));
        expected.extend(
            [
                "opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3",
            ]
            .map(String::from),
        );
        for fc in [0, 2] {
            let cloud = random_cloud(5, 3, fc, &mut rng, Rng::uniform);
            let bytes = to_bytes(&cloud);
            let text = std::str::from_utf8(&bytes[..header_len(&bytes)]).unwrap();
            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(lines[0], "ply");
            assert_eq!(lines[1], "format binary_little_endian 1.0");
            assert!(
                lines[2].starts_with("comment ") && lines[2].contains("kiln"),
                "{}",
                lines[2]
            );
            assert_eq!(lines[3], "element vertex 5");
            assert_eq!(*lines.last().unwrap(), "end_header");
            let props: Vec<&str> = lines[4..lines.len() - 1].to_vec();
            let mut want: Vec<String> = expected
                .iter()
                .map(|n| format!("property float {n}"))
                .collect();
            want.extend((0..fc).map(|i| format!("property float feat_{i}")));
            assert_eq!(props, want);
            assert_eq!(lines.len(), 4 + want.len() + 1, "no other header lines");
        }

        // Degree 0 and 1 lists, spelled out.
        let d0 =
            "x y z nx ny nz f_dc_0 f_dc_1 f_dc_2 opacity scale_0 scale_1 scale_2 rot_0 rot_1 rot_2 rot_3";
        assert_eq!(gaussian_property_names(0, 0).join(" "), d0);
        let d1 = "x y z nx ny nz f_dc_0 f_dc_1 f_dc_2 f_rest_0 f_rest_1 f_rest_2 f_rest_3 f_rest_4 \
                  f_rest_5 f_rest_6 f_rest_7 f_rest_8 opacity scale_0 scale_1 scale_2 rot_0 rot_1 rot_2 rot_3 feat_0";
        assert_eq!(gaussian_property_names(1, 1).join(" "), d1);
    }

    #[test]
    fn ply_written_fields_are_where_3dgs_expects_them() {
        // SH value encodes (splat, basis, channel); other fields are distinct.
        let k = sh_coeffs(2);
        let n = 2;
        let cloud = GaussianCloud {
            means: vec![Vec3::new(1.0, 2.0, 3.0), Vec3::new(4.0, 5.0, 6.0)],
            log_scales: vec![Vec3::new(-1.0, -2.0, -3.0), Vec3::new(-4.0, -5.0, -6.0)],
            rotations: vec![[0.5, 0.1, 0.2, 0.3], [0.9, 0.4, 0.6, 0.7]],
            opacity_logits: vec![1.5, -2.5],
            sh_degree: 2,
            sh: (0..n)
                .flat_map(|i| {
                    (0..k).flat_map(move |b| (0..3).map(move |c| (100 * i + 10 * b + c) as f32))
                })
                .collect(),
            feature_channels: 1,
            features: vec![42.0, 43.0],
        };
        let bytes = to_bytes(&cloud);
        let floats: Vec<f32> = bytes[header_len(&bytes)..]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        let width = 6 + 3 * k + 8 + 1;
        assert_eq!(floats.len(), n * width);
        for (i, r) in floats.chunks_exact(width).enumerate() {
            let m = cloud.means[i];
            assert_eq!(&r[0..6], &[m.x, m.y, m.z, 0.0, 0.0, 0.0]);
            for c in 0..3 {
                assert_eq!(r[6 + c], (100 * i + c) as f32, "f_dc_{c}");
                for b in 1..k {
                    // f_rest[c·(K−1) + (k−1)] = sh[k][c]
                    assert_eq!(r[9 + c * (k - 1) + (b - 1)], (100 * i + 10 * b + c) as f32);
                }
            }
            let o = 9 + 3 * (k - 1);
            assert_eq!(r[o], cloud.opacity_logits[i]);
            assert_eq!(&r[o + 1..o + 4], &cloud.log_scales[i].to_array());
            assert_eq!(
                &r[o + 4..o + 8],
                &cloud.rotations[i],
                "rot_0..3 = w, x, y, z"
            );
            assert_eq!(r[o + 8], cloud.features[i]);
        }
    }

    #[test]
    fn ply_write_rejects_an_invalid_cloud() {
        let mut cloud = random_cloud(3, 1, 0, &mut Rng(3), Rng::uniform);
        cloud.opacity_logits.pop();
        let path = temp_path("invalid_cloud.ply");
        let _ = std::fs::remove_file(&path);
        let err = write_gaussians(&path, &cloud).unwrap_err();
        assert!(matches!(err.kind(), PlyErrorKind::InvalidCloud(_)), "{err}");
        assert!(err.to_string().contains("invalid_cloud.ply"), "{err}");
        assert!(!path.exists(), "no file is left behind");
        let err = write_gaussians_to(Vec::new(), &cloud).unwrap_err();
        assert!(err.to_string().starts_with("<writer>: "), "{err}");
    }

    // ---- reading other layouts ----------------------------------------------------

    #[test]
    fn ply_reads_ascii_and_big_endian_in_any_property_order() {
        let mut rng = Rng(77);
        for degree in 0..=3 {
            for fc in [0, 2] {
                // Finite values: ASCII floats round-trip through Rust's shortest formatting.
                let cloud = random_cloud(9, degree, fc, &mut rng, Rng::uniform);
                let props: Vec<String> = shuffled_names(&cloud, &mut rng)
                    .iter()
                    .map(|n| format!("float {n}"))
                    .collect();
                for enc in [Enc::Ascii, Enc::Le, Enc::Be] {
                    let bytes = build(enc, &[vertex_el(&cloud, &props)]);
                    let back = read_gaussians_from_bytes(&bytes)
                        .unwrap_or_else(|e| panic!("{enc:?} degree {degree}: {e}"));
                    assert_bitwise_eq(&cloud, &back);
                }
            }
        }
    }

    #[test]
    fn ply_reads_every_scalar_type_and_alias() {
        // Degree 0 with two features has exactly 16 properties: one per type name.
        let types = [
            "char", "uchar", "short", "ushort", "int", "uint", "float", "double", "int8", "uint8",
            "int16", "uint16", "int32", "uint32", "float32", "float64",
        ];
        let mut rng = Rng(11);
        let cloud = random_cloud(6, 0, 2, &mut rng, Rng::small_int);
        let names = shuffled_names(&cloud, &mut rng);
        assert_eq!(names.len(), types.len());
        let props: Vec<String> = names
            .iter()
            .zip(types)
            .map(|(n, t)| format!("{t} {n}"))
            .collect();
        for enc in [Enc::Ascii, Enc::Le, Enc::Be] {
            let bytes = build(enc, &[vertex_el(&cloud, &props)]);
            let back = read_gaussians_from_bytes(&bytes).unwrap_or_else(|e| panic!("{enc:?}: {e}"));
            assert_bitwise_eq(&cloud, &back);
        }

        // Negative values through the signed types.
        for enc in [Enc::Ascii, Enc::Le, Enc::Be] {
            let props = [
                "char a1", "short b1", "int c1", "double x", "float y", "float z",
            ];
            let bytes = build(
                enc,
                &[el(
                    "vertex",
                    &props,
                    vec![vec![-100.0, -30000.0, -2e9, -1.25, 0.5, 2.0]],
                )],
            );
            let (p, c) = read_point_cloud_from_bytes(&bytes).unwrap();
            assert_eq!(p, vec![Vec3::new(-1.25, 0.5, 2.0)]);
            assert_eq!(c, vec![[1.0; 3]]);
        }
    }

    fn cluttered_file(cloud: &GaussianCloud, enc: Enc, rng: &mut Rng) -> Vec<u8> {
        let mut props: Vec<String> = shuffled_names(cloud, rng)
            .iter()
            .map(|n| format!("float {n}"))
            .collect();
        props.insert(0, "float nx".into());
        props.insert(3, "uchar flag".into());
        props.insert(5, "list uint int neighbours".into());
        props.push("double weird".into());
        props.push("list uchar float tags".into());
        let camera = el(
            "camera",
            &["float fx", "list ushort double extra"],
            vec![vec![500.0, 3.0, 1.0, 2.0, 3.0]],
        );
        let nothing = El {
            name: "nothing".into(),
            props: vec![],
            rows: vec![vec![]; 4],
        };
        let face = el(
            "face",
            &["list uchar int vertex_indices", "uchar material"],
            vec![
                vec![3.0, 0.0, 1.0, 2.0, 1.0],
                vec![0.0, 2.0],
                vec![4.0, 0.0, 1.0, 2.0, 3.0, 3.0],
            ],
        );
        build(enc, &[camera, nothing, vertex_el(cloud, &props), face])
    }

    #[test]
    fn ply_skips_unknown_properties_lists_and_other_elements() {
        let mut rng = Rng(23);
        for degree in [0, 3] {
            let cloud = random_cloud(8, degree, 1, &mut rng, Rng::uniform);
            for enc in [Enc::Ascii, Enc::Le, Enc::Be] {
                let bytes = cluttered_file(&cloud, enc, &mut rng);
                let back =
                    read_gaussians_from_bytes(&bytes).unwrap_or_else(|e| panic!("{enc:?}: {e}"));
                assert_bitwise_eq(&cloud, &back);
                let (pos, col) = read_point_cloud_from_bytes(&bytes).unwrap();
                assert_eq!(bits3(&pos), bits3(&cloud.means));
                assert_eq!(col.len(), cloud.len());
            }
        }
    }

    #[test]
    fn ply_accepts_crlf_headers() {
        let cloud = random_cloud(4, 1, 0, &mut Rng(8), Rng::bits);
        let bytes = to_bytes(&cloud);
        let h = header_len(&bytes);
        let header = std::str::from_utf8(&bytes[..h])
            .unwrap()
            .replace('\n', "\r\n");
        let mut crlf = header.into_bytes();
        crlf.extend_from_slice(&bytes[h..]);
        assert_bitwise_eq(&cloud, &read_gaussians_from_bytes(&crlf).unwrap());
    }

    // ---- point clouds ---------------------------------------------------------------

    #[test]
    fn ply_point_cloud_colours() {
        let xyz = |i: usize| vec![i as f64, 2.0 * i as f64, -(i as f64)];
        let with = |mut p: Vec<f64>, c: [f64; 3]| {
            p.extend(c);
            p
        };
        for enc in [Enc::Ascii, Enc::Le, Enc::Be] {
            // uchar red green blue (+ alpha), like COLMAP / trimesh.
            let props = [
                "float x",
                "float y",
                "float z",
                "uchar red",
                "uchar green",
                "uchar blue",
                "uchar alpha",
            ];
            let rows = vec![[0.0, 128.0, 255.0, 255.0], [255.0, 0.0, 51.0, 0.0]]
                .into_iter()
                .enumerate()
                .map(|(i, c)| {
                    with(xyz(i), [c[0], c[1], c[2]])
                        .into_iter()
                        .chain([c[3]])
                        .collect()
                })
                .collect();
            let (p, c) =
                read_point_cloud_from_bytes(&build(enc, &[el("vertex", &props, rows)])).unwrap();
            assert_eq!(p, vec![Vec3::new(0.0, 0.0, 0.0), Vec3::new(1.0, 2.0, -1.0)]);
            assert_eq!(c, vec![[0.0, 128.0 / 255.0, 1.0], [1.0, 0.0, 51.0 / 255.0]]);

            // ushort colours.
            let props = [
                "double x",
                "double y",
                "double z",
                "ushort red",
                "ushort green",
                "ushort blue",
            ];
            let rows = vec![with(xyz(0), [65535.0, 0.0, 65535.0])];
            let (_, c) =
                read_point_cloud_from_bytes(&build(enc, &[el("vertex", &props, rows)])).unwrap();
            assert_eq!(c, vec![[1.0, 0.0, 1.0]]);

            // float colours in [0, 1], and in 0..255; out-of-range ones clamp.
            let props = [
                "float x", "float y", "float z", "float r", "float g", "float b",
            ];
            let rows = vec![
                with(xyz(0), [0.25, 0.5, 1.0]),
                with(xyz(1), [-0.5, 0.0, 0.75]),
            ];
            let (_, c) =
                read_point_cloud_from_bytes(&build(enc, &[el("vertex", &props, rows)])).unwrap();
            assert_eq!(c, vec![[0.25, 0.5, 1.0], [0.0, 0.0, 0.75]]);
            let rows = vec![with(xyz(0), [255.0, 51.0, 0.0])];
            let (_, c) =
                read_point_cloud_from_bytes(&build(enc, &[el("vertex", &props, rows)])).unwrap();
            assert_eq!(c, vec![[1.0, 51.0 / 255.0, 0.0]]);

            // No colour: white.
            let props = ["float x", "float y", "float z"];
            let (p, c) =
                read_point_cloud_from_bytes(&build(enc, &[el("vertex", &props, vec![xyz(3)])]))
                    .unwrap();
            assert_eq!(p, vec![Vec3::new(3.0, 6.0, -3.0)]);
            assert_eq!(c, vec![[1.0; 3]]);

            // Only some colour channels: an error naming the missing ones.
            let props = ["float x", "float y", "float z", "uchar red"];
            let err = read_point_cloud_from_bytes(&build(
                enc,
                &[el(
                    "vertex",
                    &props,
                    vec![with(xyz(0), [1.0, 0.0, 0.0])[..4].to_vec()],
                )],
            ))
            .unwrap_err();
            assert!(err.to_string().contains("green, blue"), "{err}");
        }

        // A 3DGS file: colours from the DC coefficients.
        let mut cloud = random_cloud(2, 2, 0, &mut Rng(4), Rng::uniform);
        let k = sh_coeffs(2);
        cloud.sh[0..3].copy_from_slice(&[0.0, 1.0, -10.0]);
        cloud.sh[k * 3..k * 3 + 3].copy_from_slice(&[f32::NAN, 10.0, 0.5]);
        let (p, c) = read_point_cloud_from_bytes(&to_bytes(&cloud)).unwrap();
        assert_eq!(p, cloud.means);
        assert_eq!(c[0], [0.5, 0.5 + SH_C0, 0.0]);
        assert_eq!(c[1], [0.0, 1.0, 0.5 + 0.5 * SH_C0]);
    }

    #[test]
    fn ply_golden_tiny_dataset_init_point_cloud() {
        let Ok(root) = std::env::var("KILN_DATA") else {
            println!("note: KILN_DATA is not set; skipping the golden init.ply check");
            return;
        };
        let path = Path::new(&root).join("golden/brush/tiny_dataset/init.ply");
        let (positions, colours) = read_point_cloud(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(positions.len(), 100);
        assert_eq!(colours.len(), 100);
        assert!(positions.iter().all(|p| p.is_finite()));
        assert!(colours.iter().flatten().all(|c| (0.0..=1.0).contains(c)));
        // Cross-check against the raw bytes: x y z float, red green blue alpha uchar.
        let bytes = std::fs::read(&path).unwrap();
        let body = &bytes[header_len(&bytes)..];
        assert_eq!(body.len(), 100 * 16);
        for (i, row) in body.chunks_exact(16).enumerate() {
            let f = |o: usize| f32::from_le_bytes(row[o..o + 4].try_into().unwrap());
            assert_eq!(positions[i], Vec3::new(f(0), f(4), f(8)));
            assert_eq!(colours[i], [0, 1, 2].map(|c| row[12 + c] as f32 / 255.0));
        }
        // It is not a Gaussian file; the error says what is missing.
        let err = read_gaussians(&path).unwrap_err().to_string();
        assert!(
            err.contains("init.ply") && err.contains("f_dc_0") && err.contains("opacity"),
            "{err}"
        );
    }

    // ---- errors -------------------------------------------------------------------

    #[test]
    fn ply_truncated_file_errors_at_the_vertex() {
        let cloud = random_cloud(10, 1, 0, &mut Rng(1), Rng::bits);
        let bytes = to_bytes(&cloud);
        let row = (6 + 12 + 8) * 4;
        let cut = header_len(&bytes) + 3 * row + 5;
        let err = file_err("truncated.ply", &bytes[..cut], read_gaussians);
        assert!(
            matches!(
                err.kind(),
                PlyErrorKind::Truncated {
                    index: 3,
                    count: 10,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("vertex 3 of 10"), "{err}");

        // Only the header: ends inside vertex 0.
        let err = file_err(
            "header_only.ply",
            &bytes[..header_len(&bytes)],
            read_gaussians,
        );
        assert!(err.to_string().contains("vertex 0 of 10"), "{err}");

        // ASCII, and binary with list properties (walked row by row).
        let mut rng = Rng(2);
        let cloud = random_cloud(10, 0, 0, &mut rng, Rng::uniform);
        let props: Vec<String> = shuffled_names(&cloud, &mut rng)
            .iter()
            .map(|n| format!("float {n}"))
            .collect();
        let ascii = build(Enc::Ascii, &[vertex_el(&cloud, &props)]);
        let text = std::str::from_utf8(&ascii).unwrap();
        let cut = text.match_indices('\n').nth(props.len() + 4 + 6).unwrap().0 + 3; // newline of row 5, +3: inside row 6
        let err = file_err("truncated_ascii.ply", &ascii[..cut], read_gaussians);
        assert!(err.to_string().contains("vertex 6 of 10"), "{err}");

        let mut listed = props.clone();
        listed.insert(2, "list uchar int idx".into());
        let bin = build(Enc::Le, &[vertex_el(&cloud, &listed)]);
        let row = props.len() * 4 + 1 + 8;
        let cut = header_len(&bin) + 7 * row + 2;
        let err = file_err("truncated_lists.ply", &bin[..cut], read_gaussians);
        assert!(err.to_string().contains("vertex 7 of 10"), "{err}");

        // A list claiming more items than the file holds.
        let face = build(
            Enc::Le,
            &[
                vertex_el(&cloud, &props),
                el("face", &["list uint int idx"], vec![vec![2.0, 1.0, 2.0]]),
            ],
        );
        let mut bad = face.clone();
        let at = bad.len() - 12;
        bad[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        let err = file_err("huge_list.ply", &bad, read_gaussians);
        assert!(err.to_string().contains("face 0 of 1"), "{err}");
        assert!(read_gaussians_from_bytes(&face).is_ok());
    }

    #[test]
    fn ply_garbage_and_bad_headers_error() {
        let mut rng = Rng(42);
        let garbage: Vec<u8> = (0..4096).map(|_| rng.next_u64() as u8).collect();
        let err = file_err("garbage.ply", &garbage, read_gaussians);
        assert!(matches!(err.kind(), PlyErrorKind::NotPly), "{err}");
        file_err("empty.ply", b"", read_gaussians);
        file_err(
            "plywood.ply",
            b"plywood\nformat ascii 1.0\nend_header\n",
            read_gaussians,
        );
        file_err("garbage_points.ply", &garbage, read_point_cloud);

        let good_header =
            "ply\nformat binary_little_endian 1.0\nelement vertex 1\nproperty float x\n";
        let cases: &[(&str, String)] = &[
            ("magic_only.ply", "ply\n".into()),
            ("no_end_header.ply", good_header.into()),
            (
                "no_format.ply",
                "ply\nelement vertex 0\nproperty float x\nend_header\n".into(),
            ),
            (
                "bad_format.ply",
                "ply\nformat binary_middle_endian 1.0\nend_header\n".into(),
            ),
            ("bad_version.ply", "ply\nformat ascii 2.0\nend_header\n".into()),
            (
                "bad_type.ply",
                "ply\nformat ascii 1.0\nelement vertex 1\nproperty float16 x\nend_header\n".into(),
            ),
            (
                "float_list.ply",
                "ply\nformat ascii 1.0\nelement f 1\nproperty list float int i\nend_header\n".into(),
            ),
            (
                "orphan_prop.ply",
                "ply\nformat ascii 1.0\nproperty float x\nend_header\n".into(),
            ),
            (
                "dup_prop.ply",
                "ply\nformat ascii 1.0\nelement vertex 0\nproperty float x\nproperty double x\nend_header\n"
                    .into(),
            ),
            (
                "bad_count.ply",
                "ply\nformat ascii 1.0\nelement vertex -3\nend_header\n".into(),
            ),
            (
                "overflow_count.ply",
                "ply\nformat ascii 1.0\nelement vertex 99999999999999999999999\nend_header\n".into(),
            ),
            (
                "bad_keyword.ply",
                "ply\nformat ascii 1.0\nbogus line\nend_header\n".into(),
            ),
            (
                "no_vertex.ply",
                "ply\nformat ascii 1.0\nelement face 0\nproperty list uchar int i\nend_header\n".into(),
            ),
        ];
        for (name, text) in cases {
            file_err(name, text.as_bytes(), read_gaussians);
            file_err(name, text.as_bytes(), read_point_cloud);
        }
        // Binary junk inside the header.
        let mut junk = b"ply\nformat ascii 1.0\n".to_vec();
        junk.extend_from_slice(&[0xff, 0xfe, 0x00, b'\n']);
        junk.extend_from_slice(b"end_header\n");
        let err = file_err("junk_header.ply", &junk, read_gaussians);
        assert!(
            matches!(err.kind(), PlyErrorKind::Header { line: 3, .. }),
            "{err}"
        );

        // A bad ASCII value names the property and the vertex.
        let text = "ply\nformat ascii 1.0\nelement vertex 2\nproperty float x\nproperty float y\nproperty float z\nend_header\n1 2 3\n4 five 6\n";
        let err = file_err("bad_value.ply", text.as_bytes(), read_point_cloud);
        assert!(err.to_string().contains("'y' of vertex 1"), "{err}");
        let text = "ply\nformat ascii 1.0\nelement vertex 1\nproperty uchar x\nproperty float y\nproperty float z\nend_header\n300 2 3\n";
        file_err("uchar_overflow.ply", text.as_bytes(), read_point_cloud);
    }

    #[test]
    fn ply_trailing_data_errors() {
        let cloud = random_cloud(3, 0, 0, &mut Rng(6), Rng::bits);
        let mut bytes = to_bytes(&cloud);
        bytes.extend_from_slice(&[0; 7]);
        let err = file_err("trailing.ply", &bytes, read_gaussians);
        assert!(matches!(err.kind(), PlyErrorKind::TrailingData(_)), "{err}");
        assert!(err.to_string().contains("7 bytes"), "{err}");

        let text = "ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nproperty float y\nproperty float z\nend_header\n1 2 3\n4 5 6\n";
        file_err("trailing_ascii.ply", text.as_bytes(), read_point_cloud);
        // Trailing whitespace in ASCII is fine.
        let text = "ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nproperty float y\nproperty float z\nend_header\n1 2 3\n\n  \n";
        assert!(read_point_cloud_from_bytes(text.as_bytes()).is_ok());
    }

    #[test]
    fn ply_wrong_f_rest_count_errors() {
        let mut rng = Rng(12);
        let cloud = random_cloud(2, 0, 0, &mut rng, Rng::uniform);
        let mut props: Vec<String> = shuffled_names(&cloud, &mut rng)
            .iter()
            .map(|n| format!("float {n}"))
            .collect();
        props.extend((0..6).map(|i| format!("float f_rest_{i}")));
        for enc in [Enc::Le, Enc::Ascii] {
            let err = file_err(
                "six_rest.ply",
                &build(enc, &[vertex_el(&cloud, &props)]),
                read_gaussians,
            );
            assert!(matches!(err.kind(), PlyErrorKind::ShRestCount(6)), "{err}");
            assert!(err.to_string().contains("6 f_rest_*"), "{err}");
        }
        // Right count, wrong numbering: the gap is named.
        let cloud = random_cloud(2, 1, 0, &mut rng, Rng::uniform);
        let mut props: Vec<String> = shuffled_names(&cloud, &mut rng)
            .iter()
            .map(|n| format!("float {n}"))
            .collect();
        let at = props.iter().position(|p| p == "float f_rest_8").unwrap();
        props[at] = "float f_rest_9".into();
        let err = file_err(
            "gap_rest.ply",
            &build(Enc::Le, &[vertex_el(&cloud, &props)]),
            read_gaussians,
        );
        assert!(
            err.to_string()
                .contains("missing required vertex properties: f_rest_8"),
            "{err}"
        );
    }

    #[test]
    fn ply_missing_opacity_errors() {
        let mut rng = Rng(13);
        let cloud = random_cloud(2, 1, 0, &mut rng, Rng::uniform);
        let props: Vec<String> = shuffled_names(&cloud, &mut rng)
            .iter()
            .filter(|n| *n != "opacity")
            .map(|n| format!("float {n}"))
            .collect();
        for enc in [Enc::Le, Enc::Be, Enc::Ascii] {
            let err = file_err(
                "no_opacity.ply",
                &build(enc, &[vertex_el(&cloud, &props)]),
                read_gaussians,
            );
            match err.kind() {
                PlyErrorKind::MissingProperties { names, .. } => assert_eq!(names, &["opacity"]),
                other => panic!("{other}"),
            }
            assert!(err.to_string().contains("opacity"), "{err}");
        }
        // Several missing: all named.
        let props: Vec<String> = props
            .into_iter()
            .filter(|p| !p.ends_with(" y") && !p.ends_with("rot_3"))
            .collect();
        let err = file_err(
            "no_three.ply",
            &build(Enc::Le, &[vertex_el(&cloud, &props)]),
            read_gaussians,
        );
        assert!(
            err.to_string()
                .ends_with("missing required vertex properties: y, opacity, rot_3"),
            "{err}"
        );
        // A required property that is a list.
        let mut props: Vec<String> = gaussian_property_names(0, 0)
            .iter()
            .map(|n| format!("float {n}"))
            .collect();
        props[0] = "list uchar float x".into();
        let err = file_err(
            "list_x.ply",
            &build(Enc::Le, &[vertex_el(&cloud, &props)]),
            read_gaussians,
        );
        assert!(err.to_string().contains("'x' is a list"), "{err}");
    }

    #[test]
    fn ply_huge_claimed_counts_error_fast_without_allocating() {
        let start = Instant::now();
        let props: String = gaussian_property_names(3, 0)
            .iter()
            .map(|n| format!("property float {n}\n"))
            .collect();
        for count in ["1000000000000", "18446744073709551615"] {
            for fmt in ["binary_little_endian", "binary_big_endian", "ascii"] {
                let mut bytes =
                    format!("ply\nformat {fmt} 1.0\nelement vertex {count}\n{props}end_header\n")
                        .into_bytes();
                bytes.extend_from_slice(if fmt == "ascii" {
                    b"1 2 3 4 5 6 7 8\n"
                } else {
                    &[0u8; 100]
                });
                let err = file_err("huge.ply", &bytes, read_gaussians);
                assert!(
                    matches!(err.kind(), PlyErrorKind::Truncated { index: 0, .. }),
                    "{err}"
                );
                file_err("huge_points.ply", &bytes, read_point_cloud);
            }
        }
        // Huge counts on elements with lists, before and after the vertices.
        for enc in ["binary_little_endian", "ascii"] {
            let text = format!(
                "ply\nformat {enc} 1.0\nelement vertex 1\nproperty float x\nproperty float y\nproperty float z\n\
                 element face 1000000000000\nproperty list uchar int vertex_indices\nend_header\n"
            );
            let mut bytes = text.into_bytes();
            if enc == "ascii" {
                bytes.extend_from_slice(b"1 2 3\n3 0 1 2\n");
            } else {
                bytes.extend_from_slice(&[0u8; 12]);
                bytes.extend_from_slice(&[1, 0, 0, 0, 0]);
            }
            let err = file_err("huge_faces.ply", &bytes, read_point_cloud);
            assert!(err.to_string().contains("face 1 of 1000000000000"), "{err}");
        }
        // Elements without properties take no bytes, whatever their count.
        let text = "ply\nformat binary_little_endian 1.0\nelement nothing 1000000000000000000\n\
                    element vertex 1\nproperty float x\nproperty float y\nproperty float z\nend_header\n";
        let mut bytes = text.as_bytes().to_vec();
        bytes.extend_from_slice(&[0u8; 12]);
        assert_eq!(
            read_point_cloud_from_bytes(&bytes).unwrap().0,
            vec![Vec3::ZERO]
        );
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "took {:?}",
            start.elapsed()
        );
    }

    #[test]
    fn ply_never_panics_on_corrupted_input() {
        let mut rng = Rng(0xdead_beef);
        let cloud = random_cloud(5, 1, 1, &mut rng, Rng::uniform);
        let files = [
            to_bytes(&cloud),
            cluttered_file(&cloud, Enc::Le, &mut rng),
            cluttered_file(&cloud, Enc::Be, &mut rng),
            cluttered_file(&cloud, Enc::Ascii, &mut rng),
        ];
        for file in &files {
            // Every truncation.
            for len in 0..file.len() {
                let _ = read_gaussians_from_bytes(&file[..len]);
                let _ = read_point_cloud_from_bytes(&file[..len]);
            }
            // Random byte corruption, header and body.
            for _ in 0..3000 {
                let mut bad = file.clone();
                for _ in 0..1 + rng.next_u64() % 4 {
                    let at = (rng.next_u64() % bad.len() as u64) as usize;
                    bad[at] = match rng.next_u64() % 4 {
                        0 => b'9',
                        1 => b' ',
                        2 => b'\n',
                        _ => rng.next_u64() as u8,
                    };
                }
                let _ = read_gaussians_from_bytes(&bad);
                let _ = read_point_cloud_from_bytes(&bad);
            }
        }
    }

    #[test]
    fn ply_missing_file_is_an_io_error_naming_it() {
        let path = temp_path("does_not_exist.ply");
        let err = read_gaussians(&path).unwrap_err();
        assert!(matches!(err.kind(), PlyErrorKind::Io(_)), "{err}");
        assert!(err.to_string().contains("does_not_exist.ply"), "{err}");
        let err = read_gaussians_from_bytes(b"nope").unwrap_err();
        assert_eq!(
            err.to_string(),
            "<memory>: not a PLY file (it does not start with a 'ply' line)"
        );
    }
}
