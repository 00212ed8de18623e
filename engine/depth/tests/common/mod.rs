//! Helpers shared by kiln-depth's tests.
#![allow(dead_code)]

use kiln_scene::dataset::Image;
use std::path::PathBuf;

/// The shared data folder, or `None` (the test is skipped, with a note) when KILN_DATA is unset.
pub fn data_or_skip(test: &str) -> Option<PathBuf> {
    match std::env::var_os("KILN_DATA") {
        Some(d) if !d.is_empty() => Some(PathBuf::from(d)),
        _ => {
            eprintln!("{test}: skipped, KILN_DATA is not set (point it at the shared data directory)");
            None
        }
    }
}

pub fn gpu() -> std::sync::Arc<kiln_gpu::GpuContext> {
    kiln_gpu::GpuContext::shared().expect("a GPU adapter (lavapipe in CI)")
}

/// A smooth random texture: a sum of sinusoids of random frequency and phase per channel
/// (deterministic in `seed`).
pub fn texture(width: u32, height: u32, seed: u64) -> Image {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let mut rnd = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 33) as f32) / (1u64 << 31) as f32
    };
    let waves: Vec<[f32; 5]> = (0..24).map(|_| [rnd() * 0.5 + 0.03, rnd() * 0.5 + 0.03, rnd() * 6.28, rnd(), rnd() * 3.0]).collect();
    let mut rgb = Vec::with_capacity((3 * width * height) as usize);
    for y in 0..height {
        for x in 0..width {
            for c in 0..3 {
                let mut v = 0.5;
                for (k, w) in waves.iter().enumerate() {
                    if k % 3 == c {
                        let sx = if w[3] > 0.5 { 1.0 } else { -1.0 };
                        v += 0.08 * (w[0] * x as f32 * sx + w[1] * y as f32 + w[2] + c as f32 * w[4]).sin();
                    }
                }
                rgb.push(v.clamp(0.0, 1.0));
            }
        }
    }
    Image { width, height, rgb, alpha: None }
}

/// Bilinear sample of an RGB image at pixel-index coordinates (clamped); `None` outside.
pub fn sample_rgb(img: &Image, x: f32, y: f32) -> Option<[f32; 3]> {
    let (w, h) = (img.width as usize, img.height as usize);
    if !(x >= 0.0 && y >= 0.0 && x <= (w - 1) as f32 && y <= (h - 1) as f32) {
        return None;
    }
    let (x0, y0) = (x.floor() as usize, y.floor() as usize);
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let (tx, ty) = (x - x0 as f32, y - y0 as f32);
    let p = |xx: usize, yy: usize, c: usize| img.rgb[3 * (yy * w + xx) + c];
    let mut out = [0.0; 3];
    for (c, o) in out.iter_mut().enumerate() {
        let top = p(x0, y0, c) * (1.0 - tx) + p(x1, y0, c) * tx;
        let bot = p(x0, y1, c) * (1.0 - tx) + p(x1, y1, c) * tx;
        *o = top * (1.0 - ty) + bot * ty;
    }
    Some(out)
}

/// Image B with B(q) = A(inverse(q)) (edge colour outside A), and the ground-truth flow A→B:
/// for pixel p of A, forward(p) − p, with a mask of pixels whose target lies inside B.
pub fn warp_image(
    a: &Image,
    inverse: impl Fn(f32, f32) -> (f32, f32),
    forward: impl Fn(f32, f32) -> (f32, f32),
) -> (Image, Vec<f32>, Vec<f32>, Vec<f32>) {
    let (w, h) = (a.width, a.height);
    let mut rgb = Vec::with_capacity(a.rgb.len());
    for y in 0..h {
        for x in 0..w {
            let (sx, sy) = inverse(x as f32, y as f32);
            let sx = sx.clamp(0.0, (w - 1) as f32);
            let sy = sy.clamp(0.0, (h - 1) as f32);
            rgb.extend_from_slice(&sample_rgb(a, sx, sy).unwrap());
        }
    }
    let (mut u, mut v, mut inside) = (vec![], vec![], vec![]);
    for y in 0..h {
        for x in 0..w {
            let (qx, qy) = forward(x as f32, y as f32);
            u.push(qx - x as f32);
            v.push(qy - y as f32);
            // One pixel of margin: the warped image's border pixels repeat the edge.
            let ok = qx >= 1.0 && qy >= 1.0 && qx <= (w - 2) as f32 && qy <= (h - 2) as f32;
            inside.push(if ok { 1.0 } else { 0.0 });
        }
    }
    (Image { width: w, height: h, rgb, alpha: None }, u, v, inside)
}

pub fn load_png(path: &std::path::Path) -> Image {
    let img = image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).to_rgb32f();
    Image { width: img.width(), height: img.height(), rgb: img.into_raw(), alpha: None }
}

/// Writes a version-1 .npy file the way NumPy does.
pub fn write_npy(path: &std::path::Path, descr: &str, shape: &[usize], payload: &[u8]) {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_text = if shape.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_text}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(payload);
    std::fs::write(path, bytes).unwrap();
}
