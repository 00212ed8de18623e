//! The occupancy + flow network (Burn on kiln's device) and the benchmark's training arms on
//! the smallest street: shapes, a loss that falls, the bench end to end, and bad input.

use kiln_occupancy::net::{burn_device, join_grads, split_output, NetConfig, OccNet};
use kiln_occupancy::train::{bench, Sample, TrainConfig, Trainer};
use kiln_occupancy::GpuSplat;
use kiln_splat::SplatRenderer;
use std::sync::Arc;

fn gpu() -> Arc<kiln_gpu::GpuContext> {
    kiln_gpu::GpuContext::shared().expect("a wgpu adapter (lavapipe in CI)")
}

#[test]
fn network_forward_backward_shapes_and_fit() {
    let device = burn_device(&gpu()).unwrap();
    let dims = [6, 5, 4];
    let n = dims.iter().product::<usize>();
    let mut net = OccNet::new(NetConfig { hidden: 4, ..NetConfig::small(3, 5, 7) }, &device).unwrap();
    assert_eq!(net.output_channels(), 7);
    let input: Vec<f32> = (0..3 * n).map(|i| ((i * 37 % 11) as f32 / 11.0) - 0.5).collect();
    assert!(net.forward(&input[1..], dims).is_err(), "a short input must be refused");
    let target: Vec<f32> = (0..7 * n).map(|i| ((i * 13 % 7) as f32 / 7.0) - 0.5).collect();
    let mse = |v: &[f32]| v.iter().zip(&target).map(|(a, b)| (a - b) * (a - b)).sum::<f32>() / v.len() as f32;
    let pass = net.forward(&input, dims).unwrap();
    assert_eq!(pass.values.len(), 7 * n);
    // The flow head starts at zero flow (its rows are zero-initialized); the logits do not.
    let (logits0, flow0) = split_output(&pass.values, 5, n);
    assert!(flow0.iter().all(|&v| v == 0.0), "initial flow is not zero");
    assert!(logits0.iter().any(|&v| v != 0.0));
    let first = mse(&pass.values);
    assert!(net.step(pass, &[0.0; 3], 1e-2).is_err(), "a gradient of the wrong size must be refused");
    let mut last = first;
    for _ in 0..40 {
        let pass = net.forward(&input, dims).unwrap();
        last = mse(&pass.values);
        let g: Vec<f32> = pass.values.iter().zip(&target).map(|(a, b)| 2.0 * (a - b) / (7 * n) as f32).collect();
        net.step(pass, &g, 1e-2).unwrap();
    }
    assert!(last < 0.5 * first, "MSE to a fixed target {first} → {last}");
    // Checkpoint round trip: same parameters → same output.
    let params = net.parameters_host().unwrap();
    let before = net.forward(&input, dims).unwrap().values;
    let mut other = OccNet::new(NetConfig { hidden: 4, ..NetConfig::small(3, 5, 99) }, &device).unwrap();
    other.set_parameters_host(&params).unwrap();
    assert_eq!(other.forward(&input, dims).unwrap().values, before);
    assert!(other.set_parameters_host(&params[1..]).is_err());
    // Channel-major output ↔ voxel-major logits and flow.
    let (logits, flow) = split_output(&before, 5, n);
    assert_eq!(logits[3 * 5 + 2], before[2 * n + 3]);
    assert_eq!(flow[2 * 4 + 1], before[6 * n + 4]);
    assert_eq!(join_grads(&logits, &flow, 5, n), before);
}

#[test]
fn training_arms_lower_the_loss_and_bench_runs_end_to_end() {
    let ctx = gpu();
    let device = burn_device(&ctx).unwrap();
    let renderer = SplatRenderer::new(ctx.clone()).unwrap();
    let backend = GpuSplat { renderer: &renderer };

    // One scene, the splat arm: the 3-D loss falls over a short run and the splat loss is on.
    let mut cfg = TrainConfig::tiny(true, 1);
    cfg.train_seeds = vec![100];
    cfg.steps = 15;
    cfg.flow_warmup = 4;
    let mut trainer = Trainer::new(cfg, &device).unwrap();
    let mut stats = Vec::new();
    while trainer.step < trainer.config.steps {
        stats.push(trainer.train_step(&backend).unwrap());
    }
    let head = stats[..3].iter().map(|s| s.loss3d).sum::<f64>() / 3.0;
    let tail = stats[stats.len() - 3..].iter().map(|s| s.loss3d).sum::<f64>() / 3.0;
    assert!(tail < 0.97 * head, "3-D loss {head} → {tail}");
    assert!(stats.iter().all(|s| s.splat > 0.0 && s.splat.is_finite() && s.splat_seconds > 0.0));

    // The bench on the tiny grid: both arms, one seed, metrics in range, the table prints.
    let mut base = TrainConfig::tiny(false, 0);
    base.steps = 6;
    base.flow_warmup = 3;
    base.train_seeds = vec![100, 101];
    base.test_seeds = vec![900];
    let mut seen = [0usize; 2];
    let mut arms = Vec::new();
    let report = bench(&base, &[0], "test adapter", &device, &backend, &mut |_, splat, _| seen[splat as usize] += 1, &mut |splat, r| arms.push((splat, r.test.miou))).unwrap();
    // Each arm is reported as it finishes, with the result the report then holds.
    assert_eq!(arms, vec![(false, report.arms[0].runs[0].test.miou), (true, report.arms[1].runs[0].test.miou)]);
    assert_eq!(seen, [6, 6]);
    assert_eq!(report.arms.len(), 2);
    for arm in &report.arms {
        let r = &arm.runs[0].test;
        assert!((0.0..=1.0).contains(&r.miou) && (0.0..=1.0).contains(&r.rayiou), "{r:?}");
        assert!(r.flow_epe.is_finite() && r.mave.is_finite() && r.flow_epe >= 0.0);
    }
    assert!(report.splat_step_fraction > 0.0 && report.splat_step_fraction.is_finite());
    assert!(report.zero_flow_epe > 0.0 && report.zero_flow_epe.is_finite(), "zero-flow EPE {}", report.zero_flow_epe);
    let table = report.table();
    assert!(table.contains("3d+splat") && table.contains("mIoU"), "{table}");
    assert!(table.contains("seed 0:") && table.contains("predicting zero flow"), "{table}");
    assert!(bench(&base, &[], "x", &device, &backend, &mut |_, _, _| (), &mut |_, _| ()).is_err());
}

