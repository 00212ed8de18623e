// Projection backward: one thread per Gaussian. Turns the per-splat gradients the raster
// backward accumulated (mean2d, conic, opacity', depth, colour) into gradients of the
// parameters, following docs/RASTERIZER.md step by step. Per-Gaussian buffers are bound as
// slices starting at Gaussian u.range.x; indices here are local.
#include "splat_common.wgsl"

const GS: u32 = 8u;

@group(0) @binding(0) var<uniform> u: Uniforms;
@group(0) @binding(1) var<storage, read> means: array<f32>;
@group(0) @binding(2) var<storage, read> log_scales: array<f32>;
@group(0) @binding(3) var<storage, read> rotations: array<f32>;
@group(0) @binding(4) var<storage, read> opacity_logits: array<f32>;
@group(0) @binding(5) var<storage, read> sh: array<f32>;
@group(0) @binding(6) var<storage, read> g_splat: array<f32>;
@group(0) @binding(7) var<storage, read> g_color: array<f32>;
@group(0) @binding(8) var<storage, read_write> g_means: array<f32>;
@group(0) @binding(9) var<storage, read_write> g_log_scales: array<f32>;
@group(0) @binding(10) var<storage, read_write> g_rotations: array<f32>;
@group(0) @binding(11) var<storage, read_write> g_opacity: array<f32>;
@group(0) @binding(12) var<storage, read_write> g_sh: array<f32>;
@group(0) @binding(13) var<storage, read_write> g_mean2d_norm: array<f32>;
@group(0) @binding(14) var<storage, read> tile_counts: array<u32>;

