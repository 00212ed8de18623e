//! Helpers shared by the CPU-reference and GPU rasterizer tests: the test-data location,
//! seeded random clouds, the golden renders, and tolerance comparisons.
//!
//! Not part of the engine's API (hidden from docs); it lives in the library so that tests of
//! every crate can use it.

use std::path::{Path, PathBuf};

use glam::{Mat3, Vec3};
use kiln_scene::camera::Camera;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::StandardNormal;

use crate::reference::sh::SH_C0;
use crate::{sh_coeffs, GaussianCloud, OutputGrads, RenderSettings};

/// The shared data directory, from the `KILN_DATA` environment variable (CI sets it).
pub fn kiln_data() -> Option<PathBuf> {
    std::env::var_os("KILN_DATA").filter(|v| !v.is_empty()).map(PathBuf::from)
}

/// [`kiln_data`], printing why the calling test is skipped when it is unset.
pub fn kiln_data_or_skip(test: &str) -> Option<PathBuf> {
    let dir = kiln_data();
    if dir.is_none() {
        eprintln!("{test}: skipped, KILN_DATA is not set (point it at the shared data directory)");
    }
    dir
}

/// Knobs of [`random_cloud`]. Positions are drawn in the camera's image space, so a cloud is in
/// view by construction.
#[derive(Clone, Debug)]
pub struct RandomCloudSpec {
    pub seed: u64,
    pub count: usize,
    pub sh_degree: u32,
    pub feature_channels: usize,
    /// The camera the Gaussians are placed in front of.
    pub camera: Camera,
    /// Camera-space depth range (uniform).
    pub depth_range: (f32, f32),
    /// Projected means fall in [−margin, 1 + margin] × the image size, per axis.
    pub screen_margin: f32,
    /// Per-axis log-scale range (uniform, world units).
    pub log_scale_range: (f32, f32),
    /// Opacity range (uniform in opacity, stored as logits).
    pub opacity_range: (f32, f32),
    /// Fraction of the Gaussians mirrored behind the camera (negative camera z).
    pub behind_fraction: f32,
    /// Standard deviation of the SH coefficients above degree 0; the DC term gives an RGB
    /// uniform in [0, 1].
    pub sh_rest_std: f32,
    /// Features are uniform in this range.
    pub feature_range: (f32, f32),
}

impl Default for RandomCloudSpec {
    fn default() -> Self {
        RandomCloudSpec {
            seed: 0,
            count: 100,
            sh_degree: 3,
            feature_channels: 0,
            camera: Camera::identity(64, 48, 50.0, 50.0),
            depth_range: (2.0, 8.0),
            screen_margin: 0.1,
            log_scale_range: (-3.0, -1.0),
            opacity_range: (0.1, 0.95),
            behind_fraction: 0.0,
            sh_rest_std: 0.1,
            feature_range: (-1.0, 1.0),
        }
    }
}

fn uniform(rng: &mut StdRng, (lo, hi): (f32, f32)) -> f32 {
    lo + (hi - lo) * rng.random::<f32>()
}

/// A seeded random cloud; the same spec always gives the same cloud.
pub fn random_cloud(spec: &RandomCloudSpec) -> GaussianCloud {
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let cam = &spec.camera;
    let k = sh_coeffs(spec.sh_degree);
    let mut cloud = GaussianCloud {
        sh_degree: spec.sh_degree,
        feature_channels: spec.feature_channels,
        ..GaussianCloud::default()
    };
    let (w, h) = (cam.width as f32, cam.height as f32);
    let m = spec.screen_margin;
    for _ in 0..spec.count {
        let px = uniform(&mut rng, (-m * w, (1.0 + m) * w));
        let py = uniform(&mut rng, (-m * h, (1.0 + m) * h));
        let mut z = uniform(&mut rng, spec.depth_range);
        if rng.random::<f32>() < spec.behind_fraction {
            z = -z;
        }
        let p_cam = Vec3::new((px - cam.cx) * z / cam.fx, (py - cam.cy) * z / cam.fy, z);
        cloud.means.push(cam.rotation.transpose() * (p_cam - cam.translation));
        cloud.log_scales.push(Vec3::from_array([(); 3].map(|_| uniform(&mut rng, spec.log_scale_range))));
        // Unnormalized on purpose: the rasterizer normalizes, and its gradient goes through that.
        let q: [f32; 4] = [(); 4].map(|_| rng.sample(StandardNormal));
        let len = q.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-3);
        let mag = uniform(&mut rng, (0.5, 2.0));
        cloud.rotations.push(q.map(|v| v / len * mag));
        let o = uniform(&mut rng, spec.opacity_range).clamp(1e-6, 1.0 - 1e-6);
        cloud.opacity_logits.push((o / (1.0 - o)).ln());
        let rgb: [f32; 3] = [(); 3].map(|_| rng.random::<f32>());
        for kk in 0..k {
            for c in rgb {
                cloud.sh.push(if kk == 0 {
                    (c - 0.5) / SH_C0 as f32
                } else {
                    spec.sh_rest_std * rng.sample::<f32, _>(StandardNormal)
                });
            }
        }
        for _ in 0..spec.feature_channels {
            cloud.features.push(uniform(&mut rng, spec.feature_range));
        }
    }
    cloud
}

