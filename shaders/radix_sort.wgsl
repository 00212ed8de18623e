// Stable LSD radix sort of u32 keys with u32 values, 4-bit digits, reduce-then-scan.
// Driven by kiln_gpu::sort::RadixSort. Per digit pass:
//   count:   each workgroup counts the digits of its block of BLOCK = WG × KPT keys into
//            hist[digit * stride + block] (digit-major, so that one exclusive scan of hist gives
//            every (digit, block) its first output position);
//   (scan.wgsl scans hist into offs);
//   scatter: each workgroup ranks its block's keys by digit (stable: ties keep their order),
//            reorders them through workgroup memory and writes each key/value to
//            offs[digit * stride + block] + its rank among the block's keys of that digit.
// No workgroup waits on another inside a dispatch (no decoupled look-back).
//
// The element count is info[0], written before the passes (from the host, or copied from a GPU
// buffer and clamped by `setup`, which also writes the indirect workgroup counts). Kernels return
// past the last block and never touch elements at or past the count.
//
// Defines: WG (threads, power of two ≥ 32), KPT (keys per thread), SH_SIZE (skewed size of
// max(BLOCK, 8·WG) words), and one of SETUP, COUNT, SCATTER, COPY to pick the bindings.

#include "common.wgsl"

const WG: u32 = {{WG}}u;
const KPT: u32 = {{KPT}}u;
const BLOCK: u32 = WG * KPT;
const RADIX: u32 = 16u;
// Digit counters are packed two per u32 (digit d in lane d % 8, half d / 8).
const LANES: u32 = 8u;
// Replicas of the count kernel's workgroup histogram (fewer atomic collisions).
const COPIES: u32 = 8u;
const MAX_GROUPS: u32 = 65535u;

struct Params {
    shift: u32,
    // Digit mask: 15, or fewer bits on the last pass when key_bits is not a multiple of 4.
    mask: u32,
    // Blocks per digit row of hist/offs (blocks of the capacity).
    stride: u32,
    // Capacity: the GPU count is clamped to it.
    max_count: u32,
}

fn block_count(n: u32) -> u32 {
    return n / BLOCK + select(0u, 1u, n % BLOCK != 0u);
}

#ifdef SETUP
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> info: array<u32>;
@group(0) @binding(2) var<storage, read_write> args: array<u32>;

// Clamps the count to the capacity and writes the workgroup grid of the block kernels
// (folded into 2-D like kiln_gpu::dispatch_size).
@compute @workgroup_size(1)
fn setup() {
    let count = min(info[0], P.max_count);
    info[0] = count;
    let blocks = block_count(count);
    if (blocks <= MAX_GROUPS) {
        args[0] = blocks;
        args[1] = 1u;
    } else {
        args[0] = MAX_GROUPS;
        args[1] = blocks / MAX_GROUPS + select(0u, 1u, blocks % MAX_GROUPS != 0u);
    }
    args[2] = 1u;
}
#endif

#ifdef COUNT
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> info: array<u32>;
@group(0) @binding(2) var<storage, read> keys_in: array<u32>;
@group(0) @binding(3) var<storage, read_write> hist: array<u32>;

var<workgroup> counts: array<atomic<u32>, RADIX * COPIES>;

@compute @workgroup_size({{WG}})
fn count(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let n = info[0];
    let block = linear_workgroup(wid, nwg);
    if (block >= block_count(n)) {
        return;
    }
    for (var i = lid; i < RADIX * COPIES; i += WG) {
        atomicStore(&counts[i], 0u);
    }
    workgroupBarrier();
    let base = block * BLOCK;
    let copy = lid % COPIES;
    for (var j = 0u; j < KPT; j++) {
        let i = base + j * WG + lid;
        if (i < n) {
            let d = (keys_in[i] >> P.shift) & P.mask;
            atomicAdd(&counts[d * COPIES + copy], 1u);
        }
    }
    workgroupBarrier();
    if (lid < RADIX) {
        var s = 0u;
        for (var c = 0u; c < COPIES; c++) {
            s += atomicLoad(&counts[lid * COPIES + c]);
        }
        hist[lid * P.stride + block] = s;
    }
}
#endif

#ifdef SCATTER
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> info: array<u32>;
@group(0) @binding(2) var<storage, read> keys_in: array<u32>;
@group(0) @binding(3) var<storage, read> vals_in: array<u32>;
@group(0) @binding(4) var<storage, read> offs: array<u32>;
@group(0) @binding(5) var<storage, read_write> keys_out: array<u32>;
@group(0) @binding(6) var<storage, read_write> vals_out: array<u32>;

// Staging for transposes and the local reorder, and (in between) the digit counters.
var<workgroup> sh: array<u32, {{SH_SIZE}}>;
var<workgroup> part: array<u32, 2u * WG>;
// Per digit: first output position of this block's keys of that digit, minus the digit's first
// position in the block's locally sorted order.
var<workgroup> digit_base: array<u32, RADIX>;

// One padding word every 32 removes bank conflicts of strided access.
fn skew(i: u32) -> u32 {
    return i + (i >> 5u);
}

// Exclusive scan of one value per thread (Hillis–Steele, ping-pong); returns (prefix, total).
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

