//! Occupancy and flow metrics: mIoU on visible voxels, a RayIoU-style first-hit metric with
//! mAVE, and flow end-point error on dynamic voxels.

use crate::grid::{ClassSet, VoxelGrid, UNOBSERVED};
use crate::raycast::first_hit;
use crate::OccError;
use glam::Vec3;
use serde::Serialize;

/// Per-voxel argmax over `C` logits.
pub fn argmax_labels(logits: &[f32], classes: usize) -> Vec<u8> {
    logits
        .chunks_exact(classes)
        .map(|z| (0..classes).max_by(|&a, &b| z[a].total_cmp(&z[b])).unwrap_or(0) as u8)
        .collect()
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct IouReport {
    /// IoU per occupied class (None where the class is in neither prediction nor GT).
    pub per_class: Vec<Option<f64>>,
    pub miou: f64,
}

fn mean_some(v: &[Option<f64>]) -> f64 {
    let s: Vec<f64> = v.iter().flatten().copied().collect();
    if s.is_empty() {
        0.0
    } else {
        s.iter().sum::<f64>() / s.len() as f64
    }
}

/// mIoU over the occupied classes, on voxels with GT (label ≠ 255) inside `mask` when given.
pub fn miou(grid: &VoxelGrid, classes: &ClassSet, pred: &[u8], gt: &[u8], mask: Option<&[bool]>) -> Result<IouReport, OccError> {
    grid.check_len("predicted labels", pred.len(), 1)?;
    grid.check_len("GT labels", gt.len(), 1)?;
    if let Some(m) = mask {
        grid.check_len("mask", m.len(), 1)?;
    }
    let k = classes.free() as usize;
    let (mut tp, mut fp, mut fneg) = (vec![0u64; k], vec![0u64; k], vec![0u64; k]);
    for i in 0..grid.len() {
        if gt[i] == UNOBSERVED || mask.is_some_and(|m| !m[i]) {
            continue;
        }
        let (p, g) = (pred[i] as usize, gt[i] as usize);
        if p == g && p < k {
            tp[p] += 1;
        } else {
            if p < k {
                fp[p] += 1;
            }
            if g < k {
                fneg[g] += 1;
            }
        }
    }
    let per_class: Vec<Option<f64>> = (0..k)
        .map(|c| {
            let u = tp[c] + fp[c] + fneg[c];
            (u > 0).then(|| tp[c] as f64 / u as f64)
        })
        .collect();
    Ok(IouReport { miou: mean_some(&per_class), per_class })
}

/// Mean end-point error ‖v_pred − v_gt‖ over GT dynamic voxels (observed, dynamic class).
pub fn flow_epe(grid: &VoxelGrid, classes: &ClassSet, pred_flow: &[f32], gt: &[u8], gt_flow: &[f32]) -> Result<f64, OccError> {
    grid.check_len("predicted flow", pred_flow.len(), 2)?;
    grid.check_len("GT flow", gt_flow.len(), 2)?;
    grid.check_len("GT labels", gt.len(), 1)?;
    let (mut sum, mut n) = (0.0, 0usize);
    for i in 0..grid.len() {
        if gt[i] != UNOBSERVED && classes.is_dynamic(gt[i]) {
            sum += ((pred_flow[2 * i] - gt_flow[2 * i]) as f64).hypot((pred_flow[2 * i + 1] - gt_flow[2 * i + 1]) as f64);
            n += 1;
        }
    }
    Ok(if n == 0 { 0.0 } else { sum / n as f64 })
}

/// A query ray of the RayIoU metric.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QueryRay {
    pub origin: Vec3,
    pub dir: Vec3,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RayIouReport {
    /// Distance thresholds (m), rescaled from 1/2/4 m by voxel size / 0.4 m.
    pub thresholds: [f64; 3],
    /// RayIoU at each threshold (mean over classes).
    pub per_threshold: [f64; 3],
    pub rayiou: f64,
    /// Mean velocity error on true-positive rays (middle threshold) of dynamic classes.
    pub mave: f64,
    /// Rays with a GT hit (the ones scored).
    pub rays: usize,
}

/// RayIoU (SparseOcc / OpenOcc style): each query ray's first occupied voxel in the GT and in
/// the prediction; a ray is a true positive of class c at threshold d when both hit class c
/// and their distances differ by ≤ d. Rays with no GT hit are not scored. IoU per class =
/// TP / (TP + FP + FN), averaged over classes present, then over the three thresholds.
pub fn ray_iou(
    grid: &VoxelGrid,
    classes: &ClassSet,
    rays: &[QueryRay],
    pred: &[u8],
    pred_flow: &[f32],
    gt: &[u8],
    gt_flow: &[f32],
) -> Result<RayIouReport, OccError> {
    grid.check_len("predicted labels", pred.len(), 1)?;
    grid.check_len("GT labels", gt.len(), 1)?;
    grid.check_len("predicted flow", pred_flow.len(), 2)?;
    grid.check_len("GT flow", gt_flow.len(), 2)?;
    let k = classes.free() as usize;
    let occupied = |l: u8| (l as usize) < k;
    let scale = grid.voxel_size as f64 / 0.4;
    let thresholds = [1.0 * scale, 2.0 * scale, 4.0 * scale];
    let mut tp = [[0u64; 32]; 3];
    let mut fp = [[0u64; 32]; 3];
    let mut fneg = [[0u64; 32]; 3];
    let mut ave = vec![(0.0f64, 0u64); k];
    let mut scored = 0;
    if k > 32 {
        return Err(OccError::Invalid(format!("RayIoU supports up to 32 occupied classes, got {k}")));
    }
    for r in rays {
        // Unobserved GT voxels count as free for the GT ray (they are not occupied).
        let Some(g) = first_hit(grid, gt, |l| l != UNOBSERVED && occupied(l), r.origin, r.dir, 1e3) else { continue };
        scored += 1;
        let p = first_hit(grid, pred, occupied, r.origin, r.dir, 1e3);
        let gc = gt[g.voxel] as usize;
        for (ti, &d) in thresholds.iter().enumerate() {
            match p {
                Some(p) if pred[p.voxel] as usize == gc && ((p.distance - g.distance).abs() as f64) <= d => {
                    tp[ti][gc] += 1;
                    if ti == 1 && classes.is_dynamic(gc as u8) {
                        let e = ((pred_flow[2 * p.voxel] - gt_flow[2 * g.voxel]) as f64)
                            .hypot((pred_flow[2 * p.voxel + 1] - gt_flow[2 * g.voxel + 1]) as f64);
                        ave[gc].0 += e;
                        ave[gc].1 += 1;
                    }
                }
                Some(p) => {
                    fp[ti][pred[p.voxel] as usize] += 1;
                    fneg[ti][gc] += 1;
                }
                None => fneg[ti][gc] += 1,
            }
        }
    }
    let mut per_threshold = [0.0; 3];
    for ti in 0..3 {
        let per: Vec<Option<f64>> = (0..k)
            .map(|c| {
                let u = tp[ti][c] + fp[ti][c] + fneg[ti][c];
                (u > 0).then(|| tp[ti][c] as f64 / u as f64)
            })
            .collect();
        per_threshold[ti] = mean_some(&per);
    }
    let aves: Vec<Option<f64>> = ave.iter().map(|&(s, n)| (n > 0).then(|| s / n as f64)).collect();
    Ok(RayIouReport {
        thresholds,
        per_threshold,
        rayiou: per_threshold.iter().sum::<f64>() / 3.0,
        mave: mean_some(&aves),
        rays: scored,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_one_for_a_perfect_prediction_and_drop_for_errors() {
        let g = VoxelGrid::new([12, 4, 4], 0.4, Vec3::ZERO).unwrap();
        let classes = ClassSet::street();
        let free = classes.free();
        let mut gt = vec![free; g.len()];
        let mut flow = vec![0.0f32; g.len() * 2];
        for y in 0..4 {
            for z in 0..4 {
                gt[g.index(8, y, z)] = 4; // a wall at x = 8
                gt[g.index(5, y, z)] = if z < 2 { 0 } else { free }; // a low car at x = 5
                flow[2 * g.index(5, y, z)] = if z < 2 { 3.0 } else { 0.0 };
            }
        }
        let rays: Vec<QueryRay> = (0..4)
            .flat_map(|y| (0..4).map(move |z| QueryRay { origin: Vec3::new(0.05, 0.2 + 0.4 * y as f32, 0.2 + 0.4 * z as f32), dir: Vec3::X }))
            .collect();
        let perfect = ray_iou(&g, &classes, &rays, &gt, &flow, &gt, &flow).unwrap();
        assert_eq!(perfect.rays, 16);
        assert!((perfect.rayiou - 1.0).abs() < 1e-12 && perfect.mave == 0.0, "{perfect:?}");
        assert!((miou(&g, &classes, &gt, &gt, None).unwrap().miou - 1.0).abs() < 1e-12);
        // Move the wall 3 voxels back (1.2 m): TP at 2 m and 4 m, not at 1 m (0.4 m voxels).
        let mut shifted = gt.clone();
        for y in 0..4 {
            for z in 0..4 {
                shifted[g.index(8, y, z)] = free;
                shifted[g.index(11, y, z)] = 4;
            }
        }
        let r = ray_iou(&g, &classes, &rays, &shifted, &flow, &gt, &flow).unwrap();
        assert!(r.per_threshold[0] < r.per_threshold[1] && (r.per_threshold[2] - 1.0).abs() < 1e-12, "{r:?}");
        let m = miou(&g, &classes, &shifted, &gt, None).unwrap();
        assert_eq!(m.per_class[4], Some(0.0));
        // Wrong car velocity: mAVE and EPE see the 2 m/s error.
        let slow: Vec<f32> = flow.iter().map(|&v| if v != 0.0 { 1.0 } else { 0.0 }).collect();
        assert!((ray_iou(&g, &classes, &rays, &gt, &slow, &gt, &flow).unwrap().mave - 2.0).abs() < 1e-6);
        assert!((flow_epe(&g, &classes, &slow, &gt, &flow).unwrap() - 2.0).abs() < 1e-6);
        assert!(miou(&g, &classes, &gt[1..], &gt, None).is_err());
    }
}