/// Random dL/d(outputs), uniform in [−1, 1], for all of colour, alpha and depth.
pub fn random_output_grads(seed: u64, width: u32, height: u32, channels: usize) -> OutputGrads {
    let mut rng = StdRng::seed_from_u64(seed);
    let n = (width * height) as usize;
    let mut draw = |len: usize| (0..len).map(|_| rng.random::<f32>() * 2.0 - 1.0).collect::<Vec<f32>>();
    OutputGrads { color: draw(n * channels), alpha: draw(n), depth: draw(n) }
}

/// One golden render of `golden/brush/` (see the data README): gsplat's classic-mode forward.
#[derive(Clone, Debug)]
pub struct GoldenCase {
    pub cloud: GaussianCloud,
    pub camera: Camera,
    /// The settings the render was made with (classic mode, alpha clamp 0.999, black).
    pub settings: RenderSettings,
    /// `image[(y·width + x)·4 + c]`, RGBA; RGB is premultiplied (over black).
    pub image: Vec<f32>,
    pub width: u32,
    pub height: u32,
}

/// The camera of the golden renders for an image of `width` × `height`: 90° horizontal field
/// of view (fx = fy = W/2), principal point at the image centre, identity rotation, centre at
/// (0.123, 0.456, −8), near 0.01, far 1e12.
pub fn golden_camera(width: u32, height: u32) -> Camera {
    let f = 0.5 * width as f32;
    Camera {
        width,
        height,
        fx: f,
        fy: f,
        cx: 0.5 * width as f32,
        cy: 0.5 * height as f32,
        rotation: Mat3::IDENTITY,
        translation: -Vec3::new(0.123, 0.456, -8.0),
        near: 0.01,
        far: 1e12,
    }
}

/// A minimal safetensors reader: u64 LE header length, JSON header, raw little-endian data.
/// Returns the tensor's shape and its values; only F32 is supported.
fn safetensor(
    bytes: &[u8],
    header: &serde_json::Value,
    data_start: usize,
    name: &str,
) -> Result<(Vec<usize>, Vec<f32>), String> {
    let t = header.get(name).ok_or_else(|| format!("no tensor `{name}`"))?;
    let dtype = t.get("dtype").and_then(|v| v.as_str()).unwrap_or("?");
    if dtype != "F32" {
        return Err(format!("tensor `{name}` is {dtype}, expected F32"));
    }
    let shape: Vec<usize> = t
        .get("shape")
        .and_then(|v| v.as_array())
        .ok_or_else(|| format!("tensor `{name}` has no shape"))?
        .iter()
        .map(|v| v.as_u64().map(|x| x as usize).ok_or_else(|| format!("tensor `{name}`: bad shape")))
        .collect::<Result<_, _>>()?;
    let offs = t
        .get("data_offsets")
        .and_then(|v| v.as_array())
        .filter(|a| a.len() == 2)
        .and_then(|a| Some((a[0].as_u64()? as usize, a[1].as_u64()? as usize)))
        .ok_or_else(|| format!("tensor `{name}` has no data_offsets"))?;
    let count: usize = shape.iter().product();
    if offs.1 < offs.0 || offs.1 - offs.0 != count * 4 {
        return Err(format!("tensor `{name}`: offsets {offs:?} do not match shape {shape:?}"));
    }
    let data = bytes
        .get(data_start + offs.0..data_start + offs.1)
        .ok_or_else(|| format!("tensor `{name}` runs past the end of the file"))?;
    let values = data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    Ok((shape, values))
}

