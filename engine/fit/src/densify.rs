//! Adaptive density control (3DGS / gsplat's default strategy), on the host.
//!
//! Every `densify_interval` steps the trainer reads the cloud and the accumulated statistics
//! back, decides here, and uploads the new cloud; the optimizer moments follow the returned
//! source rows on the GPU. Densification runs ~150 times in a 30k-step run, so the read-back is
//! a small share of the time; the per-step path stays on the GPU.

use glam::{Mat3, Quat, Vec3};
use kiln_gpu::GATHER_ZERO;
use kiln_splat::GaussianCloud;
use rand::rngs::Xoshiro256PlusPlus;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

/// Per-Gaussian statistics accumulated since the last densification.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DensifyStats {
    /// Σ over views of ‖dL/d mean2d‖ in NDC units.
    pub grad_accum: Vec<f32>,
    /// Views the Gaussian was visible in.
    pub view_count: Vec<f32>,
    /// Largest screen radius seen (pixels).
    pub max_radius: Vec<f32>,
}

/// What a densification did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DensifyReport {
    pub cloned: usize,
    pub split: usize,
    pub pruned: usize,
}

/// The thresholds of one densification.
#[derive(Clone, Debug)]
pub struct DensifyParams {
    pub grad_threshold: f32,
    /// Clone at or below, split above this world size (percent_dense × extent).
    pub dense_size: f32,
    pub prune_opacity: f32,
    /// Prune by size (screen and world) only after the first opacity reset.
    pub prune_big: bool,
    /// Screen-radius pruning (pixels), if on (see `TrainConfig::prune_screen_size`).
    pub max_screen_radius: Option<f32>,
    pub max_world_size: f32,
    pub seed: u64,
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Clones small Gaussians and splits large ones whose mean screen gradient reaches the
/// threshold, then prunes transparent (and, later, oversized) ones. Returns the new cloud and,
/// for each of its rows, the source row whose optimizer state it keeps ([`GATHER_ZERO`] for
/// new Gaussians, which start with zero moments as in 3DGS).
pub fn densify(cloud: &GaussianCloud, stats: &DensifyStats, p: &DensifyParams) -> (GaussianCloud, Vec<u32>, DensifyReport) {
    let n = cloud.len();
    let k = cloud.sh_per_splat();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(p.seed);
    let mut out = GaussianCloud { sh_degree: cloud.sh_degree, feature_channels: cloud.feature_channels, ..Default::default() };
    let mut source = Vec::with_capacity(n);
    let mut report = DensifyReport::default();
    let push = |out: &mut GaussianCloud, i: usize, mean: Vec3, log_scale: Vec3| {
        out.means.push(mean);
        out.log_scales.push(log_scale);
        out.rotations.push(cloud.rotations[i]);
        out.opacity_logits.push(cloud.opacity_logits[i]);
        out.sh.extend_from_slice(&cloud.sh[i * k..(i + 1) * k]);
        let f = cloud.feature_channels;
        out.features.extend_from_slice(&cloud.features[i * f..(i + 1) * f]);
    };
    let grad = |i: usize| if stats.view_count[i] > 0.0 { stats.grad_accum[i] / stats.view_count[i] } else { 0.0 };
    let max_scale = |i: usize| cloud.log_scales[i].max_element().exp();
    let keep = |out: &GaussianCloud, j: usize| {
        let small = !p.prune_big || out.log_scales[j].max_element().exp() <= p.max_world_size;
        sigmoid(out.opacity_logits[j]) >= p.prune_opacity && small
    };
    let mut clones = Vec::new();
    let mut splits = Vec::new();
    // Originals (split ones are replaced by their children).
    for i in 0..n {
        let big_on_screen = p.prune_big && p.max_screen_radius.is_some_and(|r| stats.max_radius.get(i).copied().unwrap_or(0.0) > r);
        let hot = grad(i) >= p.grad_threshold;
        if hot && max_scale(i) > p.dense_size {
            splits.push(i);
            continue;
        }
        if hot {
            clones.push(i);
        }
        push(&mut out, i, cloud.means[i], cloud.log_scales[i]);
        if keep(&out, out.len() - 1) && !big_on_screen {
            source.push(i as u32);
        } else {
            pop(&mut out, k);
            report.pruned += 1;
        }
    }
    for &i in &clones {
        push(&mut out, i, cloud.means[i], cloud.log_scales[i]);
        // A clone of a Gaussian that is pruned is pruned too (3DGS prunes after cloning).
        if keep(&out, out.len() - 1) && !(p.prune_big && p.max_screen_radius.is_some_and(|r| stats.max_radius.get(i).copied().unwrap_or(0.0) > r)) {
            source.push(GATHER_ZERO);
            report.cloned += 1;
        } else {
            pop(&mut out, k);
        }
    }
    for &i in &splits {
        let r = cloud.rotations[i];
        let rot = Mat3::from_quat(Quat::from_xyzw(r[1], r[2], r[3], r[0]).normalize());
        let scale = cloud.log_scales[i].exp();
        // Two samples from the Gaussian; each child is 1/1.6 the size (3DGS: / (0.8·N), N = 2).
        for _ in 0..2 {
            let z = Vec3::new(StandardNormal.sample(&mut rng), StandardNormal.sample(&mut rng), StandardNormal.sample(&mut rng));
            let mean = cloud.means[i] + rot * (z * scale);
            push(&mut out, i, mean, (scale / 1.6).max(Vec3::splat(1e-12)).ln());
            if keep(&out, out.len() - 1) {
                source.push(GATHER_ZERO);
            } else {
                pop(&mut out, k);
            }
        }
        report.split += 1;
    }
    (out, source, report)
}

fn pop(c: &mut GaussianCloud, k: usize) {
    c.means.pop();
    c.log_scales.pop();
    c.rotations.pop();
    c.opacity_logits.pop();
    c.sh.truncate(c.sh.len() - k);
    c.features.truncate(c.features.len() - c.feature_channels);
}

/// 3DGS's opacity reset: opacity = min(opacity, 0.01).
pub fn reset_opacity(logits: &mut [f32]) {
    let cap = (0.01f32 / 0.99).ln();
    for l in logits {
        *l = l.min(cap);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cloud(n: usize) -> GaussianCloud {
        GaussianCloud {
            means: (0..n).map(|i| Vec3::new(i as f32, 0.0, 0.0)).collect(),
            log_scales: vec![Vec3::splat(0.001f32.ln()); n],
            rotations: vec![[1.0, 0.0, 0.0, 0.0]; n],
            opacity_logits: vec![0.0; n],
            sh_degree: 0,
            sh: (0..n * 3).map(|v| v as f32).collect(),
            ..Default::default()
        }
    }

    fn params() -> DensifyParams {
        DensifyParams {
            grad_threshold: 2e-4,
            dense_size: 0.01,
            prune_opacity: 0.005,
            prune_big: false,
            max_screen_radius: Some(20.0),
            max_world_size: 0.1,
            seed: 1,
        }
    }

    #[test]
    fn clone_split_prune() {
        let mut c = cloud(5);
        c.log_scales[1] = Vec3::splat(0.05f32.ln()); // large: split
        c.opacity_logits[3] = -10.0; // transparent: pruned
        let stats = DensifyStats {
            grad_accum: vec![3e-4, 6e-4, 0.0, 1.0, 1e-5],
            view_count: vec![1.0, 2.0, 0.0, 1.0, 1.0],
            max_radius: vec![0.0; 5],
        };
        let (out, src, report) = densify(&c, &stats, &params());
        assert_eq!(report, DensifyReport { cloned: 1, split: 1, pruned: 1 });
        // Kept originals 0, 2, 4; a clone of 0; two children of 1.
        assert_eq!(src, vec![0, 2, 4, GATHER_ZERO, GATHER_ZERO, GATHER_ZERO]);
        assert_eq!(out.len(), 6);
        out.validate().unwrap();
        assert_eq!(out.means[3], c.means[0]);
        assert_eq!(&out.sh[9..12], &c.sh[0..3]);
        for child in [4, 5] {
            assert!((out.log_scales[child].x.exp() - 0.05 / 1.6).abs() < 1e-6);
            assert!(out.means[child].distance(c.means[1]) < 0.5);
            assert_eq!(&out.sh[child * 3..child * 3 + 3], &c.sh[3..6]);
        }
    }

    #[test]
    fn big_splats_are_pruned_only_after_the_first_reset() {
        let mut c = cloud(2);
        c.log_scales[0] = Vec3::splat(0.5f32.ln());
        let stats = DensifyStats { grad_accum: vec![0.0; 2], view_count: vec![1.0; 2], max_radius: vec![5.0, 50.0] };
        let (out, _, r) = densify(&c, &stats, &params());
        assert_eq!((out.len(), r.pruned), (2, 0));
        let (out, src, r) = densify(&c, &stats, &DensifyParams { prune_big: true, ..params() });
        assert_eq!((out.len(), r.pruned, src), (0, 2, vec![]));
    }

    #[test]
    fn opacity_reset_caps_at_one_percent() {
        let mut l = vec![5.0, -10.0, 0.0];
        reset_opacity(&mut l);
        assert!((sigmoid(l[0]) - 0.01).abs() < 1e-6 && l[1] == -10.0);
    }
}
