//! Tile binning and per-pixel compositing (contract "Compositing" and the raster half of
//! "Backward").

use rayon::prelude::*;

use super::project::{tile_touches, Projection, MIN_ALPHA, RG_COLOR, RG_CONIC, RG_DEPTH, RG_M, RG_OPACITY};
use super::{Camera64, OutputGrads64, Settings64};
use crate::TILE_SIZE;

/// Transmittance at or below which compositing stops (without the Gaussian that got there).
pub const T_STOP: f64 = 1e-4;

/// Visible Gaussians in blending order: by (depth, index) ascending.
pub(crate) fn depth_order(projs: &[Projection]) -> Vec<u32> {
    let mut order: Vec<u32> = (0..projs.len() as u32).filter(|&i| projs[i as usize].splat.visible).collect();
    order.sort_by(|&a, &b| {
        let (da, db) = (projs[a as usize].splat.depth, projs[b as usize].splat.depth);
        da.total_cmp(&db).then(a.cmp(&b))
    });
    order
}

/// Per tile (row-major), the Gaussians touching it in blending order.
///
/// Any superset of the contributing Gaussians gives the same image, because the per-pixel
/// α ≥ 1/255 test decides; the exact tile test only saves work. Since the tile test uses an
/// inflated τ, no pixel with α ≥ 1/255 can be missed by rounding.
pub(crate) fn bin(projs: &[Projection], cam: &Camera64) -> Vec<Vec<u32>> {
    let (tw, th) = cam.tiles();
    let mut lists = vec![Vec::new(); (tw * th) as usize];
    for g in depth_order(projs) {
        let s = &projs[g as usize].splat;
        let [x0, y0, x1, y1] = s.tile_rect;
        for ty in y0..y1 {
            for tx in x0..x1 {
                if tile_touches(s, cam, tx, ty) {
                    lists[(ty * tw + tx) as usize].push(g);
                }
            }
        }
    }
    lists
}

/// One Gaussian blended into one pixel.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Contribution {
    /// Position in the tile's list.
    pub pos: u32,
    pub alpha: f64,
    /// Transmittance in front of this Gaussian.
    pub t: f64,
    /// e^(−σ).
    pub falloff: f64,
    pub dx: f64,
    pub dy: f64,
    /// o'e^(−σ) exceeded the clamp, so α does not depend on the parameters.
    pub clamped: bool,
}

/// Walks pixel (px, py) front to back over `list`, appending the contributions to `out`.
/// Returns the final transmittance and whether the T ≤ 1e-4 rule stopped the walk.
/// Forward and backward both use this, so they agree on every discrete decision.
pub(crate) fn walk_pixel(
    px: u32,
    py: u32,
    list: &[u32],
    projs: &[Projection],
    st: &Settings64,
    out: &mut Vec<Contribution>,
) -> (f64, bool) {
    out.clear();
    let (cx, cy) = (px as f64 + 0.5, py as f64 + 0.5);
    let mut t = 1.0;
    for (pos, &g) in list.iter().enumerate() {
        let s = &projs[g as usize].splat;
        let dx = cx - s.mean2d[0];
        let dy = cy - s.mean2d[1];
        let [a, b, c] = s.conic;
        let sigma = 0.5 * (a * dx * dx + c * dy * dy) + b * dx * dy;
        if sigma < 0.0 {
            continue;
        }
        let falloff = (-sigma).exp();
        let raw = s.opacity * falloff;
        let alpha = raw.min(st.alpha_clamp);
        if alpha < MIN_ALPHA {
            continue;
        }
        let next = t * (1.0 - alpha);
        if next <= T_STOP {
            return (t, true);
        }
        out.push(Contribution { pos: pos as u32, alpha, t, falloff, dx, dy, clamped: raw > st.alpha_clamp });
        t = next;
    }
    (t, false)
}

/// Pixels of tile `tile` (row-major tile index), as (x, y).
fn tile_pixels(tile: usize, cam: &Camera64) -> impl Iterator<Item = (u32, u32)> {
    let (tw, _) = cam.tiles();
    let tx = tile as u32 % tw;
    let ty = tile as u32 / tw;
    let (x0, y0) = (tx * TILE_SIZE, ty * TILE_SIZE);
    let x1 = (x0 + TILE_SIZE).min(cam.width);
    let y1 = (y0 + TILE_SIZE).min(cam.height);
    (y0..y1).flat_map(move |y| (x0..x1).map(move |x| (x, y)))
}

