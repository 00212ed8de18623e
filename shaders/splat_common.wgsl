// Shared math of the splat rasterizer; the contract is docs/RASTERIZER.md.
#include "common.wgsl"

const TILE: u32 = 16u;
const TILE_PIXELS: u32 = 256u;
const MIN_ALPHA: f32 = 0.003921568627451; // 1/255
const T_STOP: f32 = 1e-4;

struct Uniforms {
    rot0: vec4<f32>,   // row 0 of the world-to-camera rotation; w = translation.x
    rot1: vec4<f32>,
    rot2: vec4<f32>,
    cam_pos: vec4<f32>, // camera centre in world space
    intr: vec4<f32>,    // fx, fy, cx, cy
    clip: vec4<f32>,    // near, far, eps2d, alpha_clamp
    img: vec4<u32>,     // width, height, tiles_x, tiles_y
    cfg: vec4<u32>,     // gaussians, active SH degree, SH coefficients stored per splat, antialiased
    chan: vec4<u32>,    // total channels, first channel of this chunk, chunk width, colour source (0 SH, 1 features)
    range: vec4<u32>,   // per-Gaussian kernels: first Gaussian of this dispatch, Gaussians in it
}

// A projected splat: mean2d, conic (A, B, C), blending opacity o', depth z.
struct Splat2D {
    xy_ab: vec4<f32>,  // mean.x, mean.y, A, B
    c_o_z: vec4<f32>,  // C, opacity', depth, ln(255·opacity') (σ beyond it: α < 1/255)
}

fn is_finite(v: f32) -> bool {
    return (bitcast<u32>(v) & 0x7f800000u) != 0x7f800000u;
}

fn world_to_camera_rot(u: Uniforms) -> mat3x3<f32> {
    // mat3x3 takes columns; build from rows and transpose.
    return transpose(mat3x3<f32>(u.rot0.xyz, u.rot1.xyz, u.rot2.xyz));
}

// Rotation matrix of a normalized quaternion (w, x, y, z).
fn quat_to_mat(q: vec4<f32>) -> mat3x3<f32> {
    let w = q.x; let x = q.y; let y = q.z; let z = q.w;
    return mat3x3<f32>(
        vec3<f32>(1.0 - 2.0 * (y * y + z * z), 2.0 * (x * y + w * z), 2.0 * (x * z - w * y)),
        vec3<f32>(2.0 * (x * y - w * z), 1.0 - 2.0 * (x * x + z * z), 2.0 * (y * z + w * x)),
        vec3<f32>(2.0 * (x * z + w * y), 2.0 * (y * z - w * x), 1.0 - 2.0 * (x * x + y * y)),
    );
}

// Pixel rectangle of pixel centres covered by tile (tx, ty), clipped to the image.
fn tile_rect(u: Uniforms, tx: u32, ty: u32) -> vec4<f32> {
    let x0 = f32(tx * TILE) + 0.5;
    let y0 = f32(ty * TILE) + 0.5;
    let x1 = f32(min(tx * TILE + TILE, u.img.x) - 1u) + 0.5;
    let y1 = f32(min(ty * TILE + TILE, u.img.y) - 1u) + 0.5;
    return vec4<f32>(x0, y0, x1, y1);
}

// Minimum of q(d) = A dx² + 2B dx dy + C dy² along an edge where dx is fixed, dy in [lo, hi].
fn edge_min(A: f32, B: f32, C: f32, dx: f32, lo: f32, hi: f32) -> f32 {
    let dy = clamp(-B * dx / C, lo, hi);
    return A * dx * dx + 2.0 * B * dx * dy + C * dy * dy;
}

