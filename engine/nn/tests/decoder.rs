//! The decoder on kiln's own device (lavapipe in CI): Burn's autodiff gradients against central
//! finite differences of the same network, and an optimizer step that lowers a loss.

use kiln_gpu::GpuContext;
use kiln_nn::{burn_device, ConvDecoder, DecoderConfig, NnError};

fn lcg(seed: &mut u64) -> f32 {
    *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    ((*seed >> 40) as f32) / (1u64 << 24) as f32 * 2.0 - 1.0
}

/// A small decoder (7×10 output, 4 stages) with weights large enough that every LeakyReLU
/// branch is exercised.
fn small(device: &burn::tensor::Device) -> ConvDecoder {
    let mut c = DecoderConfig::new(7, 10, 1, 1, 3);
    c.width_multipliers = vec![4, 3, 2];
    c.out_channels = 3;
    c.frequencies = 3;
    c.init_std = 0.4;
    c.seed = 11;
    ConvDecoder::new(c, device).unwrap()
}

#[test]
fn decoder_gradient_matches_finite_differences() {
    let ctx = GpuContext::shared().unwrap();
    let device = burn_device(&ctx).unwrap();
    let mut dec = small(&device);
    assert_eq!(dec.config.stage_sizes(), vec![[1, 2], [2, 3], [4, 5], [7, 10]]);
    let pass = dec.forward_host().unwrap();
    assert_eq!(pass.values.len(), 3 * 7 * 10);
    let mut s = 5u64;
    let upstream: Vec<f32> = (0..pass.values.len()).map(|_| lcg(&mut s)).collect();
    let loss = |values: &[f32]| values.iter().zip(&upstream).map(|(a, b)| (*a as f64) * (*b as f64)).sum::<f64>();
    let grads = dec.gradients(pass, &upstream).unwrap().to_host().unwrap();
    let params = dec.parameters_host().unwrap();
    assert_eq!(grads.len(), params.len());

    // Central differences in f64 sums of f32 forwards; eps balances rounding and curvature.
    let eps = 1e-2f32;
    let mut checked = 0;
    let mut worst = 0.0f64;
    for (t, p) in params.iter().enumerate() {
        let picks = [0, p.len() / 3, p.len() / 2, p.len() - 1];
        for &i in picks.iter() {
            let mut plus = params.clone();
            plus[t][i] += eps;
            dec.set_parameters_host(&plus).unwrap();
            let lp = loss(&dec.forward_host().unwrap().values);
            let mut minus = params.clone();
            minus[t][i] -= eps;
            dec.set_parameters_host(&minus).unwrap();
            let lm = loss(&dec.forward_host().unwrap().values);
            let fd = (lp - lm) / (2.0 * eps as f64);
            let g = grads[t][i] as f64;
            let err = (fd - g).abs() / (1e-2 + fd.abs().max(g.abs()));
            worst = worst.max(err);
            assert!(err < 0.03, "parameter tensor {t} index {i}: finite difference {fd}, autodiff {g}");
            checked += 1;
        }
    }
    eprintln!("decoder FD check: {checked} parameters, worst relative error {worst:.2e} on {}", ctx.describe());
}

#[test]
fn adamw_steps_lower_a_loss_and_bad_gradients_are_rejected() {
    let ctx = GpuContext::shared().unwrap();
    let device = burn_device(&ctx).unwrap();
    let mut dec = small(&device);
    // Pull every output towards 0.3: L = ½ Σ (out − 0.3)², dL/dout = out − 0.3.
    let loss = |v: &[f32]| v.iter().map(|x| 0.5 * (x - 0.3) * (x - 0.3)).sum::<f32>();
    let first = dec.forward_host().unwrap();
    let l0 = loss(&first.values);
    let mut pass = first;
    for _ in 0..30 {
        let g: Vec<f32> = pass.values.iter().map(|x| x - 0.3).collect();
        dec.step(pass, &g, 1e-2).unwrap();
        pass = dec.forward_host().unwrap();
    }
    let l1 = loss(&pass.values);
    assert!(l1 < 0.5 * l0, "30 AdamW steps: loss {l0} → {l1}");
    let short = vec![0.0; 5];
    assert!(matches!(dec.step(pass, &short, 1e-3), Err(NnError::Shape(_))));
    // A bad configuration is an error, not a panic.
    let mut c = DecoderConfig::new(0, 10, 1, 0, 2);
    assert!(ConvDecoder::new(c.clone(), &device).is_err());
    c.height = 8;
    c.view = 2;
    assert!(ConvDecoder::new(c, &device).is_err());
}

