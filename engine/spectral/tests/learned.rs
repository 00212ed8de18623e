//! The learned-basis reference math (issue 9): the two formulations of the nested loss agree,
//! and the deterministic oracle — the top eigenvectors of the probe covariance — is the best
//! nested basis for the Euclidean projection.

use faer::{Mat, Side};
use kiln_spectral::learned::{nested_loss, nested_loss_and_gradient, nested_loss_incremental, normalize_to_unit_sphere, probes, subspace_alignment, Oracle, ProbeConfig, Projection, Smoothing};

/// A bumpy torus sampled at `n` points (deterministic).
fn torus(n: usize) -> Vec<[f64; 3]> {
    let golden = 0.618_033_988_75;
    (0..n)
        .map(|i| {
            let u = std::f64::consts::TAU * (i as f64 * golden).fract();
            let v = std::f64::consts::TAU * (i as f64 / n as f64);
            let r = 0.35 + 0.05 * (3.0 * u).sin();
            [(1.0 + r * v.cos()) * u.cos(), (1.0 + r * v.cos()) * u.sin(), r * v.sin()]
        })
        .collect()
}

fn pseudo_random(rows: usize, cols: usize, seed: u64) -> Mat<f64> {
    let mut s = seed;
    Mat::from_fn(rows, cols, |_, _| {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    })
}

