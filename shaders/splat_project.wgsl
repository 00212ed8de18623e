// Forward projection: one thread per Gaussian. Writes the 2D splat, its colour, the number of
// tiles it touches and its depth-sort key (invisible splats sort last with key 0xffffffff).
// Per-Gaussian buffers are bound as slices starting at Gaussian u.range.x (clouds larger than
// one storage binding are projected in several dispatches); indices here are local.
#include "splat_common.wgsl"

@group(0) @binding(0) var<uniform> u: Uniforms;
@group(0) @binding(1) var<storage, read> means: array<f32>;
@group(0) @binding(2) var<storage, read> log_scales: array<f32>;
@group(0) @binding(3) var<storage, read> rotations: array<f32>;
@group(0) @binding(4) var<storage, read> opacity_logits: array<f32>;
@group(0) @binding(5) var<storage, read> sh: array<f32>;
@group(0) @binding(6) var<storage, read_write> splats: array<Splat2D>;
@group(0) @binding(7) var<storage, read_write> colors: array<f32>;
@group(0) @binding(8) var<storage, read_write> tile_counts: array<u32>;
@group(0) @binding(9) var<storage, read_write> depth_keys: array<u32>;
@group(0) @binding(10) var<storage, read_write> depth_ids: array<u32>;
@group(0) @binding(11) var<storage, read> features: array<f32>;

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
    let pr = project_gaussian(u, mu, ls, q, opacity_logits[i]);
    depth_ids[i] = u.range.x + i;
    // The colour (or the features) this render reads must be finite too, else the splat is culled.
    var visible = pr.visible;
    var rgb = vec3<f32>(0.5);
    if (visible && u.chan.w == 0u) {
        let dir = normalize(mu - u.cam_pos.xyz);
        let basis = sh_basis(dir);
        let n = sh_count(u.cfg.y);
        let base = i * u.cfg.z * 3u;
        for (var k = 0u; k < n; k++) {
            let o = base + 3u * k;
            rgb += basis[k] * vec3<f32>(sh[o], sh[o + 1u], sh[o + 2u]);
        }
        visible = is_finite(rgb.x) && is_finite(rgb.y) && is_finite(rgb.z);
        rgb = max(rgb, vec3<f32>(0.0));
    } else if (visible) {
        let c = u.chan.x;
        for (var k = 0u; k < c; k++) {
            visible = visible && is_finite(features[i * c + k]);
        }
    }
    var count = 0u;
    if (visible) {
        let s = pr.splat;
        let tau2 = splat_tau2(s);
        let box = splat_tile_box(u, s);
        for (var ty = box.y; ty <= box.w; ty++) {
            for (var tx = box.x; tx <= box.z; tx++) {
                if (tile_touches(u, s, tau2, u32(tx), u32(ty))) {
                    count += 1u;
                }
            }
        }
    }
    tile_counts[i] = count;
    if (count == 0u) {
        splats[i] = Splat2D(vec4<f32>(0.0), vec4<f32>(0.0));
        depth_keys[i] = 0xffffffffu;
        return;
    }
    splats[i] = pr.splat;
    // Positive floats order like their bit patterns.
    depth_keys[i] = bitcast<u32>(pr.p.z);
    if (u.chan.w == 0u) {
        colors[3u * i] = rgb.x;
        colors[3u * i + 1u] = rgb.y;
        colors[3u * i + 2u] = rgb.z;
    }
}