/// Mixes `v` into hash `h` (splitmix64 finalizer; only needs to be a good mixer, not stable
/// across versions).
pub(crate) fn mix(h: u64, v: u64) -> u64 {
    let mut z = h ^ v.wrapping_add(0x9e37_79b9_7f4a_7c15).wrapping_add(h << 6).wrapping_add(h >> 2);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

pub(crate) struct Image {
    pub color: Vec<f64>,
    pub alpha: Vec<f64>,
    pub depth: Vec<f64>,
    /// Hash of every per-pixel discrete decision (who contributed, clamped, where it stopped).
    pub structure: u64,
}

pub(crate) fn forward(projs: &[Projection], lists: &[Vec<u32>], cam: &Camera64, st: &Settings64) -> Image {
    let ch = st.channels;
    let npix = (cam.width * cam.height) as usize;
    struct TileOut {
        pixels: Vec<(usize, f64, f64)>,
        color: Vec<f64>,
        hash: u64,
    }
    let tiles: Vec<TileOut> = (0..lists.len())
        .into_par_iter()
        .map(|tile| {
            let list = &lists[tile];
            let mut contribs = Vec::new();
            let mut out = TileOut { pixels: Vec::new(), color: Vec::new(), hash: tile as u64 };
            for (x, y) in tile_pixels(tile, cam) {
                let (t_final, stopped) = walk_pixel(x, y, list, projs, st, &mut contribs);
                let base = out.color.len();
                out.color.extend(st.background.iter().map(|bg| t_final * bg));
                let mut depth = 0.0;
                for c in &contribs {
                    let g = list[c.pos as usize];
                    let s = &projs[g as usize].splat;
                    let w = c.alpha * c.t;
                    for (k, v) in s.color.iter().enumerate() {
                        out.color[base + k] += w * v;
                    }
                    depth += w * s.depth;
                    out.hash = mix(out.hash, (g as u64) << 1 | c.clamped as u64);
                }
                out.hash = mix(out.hash, u64::MAX - stopped as u64);
                out.pixels.push(((y * cam.width + x) as usize, 1.0 - t_final, depth));
            }
            out
        })
        .collect();

    let mut img = Image { color: vec![0.0; npix * ch], alpha: vec![0.0; npix], depth: vec![0.0; npix], structure: 0 };
    for t in tiles {
        for (k, &(p, a, d)) in t.pixels.iter().enumerate() {
            img.alpha[p] = a;
            img.depth[p] = d;
            img.color[p * ch..(p + 1) * ch].copy_from_slice(&t.color[k * ch..(k + 1) * ch]);
        }
        img.structure = mix(img.structure, t.hash);
    }
    img
}

/// Gradients w.r.t. every Gaussian's rasterizer inputs (layout `RG_*`), and the stride
/// (values per Gaussian).
pub(crate) fn backward(
    projs: &[Projection],
    lists: &[Vec<u32>],
    cam: &Camera64,
    st: &Settings64,
    grads: &OutputGrads64,
) -> (Vec<f64>, usize) {
    let ch = st.channels;
    let stride = RG_COLOR + ch;
    let mut rg = vec![0.0; projs.len() * stride];

    /// Gradients of one tile, only for the Gaussians that contributed to one of its pixels.
    struct TileGrads {
        ids: Vec<u32>,
        values: Vec<f64>,
    }

    let tile_backward = |tile: usize| -> TileGrads {
        let list = &lists[tile];
        let mut slot_of = vec![u32::MAX; list.len()];
        let mut tg = TileGrads { ids: Vec::new(), values: Vec::new() };
        let mut contribs = Vec::new();
        let mut behind = vec![0.0; ch];
        for (x, y) in tile_pixels(tile, cam) {
            let p = (y * cam.width + x) as usize;
            let (t_final, _) = walk_pixel(x, y, list, projs, st, &mut contribs);
            let g_col = |c: usize| grads.color.get(p * ch + c).copied().unwrap_or(0.0);
            let g_a = grads.alpha.get(p).copied().unwrap_or(0.0);
            let g_d = grads.depth.get(p).copied().unwrap_or(0.0);
            // Colour and depth behind the current Gaussian, B_i; starts with the background.
            for (c, b) in behind.iter_mut().enumerate() {
                *b = t_final * st.background[c];
            }
            let mut behind_d = 0.0;
            for con in contribs.iter().rev() {
                let g = list[con.pos as usize];
                let s = &projs[g as usize].splat;
                let slot = &mut slot_of[con.pos as usize];
                if *slot == u32::MAX {
                    *slot = tg.ids.len() as u32;
                    tg.ids.push(g);
                    tg.values.resize(tg.values.len() + stride, 0.0);
                }
                let r = &mut tg.values[*slot as usize * stride..(*slot as usize + 1) * stride];
                let w = con.alpha * con.t;
                // A blended Gaussian has T_i(1 − α_i) > 1e-4 (the stop rule), so 1 − α_i > 1e-4:
                // this never divides by zero, even with alpha_clamp = 1.
                let inv = 1.0 / (1.0 - con.alpha);
                let mut g_alpha = g_a * t_final * inv + g_d * (con.t * s.depth - behind_d * inv);
                for c in 0..ch {
                    let gc = g_col(c);
                    r[RG_COLOR + c] += w * gc;
                    g_alpha += gc * (con.t * s.color[c] - behind[c] * inv);
                    behind[c] += w * s.color[c];
                }
                r[RG_DEPTH] += w * g_d;
                behind_d += w * s.depth;
                if con.clamped {
                    continue;
                }
                r[RG_OPACITY] += g_alpha * con.falloff;
                let g_sigma = -g_alpha * con.alpha;
                let [qa, qb, qc] = s.conic;
                // ∂σ/∂m = −Q d.
                r[RG_M] -= g_sigma * (qa * con.dx + qb * con.dy);
                r[RG_M + 1] -= g_sigma * (qb * con.dx + qc * con.dy);
                r[RG_CONIC] += g_sigma * 0.5 * con.dx * con.dx;
                r[RG_CONIC + 1] += g_sigma * con.dx * con.dy;
                r[RG_CONIC + 2] += g_sigma * 0.5 * con.dy * con.dy;
            }
        }
        tg
    };

    // Tiles run in parallel; their sums are added in tile order, so the result does not depend
    // on the thread count. Chunking bounds the memory held by finished tiles.
    let tiles: Vec<usize> = (0..lists.len()).collect();
    for chunk in tiles.chunks(64) {
        let results: Vec<TileGrads> = chunk.par_iter().map(|&t| tile_backward(t)).collect();
        for tg in results {
            for (k, &g) in tg.ids.iter().enumerate() {
                let dst = &mut rg[g as usize * stride..(g as usize + 1) * stride];
                for (d, v) in dst.iter_mut().zip(&tg.values[k * stride..(k + 1) * stride]) {
                    *d += v;
                }
            }
        }
    }
    (rg, stride)
}

#[cfg(test)]
mod tests {
    use super::super::project::project_all;
    use super::super::{Camera64, Params64, Settings64};
    use super::*;
    use crate::testing::{random_cloud, RandomCloudSpec};
    use crate::RenderSettings;
    use kiln_scene::camera::Camera;

    /// The binned render equals compositing every visible Gaussian at every pixel, bit for bit
    /// (the contract allows either; the tile lists must not change anything).
    #[test]
    fn binning_changes_nothing() {
        let cam = Camera::identity(53, 37, 40.0, 40.0);
        let cloud = random_cloud(&RandomCloudSpec {
            count: 300,
            camera: cam,
            screen_margin: 0.3,
            log_scale_range: (-3.0, -0.5),
            ..RandomCloudSpec::default()
        });
        let params = Params64::from_cloud(&cloud);
        let cam64 = Camera64::from(&cam);
        for antialiased in [false, true] {
            let st = Settings64::new(&RenderSettings { antialiased, ..Default::default() }, &params);
            let projs = project_all(&params, &cam64, &st);
            let lists = bin(&projs, &cam64);
            let img = forward(&projs, &lists, &cam64, &st);
            // Every Gaussian that survived the culls, including those that touch no tile.
            let mut all: Vec<u32> = (0..projs.len() as u32).filter(|&i| projs[i as usize].cache.is_some()).collect();
            all.sort_by(|&a, &b| {
                projs[a as usize].splat.depth.total_cmp(&projs[b as usize].splat.depth).then(a.cmp(&b))
            });
            let mut contribs = Vec::new();
            for y in 0..cam.height {
                for x in 0..cam.width {
                    let p = (y * cam.width + x) as usize;
                    let (t, _) = walk_pixel(x, y, &all, &projs, &st, &mut contribs);
                    let mut rgb = [0.0; 3];
                    let mut depth = 0.0;
                    for c in &contribs {
                        let s = &projs[all[c.pos as usize] as usize].splat;
                        for (v, col) in rgb.iter_mut().zip(&s.color) {
                            *v += c.alpha * c.t * col;
                        }
                        depth += c.alpha * c.t * s.depth;
                    }
                    assert_eq!(img.alpha[p], 1.0 - t, "pixel {x},{y}");
                    assert_eq!(img.depth[p], depth, "pixel {x},{y}");
                    assert_eq!(&img.color[p * 3..p * 3 + 3], &rgb, "pixel {x},{y}");
                }
            }
            let skipped: usize = lists.iter().map(|l| all.len() - l.len()).sum();
            assert!(skipped > 0, "the test should exercise tile culling");
        }
    }
}