fn outer2(a: vec2<f32>, b: vec2<f32>) -> mat2x2<f32> {
    return mat2x2<f32>(a * b.x, a * b.y);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = linear_workgroup(wid, nwg) * 256u + lid;
    if (i >= u.range.y) {
        return;
    }
    let mu = vec3<f32>(means[3u * i], means[3u * i + 1u], means[3u * i + 2u]);
    let ls = vec3<f32>(log_scales[3u * i], log_scales[3u * i + 1u], log_scales[3u * i + 2u]);
    let q = vec4<f32>(rotations[4u * i], rotations[4u * i + 1u], rotations[4u * i + 2u], rotations[4u * i + 3u]);
    var pr = project_gaussian(u, mu, ls, q, opacity_logits[i]);
    // Visible exactly when the forward binned it (it also checked the colour's finiteness).
    pr.visible = pr.visible && tile_counts[i] > 0u;
    let n_sh = u.cfg.z;
    var gmu = vec3<f32>(0.0);
    var gls = vec3<f32>(0.0);
    var gq = vec4<f32>(0.0);
    var glogit = 0.0;
    let g_mean2d = vec2<f32>(g_splat[i * GS], g_splat[i * GS + 1u]);
    g_mean2d_norm[i] = select(0.0, length(g_mean2d), pr.visible);
    if (pr.visible) {
        let fx = u.intr.x; let fy = u.intr.y;
        let p = pr.p;
        let z = p.z;
        let s = pr.splat;
        let Q = mat2x2<f32>(vec2<f32>(s.xy_ab.z, s.xy_ab.w), vec2<f32>(s.xy_ab.w, s.c_o_z.x));
        // dL/dQ as a symmetric matrix (B appears twice in the quadratic form).
        let gA = g_splat[i * GS + 2u];
        let gB = g_splat[i * GS + 3u];
        let gC = g_splat[i * GS + 4u];
        let G = mat2x2<f32>(vec2<f32>(gA, 0.5 * gB), vec2<f32>(0.5 * gB, gC));
        var S = (Q * G * Q) * -1.0;
        let g_o_prime = g_splat[i * GS + 5u];
        let g_depth = g_splat[i * GS + 6u];

        var g_o = g_o_prime;
        if (u.cfg.w != 0u) {
            // o' = o·k, k = √(det₀/det)
            let k = pr.aa;
            g_o = g_o_prime * k;
            if (pr.det0 > 0.0) {
                let g_k = g_o_prime * pr.opacity;
                let g_det0 = g_k * k / (2.0 * pr.det0);
                let g_det = -g_k * k / (2.0 * pr.det);
                let a0 = pr.cov2d.x; let b0 = pr.cov2d.y; let c0 = pr.cov2d.z;
                let eps = u.clip.z;
                S += g_det0 * mat2x2<f32>(vec2<f32>(c0, -b0), vec2<f32>(-b0, a0));
                S += g_det * mat2x2<f32>(vec2<f32>(c0 + eps, -b0), vec2<f32>(-b0, a0 + eps));
            }
        }
        glogit = g_o * pr.opacity * (1.0 - pr.opacity);

        // Σ₂ = J Σc Jᵀ
        let J = pr.j;
        let g_cov_cam = transpose(J) * S * J;
        let gJ = 2.0 * (S * J * pr.cov_cam); // 2×3 (mat3x2)
        var gp = vec3<f32>(0.0);
        // J = [[fx/z, 0, −fx·u/z], [0, fy/z, −fy·v/z]]
        gp.z += -fx / (z * z) * gJ[0][0] - fy / (z * z) * gJ[1][1];
        if (pr.clamped.x) {
            gp.z += fx * pr.uv.x / (z * z) * gJ[2][0];
        } else {
            gp.x += -fx / (z * z) * gJ[2][0];
            gp.z += 2.0 * fx * pr.uv.x / (z * z) * gJ[2][0];
        }
        if (pr.clamped.y) {
            gp.z += fy * pr.uv.y / (z * z) * gJ[2][1];
        } else {
            gp.y += -fy / (z * z) * gJ[2][1];
            gp.z += 2.0 * fy * pr.uv.y / (z * z) * gJ[2][1];
        }
        // mean2d = (fx x/z + cx, fy y/z + cy); depth = z
        gp += vec3<f32>(g_mean2d.x * fx / z, g_mean2d.y * fy / z,
                        -g_mean2d.x * fx * p.x / (z * z) - g_mean2d.y * fy * p.y / (z * z) + g_depth);

        let W = world_to_camera_rot(u);
        gmu = transpose(W) * gp;
        let g_cov = transpose(W) * g_cov_cam * W;
        let M = mat3x3<f32>(pr.rq[0] * pr.scale.x, pr.rq[1] * pr.scale.y, pr.rq[2] * pr.scale.z);
        let gM = 2.0 * g_cov * M;
        // M = Rq·diag(scale): column j of M is scale_j · column j of Rq.
        let g_scale = vec3<f32>(dot(pr.rq[0], gM[0]), dot(pr.rq[1], gM[1]), dot(pr.rq[2], gM[2]));
        gls = g_scale * pr.scale;
        let gR = mat3x3<f32>(gM[0] * pr.scale.x, gM[1] * pr.scale.y, gM[2] * pr.scale.z);
        // gR[col][row]; the formulas below use g_rc = d/dR[row][col].
        let g00 = gR[0][0]; let g01 = gR[1][0]; let g02 = gR[2][0];
        let g10 = gR[0][1]; let g11 = gR[1][1]; let g12 = gR[2][1];
        let g20 = gR[0][2]; let g21 = gR[1][2]; let g22 = gR[2][2];
        let w = pr.qn.x; let x = pr.qn.y; let y = pr.qn.z; let zq = pr.qn.w;
        let gqn = 2.0 * vec4<f32>(
            -zq * g01 + y * g02 + zq * g10 - x * g12 - y * g20 + x * g21,
            y * g01 + zq * g02 + y * g10 - 2.0 * x * g11 - w * g12 + zq * g20 + w * g21 - 2.0 * x * g22,
            -2.0 * y * g00 + x * g01 + w * g02 + x * g10 + zq * g12 - w * g20 + zq * g21 - 2.0 * y * g22,
            -2.0 * zq * g00 - w * g01 + x * g02 + w * g10 - 2.0 * zq * g11 + y * g12 + x * g20 + y * g21,
        );
        gq = (gqn - pr.qn * dot(pr.qn, gqn)) / pr.qlen;

        if (u.chan.w == 0u) {
            // Colour = max(Σ_k Y_k(d̂) sh_k + 0.5, 0): gradients to the coefficients and, through
            // the view direction, to the mean.
            let dvec = mu - u.cam_pos.xyz;
            let dlen = length(dvec);
            let dir = dvec / dlen;
            let basis = sh_basis(dir);
            let n = sh_count(u.cfg.y);
            let base = i * n_sh * 3u;
            var rgb = vec3<f32>(0.5);
            for (var k = 0u; k < n; k++) {
                let o = base + 3u * k;
                rgb += basis[k] * vec3<f32>(sh[o], sh[o + 1u], sh[o + 2u]);
            }
            var g_rgb = vec3<f32>(g_color[3u * i], g_color[3u * i + 1u], g_color[3u * i + 2u]);
            g_rgb = select(g_rgb, vec3<f32>(0.0), rgb < vec3<f32>(0.0));
            var wk: array<f32, 16>;
            for (var k = 0u; k < n; k++) {
                let o = base + 3u * k;
                g_sh[o] = basis[k] * g_rgb.x;
                g_sh[o + 1u] = basis[k] * g_rgb.y;
                g_sh[o + 2u] = basis[k] * g_rgb.z;
                wk[k] = dot(g_rgb, vec3<f32>(sh[o], sh[o + 1u], sh[o + 2u]));
            }
            let g_dir = sh_basis_grad(dir, wk, u.cfg.y);
            gmu += (g_dir - dir * dot(dir, g_dir)) / dlen;
        }
    }
    g_means[3u * i] = gmu.x;
    g_means[3u * i + 1u] = gmu.y;
    g_means[3u * i + 2u] = gmu.z;
    g_log_scales[3u * i] = gls.x;
    g_log_scales[3u * i + 1u] = gls.y;
    g_log_scales[3u * i + 2u] = gls.z;
    g_rotations[4u * i] = gq.x;
    g_rotations[4u * i + 1u] = gq.y;
    g_rotations[4u * i + 2u] = gq.z;
    g_rotations[4u * i + 3u] = gq.w;
    g_opacity[i] = glogit;
}
