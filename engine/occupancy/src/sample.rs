//! Class- and speed-balanced sampling of visible voxels (VoxelSplat's `LoadOccupancy`).
//!
//! Among visible voxels, `count` are drawn without replacement with probability ∝
//! w_cls[class] · w_vel[speed bin], each weight ∝ 1/√frequency. The reference reads the
//! frequencies from fixed nuScenes tables; here they are counted on the labels at hand (the
//! synthetic street has its own statistics), which is the same balancing rule.

use crate::grid::{ClassSet, VoxelGrid, UNOBSERVED};
use crate::OccError;
use rand::rngs::Xoshiro256PlusPlus;
use rand::SeedableRng;

/// Speed-bin edges in m/s: [0,1), [1,2), [2,5), [5,10), [10,∞).
pub const SPEED_BINS: [f32; 4] = [1.0, 2.0, 5.0, 10.0];

pub fn speed_bin(v: [f32; 2]) -> usize {
    let s = (v[0] * v[0] + v[1] * v[1]).sqrt();
    SPEED_BINS.iter().take_while(|&&e| s >= e).count()
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SampleConfig {
    /// Voxels to draw (all visible voxels when fewer are visible). The paper draws 100 000.
    pub count: usize,
    pub seed: u64,
}

/// Draws visible voxels (label ≠ 255 and `visible`, when given) for the splat loss. Returns
/// flat voxel indices in increasing order. `flow` is (vx, vy) per voxel.
pub fn sample_voxels(
    grid: &VoxelGrid,
    classes: &ClassSet,
    labels: &[u8],
    flow: &[f32],
    visible: Option<&[bool]>,
    cfg: &SampleConfig,
) -> Result<Vec<u32>, OccError> {
    grid.check_len("labels", labels.len(), 1)?;
    grid.check_len("flow", flow.len(), 2)?;
    if let Some(v) = visible {
        grid.check_len("visibility mask", v.len(), 1)?;
    }
    let k = classes.len();
    let candidates: Vec<usize> = (0..grid.len())
        .filter(|&i| labels[i] != UNOBSERVED && visible.is_none_or(|v| v[i]))
        .collect();
    if let Some(&i) = candidates.iter().find(|&&i| labels[i] as usize >= k) {
        return Err(OccError::Invalid(format!("label {} at voxel {i} is not one of the {k} classes", labels[i])));
    }
    let bin_of = |i: usize| speed_bin([flow[2 * i], flow[2 * i + 1]]);
    let mut class_freq = vec![0usize; k];
    let mut bin_freq = [0usize; SPEED_BINS.len() + 1];
    for &i in &candidates {
        class_freq[labels[i] as usize] += 1;
        bin_freq[bin_of(i)] += 1;
    }
    let weight = |n: usize| if n == 0 { 0.0 } else { 1.0 / (n as f64).sqrt() };
    let w: Vec<f64> = candidates.iter().map(|&i| weight(class_freq[labels[i] as usize]) * weight(bin_freq[bin_of(i)])).collect();
    let amount = cfg.count.min(candidates.len());
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(cfg.seed);
    // rand's weighted sampling without replacement (Efraimidis–Spirakis keys).
    let picked = rand::seq::index::sample_weighted(&mut rng, candidates.len(), |j| w[j], amount)
        .map_err(|e| OccError::Invalid(format!("voxel sampling weights: {e}")))?;
    let mut out: Vec<u32> = picked.into_iter().map(|j| candidates[j] as u32).collect();
    out.sort_unstable();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use glam::Vec3;

    #[test]
    fn sampling_is_seeded_visible_only_and_balances_rare_classes() {
        let grid = VoxelGrid::new([40, 40, 4], 0.4, Vec3::ZERO).unwrap();
        let classes = ClassSet::street();
        let n = grid.len();
        // 1 % car (class 0, moving), the rest free; a quarter unobserved.
        let labels: Vec<u8> = (0..n).map(|i| if i % 4 == 3 { UNOBSERVED } else if i % 100 == 0 { 0 } else { 6 }).collect();
        let flow: Vec<f32> = (0..n).flat_map(|i| if labels[i] == 0 { [8.0, 0.0] } else { [0.0, 0.0] }).collect();
        let cfg = SampleConfig { count: 400, seed: 7 };
        let a = sample_voxels(&grid, &classes, &labels, &flow, None, &cfg).unwrap();
        let b = sample_voxels(&grid, &classes, &labels, &flow, None, &cfg).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 400);
        assert!(a.iter().all(|&i| labels[i as usize] != UNOBSERVED));
        let cars = a.iter().filter(|&&i| labels[i as usize] == 0).count();
        // Uniform sampling would give ~1 %; balancing (class and speed) gives far more.
        assert!(cars > 40, "cars {cars}");
        let other = sample_voxels(&grid, &classes, &labels, &flow, None, &SampleConfig { seed: 8, ..cfg }).unwrap();
        assert_ne!(a, other);
        let bad = sample_voxels(&grid, &classes, &labels[1..], &flow, None, &cfg).unwrap_err();
        assert!(bad.to_string().contains("labels"), "{bad}");
    }
}