// Whether the ellipse ½dᵀQd ≤ τ meets the tile's pixel-centre rectangle (exact, with τ
// already inflated by the caller). Count and emit both call this: they must agree bit for bit.
fn tile_touches(u: Uniforms, s: Splat2D, tau2: f32, tx: u32, ty: u32) -> bool {
    let r = tile_rect(u, tx, ty);
    let m = s.xy_ab.xy;
    let A = s.xy_ab.z; let B = s.xy_ab.w; let C = s.c_o_z.x;
    if (m.x >= r.x && m.x <= r.z && m.y >= r.y && m.y <= r.w) {
        return true;
    }
    let lx = r.x - m.x; let hx = r.z - m.x;
    let ly = r.y - m.y; let hy = r.w - m.y;
    var best = min(edge_min(A, B, C, lx, ly, hy), edge_min(A, B, C, hx, ly, hy));
    best = min(best, min(edge_min(C, B, A, ly, lx, hx), edge_min(C, B, A, hy, lx, hx)));
    return best <= tau2;
}

// 2τ inflated so that rounding never drops a contributing pixel (extra tiles change nothing).
fn splat_tau2(s: Splat2D) -> f32 {
    let tau = log(255.0 * s.c_o_z.y);
    return 2.0 * (tau * (1.0 + 1e-4) + 1e-4);
}

// Tile search box [tx0, ty0, tx1, ty1] (inclusive) of a visible splat, clipped to the image.
// Empty when tx0 > tx1 or ty0 > ty1.
fn splat_tile_box(u: Uniforms, s: Splat2D) -> vec4<i32> {
    let A = s.xy_ab.z; let B = s.xy_ab.w; let C = s.c_o_z.x;
    let det = A * C - B * B;
    // Covariance diagonal from the conic: Σ_xx = C/det, Σ_yy = A/det.
    let t2 = splat_tau2(s);
    let rx = sqrt(t2 * C / det);
    let ry = sqrt(t2 * A / det);
    let m = s.xy_ab.xy;
    let fx0 = floor((m.x - rx) / f32(TILE));
    let fx1 = floor((m.x + rx) / f32(TILE));
    let fy0 = floor((m.y - ry) / f32(TILE));
    let fy1 = floor((m.y + ry) / f32(TILE));
    let tmax = vec2<f32>(f32(u.img.z) - 1.0, f32(u.img.w) - 1.0);
    // Clamp in float first: huge splats give boxes far past i32's range.
    let x0 = i32(clamp(fx0, -1.0, tmax.x + 1.0));
    let x1 = i32(clamp(fx1, -1.0, tmax.x + 1.0));
    let y0 = i32(clamp(fy0, -1.0, tmax.y + 1.0));
    let y1 = i32(clamp(fy1, -1.0, tmax.y + 1.0));
    return vec4<i32>(max(x0, 0), max(y0, 0), min(x1, i32(u.img.z) - 1), min(y1, i32(u.img.w) - 1));
}

const SH_C0: f32 = 0.28209479177387814;
const SH_C1: f32 = 0.4886025119029199;
const SH_C2_0: f32 = 1.0925484305920792;
const SH_C2_1: f32 = -1.0925484305920792;
const SH_C2_2: f32 = 0.31539156525252005;
const SH_C2_3: f32 = -1.0925484305920792;
const SH_C2_4: f32 = 0.5462742152960396;
const SH_C3_0: f32 = -0.5900435899266435;
const SH_C3_1: f32 = 2.890611442640554;
const SH_C3_2: f32 = -0.4570457994644658;
const SH_C3_3: f32 = 0.3731763325901154;
const SH_C3_4: f32 = -0.4570457994644658;
const SH_C3_5: f32 = 1.445305721320277;
const SH_C3_6: f32 = -0.5900435899266435;

// The 16 real SH basis values at unit direction d (3DGS order and signs).
fn sh_basis(d: vec3<f32>) -> array<f32, 16> {
    let x = d.x; let y = d.y; let z = d.z;
    let xx = x * x; let yy = y * y; let zz = z * z;
    return array<f32, 16>(
        SH_C0,
        -SH_C1 * y, SH_C1 * z, -SH_C1 * x,
        SH_C2_0 * x * y, SH_C2_1 * y * z, SH_C2_2 * (2.0 * zz - xx - yy), SH_C2_3 * x * z, SH_C2_4 * (xx - yy),
        SH_C3_0 * y * (3.0 * xx - yy), SH_C3_1 * x * y * z, SH_C3_2 * y * (4.0 * zz - xx - yy),
        SH_C3_3 * z * (2.0 * zz - 3.0 * xx - 3.0 * yy), SH_C3_4 * x * (4.0 * zz - xx - yy),
        SH_C3_5 * z * (xx - yy), SH_C3_6 * x * (xx - 3.0 * yy),
    );
}