/// `conv::conv2d_matmul` (the decoder's convolution) is Burn's `conv2d` (stride 1, no padding):
/// the same output and the same gradients for the input, weights and bias, for 1×1 and 3×3
/// kernels and non-square sizes.
#[test]
fn matmul_convolution_equals_burns_conv2d_forward_and_backward() {
    use burn::tensor::module::conv2d;
    use burn::tensor::ops::ConvOptions;
    use burn::tensor::{Tensor, TensorData};
    let ctx = GpuContext::shared().unwrap();
    let device = burn_device(&ctx).unwrap();
    let mut s = 9u64;
    let mut random = |n: usize| -> Vec<f32> { (0..n).map(|_| lcg(&mut s)).collect() };
    for &(c, o, k, h, w) in &[(3usize, 5usize, 3usize, 7usize, 10usize), (4, 2, 1, 5, 3), (6, 4, 3, 3, 3), (2, 3, 3, 1, 1)] {
        let (hp, wp) = (h + k - 1, w + k - 1);
        let leaf = |v: Vec<f32>, shape: Vec<usize>| Tensor::<4>::from_data(TensorData::new(v, shape), &device).require_grad();
        let x = leaf(random(c * hp * wp), vec![1, c, hp, wp]);
        let wt = leaf(random(o * c * k * k), vec![o, c, k, k]);
        let b = Tensor::<1>::from_data(TensorData::new(random(o), [o]), &device).require_grad();
        let upstream = Tensor::<4>::from_data(TensorData::new(random(o * h * w), [1, o, h, w]), &device);
        let run = |matmul: bool| {
            let y = if matmul { kiln_nn::conv::conv2d_matmul(x.clone(), wt.clone(), b.clone()) } else { conv2d(x.clone(), wt.clone(), Some(b.clone()), ConvOptions::new([1, 1], [0, 0], [1, 1], 1)) };
            assert_eq!(y.dims(), [1, o, h, w]);
            let g = y.clone().mul(upstream.clone()).sum().backward();
            let host = |t: Tensor<4>| -> Vec<f32> { t.into_data().to_vec().unwrap() };
            let gb: Vec<f32> = b.grad(&g).unwrap().into_data().to_vec().unwrap();
            (host(y), host(x.grad(&g).unwrap()), host(wt.grad(&g).unwrap()), gb)
        };
        let (a, m) = (run(false), run(true));
        let close = |p: &[f32], q: &[f32], what: &str| {
            assert_eq!(p.len(), q.len());
            let scale = p.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
            let worst = p.iter().zip(q).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            assert!(worst <= 1e-5 * scale.max(1.0), "{c}→{o}, k {k}, {h}×{w}: {what} differs by {worst} (scale {scale})");
        };
        close(&a.0, &m.0, "output");
        close(&a.1, &m.1, "input gradient");
        close(&a.2, &m.2, "weight gradient");
        close(&a.3, &m.3, "bias gradient");
    }
}

/// AdamW runs one update on all parameters concatenated; it must be PyTorch's AdamW applied to
/// each tensor (computed here on the host in f64), over several steps and learning rates.
#[test]
fn adamw_on_concatenated_parameters_is_the_per_tensor_update() {
    use burn::tensor::{Tensor, TensorData};
    let ctx = GpuContext::shared().unwrap();
    let device = burn_device(&ctx).unwrap();
    let shapes = [[2usize, 3usize], [4, 1], [1, 5]];
    let mut s = 21u64;
    let mut host: Vec<Vec<f64>> = shapes.iter().map(|sh| (0..sh[0] * sh[1]).map(|_| lcg(&mut s) as f64).collect()).collect();
    let mut params: Vec<Tensor<2>> = host.iter().zip(&shapes).map(|(v, sh)| Tensor::from_data(TensorData::new(v.iter().map(|x| *x as f32).collect::<Vec<_>>(), *sh), &device).require_grad()).collect();
    let mut opt = kiln_nn::AdamW::<2>::new();
    let (b1, b2, eps, wd) = (opt.beta1, opt.beta2, opt.eps, opt.weight_decay);
    let mut moments: Vec<(Vec<f64>, Vec<f64>)> = host.iter().map(|v| (vec![0.0; v.len()], vec![0.0; v.len()])).collect();
    for (t, lr) in [1e-2, 3e-2, 1e-3].into_iter().enumerate() {
        let grads_host: Vec<Vec<f64>> = host.iter().map(|v| v.iter().map(|_| lcg(&mut s) as f64).collect()).collect();
        let grads = grads_host.iter().zip(&shapes).map(|(g, sh)| Tensor::from_data(TensorData::new(g.iter().map(|x| *x as f32).collect::<Vec<_>>(), *sh), &device)).collect();
        params = opt.step(lr, params, grads);
        let (bc1, bc2) = (1.0 - b1.powi(t as i32 + 1), 1.0 - b2.powi(t as i32 + 1));
        for ((p, g), (m, v)) in host.iter_mut().zip(&grads_host).zip(&mut moments) {
            for i in 0..p.len() {
                m[i] = b1 * m[i] + (1.0 - b1) * g[i];
                v[i] = b2 * v[i] + (1.0 - b2) * g[i] * g[i];
                p[i] = p[i] * (1.0 - lr * wd) - lr * (m[i] / bc1) / ((v[i] / bc2).sqrt() + eps);
            }
        }
    }
    assert_eq!(opt.steps(), 3);
    for ((p, want), sh) in params.iter().zip(&host).zip(&shapes) {
        assert_eq!(p.dims(), *sh);
        let got: Vec<f32> = p.clone().into_data().to_vec().unwrap();
        for (a, b) in got.iter().zip(want) {
            assert!((*a as f64 - b).abs() < 1e-5, "{a} vs {b}");
        }
    }
}