@compute @workgroup_size({{WG}})
fn scatter(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let n = info[0];
    let block = linear_workgroup(wid, nwg);
    if (block >= block_count(n)) {
        return;
    }
    let base = block * BLOCK;
    let valid = min(n - base, BLOCK);

    // Coalesced (striped) loads. Slots past the count get key 0xffffffff: its digit is the
    // largest, and it comes last in the block, so it ranks after every real key.
    var keys: array<u32, KPT>;
    var vals: array<u32, KPT>;
    for (var j = 0u; j < KPT; j++) {
        let i = j * WG + lid;
        keys[j] = 0xffffffffu;
        vals[j] = 0u;
        if (i < valid) {
            keys[j] = keys_in[base + i];
            vals[j] = vals_in[base + i];
        }
    }

    // Keys to blocked order: thread t holds block elements t·KPT .. t·KPT + KPT - 1.
    for (var j = 0u; j < KPT; j++) {
        sh[skew(j * WG + lid)] = keys[j];
    }
    workgroupBarrier();
    for (var j = 0u; j < KPT; j++) {
        keys[j] = sh[skew(lid * KPT + j)];
    }
    workgroupBarrier();

    // Per-thread digit counters: word (lane, thread) = sh[skew(lane · WG + thread)] holds the
    // counts of digits lane (low 16 bits) and lane + 8 (high 16 bits). Each thread touches only
    // its own words here, so no atomics and no barrier between clearing and counting.
    for (var l = 0u; l < LANES; l++) {
        sh[skew(l * WG + lid)] = 0u;
    }
    var rank: array<u32, KPT>;
    for (var j = 0u; j < KPT; j++) {
        let d = (keys[j] >> P.shift) & P.mask;
        let w = skew((d % LANES) * WG + lid);
        let half = (d / LANES) * 16u;
        let prior = sh[w];
        sh[w] = prior + (1u << half);
        rank[j] = (prior >> half) & 0xffffu; // earlier keys of this digit in this thread
    }
    workgroupBarrier();

    // Exclusive scan of all counter words in (lane, thread) order: thread t rakes words
    // t·8 .. t·8 + 7. Low halves then hold the position of (digit, thread) among digits 0–7,
    // high halves among digits 8–15, which start after all `low_total` keys of digits 0–7.
    var words: array<u32, LANES>;
    var s = 0u;
    for (var i = 0u; i < LANES; i++) {
        words[i] = sh[skew(lid * LANES + i)];
        s += words[i];
    }
    let scanned = workgroup_exclusive_scan(lid, s);
    var run = scanned.x;
    for (var i = 0u; i < LANES; i++) {
        sh[skew(lid * LANES + i)] = run;
        run += words[i];
    }
    let low_total = scanned.y & 0xffffu;
    workgroupBarrier();

    for (var j = 0u; j < KPT; j++) {
        let d = (keys[j] >> P.shift) & P.mask;
        let half = (d / LANES) * 16u;
        let prefix = (sh[skew((d % LANES) * WG + lid)] >> half) & 0xffffu;
        rank[j] += prefix + select(0u, low_total, d >= LANES);
    }
    if (lid < RADIX) {
        let half = (lid / LANES) * 16u;
        let start = ((sh[skew((lid % LANES) * WG)] >> half) & 0xffffu) + select(0u, low_total, lid >= LANES);
        digit_base[lid] = offs[lid * P.stride + block] - start;
    }
    workgroupBarrier();

    // Reorder keys locally by rank, then write them out in order (runs of one digit are
    // contiguous in the output).
    for (var j = 0u; j < KPT; j++) {
        sh[skew(rank[j])] = keys[j];
    }
    workgroupBarrier();
    var dest: array<u32, KPT>;
    for (var j = 0u; j < KPT; j++) {
        let p = j * WG + lid;
        if (p < valid) {
            let key = sh[skew(p)];
            dest[j] = digit_base[(key >> P.shift) & P.mask] + p;
            keys_out[dest[j]] = key;
        }
    }
    workgroupBarrier();

    // Values: same transpose and reorder.
    for (var j = 0u; j < KPT; j++) {
        sh[skew(j * WG + lid)] = vals[j];
    }
    workgroupBarrier();
    for (var j = 0u; j < KPT; j++) {
        vals[j] = sh[skew(lid * KPT + j)];
    }
    workgroupBarrier();
    for (var j = 0u; j < KPT; j++) {
        sh[skew(rank[j])] = vals[j];
    }
    workgroupBarrier();
    for (var j = 0u; j < KPT; j++) {
        let p = j * WG + lid;
        if (p < valid) {
            vals_out[dest[j]] = sh[skew(p)];
        }
    }
}
#endif

#ifdef COPY
@group(0) @binding(0) var<storage, read> info: array<u32>;
@group(0) @binding(1) var<storage, read> keys_in: array<u32>;
@group(0) @binding(2) var<storage, read> vals_in: array<u32>;
@group(0) @binding(3) var<storage, read_write> keys_out: array<u32>;
@group(0) @binding(4) var<storage, read_write> vals_out: array<u32>;

// Copies the first info[0] keys and values (the result of an odd number of passes back into
// the caller's buffers).
@compute @workgroup_size({{WG}})
fn copy(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let n = info[0];
    let block = linear_workgroup(wid, nwg);
    let base = block * BLOCK;
    for (var j = 0u; j < KPT; j++) {
        let i = base + j * WG + lid;
        if (block < block_count(n) && i < n) {
            keys_out[i] = keys_in[i];
            vals_out[i] = vals_in[i];
        }
    }
}
#endif
