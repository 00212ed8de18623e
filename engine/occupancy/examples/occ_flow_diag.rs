//! Where the flow gradient of the splat arm comes from and whether it points the right way:
//! per step, on the training scene's observed GT-dynamic voxels, the 3-D flow L1's gradient,
//! the splat loss's gradient and its two parts (L_flow2; the moved renders' pull through the
//! moved centres), their sizes and their cosine with (v_pred − v_gt) (> 0: descending them
//! lowers the error). Also the predicted opacity on those voxels, how many sampled voxels are
//! dynamic, and the flow EPE on validation scenes (seeds 950, 951, … — `--val-scenes K`, default
//! 2 — neither training nor test).
//!
//! `cargo run -p kiln-occupancy --example occ_flow_diag -- [--small] [--steps N] [--seed S] [--every K] [--hidden H] [--train-scenes K] [--val-scenes K] [--lr X] [--no-splat]`

use kiln_occupancy::grid::UNOBSERVED;
use kiln_occupancy::loss3d::{class_weights, loss3d};
use kiln_occupancy::metrics::flow_epe;
use kiln_occupancy::net::{burn_device, join_grads, split_output};
use kiln_occupancy::sample::{sample_voxels, SampleConfig};
use kiln_occupancy::train::{Sample, TrainConfig, Trainer, FLOW_UNIT};
use kiln_occupancy::{GpuSplat, SplatLoss, SplatLossConfig, VoxelPrediction, VoxelTargets};
use kiln_splat::SplatRenderer;

fn cos(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    if na * nb > 0.0 {
        dot / (na * nb)
    } else {
        0.0
    }
}

