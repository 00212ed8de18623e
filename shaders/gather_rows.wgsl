// Row gather on flat f32 buffers: dst[i·row + k] = src[indices[i]·row + k], or 0 where
// indices[i] is 0xffffffff (GATHER_ZERO). Compaction after pruning, duplication for clones, and
// zero rows for new entries are all one gather. Driven by kiln_gpu::GpuContext::gather_rows.
// Defines: WG (threads per workgroup).

#include "common.wgsl"

const WG: u32 = {{WG}}u;
const ZERO_ROW: u32 = 0xffffffffu;

struct Params {
    // Rows written and floats per row.
    count: u32,
    row: u32,
    // Rows in src (indices at or past it also read as zero rows).
    src_rows: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> indices: array<u32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size({{WG}})
fn main(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let e = linear_workgroup(wid, nwg) * WG + lid;
    if (e >= P.count * P.row) {
        return;
    }
    let i = e / P.row;
    let k = e - i * P.row;
    let s = indices[i];
    var v = 0.0;
    if (s != ZERO_ROW && s < P.src_rows) {
        v = src[s * P.row + k];
    }
    dst[e] = v;
}
