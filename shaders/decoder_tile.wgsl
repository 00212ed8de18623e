// The tile shared by decoder_conv.wgsl and decoder_conv_data.wgsl: a workgroup of 16 × BN/4
// threads computes a 64 × BN block of a matrix product, 4 × 4 per thread (four adjacent rows ×
// four adjacent columns, each read from workgroup memory as one vec4), from 16-deep slices of
// both operands staged in workgroup memory. BN (16, 32 or 64) is the including kernel's define.

const BM: u32 = 64u;
const BN: u32 = {{BN}}u;
const BK: u32 = 16u;
const TN: u32 = BN / 4u;
const THREADS: u32 = 16u * TN;
// Marks a row or column past the end in the kernels' offset tables.
const NONE: u32 = 0xffffffffu;

var<workgroup> a_tile: array<vec4<f32>, 256>; // [BK][BM / 4]
var<workgroup> b_tile: array<vec4<f32>, {{BN}} * 4>; // [BK][BN / 4]

// Element e of the A slice: row e % BM of K index e / BM.
fn put_a(e: u32, value: f32) {
    a_tile[e / 4u][e % 4u] = value;
}

// Element e of the B slice: column e / BK of K index e % BK.
fn put_b(e: u32, value: f32) {
    let column = e / BK;
    b_tile[(e % BK) * TN + column / 4u][column % 4u] = value;
}

// The thread's 4 × 4 block: row i in r[i], its four columns in the vec4.
struct Block {
    r0: vec4<f32>,
    r1: vec4<f32>,
    r2: vec4<f32>,
    r3: vec4<f32>,
}

// Adds the staged slices' product to the block of thread (lx, ly).
fn multiply_slices(lx: u32, ly: u32, block: Block) -> Block {
    var out = block;
    for (var kk = 0u; kk < BK; kk++) {
        let a = a_tile[kk * 16u + lx];
        let b = b_tile[kk * TN + ly];
        out.r0 += a.x * b;
        out.r1 += a.y * b;
        out.r2 += a.z * b;
        out.r3 += a.w * b;
    }
    return out;
}
