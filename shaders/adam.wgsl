// Adam on one parameter group (flat f32 buffers), one thread per element. Driven by
// kiln_gpu::adam::AdamGroup, which documents the update; the CPU reference is
// kiln_gpu::adam::adam_step_cpu and follows the same operation order.
//
//   g  = grad[i], or 0 when grad[i] is NaN or ±Inf (a bad gradient must not poison the state)
//   m  = m + (1 − β1)·(g − m)
//   v  = β2·v + (1 − β2)·g²
//   p  = p·decay − step_size · m / (√v / √(1 − β2ᵗ) + eps),  step_size = lr / (1 − β1ᵗ)
//
// decay = 1 − lr·weight_decay (AdamW's decoupled decay; 1 for plain Adam).
//
// The step-dependent constants come from the host per call (a uniform), so learning-rate
// schedules need no recompilation. Defines: WG (threads per workgroup).

#include "common.wgsl"

const WG: u32 = {{WG}}u;

struct Params {
    n: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
    beta1: f32,
    one_minus_beta1: f32,
    beta2: f32,
    one_minus_beta2: f32,
    step_size: f32,
    bias_correction2_sqrt: f32,
    eps: f32,
    decay: f32,
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> exp_avg: array<f32>;
@group(0) @binding(4) var<storage, read_write> exp_avg_sq: array<f32>;

@compute @workgroup_size({{WG}})
fn main(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = linear_workgroup(wid, nwg) * WG + lid;
    if (i >= P.n) {
        return;
    }
    var g = grad[i];
    if (!is_finite_bits(g)) {
        g = 0.0;
    }
    let m0 = exp_avg[i];
    let m = m0 + P.one_minus_beta1 * (g - m0);
    let v = P.beta2 * exp_avg_sq[i] + P.one_minus_beta2 * (g * g);
    exp_avg[i] = m;
    exp_avg_sq[i] = v;
    let denom = sqrt(v) / P.bias_correction2_sqrt + P.eps;
    param[i] = param[i] * P.decay - P.step_size * (m / denom);
}
