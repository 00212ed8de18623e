//! The synthetic street end to end: balanced sampling, the splat loss on its views (GT beats
//! a wrong prediction; GPU), and the metrics on perfect and degraded predictions.

use kiln_occupancy::metrics::{argmax_labels, flow_epe, miou, ray_iou, QueryRay};
use kiln_occupancy::street::{Street, StreetConfig, FREE};
use kiln_occupancy::{sample_voxels, GpuSplat, SampleConfig, SplatLoss, SplatLossConfig, VoxelPrediction, VoxelTargets};
use kiln_splat::SplatRenderer;

fn key_rays(s: &Street) -> Vec<QueryRay> {
    s.cameras(0.0).iter().flat_map(|c| Street::pixel_rays(c, 2).into_iter().map(move |dir| QueryRay { origin: c.center(), dir })).collect()
}

#[test]
fn metrics_on_the_street_rank_predictions() {
    let s = Street::generate(&StreetConfig::small(11)).unwrap();
    let (key, visible) = s.key_frame();
    let rays = key_rays(&s);
    let full = s.frame(0.0);
    let perfect = ray_iou(&s.grid, &s.classes, &rays, &full.labels, &full.flow, &key.labels, &key.flow).unwrap();
    assert!(perfect.rays > 1000 && (perfect.rayiou - 1.0).abs() < 1e-9 && perfect.mave < 1e-9, "{perfect:?}");
    assert!((miou(&s.grid, &s.classes, &full.labels, &key.labels, Some(&visible)).unwrap().miou - 1.0).abs() < 1e-9);
    // The scene half a second later, used as a prediction: moving objects are misplaced.
    let late = s.frame(0.5);
    let m = miou(&s.grid, &s.classes, &late.labels, &key.labels, None).unwrap();
    let r = ray_iou(&s.grid, &s.classes, &rays, &late.labels, &late.flow, &key.labels, &key.flow).unwrap();
    assert!(m.miou < 0.999 && r.rayiou < 0.999, "{m:?} {r:?}");
    let zero = vec![0.0f32; full.flow.len()];
    assert!(flow_epe(&s.grid, &s.classes, &zero, &key.labels, &key.flow).unwrap() > 0.1);
    assert_eq!(flow_epe(&s.grid, &s.classes, &full.flow, &key.labels, &key.flow).unwrap(), 0.0);
}

#[test]
fn splat_loss_on_street_views_prefers_the_ground_truth() {
    let Ok(ctx) = kiln_gpu::GpuContext::shared() else { panic!("no wgpu adapter") };
    let renderer = SplatRenderer::new(ctx).unwrap();
    let backend = GpuSplat { renderer: &renderer };
    let mut cfg = StreetConfig::small(5);
    cfg.image = [48, 27];
    cfg.times = vec![0.0, 0.5];
    let s = Street::generate(&cfg).unwrap();
    let (key, visible) = s.key_frame();
    let sampled = sample_voxels(&s.grid, &s.classes, &key.labels, &key.flow, Some(&visible), &SampleConfig { count: 3000, seed: 1 }).unwrap();
    assert_eq!(sampled.len(), 3000);
    let loss = SplatLoss::new(s.grid, s.classes.clone(), SplatLossConfig::paper(s.grid.voxel_size, true)).unwrap();
    let c = s.classes.len();
    let logits_for = |labels: &[u8]| -> Vec<f32> {
        labels.iter().flat_map(|&l| (0..c).map(move |k| if k == l as usize || (l == 255 && k == FREE as usize) { 12.0 } else { -12.0 })).collect()
    };
    let targets = VoxelTargets { labels: &key.labels, flow: &key.flow };
    let views = s.views();
    let gt_logits = logits_for(&key.labels);
    let good = loss.evaluate(&backend, &sampled, &VoxelPrediction { logits: &gt_logits, flow: &key.flow }, &targets, &views).unwrap();
    let late = s.frame(0.5);
    let wrong_logits = logits_for(&late.labels);
    let zero = vec![0.0f32; key.flow.len()];
    let bad = loss.evaluate(&backend, &sampled, &VoxelPrediction { logits: &wrong_logits, flow: &zero }, &targets, &views).unwrap();
    eprintln!("GT: {:.4} (sem {:.4} depth {:.4} flow {:.4}); wrong: {:.4} (sem {:.4} depth {:.4} flow {:.4})", good.total, good.sem, good.depth, good.flow, bad.total, bad.sem, bad.depth, bad.flow);
    assert_eq!(good.renders, views.len() + 6);
    assert!(good.depth < 1e-3 && good.flow < 1e-3, "{good:?}");
    assert!(bad.total > good.total + 0.05 && bad.flow > 10.0 * good.flow.max(1e-4), "good {} bad {}", good.total, bad.total);
    // Gradients are only on sampled voxels and finite.
    assert!(bad.grad_logits.iter().chain(&bad.grad_flow).all(|g| g.is_finite()));
    let in_sample: std::collections::HashSet<u32> = sampled.iter().copied().collect();
    assert!((0..s.grid.len()).filter(|v| !in_sample.contains(&(*v as u32))).all(|v| bad.grad_flow[2 * v] == 0.0));
    let pred_labels = argmax_labels(&gt_logits, c);
    assert_eq!(pred_labels.iter().zip(&key.labels).filter(|(p, g)| **g != 255 && p != g).count(), 0);
}
