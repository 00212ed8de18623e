//! The basis network on kiln's device (lavapipe in CI): shapes, permutation equivariance (the
//! network has no point order), and training steps that lower the nested loss.

use burn::tensor::{Tensor, TensorData};
use kiln_gpu::GpuContext;
use kiln_nn::basis_net::nested_loss;
use kiln_nn::{burn_device, BasisNet, BasisNetConfig};

fn cloud(n: usize, seed: u64) -> Vec<[f32; 3]> {
    let mut s = seed;
    let mut next = || {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((s >> 40) as f32) / (1u64 << 24) as f32 * 2.0 - 1.0
    };
    (0..n).map(|_| [next(), next(), next()]).map(|p| {
        let r = (p[0] * p[0] + p[1] * p[1] + p[2] * p[2]).sqrt().max(1e-3);
        [p[0] / r, p[1] / r, 0.5 * p[2] / r]
    }).collect()
}

fn host(t: &Tensor<2>) -> Vec<f32> {
    t.clone().into_data().try_to_vec::<f32>().unwrap()
}

#[test]
fn basis_net_is_permutation_equivariant() {
    let ctx = GpuContext::shared().unwrap();
    let device = burn_device(&ctx).unwrap();
    let config = BasisNetConfig { hidden: 16, width: 24, layers: 2, heads: 3, ffn: 32, basis: 5, seed: 3 };
    let net = BasisNet::new(config, &device).unwrap();
    let pts = cloud(40, 1);
    let out = host(&net.forward_host_points(&pts));
    assert_eq!(out.len(), 40 * 5);
    assert!(out.iter().all(|v| v.is_finite()));
    // Reversing the points reverses the rows.
    let rev: Vec<[f32; 3]> = pts.iter().rev().copied().collect();
    let out_rev = host(&net.forward_host_points(&rev));
    for i in 0..40 {
        for k in 0..5 {
            let (a, b) = (out[i * 5 + k], out_rev[(39 - i) * 5 + k]);
            assert!((a - b).abs() <= 1e-4 * (1.0 + a.abs()), "point {i} function {k}: {a} vs {b}");
        }
    }
    assert!(BasisNet::new(BasisNetConfig { heads: 5, ..BasisNetConfig::default() }, &device).is_err(), "width must split into heads");
}

#[test]
fn training_steps_lower_the_nested_loss() {
    let ctx = GpuContext::shared().unwrap();
    let device = burn_device(&ctx).unwrap();
    let config = BasisNetConfig { hidden: 16, width: 32, layers: 1, heads: 2, ffn: 32, basis: 4, seed: 5 };
    let mut net = BasisNet::new(config, &device).unwrap();
    let pts = cloud(64, 2);
    // Smooth probes: low-order polynomials of the coordinates.
    let probes: Vec<f32> = pts.iter().flat_map(|p| [p[0], p[1], p[2], p[0] * p[1], p[1] * p[2] - 0.2, p[0] * p[0] - p[2]]).collect();
    let f = Tensor::<2>::from_data(TensorData::new(probes, [64, 6]), &device);
    let loss_of = |net: &BasisNet| {
        let (loss, _) = nested_loss(net.forward_host_points(&pts), f.clone(), true);
        loss.into_data().try_to_vec::<f32>().unwrap()[0]
    };
    let before = loss_of(&net);
    for _ in 0..40 {
        let (loss, _) = nested_loss(net.forward_host_points(&pts), f.clone(), true);
        net.step(loss, 3e-3, 1.0).unwrap();
    }
    let after = loss_of(&net);
    assert!(after < 0.7 * before, "loss {before} → {after}");
    // Parameters round-trip through the host (checkpoints, shipped weights).
    let params = net.parameters_host().unwrap();
    let mut other = BasisNet::new(BasisNetConfig { seed: 99, ..net.config.clone() }, &device).unwrap();
    other.set_parameters_host(&params).unwrap();
    assert_eq!(loss_of(&other), after);
    assert!(other.set_parameters_host(&params[1..]).is_err());
}

/// Inference runs off the autodiff graph (so nothing of the pass is kept alive; the leak of
/// issue 9) and gives the training forward's values.
#[test]
fn inference_is_the_forward_pass_without_autodiff() {
    let ctx = GpuContext::shared().unwrap();
    let device = burn_device(&ctx).unwrap();
    let config = BasisNetConfig { hidden: 16, width: 24, layers: 2, heads: 3, ffn: 32, basis: 5, seed: 4 };
    let net = BasisNet::new(config, &device).unwrap();
    let pts = cloud(50, 2);
    let tracked = net.forward_host_points(&pts);
    let inferred = net.infer_host_points(&pts);
    assert!(tracked.is_autodiff(), "the training forward is on the autodiff device");
    assert!(!inferred.is_autodiff(), "inference must run on the inner backend");
    let (a, b) = (host(&tracked), host(&inferred));
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert!((x - y).abs() <= 1e-5 * (1.0 + x.abs()), "value {i}: {x} vs {y}");
    }
}
