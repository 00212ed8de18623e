// Exclusive prefix sum of u32, reduce-then-scan (no inter-workgroup communication inside a
// dispatch, so no forward-progress assumptions). Driven by kiln_gpu::scan::PrefixScan.
//
// One level of the hierarchy over `n` elements in blocks of BLOCK = WG × KPT:
//   reduce:   dst[dst_base + b] = Σ src[src_base + b·BLOCK ..][..BLOCK]        (block sums)
//   scan_add: dst[dst_base + i] = offsets[off_base + b] + exclusive scan within block b
//             (offsets absent on the top level, which is a single block and writes the total).
// Levels live in one scratch buffer; src, dst, offsets and total may be the same buffer (all
// bindings are read_write so that aliasing them is allowed), which makes in-place scans work.
//
// Defines: WG (threads, power of two ≥ 32), KPT (elements per thread), SH_SIZE (skewed size of
// BLOCK), and REDUCE or SCAN_ADD to pick the bindings.

#include "common.wgsl"

const WG: u32 = {{WG}}u;
const KPT: u32 = {{KPT}}u;
const BLOCK: u32 = WG * KPT;
const NONE: u32 = 0xffffffffu;

struct Params {
    n: u32,
    src_base: u32,
    dst_base: u32,
    // Base of the scanned block sums of the next level in `offsets`, or NONE (top level).
    off_base: u32,
    // Index in `total` that receives the sum of all n elements, or NONE.
    total_index: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> src: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;
#ifdef SCAN_ADD
@group(0) @binding(3) var<storage, read_write> offsets: array<u32>;
@group(0) @binding(4) var<storage, read_write> total: array<u32>;
#endif

// Skewed index into workgroup arrays: one padding word every 32 removes the bank conflicts of
// blocked (stride KPT) access.
fn skew(i: u32) -> u32 {
    return i + (i >> 5u);
}

var<workgroup> sh: array<u32, {{SH_SIZE}}>;
var<workgroup> part: array<u32, 2u * WG>;

fn block_count(n: u32) -> u32 {
    return n / BLOCK + select(0u, 1u, n % BLOCK != 0u);
}

// Exclusive scan of one value per thread across the workgroup (Hillis–Steele, ping-pong).
// Returns (exclusive prefix, workgroup total). Starts and ends with a barrier.
fn workgroup_exclusive_scan(lid: u32, v: u32) -> vec2<u32> {
    workgroupBarrier();
    part[lid] = v;
    workgroupBarrier();
    var cur = 0u;
    for (var offset = 1u; offset < WG; offset = offset << 1u) {
        var x = part[cur + lid];
        if (lid >= offset) {
            x += part[cur + lid - offset];
        }
        part[(WG - cur) + lid] = x;
        cur = WG - cur;
        workgroupBarrier();
    }
    let inclusive = part[cur + lid];
    let sum = part[cur + WG - 1u];
    workgroupBarrier();
    return vec2<u32>(inclusive - v, sum);
}

#ifdef REDUCE
@compute @workgroup_size({{WG}})
fn reduce(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let block = linear_workgroup(wid, nwg);
    if (block >= block_count(P.n)) {
        return;
    }
    let base = block * BLOCK;
    var s = 0u;
    for (var j = 0u; j < KPT; j++) {
        let i = base + j * WG + lid;
        if (i < P.n) {
            s += src[P.src_base + i];
        }
    }
    let r = workgroup_exclusive_scan(lid, s);
    if (lid == 0u) {
        dst[P.dst_base + block] = r.y;
    }
}
#endif

#ifdef SCAN_ADD
@compute @workgroup_size({{WG}})
fn scan_add(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let block = linear_workgroup(wid, nwg);
    // The top level runs one workgroup even for n = 0, so that the total (0) is written.
    if (block >= max(block_count(P.n), 1u)) {
        return;
    }
    let base = block * BLOCK;
    // Striped (coalesced) load into workgroup memory...
    for (var j = 0u; j < KPT; j++) {
        let i = j * WG + lid;
        var v = 0u;
        if (base + i < P.n) {
            v = src[P.src_base + base + i];
        }
        sh[skew(i)] = v;
    }
    workgroupBarrier();
    // ...then each thread scans its KPT consecutive elements.
    var vals: array<u32, KPT>;
    var s = 0u;
    for (var j = 0u; j < KPT; j++) {
        vals[j] = sh[skew(lid * KPT + j)];
        s += vals[j];
    }
    let r = workgroup_exclusive_scan(lid, s);
    var run = r.x;
    if (P.off_base != NONE) {
        run += offsets[P.off_base + block];
    }
    for (var j = 0u; j < KPT; j++) {
        sh[skew(lid * KPT + j)] = run;
        run += vals[j];
    }
    if (P.total_index != NONE && lid == WG - 1u && block + 1u >= block_count(P.n)) {
        total[P.total_index] = run;
    }
    workgroupBarrier();
    for (var j = 0u; j < KPT; j++) {
        let i = j * WG + lid;
        if (base + i < P.n) {
            dst[P.dst_base + base + i] = sh[skew(i)];
        }
    }
}
#endif
