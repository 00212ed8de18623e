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
    // (views, in, out, kernel, height, width): one view, and a batch of views (grouped per view).
    for &(v, c, o, k, h, w) in &[(1usize, 3usize, 5usize, 3usize, 7usize, 10usize), (1, 4, 2, 1, 5, 3), (1, 6, 4, 3, 3, 3), (1, 2, 3, 3, 1, 1), (3, 3, 4, 3, 7, 5), (2, 4, 3, 1, 5, 6)] {
        let (hp, wp) = (h + k - 1, w + k - 1);
        let leaf = |values: Vec<f32>, shape: Vec<usize>| Tensor::<4>::from_data(TensorData::new(values, shape), &device).require_grad();
        let x = leaf(random(v * c * hp * wp), vec![v, c, hp, wp]);
        let wt = leaf(random(v * o * c * k * k), vec![v * o, c, k, k]);
        let b = Tensor::<1>::from_data(TensorData::new(random(v * o), [v * o]), &device).require_grad();
        let upstream = Tensor::<4>::from_data(TensorData::new(random(v * o * h * w), [v, o, h, w]), &device);
        // bands: 0 = Burn's (grouped) conv2d; 1 = one matmul; more = the split reduction (row
        // bands, including a count that does not divide the rows, so the zero-row padding is used).
        let run = |bands: usize| {
            let y = match bands {
                0 => conv2d(x.clone().reshape([1, v * c, hp, wp]), wt.clone(), Some(b.clone()), ConvOptions::new([1, 1], [0, 0], [1, 1], v)).reshape([v, o, h, w]),
                n => kiln_nn::conv::conv2d_matmul_banded(x.clone(), wt.clone(), b.clone(), n),
            };
            assert_eq!(y.dims(), [v, o, h, w]);
            let g = y.clone().mul(upstream.clone()).sum().backward();
            let host = |t: Tensor<4>| -> Vec<f32> { t.into_data().try_to_vec::<f32>().unwrap() };
            let gb: Vec<f32> = b.grad(&g).unwrap().into_data().try_to_vec::<f32>().unwrap();
            (host(y), host(x.grad(&g).unwrap()), host(wt.grad(&g).unwrap()), gb)
        };
        let a = run(0);
        for bands in [1, 2, 3] {
            let m = run(bands);
            let close = |p: &[f32], q: &[f32], what: &str| {
                assert_eq!(p.len(), q.len());
                let scale = p.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
                let worst = p.iter().zip(q).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
                assert!(worst <= 1e-5 * scale.max(1.0), "{v} views, {c}→{o}, k {k}, {h}×{w}, {bands} bands: {what} differs by {worst} (scale {scale})");
            };
            close(&a.0, &m.0, "output");
            close(&a.1, &m.1, "input gradient");
            close(&a.2, &m.2, "weight gradient");
            close(&a.3, &m.3, "bias gradient");
        }
    }
    // Band counts: ~4096 pixels each, at most 64, never a mostly-empty last band.
    assert_eq!(kiln_nn::conv::row_bands(48, 64), 1);
    assert_eq!(kiln_nn::conv::row_bands(378, 504), 42);
    assert_eq!(kiln_nn::conv::row_bands(3000, 4000), 64);
    assert_eq!(kiln_nn::conv::row_bands(1, 100_000), 1);
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
        let got: Vec<f32> = p.clone().into_data().try_to_vec::<f32>().unwrap();
        for (a, b) in got.iter().zip(want) {
            assert!((*a as f64 - b).abs() < 1e-5, "{a} vs {b}");
        }
    }
}

/// The decoder's convolution forms are the same network: every form gives the same output and
/// the same parameter gradients (the matmul forms are checked op by op above).
#[test]
fn decoder_conv_forms_agree() {
    use kiln_nn::ConvForm;
    let ctx = GpuContext::shared().unwrap();
    let device = burn_device(&ctx).unwrap();
    let run = |form: ConvForm| {
        let mut c = DecoderConfig::new(7, 10, 2, 1, 3);
        c.width_multipliers = vec![4, 3, 2];
        c.out_channels = 3;
        c.init_std = 0.3;
        c.conv = form;
        let dec = ConvDecoder::new(c, &device).unwrap();
        let pass = dec.forward_host().unwrap();
        let values = pass.values.clone();
        let upstream: Vec<f32> = (0..values.len()).map(|i| ((i * 7919) % 13) as f32 / 13.0 - 0.5).collect();
        (values, dec.gradients(pass, &upstream).unwrap().to_host().unwrap())
    };
    let (burn, matmul) = (run(ConvForm::Burn), run(ConvForm::Matmul));
    let worst = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
    assert!(worst(&burn.0, &matmul.0) < 1e-5, "outputs differ");
    for (i, (a, b)) in burn.1.iter().zip(&matmul.1).enumerate() {
        let scale = a.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
        assert!(worst(a, b) <= 1e-4 * scale, "parameter {i}'s gradient differs by {} (scale {scale})", worst(a, b));
    }
}

/// A batch of views is the views' separate decoders: the same initial weights, outputs and
/// gradients, for both convolution forms (Burn's grouped conv2d and the batched matmul).
#[test]
fn batched_views_equal_separate_decoders() {
    use kiln_nn::ConvForm;
    let ctx = GpuContext::shared().unwrap();
    let device = burn_device(&ctx).unwrap();
    for form in [ConvForm::Burn, ConvForm::Matmul] {
        let mut c = DecoderConfig::new(7, 10, 2, 0, 3);
        c.width_multipliers = vec![4, 3, 2];
        c.out_channels = 3;
        c.init_std = 0.3;
        c.conv = form;
        let views = [0usize, 2];
        let batch = ConvDecoder::for_views(c.clone(), &views, &device).unwrap();
        assert_eq!(batch.views(), &views);
        let singles: Vec<ConvDecoder> = views.iter().map(|&v| ConvDecoder::new(DecoderConfig { view: v, ..c.clone() }, &device).unwrap()).collect();
        let per_view = batch.view_parameters_host().unwrap();
        for (i, single) in singles.iter().enumerate() {
            assert_eq!(per_view[i], single.parameters_host().unwrap(), "{form:?}: view {}'s initial weights", views[i]);
        }
        let pass = batch.forward_host().unwrap();
        let per = pass.values.len() / views.len();
        let upstream: Vec<f32> = (0..pass.values.len()).map(|i| ((i * 7919) % 13) as f32 / 13.0 - 0.5).collect();
        let worst = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
        let mut single_grads = Vec::new();
        for (i, single) in singles.iter().enumerate() {
            let sp = single.forward_host().unwrap();
            assert!(worst(&sp.values, pass.view_values(i)) < 1e-5, "{form:?}: view {}'s output", views[i]);
            single_grads.push(single.gradients(sp, &upstream[i * per..(i + 1) * per]).unwrap().to_host().unwrap());
        }
        let batch_grads = batch.gradients(pass, &upstream).unwrap().to_host().unwrap();
        for (j, g) in batch_grads.iter().enumerate() {
            let n = g.len() / views.len();
            for (i, sg) in single_grads.iter().enumerate() {
                let scale = sg[j].iter().fold(1e-3f32, |m, v| m.max(v.abs()));
                assert!(worst(&g[i * n..(i + 1) * n], &sg[j]) <= 1e-4 * scale, "{form:?}: parameter {j} of view {}", views[i]);
            }
        }
    }
}
