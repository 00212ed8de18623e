// Forward rasterization: one 16×16 workgroup per tile, one thread per pixel. Splats of the
// tile's range are staged through workgroup memory 256 at a time and composited front to back.
// CH channels (a chunk of the total, starting at u.chan.y) are accumulated per dispatch.
#include "splat_common.wgsl"

const CH: u32 = {{CH}}u;

@group(0) @binding(0) var<uniform> u: Uniforms;
@group(0) @binding(1) var<storage, read> splats: array<Splat2D>;
@group(0) @binding(2) var<storage, read> ranges: array<vec2<u32>>;
@group(0) @binding(3) var<storage, read> pair_ids: array<u32>;
@group(0) @binding(4) var<storage, read> colors: array<f32>;
@group(0) @binding(5) var<storage, read> background: array<f32>;
@group(0) @binding(6) var<storage, read_write> out_color: array<f32>;
@group(0) @binding(7) var<storage, read_write> out_alpha: array<f32>;
@group(0) @binding(8) var<storage, read_write> out_depth: array<f32>;
// Per pixel: final transmittance and the number of range entries up to the last contributor.
@group(0) @binding(9) var<storage, read_write> out_state: array<vec2<f32>>;

var<workgroup> batch_ids: array<u32, 256>;
var<workgroup> batch_xy_ab: array<vec4<f32>, 256>;
var<workgroup> batch_c_o_z: array<vec4<f32>, 256>;
var<workgroup> busy: atomic<u32>;
var<workgroup> busy_copy: u32;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let tile = linear_workgroup(wid, nwg);
    if (tile >= u.img.z * u.img.w) {
        return;
    }
    let tx = tile % u.img.z;
    let ty = tile / u.img.z;
    let px = tx * TILE + lid % TILE;
    let py = ty * TILE + lid / TILE;
    let inside = px < u.img.x && py < u.img.y;
    let pix = vec2<f32>(f32(px) + 0.5, f32(py) + 0.5);
    let range = ranges[tile];
    let stride = u.chan.x;
    let first = u.chan.y;

    var acc: array<f32, CH>;
    var T = 1.0;
    var depth = 0.0;
    var done = !inside;
    var last = 0u;
    for (var start = range.x; start < range.y; start += 256u) {
        // Stop the whole workgroup once every pixel is saturated.
        if (lid == 0u) {
            atomicStore(&busy, 0u);
        }
        workgroupBarrier();
        if (!done) {
            atomicOr(&busy, 1u);
        }
        workgroupBarrier();
        if (lid == 0u) {
            busy_copy = atomicLoad(&busy);
        }
        if (workgroupUniformLoad(&busy_copy) == 0u) {
            break;
        }
        let idx = start + lid;
        if (idx < range.y) {
            let g = pair_ids[idx];
            let s = splats[g];
            batch_ids[lid] = g;
            batch_xy_ab[lid] = s.xy_ab;
            batch_c_o_z[lid] = s.c_o_z;
        }
        workgroupBarrier();
        let batch = min(256u, range.y - start);
        for (var j = 0u; j < batch; j++) {
            if (done) {
                break;
            }
            let xy_ab = batch_xy_ab[j];
            let coz = batch_c_o_z[j];
            let d = pix - xy_ab.xy;
            let sigma = 0.5 * (xy_ab.z * d.x * d.x + coz.x * d.y * d.y) + xy_ab.w * d.x * d.y;
            // The margin keeps this cheap test strictly weaker than the exact α < 1/255 below.
            if (sigma < 0.0 || sigma > coz.w + 1e-3) {
                continue;
            }
            let alpha = min(u.clip.w, coz.y * exp(-sigma));
            if (alpha < MIN_ALPHA) {
                continue;
            }
            let next_t = T * (1.0 - alpha);
            if (next_t <= T_STOP) {
                done = true;
                break;
            }
            let w = alpha * T;
            let base = batch_ids[j] * stride + first;
            for (var c = 0u; c < CH; c++) {
                acc[c] += w * colors[base + c];
            }
            depth += w * coz.z;
            T = next_t;
            last = start + j - range.x + 1u;
        }
    }
    if (inside) {
        let p = py * u.img.x + px;
        for (var c = 0u; c < CH; c++) {
            out_color[p * stride + first + c] = acc[c] + T * background[first + c];
        }
        out_alpha[p] = 1.0 - T;
        out_depth[p] = depth;
        out_state[p] = vec2<f32>(T, bitcast<f32>(last));
    }
}
