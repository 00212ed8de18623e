//! The decoder on kiln's WGSL kernels (`GpuDecoder`) against Burn's (`ConvDecoder`, whose
//! gradient tests/decoder.rs checks by finite differences): the same initial weights, outputs,
//! parameter gradients and AdamW steps, on kiln's device (lavapipe in CI).
//!
//! The shapes cover the kernels' edges: several 64-wide pixel tiles and 16-, 32- and 64-wide
//! channel tiles with ragged ends, a batch of views, reflection and edge padding, odd sizes (upsample then crop), and
//! the weight gradient split into several bands.

use kiln_gpu::GpuContext;
use kiln_nn::{burn_device, ConvDecoder, ConvForm, DecoderConfig, GpuDecoder, NnError};

fn worst(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max)
}

fn scale(a: &[f32]) -> f32 {
    a.iter().fold(1e-3f32, |m, v| m.max(v.abs()))
}

/// (height, width, ngf, width multipliers, views, band pixels)
type Case = (usize, usize, usize, Vec<usize>, Vec<usize>, usize);

fn cases() -> Vec<Case> {
    vec![
        // Tiny: 1-pixel axes on the way up (edge padding), one tile everywhere.
        (3, 5, 1, vec![4, 3, 2], vec![1], 2048),
        // Two views of three; 70 and 40 channels (two channel tiles, ragged); 9×13 output
        // (odd sizes: upsample then crop); bands of 16 pixels (8 bands at the last stage).
        (9, 13, 10, vec![7, 4], vec![0, 2], 16),
        // More pixels than one tile at the last stages, one view, default bands; 24, 12 and 6
        // channels (32- and 16-wide channel tiles).
        (20, 27, 3, vec![8, 4, 2], vec![1], 2048),
    ]
}

fn config(case: &Case) -> DecoderConfig {
    let (h, w, ngf, mult, _, _) = case;
    let mut c = DecoderConfig::new(*h, *w, *ngf, 0, 3);
    c.width_multipliers = mult.clone();
    c.out_channels = 5;
    c.frequencies = 4;
    // Large enough that every LeakyReLU branch is taken.
    c.init_std = 0.3;
    c.seed = 5;
    c.conv = ConvForm::Burn;
    c
}

#[test]
fn kiln_kernels_compute_the_burn_decoder() {
    let ctx = GpuContext::shared().unwrap();
    let device = burn_device(&ctx).unwrap();
    for case in cases() {
        let c = config(&case);
        let (views, bands) = (&case.4, case.5);
        let name = format!("{}×{} ngf {} views {views:?}", case.0, case.1, case.2);
        let mut burn = ConvDecoder::for_views(c.clone(), views, &device).unwrap();
        let mut gpu = GpuDecoder::with_bands(&ctx, c.clone(), views, bands).unwrap();
        assert_eq!(gpu.parameters_host().unwrap(), burn.parameters_host().unwrap(), "{name}: initial weights");
        assert_eq!(gpu.parameter_count(), burn.parameter_count());

        // Forward.
        let pass = burn.forward_host().unwrap();
        let out = gpu.forward_host().unwrap();
        assert!(worst(&out, &pass.values) <= 1e-5 * scale(&pass.values), "{name}: outputs differ by {}", worst(&out, &pass.values));

        // Gradients for an arbitrary upstream gradient.
        let upstream: Vec<f32> = (0..out.len()).map(|i| ((i * 7919) % 23) as f32 / 23.0 - 0.5).collect();
        let gb = burn.gradients(pass, &upstream).unwrap().to_host().unwrap();
        let gg = gpu.gradients(&upstream).unwrap();
        assert_eq!(gb.len(), gg.len());
        for (j, (a, b)) in gb.iter().zip(&gg).enumerate() {
            assert!(worst(a, b) <= 2e-5 * scale(a), "{name}: parameter {j}'s gradient differs by {} (scale {})", worst(a, b), scale(a));
        }

        // Two AdamW steps at a learning rate large enough to move every weight visibly.
        for lr in [1e-2, 5e-3] {
            let pass = burn.forward_host().unwrap();
            burn.step(pass, &upstream, lr).unwrap();
            gpu.forward_host().unwrap();
            gpu.step(&upstream, lr).unwrap();
        }
        let (pb, pg) = (burn.parameters_host().unwrap(), gpu.parameters_host().unwrap());
        for (j, (a, b)) in pb.iter().zip(&pg).enumerate() {
            assert!(worst(a, b) <= 1e-5 * scale(a).max(1.0), "{name}: parameter {j} after AdamW differs by {}", worst(a, b));
        }
        let after = gpu.forward_host().unwrap();
        let after_burn = burn.forward_host().unwrap().values;
        assert!(worst(&after, &after_burn) <= 1e-4 * scale(&after_burn), "{name}: outputs after AdamW differ by {}", worst(&after, &after_burn));
        assert!(worst(&after, &out) > 1e-3 * scale(&out), "{name}: AdamW did not move the output");
    }
}

/// Checkpoints store each view's parameters whatever the batching, so the two implementations
/// and batch shapes exchange them.
#[test]
fn view_parameters_round_trip_between_implementations() {
    let ctx = GpuContext::shared().unwrap();
    let device = burn_device(&ctx).unwrap();
    let case = &cases()[1];
    let c = config(case);
    let burn = ConvDecoder::for_views(DecoderConfig { seed: 99, ..c.clone() }, &[0, 2], &device).unwrap();
    let mut gpu = GpuDecoder::for_views(&ctx, c.clone(), &[0, 2]).unwrap();
    gpu.set_view_parameters_host(&burn.view_parameters_host().unwrap()).unwrap();
    assert_eq!(gpu.view_parameters_host().unwrap(), burn.view_parameters_host().unwrap());
    let out = gpu.forward_host().unwrap();
    let reference = burn.forward_host().unwrap().values;
    assert!(worst(&out, &reference) <= 1e-5 * scale(&reference));
    // A lone view takes its slice of the batch.
    let mut single = GpuDecoder::for_views(&ctx, c, &[2]).unwrap();
    single.set_view_parameters_host(&gpu.view_parameters_host().unwrap()[1..]).unwrap();
    let per = out.len() / 2;
    assert!(worst(&single.forward_host().unwrap(), &out[per..]) <= 1e-5 * scale(&out));
}

#[test]
fn bad_shapes_are_errors() {
    let ctx = GpuContext::shared().unwrap();
    let c = config(&cases()[0]);
    let mut gpu = GpuDecoder::for_views(&ctx, c.clone(), &[0]).unwrap();
    let n = gpu.output().1;
    assert!(matches!(gpu.step(&vec![0.0; n + 1], 1e-3), Err(NnError::Shape(_))));
    assert!(matches!(gpu.set_parameters_host(&[vec![0.0; 3]]), Err(NnError::Shape(_))));
    assert!(matches!(gpu.set_view_parameters_host(&[]), Err(NnError::Shape(_))));
    assert!(matches!(GpuDecoder::for_views(&ctx, c.clone(), &[]), Err(NnError::Shape(_))));
    assert!(matches!(GpuDecoder::for_views(&ctx, c, &[3]), Err(NnError::Shape(_))));
}