#[test]
fn smoothing_rows_are_stochastic_and_probes_are_seeded() {
    let pts = normalize_to_unit_sphere(&torus(300));
    let cfg = ProbeConfig { count: 20, ..Default::default() };
    let w = Smoothing::new(&pts, &cfg).unwrap();
    for row in &w.rows {
        assert!((row.iter().map(|(_, v)| v).sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(row.iter().all(|(_, v)| *v > 0.0));
    }
    let ones = w.apply(&vec![1.0; 300]);
    assert!(ones.iter().all(|v| (v - 1.0).abs() < 1e-12));
    let (a, b) = (probes(&w, &cfg), probes(&w, &cfg));
    assert_eq!(a, b);
    let c = probes(&w, &ProbeConfig { seed: 1, ..cfg.clone() });
    assert!(a != c);
    // Smoothing shrinks the noise (uniform noise has variance 1/3).
    let var: f64 = (0..20).map(|j| (0..300).map(|i| a[(i, j)] * a[(i, j)]).sum::<f64>() / 300.0).sum::<f64>() / 20.0;
    assert!(var < 0.2, "variance {var}");
    // Bad input is refused.
    assert!(Smoothing::new(&pts[..1], &cfg).is_err());
    assert!(Smoothing::new(&pts, &ProbeConfig { sigma: 0.0, ..cfg }).is_err());
}

#[test]
fn direct_and_incremental_nested_losses_agree() {
    let pts = normalize_to_unit_sphere(&torus(200));
    let cfg = ProbeConfig { count: 40, ..Default::default() };
    let f = probes(&Smoothing::new(&pts, &cfg).unwrap(), &cfg);
    let r = pseudo_random(200, 12, 3);
    for projection in [Projection::Euclidean, Projection::Density] {
        let a = nested_loss(r.as_ref(), f.as_ref(), projection).unwrap();
        let b = nested_loss_incremental(r.as_ref(), f.as_ref(), projection).unwrap();
        for (k, (x, y)) in a.per_k.iter().zip(&b.per_k).enumerate() {
            assert!((x - y).abs() <= 1e-6 * x.abs().max(1e-12), "{projection:?} k={}: {x} vs {y}", k + 1);
        }
        // Nesting: with the Euclidean projection a longer prefix never reconstructs worse.
        // (The density projection minimizes the M-norm of the residual, and e_k measures its
        // Euclidean norm, so there only the M-weighted error is monotone.)
        if projection == Projection::Euclidean {
            assert!(a.per_k.windows(2).all(|w| w[1] <= w[0] + 1e-12), "{:?}", a.per_k);
            let proxy = a.eigenvalue_proxy();
            assert!(proxy.windows(2).all(|w| w[1] >= w[0] - 1e-9));
        }
    }
    assert!(nested_loss(pseudo_random(10, 3, 1).as_ref(), f.as_ref(), Projection::Euclidean).is_err(), "shape mismatch must be refused");
}

#[test]
fn the_oracle_is_the_best_nested_basis() {
    // A small cloud, many probes: the empirical loss approaches its expectation.
    let n = 160;
    let k = 8;
    let pts = normalize_to_unit_sphere(&torus(n));
    let cfg = ProbeConfig { count: 4000, smoothing_steps: 20, sigma: 0.25, neighbours: Some(12), seed: 7 };
    let w = Smoothing::new(&pts, &cfg).unwrap();
    let oracle = Oracle::new(&w, cfg.smoothing_steps, k).unwrap();
    let f = probes(&w, &cfg);
    let at_oracle = nested_loss(oracle.basis.as_ref(), f.as_ref(), Projection::Euclidean).unwrap();
    // 1. The oracle's empirical errors match E_k = tr Σ − Σ_{i≤k} μ_i.
    for (i, (e, expected)) in at_oracle.per_k.iter().zip(&oracle.expected_errors).enumerate() {
        assert!((e - expected).abs() <= 0.05 * expected, "k={}: empirical {e} vs expected {expected}", i + 1);
    }
    // 2. The empirical optimum of the nested loss is the top eigenvectors of the empirical
    //    probe covariance; it spans the oracle's subspace and is barely better on these probes.
    let cov = Mat::<f64>::from_fn(n, n, |i, j| (0..f.ncols()).map(|t| f[(i, t)] * f[(j, t)]).sum::<f64>() / f.ncols() as f64);
    let evd = cov.self_adjoint_eigen(Side::Lower).unwrap();
    let best = Mat::<f64>::from_fn(n, k, |i, j| evd.U()[(i, n - 1 - j)]);
    let at_best = nested_loss(best.as_ref(), f.as_ref(), Projection::Euclidean).unwrap();
    let ones = vec![1.0; n];
    for kk in [1, 3, k] {
        let align = subspace_alignment(oracle.basis.as_ref(), best.as_ref(), kk, &ones);
        assert!(align > 0.95, "k={kk}: alignment {align}");
        let (o, b) = (at_oracle.per_k[kk - 1], at_best.per_k[kk - 1]);
        assert!(b <= o * (1.0 + 1e-9) && o <= 1.02 * b, "k={kk}: oracle {o}, empirical optimum {b}");
    }
    // 3. Any other basis does worse: random directions, and the smoother's own eigenvectors.
    let random = pseudo_random(n, k, 11);
    let at_random = nested_loss(random.as_ref(), f.as_ref(), Projection::Euclidean).unwrap();
    assert!(at_random.loss > 1.2 * at_oracle.loss, "random {} vs oracle {}", at_random.loss, at_oracle.loss);
    let alignment_random = subspace_alignment(oracle.basis.as_ref(), random.as_ref(), k, &ones);
    assert!(alignment_random < 0.3, "random alignment {alignment_random}");
}

/// The host gradient the trainer feeds into Burn: the loss equals the incremental reference's,
/// and every entry of dL/dr equals central differences of it, with and without the density.
#[test]
fn host_nested_loss_gradient_matches_finite_differences() {
    let (n, k, p) = (17, 5, 7);
    let r = pseudo_random(n, k, 31);
    let f = pseudo_random(n, p, 32);
    for projection in [Projection::Euclidean, Projection::Density] {
        let reference = nested_loss_incremental(r.as_ref(), f.as_ref(), projection).unwrap();
        let (loss, grad) = nested_loss_and_gradient(r.as_ref(), f.as_ref(), projection).unwrap();
        assert!((loss.loss - reference.loss).abs() <= 1e-12 * reference.loss, "{projection:?}: {} vs {}", loss.loss, reference.loss);
        for (a, b) in loss.per_k.iter().zip(&reference.per_k) {
            assert!((a - b).abs() <= 1e-12 * b.max(1.0));
        }
        let h = 1e-6;
        let mut worst: f64 = 0.0;
        for i in 0..n {
            for j in 0..k {
                let mut plus = r.clone();
                plus[(i, j)] += h;
                let mut minus = r.clone();
                minus[(i, j)] -= h;
                let fd = (nested_loss_incremental(plus.as_ref(), f.as_ref(), projection).unwrap().loss - nested_loss_incremental(minus.as_ref(), f.as_ref(), projection).unwrap().loss) / (2.0 * h);
                let err = (grad[(i, j)] - fd).abs() / fd.abs().max(1e-3);
                worst = worst.max(err);
                assert!(err <= 1e-5, "{projection:?} d/dr[{i},{j}]: reverse mode {} vs finite differences {fd}", grad[(i, j)]);
            }
        }
        eprintln!("{projection:?}: worst relative gradient error {worst:.2e}");
    }
    // The same refusal as the reference: a column in the span of the previous ones.
    let mut degenerate = r.clone();
    for i in 0..n {
        degenerate[(i, 2)] = 2.0 * degenerate[(i, 0)];
    }
    assert!(nested_loss_and_gradient(degenerate.as_ref(), f.as_ref(), Projection::Euclidean).is_err());
}

/// The network's loss on Burn tensors (kiln-nn, on kiln's device) is this crate's reference:
/// same value, and its autodiff gradient matches central differences of the f64 reference.
#[cfg(feature = "learned")]
#[test]
fn burn_nested_loss_matches_the_reference_and_its_gradient() {
    use burn::tensor::{Tensor, TensorData};
    let ctx = kiln_gpu::GpuContext::shared().unwrap();
    let device = kiln_nn::burn_device(&ctx).unwrap();
    let (n, k, p) = (24, 4, 6);
    let r = pseudo_random(n, k, 21);
    let f = pseudo_random(n, p, 22);
    let to_burn = |m: &Mat<f64>| {
        let v: Vec<f32> = (0..m.nrows()).flat_map(|i| (0..m.ncols()).map(move |j| m[(i, j)] as f32)).collect();
        Tensor::<2>::from_data(TensorData::new(v, [m.nrows(), m.ncols()]), &device)
    };
    for (density, projection) in [(false, Projection::Euclidean), (true, Projection::Density)] {
        let reference = nested_loss_incremental(r.as_ref(), f.as_ref(), projection).unwrap();
        let rt = to_burn(&r).require_grad();
        let (loss, per_k) = kiln_nn::basis_net::nested_loss(rt.clone(), to_burn(&f), density);
        for (kk, e) in per_k.iter().enumerate() {
            let v = e.clone().into_data().try_to_vec::<f32>().unwrap()[0] as f64;
            assert!((v - reference.per_k[kk]).abs() <= 1e-4 * reference.per_k[kk].max(1.0), "{projection:?} k={}: {v} vs {}", kk + 1, reference.per_k[kk]);
        }
        let grads = loss.backward();
        let g = rt.grad(&grads).unwrap().into_data().try_to_vec::<f32>().unwrap();
        let h = 1e-6;
        for (i, j) in [(0, 0), (3, 1), (7, 2), (23, 3), (11, 0)] {
            let mut plus = r.clone();
            plus[(i, j)] += h;
            let mut minus = r.clone();
            minus[(i, j)] -= h;
            let fd = (nested_loss_incremental(plus.as_ref(), f.as_ref(), projection).unwrap().loss - nested_loss_incremental(minus.as_ref(), f.as_ref(), projection).unwrap().loss) / (2.0 * h);
            let ad = g[i * k + j] as f64;
            assert!((ad - fd).abs() <= 2e-3 * fd.abs().max(0.05), "{projection:?} d/dr[{i},{j}]: autodiff {ad} vs finite differences {fd}");
        }
    }
}

/// The trainer's route — the network's output read back, the nested loss's gradient computed
/// on the host, fed into Burn's backward — moves the parameters as backpropagating the Burn
/// loss through the whole graph does.
#[cfg(feature = "learned")]
#[test]
fn host_gradient_step_equals_the_burn_loss_step() {
    use burn::tensor::{Tensor, TensorData};
    use kiln_nn::{BasisNet, BasisNetConfig};
    let ctx = kiln_gpu::GpuContext::shared().unwrap();
    let device = kiln_nn::burn_device(&ctx).unwrap();
    let config = BasisNetConfig { hidden: 16, width: 24, layers: 1, heads: 2, ffn: 32, basis: 5, seed: 7 };
    let pts: Vec<[f32; 3]> = normalize_to_unit_sphere(&torus(60)).iter().map(|p| p.map(|v| v as f32)).collect();
    let f = pseudo_random(60, 9, 41);
    let fv: Vec<f32> = (0..60).flat_map(|i| (0..9).map(move |j| (i, j))).map(|(i, j)| f[(i, j)] as f32).collect();
    let (lr, clip) = (1e-2, 1e3);
    let initial = BasisNet::new(config.clone(), &device).unwrap().parameters_host().unwrap();
    // (a) The Burn loss, backpropagated through everything.
    let mut a = BasisNet::new(config.clone(), &device).unwrap();
    let ft = Tensor::<2>::from_data(TensorData::new(fv, [60, 9]), &device);
    let (loss, _) = kiln_nn::basis_net::nested_loss(a.forward_host_points(&pts), ft, true);
    a.step(loss, lr, clip).unwrap();
    // (b) The host gradient of the output, fed into the network's backward.
    let mut b = BasisNet::new(config, &device).unwrap();
    let r = b.forward_host_points(&pts);
    let raw = r.clone().into_data().try_to_vec::<f32>().unwrap();
    let rh = Mat::<f64>::from_fn(60, 5, |i, j| raw[i * 5 + j] as f64);
    let (_, g) = nested_loss_and_gradient(rh.as_ref(), f.as_ref(), Projection::Density).unwrap();
    let gv: Vec<f32> = (0..60).flat_map(|i| (0..5).map(move |j| (i, j))).map(|(i, j)| g[(i, j)] as f32).collect();
    b.step_from_output_gradient(r, gv, lr, clip).unwrap();
    // Compare the updates: Adam's first step moves a weight by ≈ lr·sign(g), so the updates
    // agree wherever the two gradients agree beyond f32 noise (a flipped gradient fails all).
    let (after_a, after_b) = (a.parameters_host().unwrap(), b.parameters_host().unwrap());
    let (mut compared, mut differ) = (0usize, 0usize);
    for ((pa, pb), p0) in after_a.iter().zip(&after_b).zip(&initial) {
        for ((x, y), z) in pa.iter().zip(pb).zip(p0) {
            compared += 1;
            if ((x - z) - (y - z)).abs() > 0.05 * lr as f32 {
                differ += 1;
            }
        }
    }
    assert!(differ * 200 <= compared, "{differ} of {compared} parameter updates differ");
    assert!(b.step_from_output_gradient(b.forward_host_points(&pts), vec![0.0; 3], lr, clip).is_err(), "a gradient of the wrong size is refused");
}

/// `--lr-final`: the rate starts at `lr`, ends at `lr_final` on the last step and falls in
/// between along a half cosine; without it the rate is constant.
#[cfg(feature = "learned")]
#[test]
fn learning_rate_falls_along_a_half_cosine() {
    use kiln_spectral::basis_model::LearnConfig;
    let cfg = LearnConfig { steps: 101, lr: 1e-3, lr_final: Some(1e-4), ..Default::default() };
    assert!((cfg.learning_rate(0) - 1e-3).abs() < 1e-15);
    assert!((cfg.learning_rate(100) - 1e-4).abs() < 1e-15);
    assert!((cfg.learning_rate(50) - 5.5e-4).abs() < 1e-12, "half way: the mean of the two");
    assert!((1..101).all(|s| cfg.learning_rate(s) < cfg.learning_rate(s - 1)));
    let constant = LearnConfig { lr_final: None, ..cfg };
    assert!((0..101).all(|s| constant.learning_rate(s) == 1e-3));
}

/// The network itself reaches the oracle: trained on fresh probes of one small cloud with the
/// Euclidean projection, its basis captures the probe covariance almost as well as the top
/// eigenvectors do, and spans the same subspace.
#[cfg(feature = "learned")]
#[test]
fn trained_network_reaches_the_oracle() {
    use kiln_spectral::basis_model::{infer, BasisTrainer, LearnConfig};
    let ctx = kiln_gpu::GpuContext::shared().unwrap();
    let device = kiln_nn::burn_device(&ctx).unwrap();
    let n = 120;
    let k = 4;
    let cloud = torus(n);
    let probes_cfg = ProbeConfig { count: 64, smoothing_steps: 20, sigma: 0.25, neighbours: Some(12), seed: 3 };
    let config = LearnConfig {
        net: kiln_nn::BasisNetConfig { hidden: 32, width: 32, layers: 2, heads: 2, ffn: 64, basis: k, seed: 1 },
        probes: probes_cfg.clone(),
        points: n,
        steps: 0,
        lr: 3e-3,
        lr_final: None,
        clip: 1.0,
        density: false,
        seed: 0,
    };
    let mut trainer = BasisTrainer::new(&device, &[cloud.clone()], config).unwrap();
    let steps = std::env::var("KILN_ORACLE_STEPS").ok().and_then(|s| s.parse().ok()).unwrap_or(100);
    for _ in 0..steps {
        trainer.train_step().unwrap();
    }
    let pts = normalize_to_unit_sphere(&cloud);
    let oracle = Oracle::new(&Smoothing::new(&pts, &probes_cfg).unwrap(), probes_cfg.smoothing_steps, k).unwrap();
    let learned = infer(&trainer.net, false, &cloud).unwrap();
    let e_learned = oracle.expected_errors_of(learned.basis.as_ref());
    let ones = vec![1.0; n];
    let first = &trainer.history[..10].iter().sum::<f64>() / 10.0;
    let last = &trainer.history[steps - 10..].iter().sum::<f64>() / 10.0;
    eprintln!("loss {first:.4} → {last:.4}; expected errors learned {e_learned:?} oracle {:?}", oracle.expected_errors);
    let (sum_learned, sum_oracle): (f64, f64) = (e_learned.iter().sum(), oracle.expected_errors.iter().sum());
    // Measured on lavapipe: within 0.4 % of the oracle and alignment ≥ 0.98 after 120 steps.
    assert!(sum_learned <= 1.02 * sum_oracle, "nested loss {sum_learned} vs the oracle's {sum_oracle}");
    assert!(last < first, "training did not lower the loss: {first} → {last}");
    for kk in 1..=k {
        let align = subspace_alignment(oracle.basis.as_ref(), learned.basis.as_ref(), kk, &ones);
        assert!(align >= 0.95, "k={kk}: alignment with the oracle subspace {align}");
    }
}