#[test]
fn bad_input_gets_clear_errors() {
    let device = burn_device(&gpu()).unwrap();
    // A camera outside the grid: on the 16-voxel-long tiny street the ego leaves the grid
    // 3 s after the key frame (ego speed ≥ 2 m/s, grid half-length 3.2 m).
    let mut cfg = TrainConfig::tiny(true, 0);
    cfg.splat_times = vec![0.0, 3.0];
    let err = Trainer::new(cfg, &device).err().expect("a camera outside the grid").to_string();
    assert!(err.contains("outside the voxel grid") && err.contains("view"), "{err}");

    // A label grid of the wrong shape for the 3-D loss and the splat loss.
    let cfg = TrainConfig::tiny(false, 0);
    let s = Sample::new(&cfg, 100).unwrap();
    let grid = s.street.grid;
    let classes = &s.street.classes;
    let c = classes.len();
    let logits = vec![0.0f32; grid.len() * c];
    let flow = vec![0.0f32; grid.len() * 2];
    let w = vec![1.0; c];
    let short = &s.labels[..grid.len() - 3];
    let err = kiln_occupancy::loss3d::loss3d(&grid, classes, &w, &logits, &flow, short, &s.flow, 1.0).unwrap_err().to_string();
    assert!(err.contains("GT labels"), "{err}");

    // Empty or invalid configurations.
    assert!(Trainer::new(TrainConfig { train_seeds: vec![], ..cfg.clone() }, &device).is_err());
    assert!(Trainer::new(TrainConfig { lr: f64::NAN, ..cfg.clone() }, &device).is_err());
    assert!(Trainer::new(TrainConfig { dims: [8, 8, 2], ..cfg.clone() }, &device).is_err());
    // A checkpoint that does not fit the network.
    let mut t = Trainer::new(cfg, &device).unwrap();
    let mut p = t.parameters().unwrap();
    p[0].pop();
    assert!(t.restore(0, &p, vec![]).is_err());
}

#[test]
fn the_3d_arm_learns_motion_below_the_zero_flow_floor() {
    // The benchmark's regression test for motion: on the tiny street (a car in view in every
    // scene, its displacement between the two depth frames is what shows its velocity) the 3-D
    // arm, after a short run on its 16 training scenes, predicts flow on held-out scenes that
    // is clearly better than predicting zero flow. Before the street kept a car in the grid the
    // held-out scenes held only pedestrians (sub-voxel motion) and nothing was learned.
    let ctx = gpu();
    let device = burn_device(&ctx).unwrap();
    let renderer = SplatRenderer::new(ctx.clone()).unwrap();
    let backend = GpuSplat { renderer: &renderer };
    let mut cfg = TrainConfig::tiny(false, 0);
    cfg.steps = 120;
    let mut trainer = Trainer::new(cfg, &device).unwrap();
    while trainer.step < trainer.config.steps {
        trainer.train_step(&backend).unwrap();
    }
    let validation = Sample::many(&trainer.config, &[950, 951]).unwrap();
    let report = trainer.evaluate(&validation).unwrap();
    let zero: f64 = validation
        .iter()
        .map(|s| kiln_occupancy::metrics::flow_epe(&s.street.grid, &s.street.classes, &vec![0.0; s.flow.len()], &s.labels, &s.flow).unwrap())
        .sum::<f64>()
        / validation.len() as f64;
    eprintln!("validation flow EPE {:.3} m/s, zero flow {zero:.3}", report.flow_epe);
    assert!(zero > 2.0, "the validation scenes must hold moving cars (zero-flow EPE {zero})");
    assert!(report.flow_epe < 0.6 * zero, "flow EPE {} vs zero flow {zero}", report.flow_epe);
}