/// Reads a golden case (`tiny_case.safetensors`, `basic_case.safetensors`).
pub fn load_golden(path: &Path) -> Result<GoldenCase, String> {
    let ctx = |e: String| format!("{}: {e}", path.display());
    let bytes = std::fs::read(path).map_err(|e| ctx(e.to_string()))?;
    if bytes.len() < 8 {
        return Err(ctx("too short for a safetensors file".into()));
    }
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header_bytes =
        bytes.get(8..8usize.saturating_add(n)).ok_or_else(|| ctx(format!("header of {n} bytes runs past the end")))?;
    let header: serde_json::Value =
        serde_json::from_slice(header_bytes).map_err(|e| ctx(format!("header is not JSON: {e}")))?;
    let start = 8 + n;
    let get = |name: &str| safetensor(&bytes, &header, start, name).map_err(ctx);

    let (mshape, means) = get("means")?;
    let count = *mshape.first().unwrap_or(&0);
    let expect = |name: &str, shape: &[usize], want: &[usize]| {
        if shape != want {
            Err(ctx(format!("tensor `{name}` has shape {shape:?}, expected {want:?}")))
        } else {
            Ok(())
        }
    };
    expect("means", &mshape, &[count, 3])?;
    let (qshape, quats) = get("quats")?;
    expect("quats", &qshape, &[count, 4])?;
    let (sshape, scales) = get("scales")?;
    expect("scales", &sshape, &[count, 3])?;
    let (oshape, opacities) = get("opacities")?;
    expect("opacities", &oshape, &[count])?;
    let (cshape, coeffs) = get("coeffs")?;
    let k = *cshape.get(1).unwrap_or(&0);
    let sh_degree = match k {
        1 => 0,
        4 => 1,
        9 => 2,
        16 => 3,
        _ => return Err(ctx(format!("tensor `coeffs` has {k} coefficients per channel"))),
    };
    expect("coeffs", &cshape, &[count, k, 3])?;
    let (ishape, image) = get("out_img")?;
    if ishape.len() != 3 || ishape[2] != 4 {
        return Err(ctx(format!("tensor `out_img` has shape {ishape:?}, expected [H, W, 4]")));
    }
    let (height, width) = (ishape[0] as u32, ishape[1] as u32);

    let v3 = |v: &[f32]| v.chunks_exact(3).map(|c| Vec3::new(c[0], c[1], c[2])).collect::<Vec<_>>();
    let cloud = GaussianCloud {
        means: v3(&means),
        log_scales: v3(&scales),
        rotations: quats.chunks_exact(4).map(|c| [c[0], c[1], c[2], c[3]]).collect(),
        opacity_logits: opacities,
        sh_degree,
        sh: coeffs,
        feature_channels: 0,
        features: Vec::new(),
    };
    cloud.validate().map_err(ctx)?;
    Ok(GoldenCase {
        cloud,
        camera: golden_camera(width, height),
        settings: RenderSettings { alpha_clamp: 0.999, antialiased: false, eps2d: 0.3, ..RenderSettings::default() },
        image,
        width,
        height,
    })
}

/// Checks |ours − reference| ≤ atol + rtol·|reference| per element (and equal lengths, and no
/// NaN on either side). The error names the worst element.
pub fn compare(what: &str, ours: &[f32], reference: &[f32], atol: f32, rtol: f32) -> Result<(), String> {
    if ours.len() != reference.len() {
        return Err(format!("{what}: {} values, reference has {}", ours.len(), reference.len()));
    }
    let mut worst: Option<(usize, f32)> = None;
    let mut failures = 0;
    for (i, (&a, &b)) in ours.iter().zip(reference).enumerate() {
        let excess = (a - b).abs() - (atol + rtol * b.abs());
        // Negated so that a NaN on either side fails.
        #[allow(clippy::neg_cmp_op_on_partial_ord)]
        if !(excess <= 0.0) {
            failures += 1;
            // A NaN difference fails and ranks worst.
            let e = if excess.is_nan() { f32::INFINITY } else { excess };
            if worst.is_none_or(|(_, w)| e > w) {
                worst = Some((i, e));
            }
        }
    }
    match worst {
        None => Ok(()),
        Some((i, _)) => Err(format!(
            "{what}: {failures} of {} values outside {atol} + {rtol}·|ref|; worst at {i}: ours {} reference {}",
            ours.len(),
            ours[i],
            reference[i]
        )),
    }
}
