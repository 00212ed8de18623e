// Separable resampling of a batch of images by two sparse matrices, one per axis:
//
//   dst[b, i, j] = Σ_{a ∈ rows(i)} Σ_{c ∈ cols(j)} w_r(i, a) · w_c(j, c) · src[b, a, c]
//
// The CoherentGS decoder's ×2 bilinear upsample together with its convolution's padding rows
// is this with the interpolation matrices (≤ 2 taps per axis); its adjoint, the backward of
// that upsample, is this with the transposed matrices. Driven by kiln_nn::GpuDecoder, whose
// test compares it with Burn's matrix-product form.
//
// A table (u32) is CSR: ptr[n + 1] | source index[nnz] | weight bits[nnz], n = the output size
// on that axis. One thread per output element.

#include "common.wgsl"

struct Params {
    batch: u32,
    in_h: u32,
    in_w: u32,
    out_h: u32,
    out_w: u32,
    rows_nnz: u32,
    cols_nnz: u32,
    total: u32,
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
@group(0) @binding(3) var<storage, read> rows: array<u32>;
@group(0) @binding(4) var<storage, read> cols: array<u32>;

@compute @workgroup_size(256)
fn main(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let e = linear_workgroup(wid, nwg) * 256u + lid;
    if (e >= P.total) {
        return;
    }
    let j = e % P.out_w;
    let i = (e / P.out_w) % P.out_h;
    let b = e / (P.out_w * P.out_h);
    let row_index = P.out_h + 1u;
    let row_weight = row_index + P.rows_nnz;
    let col_index = P.out_w + 1u;
    let col_weight = col_index + P.cols_nnz;
    let c_begin = cols[j];
    let c_end = cols[j + 1u];
    var acc = 0.0;
    for (var r = rows[i]; r < rows[i + 1u]; r++) {
        let base = (b * P.in_h + rows[row_index + r]) * P.in_w;
        var along = 0.0;
        for (var c = c_begin; c < c_end; c++) {
            along += bitcast<f32>(cols[col_weight + c]) * src[base + cols[col_index + c]];
        }
        acc += bitcast<f32>(rows[row_weight + r]) * along;
    }
    dst[e] = acc;
}