fn norm(a: &[f64]) -> f64 {
    a.iter().map(|x| x * x).sum::<f64>().sqrt()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).map(|v| v.parse::<usize>());
    let splat = !args.iter().any(|a| a == "--no-splat");
    let seed = value("--seed").transpose()?.unwrap_or(0) as u64;
    let mut cfg = if args.iter().any(|a| a == "--small") { TrainConfig::small(splat, seed) } else { TrainConfig::tiny(splat, seed) };
    if let Some(s) = value("--steps").transpose()? {
        cfg.flow_warmup = cfg.flow_warmup * s / cfg.steps;
        cfg.steps = s;
    }
    if let Some(h) = value("--hidden").transpose()? {
        cfg.hidden = h;
    }
    if let Some(k) = value("--train-scenes").transpose()? {
        cfg.train_seeds = (100..100 + k as u64).collect();
    }
    if let Some(lr) = args.iter().position(|a| a == "--lr").and_then(|i| args.get(i + 1)) {
        cfg.lr = lr.parse()?;
    }
    let every = value("--every").transpose()?.unwrap_or(10);
    let ctx = kiln_gpu::GpuContext::shared()?;
    let device = burn_device(&ctx)?;
    let renderer = SplatRenderer::new(ctx.clone())?;
    let backend = GpuSplat { renderer: &renderer };
    let val_scenes = value("--val-scenes").transpose()?.unwrap_or(2) as u64;
    let validation = Sample::many(&cfg, &(950..950 + val_scenes).collect::<Vec<_>>())?;
    let mut trainer = Trainer::new(cfg.clone(), &device)?;
    let grid = trainer.train[0].street.grid;
    let classes = trainer.train[0].street.classes.clone();
    let (n, c) = (grid.len(), classes.len());
    let all: Vec<u8> = trainer.train.iter().flat_map(|s| s.labels.iter().copied()).collect();
    let weights = class_weights(&classes, &all);
    let mut splat_loss = SplatLoss::new(grid, classes.clone(), SplatLossConfig::paper(grid.voxel_size, false))?;
    let val_epe = |t: &Trainer| -> Result<(f64, f64), Box<dyn std::error::Error>> {
        let (mut e, mut z) = (0.0, 0.0);
        for s in &validation {
            let (_, flow) = t.predict(s)?;
            e += flow_epe(&s.street.grid, &s.street.classes, &flow, &s.labels, &s.flow)? / validation.len() as f64;
            z += flow_epe(&s.street.grid, &s.street.classes, &vec![0.0; flow.len()], &s.labels, &s.flow)? / validation.len() as f64;
        }
        Ok((e, z))
    };
    let (e0, zero) = val_epe(&trainer)?;
    println!("validation flow EPE at init {e0:.4} m/s; EPE of zero flow {zero:.4} m/s");
    for step in 0..cfg.steps {
        let sample = &trainer.train[step % trainer.train.len()];
        let pass = trainer.net.forward(&sample.input, grid.dims)?;
        let (logits, mut flow) = split_output(&pass.values, c, n);
        flow.iter_mut().for_each(|v| *v *= FLOW_UNIT);
        let l3 = loss3d(&grid, &classes, &weights, &logits, &flow, &sample.labels, &sample.flow, cfg.flow_weight_3d)?;
        let dynamic: Vec<usize> = (0..n).filter(|&i| sample.labels[i] != UNOBSERVED && classes.is_dynamic(sample.labels[i])).collect();
        let pick = |g: &[f64]| -> Vec<f64> { dynamic.iter().flat_map(|&i| [g[2 * i], g[2 * i + 1]]).collect() };
        let err: Vec<f64> = dynamic.iter().flat_map(|&i| [(flow[2 * i] - sample.flow[2 * i]) as f64, (flow[2 * i + 1] - sample.flow[2 * i + 1]) as f64]).collect();
        let g3: Vec<f64> = l3.grad_flow.iter().map(|&g| g as f64).collect();
        let mut grad_logits = l3.grad_logits.clone();
        let mut grad_flow = l3.grad_flow.clone();
        let flow_on = step >= cfg.flow_warmup;
        let mut line = String::new();
        if splat {
            let scfg = SampleConfig { count: cfg.samples, seed: cfg.seed.wrapping_mul(1_000_003).wrapping_add(step as u64) };
            let sampled = sample_voxels(&grid, &classes, &sample.labels, &sample.flow, Some(&sample.visible), &scfg)?;
            splat_loss.config.flow_weight = if flow_on { 0.5 } else { 0.0 };
            splat_loss.config.temporal = flow_on;
            let pred = VoxelPrediction { logits: &logits, flow: &flow };
            let targets = VoxelTargets { labels: &sample.labels, flow: &sample.flow };
            let out = splat_loss.evaluate(&backend, &sampled, &pred, &targets, &sample.views)?;
            if step % every == 0 {
                let dyn_sampled = sampled.iter().filter(|&&v| classes.is_dynamic(sample.labels[v as usize])).count();
                let sampled_dynamic: Vec<usize> = dynamic.iter().copied().filter(|i| sampled.binary_search(&(*i as u32)).is_ok()).collect();
                let alpha: f64 = dynamic.iter().map(|&i| 1.0 / (1.0 + (logits[i * c + c - 1] as f64).exp())).sum::<f64>() / dynamic.len().max(1) as f64;
                let gs = pick(&out.grad_flow);
                line += &format!(
                    " | sampled dyn {dyn_sampled}/{} ({} of {} GT-dyn) α_dyn {alpha:.2} | splat |g| {:.2e} cos {:+.2}",
                    sampled.len(),
                    sampled_dynamic.len(),
                    dynamic.len(),
                    norm(&gs),
                    cos(&gs, &err)
                );
                if flow_on {
                    // The two parts: moved renders without L_flow2, and L_flow2 alone.
                    splat_loss.config.flow_weight = 0.0;
                    let moved = splat_loss.evaluate(&backend, &sampled, &pred, &targets, &sample.views)?;
                    let gm = pick(&moved.grad_flow);
                    let gf: Vec<f64> = gs.iter().zip(&gm).map(|(a, b)| a - b).collect();
                    line += &format!(" [moved |g| {:.2e} cos {:+.2}; L_flow2 |g| {:.2e} cos {:+.2}]", norm(&gm), cos(&gm, &err), norm(&gf), cos(&gf, &err));
                }
            }
            for (g, s) in grad_logits.iter_mut().zip(&out.grad_logits) {
                *g += *s as f32;
            }
            for (g, s) in grad_flow.iter_mut().zip(&out.grad_flow) {
                *g += *s as f32;
            }
        }
        if step % every == 0 {
            let g3d = pick(&g3);
            let train_epe = norm(&err) / (dynamic.len().max(1) as f64).sqrt();
            let (ve, _) = val_epe(&trainer)?;
            println!(
                "step {step:4} ce {:.3} flow3d {:.3} train rms err {train_epe:.3} val EPE {ve:.4} | 3d |g| {:.2e} cos {:+.2}{line}",
                l3.ce,
                l3.flow,
                norm(&g3d),
                cos(&g3d, &err)
            );
        }
        grad_flow.iter_mut().for_each(|g| *g *= FLOW_UNIT);
        let grad = join_grads(&grad_logits, &grad_flow, c, n);
        trainer.net.step(pass, &grad, cfg.lr)?;
    }
    let (e, _) = val_epe(&trainer)?;
    println!("validation flow EPE after {} steps: {e:.4} m/s (zero flow {zero:.4})", cfg.steps);
    Ok(())
}