// Gradient of Σ_k w_k·basis_k(d) with respect to d (not normalized direction).
fn sh_basis_grad(d: vec3<f32>, w: array<f32, 16>, degree: u32) -> vec3<f32> {
    let x = d.x; let y = d.y; let z = d.z;
    let xx = x * x; let yy = y * y; let zz = z * z;
    var g = vec3<f32>(0.0);
    if (degree >= 1u) {
        g += vec3<f32>(-SH_C1 * w[3], -SH_C1 * w[1], SH_C1 * w[2]);
    }
    if (degree >= 2u) {
        g += SH_C2_0 * w[4] * vec3<f32>(y, x, 0.0);
        g += SH_C2_1 * w[5] * vec3<f32>(0.0, z, y);
        g += SH_C2_2 * w[6] * vec3<f32>(-2.0 * x, -2.0 * y, 4.0 * z);
        g += SH_C2_3 * w[7] * vec3<f32>(z, 0.0, x);
        g += SH_C2_4 * w[8] * vec3<f32>(2.0 * x, -2.0 * y, 0.0);
    }
    if (degree >= 3u) {
        g += SH_C3_0 * w[9] * vec3<f32>(6.0 * x * y, 3.0 * xx - 3.0 * yy, 0.0);
        g += SH_C3_1 * w[10] * vec3<f32>(y * z, x * z, x * y);
        g += SH_C3_2 * w[11] * vec3<f32>(-2.0 * x * y, 4.0 * zz - xx - 3.0 * yy, 8.0 * y * z);
        g += SH_C3_3 * w[12] * vec3<f32>(-6.0 * x * z, -6.0 * y * z, 6.0 * zz - 3.0 * xx - 3.0 * yy);
        g += SH_C3_4 * w[13] * vec3<f32>(4.0 * zz - 3.0 * xx - yy, -2.0 * x * y, 8.0 * x * z);
        g += SH_C3_5 * w[14] * vec3<f32>(2.0 * x * z, -2.0 * y * z, xx - yy);
        g += SH_C3_6 * w[15] * vec3<f32>(3.0 * xx - 3.0 * yy, -6.0 * x * y, 0.0);
    }
    return g;
}

fn sh_count(degree: u32) -> u32 {
    return (degree + 1u) * (degree + 1u);
}

// Everything the projection computes, kept for the backward pass (which recomputes it).
struct Projection {
    visible: bool,
    p: vec3<f32>,          // camera-space mean
    qn: vec4<f32>,         // normalized quaternion
    qlen: f32,
    rq: mat3x3<f32>,       // rotation of the quaternion
    scale: vec3<f32>,
    cov_cam: mat3x3<f32>,  // Σc
    j: mat3x2<f32>,        // clamped Jacobian (2 rows, 3 columns)
    clamped: vec2<bool>,   // u, v hit the frustum clamp
    uv: vec2<f32>,         // clamped x/z, y/z
    cov2d: vec3<f32>,      // a0, b0, c0 (before the blur)
    det: f32,              // of the blurred covariance
    det0: f32,
    aa: f32,               // antialiasing factor k (1 in classic mode)
    opacity: f32,          // sigmoid(logit)
    splat: Splat2D,
}

