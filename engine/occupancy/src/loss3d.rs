//! The 3-D losses every occupancy arm trains with: class-weighted cross-entropy on observed
//! voxels, and the flow L1 weighted by (‖v_gt‖ + 0.1).
//!
//! FB-Occ uses a focal loss plus sem-/geo-scal and Lovász terms; the synthetic benchmark's arms
//! share this simpler class-weighted CE (the spec allows "focal/CE, Lovász optional") — what
//! is compared is the splat loss added on top, not the 3-D loss.

use crate::grid::{ClassSet, VoxelGrid, UNOBSERVED};
use crate::OccError;

/// Per-class weights 1/ln(count + 1.001)·mean-normalized, FB-Occ's rule (1/log freq) on counts.
pub fn class_weights(classes: &ClassSet, labels: &[u8]) -> Vec<f64> {
    let mut counts = vec![0usize; classes.len()];
    for &l in labels {
        if (l as usize) < counts.len() {
            counts[l as usize] += 1;
        }
    }
    let w: Vec<f64> = counts.iter().map(|&n| 1.0 / (n as f64 + 1.001).ln().max(1e-3)).collect();
    let mean = w.iter().sum::<f64>() / w.len() as f64;
    w.into_iter().map(|x| x / mean).collect()
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Loss3dOutput {
    pub total: f64,
    pub ce: f64,
    pub flow: f64,
    pub grad_logits: Vec<f32>,
    pub grad_flow: Vec<f32>,
}

/// Weighted CE over observed voxels (weighted mean) + `flow_weight`·weighted flow L1 over all
/// observed voxels. `logits[i·C + c]`, `flow[i·2 + d]`.
pub fn loss3d(
    grid: &VoxelGrid,
    classes: &ClassSet,
    weights: &[f64],
    logits: &[f32],
    flow: &[f32],
    labels: &[u8],
    gt_flow: &[f32],
    flow_weight: f64,
) -> Result<Loss3dOutput, OccError> {
    let c = classes.len();
    grid.check_len("predicted logits", logits.len(), c)?;
    grid.check_len("predicted flow", flow.len(), 2)?;
    grid.check_len("GT labels", labels.len(), 1)?;
    grid.check_len("GT flow", gt_flow.len(), 2)?;
    if weights.len() != c {
        return Err(OccError::shape("class weights", format!("has {} values, expected {c}", weights.len())));
    }
    let n = grid.len();
    let mut out = Loss3dOutput { grad_logits: vec![0.0; n * c], grad_flow: vec![0.0; n * 2], ..Default::default() };
    let observed: Vec<usize> = (0..n).filter(|&i| labels[i] != UNOBSERVED && (labels[i] as usize) < c).collect();
    if observed.is_empty() {
        return Ok(out);
    }
    let wsum: f64 = observed.iter().map(|&i| weights[labels[i] as usize]).sum();
    let fsum: f64 = observed.iter().map(|&i| (gt_flow[2 * i] as f64).hypot(gt_flow[2 * i + 1] as f64) + 0.1).sum();
    for &i in &observed {
        let z = &logits[i * c..(i + 1) * c];
        let zmax = z.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
        let lse = zmax + z.iter().map(|&v| (v as f64 - zmax).exp()).sum::<f64>().ln();
        let y = labels[i] as usize;
        let w = weights[y] / wsum;
        out.ce -= w * (z[y] as f64 - lse);
        for k in 0..c {
            let p = (z[k] as f64 - lse).exp();
            out.grad_logits[i * c + k] = (w * (p - if k == y { 1.0 } else { 0.0 })) as f32;
        }
        let fw = ((gt_flow[2 * i] as f64).hypot(gt_flow[2 * i + 1] as f64) + 0.1) / fsum;
        for d in 0..2 {
            let e = flow[2 * i + d] as f64 - gt_flow[2 * i + d] as f64;
            out.flow += fw * e.abs();
            out.grad_flow[2 * i + d] = (flow_weight * fw * e.signum() * (e != 0.0) as u8 as f64) as f32;
        }
    }
    out.total = out.ce + flow_weight * out.flow;
    Ok(out)
}