fn project_gaussian(u: Uniforms, mu: vec3<f32>, log_s: vec3<f32>, q: vec4<f32>, logit: f32) -> Projection {
    var out: Projection;
    out.visible = false;
    let qq = dot(q, q);
    if (!(is_finite(mu.x) && is_finite(mu.y) && is_finite(mu.z) && is_finite(log_s.x) && is_finite(log_s.y)
        && is_finite(log_s.z) && is_finite(q.x) && is_finite(q.y) && is_finite(q.z) && is_finite(q.w)
        && is_finite(logit) && qq > 0.0 && is_finite(qq))) {
        return out;
    }
    let w = world_to_camera_rot(u);
    let t = vec3<f32>(u.rot0.w, u.rot1.w, u.rot2.w);
    let p = w * mu + t;
    out.p = p;
    if (!(p.z >= u.clip.x && p.z <= u.clip.y)) {
        return out;
    }
    out.qlen = sqrt(qq);
    out.qn = q / out.qlen;
    out.rq = quat_to_mat(out.qn);
    out.scale = exp(log_s);
    let m = mat3x3<f32>(out.rq[0] * out.scale.x, out.rq[1] * out.scale.y, out.rq[2] * out.scale.z);
    let cov = m * transpose(m);
    out.cov_cam = w * cov * transpose(w);

    let fx = u.intr.x; let fy = u.intr.y; let cx = u.intr.z; let cy = u.intr.w;
    let width = f32(u.img.x); let height = f32(u.img.y);
    let tan_x = 0.5 * width / fx;
    let tan_y = 0.5 * height / fy;
    let lim_xp = (width - cx) / fx + 0.3 * tan_x;
    let lim_xn = cx / fx + 0.3 * tan_x;
    let lim_yp = (height - cy) / fy + 0.3 * tan_y;
    let lim_yn = cy / fy + 0.3 * tan_y;
    let z = p.z;
    let rx = p.x / z;
    let ry = p.y / z;
    let uu = clamp(rx, -lim_xn, lim_xp);
    let vv = clamp(ry, -lim_yn, lim_yp);
    out.uv = vec2<f32>(uu, vv);
    out.clamped = vec2<bool>(rx < -lim_xn || rx > lim_xp, ry < -lim_yn || ry > lim_yp);
    // Columns of the 2×3 Jacobian.
    out.j = mat3x2<f32>(vec2<f32>(fx / z, 0.0), vec2<f32>(0.0, fy / z), vec2<f32>(-fx * uu / z, -fy * vv / z));
    // Σ₂ = T Tᵀ with T = J W M (2×3). Its determinant is |t₀ × t₁|² (Cauchy–Binet) rather than
    // a₀c₀ − b₀², which cancels catastrophically in f32 for needle-like splats.
    let tm = out.j * (w * m);
    let t0 = vec3<f32>(tm[0][0], tm[1][0], tm[2][0]);
    let t1 = vec3<f32>(tm[0][1], tm[1][1], tm[2][1]);
    let a0 = dot(t0, t0); let b0 = dot(t0, t1); let c0 = dot(t1, t1);
    let cr = cross(t0, t1);
    out.cov2d = vec3<f32>(a0, b0, c0);
    let eps = u.clip.z;
    let a = a0 + eps; let c = c0 + eps;
    out.det0 = dot(cr, cr);
    let det = out.det0 + eps * (a0 + c0) + eps * eps;
    out.det = det;
    if (!(det > 0.0) || !(a > 0.0) || !is_finite(det) || !is_finite(a) || !is_finite(c)) {
        return out;
    }
    out.opacity = 1.0 / (1.0 + exp(-logit));
    out.aa = 1.0;
    if (u.cfg.w != 0u) {
        out.aa = sqrt(max(0.0, out.det0 / det));
    }
    let o = out.opacity * out.aa;
    if (!(o >= MIN_ALPHA)) {
        return out;
    }
    let mean = vec2<f32>(fx * p.x / z + cx, fy * p.y / z + cy);
    out.splat.xy_ab = vec4<f32>(mean, c / det, -b0 / det);
    out.splat.c_o_z = vec4<f32>(a / det, o, z, log(255.0 * o));
    if (!(is_finite(mean.x) && is_finite(mean.y) && is_finite(c / det) && is_finite(a / det)
        && is_finite(b0 / det))) {
        return out;
    }
    out.visible = true;
    return out;
}
