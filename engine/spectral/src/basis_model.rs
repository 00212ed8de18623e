//! Training and inference of the learned spectral basis (feature `learned`): the network of
//! [`kiln_nn::BasisNet`] trained with the nested loss on probe functions ([`crate::learned`]),
//! saved as a small model file, and applied to a point cloud to give an M-orthonormal basis,
//! a density (the mass) and the eigenvalue proxy — what the functional-map pipeline needs from
//! a Laplacian eigenbasis, without building an operator.

use crate::error::{Result, SpectralError};
use crate::learned::{normalize_to_unit_sphere, probes, ProbeConfig, Projection, Smoothing};
use burn::tensor::Device;
use faer::Mat;
use kiln_nn::{BasisNet, BasisNetConfig};
use std::path::Path;

/// How a basis network is trained.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LearnConfig {
    pub net: BasisNetConfig,
    /// Probe functions drawn afresh for every step (count, smoothing, σ); the seed is mixed
    /// with the step.
    #[serde(with = "probe_config_serde")]
    pub probes: ProbeConfig,
    /// Points per shape and step (farthest-point sampled once per shape).
    pub points: usize,
    pub steps: u32,
    pub lr: f64,
    /// The learning rate at the last step: the rate falls from `lr` to this along a half
    /// cosine (None: constant). Fresh probes every step make the gradient noisy; a falling rate
    /// lets the basis settle.
    #[serde(default)]
    pub lr_final: Option<f64>,
    /// Gradient clipping by value (the reference's 0.01).
    pub clip: f64,
    /// Learn a density (the paper) or project uniformly (the oracle's setting).
    pub density: bool,
    pub seed: u64,
}

impl Default for LearnConfig {
    fn default() -> Self {
        LearnConfig { net: BasisNetConfig::default(), probes: ProbeConfig { count: 128, ..Default::default() }, points: 1000, steps: 2000, lr: 5e-4, lr_final: None, clip: 0.01, density: true, seed: 0 }
    }
}

impl LearnConfig {
    /// The learning rate of step `step` (0-based) of `steps`.
    pub fn learning_rate(&self, step: u32) -> f64 {
        match self.lr_final {
            None => self.lr,
            Some(last) => {
                let t = (step as f64 / (self.steps.max(2) - 1) as f64).min(1.0);
                last + (self.lr - last) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
            }
        }
    }
}

mod probe_config_serde {
    use crate::learned::ProbeConfig;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct Repr {
        count: usize,
        smoothing_steps: usize,
        sigma: f64,
        neighbours: Option<usize>,
        seed: u64,
    }

    pub fn serialize<S: Serializer>(p: &ProbeConfig, s: S) -> Result<S::Ok, S::Error> {
        Repr { count: p.count, smoothing_steps: p.smoothing_steps, sigma: p.sigma, neighbours: p.neighbours, seed: p.seed }.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ProbeConfig, D::Error> {
        let r = Repr::deserialize(d)?;
        Ok(ProbeConfig { count: r.count, smoothing_steps: r.smoothing_steps, sigma: r.sigma, neighbours: r.neighbours, seed: r.seed })
    }
}

/// Farthest-point sampling: `m` indices spread over the cloud, starting at point 0.
pub fn farthest_points(points: &[[f64; 3]], m: usize) -> Vec<usize> {
    let n = points.len();
    if m >= n {
        return (0..n).collect();
    }
    let d2 = |a: &[f64; 3], b: &[f64; 3]| (0..3).map(|k| (a[k] - b[k]).powi(2)).sum::<f64>();
    let mut chosen = vec![0usize];
    let mut dist: Vec<f64> = points.iter().map(|p| d2(p, &points[0])).collect();
    while chosen.len() < m {
        let (next, _) = dist.iter().enumerate().fold((0, -1.0), |best, (i, &d)| if d > best.1 { (i, d) } else { best });
        chosen.push(next);
        for (i, p) in points.iter().enumerate() {
            dist[i] = dist[i].min(d2(p, &points[next]));
        }
    }
    chosen
}

struct PreparedShape {
    points: Vec<[f32; 3]>,
    smoothing: Smoothing,
}

/// One training run's state.
pub struct BasisTrainer {
    pub config: LearnConfig,
    pub net: BasisNet,
    shapes: Vec<PreparedShape>,
    pub step: u32,
    /// Loss per step.
    pub history: Vec<f64>,
}

fn nn_err(e: kiln_nn::NnError) -> SpectralError {
    SpectralError::invalid("basis network", e.to_string())
}

impl BasisTrainer {
    /// `shapes`: point clouds in any units (each is normalized to the unit sphere, then
    /// farthest-point sampled to `config.points`).
    pub fn new(device: &Device, shapes: &[Vec<[f64; 3]>], config: LearnConfig) -> Result<Self> {
        if shapes.is_empty() {
            return Err(SpectralError::invalid("basis training", "no training shapes"));
        }
        let net = BasisNet::new(config.net.clone(), device).map_err(nn_err)?;
        let prepared = shapes
            .iter()
            .map(|s| {
                let all = normalize_to_unit_sphere(s);
                let pick = farthest_points(&all, config.points);
                let pts: Vec<[f64; 3]> = pick.iter().map(|&i| all[i]).collect();
                Ok(PreparedShape { points: pts.iter().map(|p| p.map(|v| v as f32)).collect(), smoothing: Smoothing::new(&pts, &config.probes)? })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(BasisTrainer { config, net, shapes: prepared, step: 0, history: Vec::new() })
    }

    /// One step on the next shape (round robin) with fresh probes; returns the loss.
    ///
    /// The network runs on the device; its output comes back to the host, where the nested loss
    /// and its gradient are computed in f64 ([`crate::learned::nested_loss_and_gradient`]), and
    /// the gradient goes back into Burn's backward. As Burn tensor operations the loss was a
    /// chain of hundreds of tiny kernels per step (launch-bound: over a second per step on an
    /// H200, a quarter of the step on lavapipe), for arithmetic that takes 10–20 ms on the host.
    pub fn train_step(&mut self) -> Result<f64> {
        let shape = &self.shapes[self.step as usize % self.shapes.len()];
        let cfg = ProbeConfig { seed: self.config.probes.seed ^ self.config.seed.rotate_left(17) ^ (self.step as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15), ..self.config.probes.clone() };
        let f = probes(&shape.smoothing, &cfg);
        let r = self.net.forward_host_points(&shape.points);
        let [n, k] = r.dims();
        let raw = r
            .clone()
            .try_into_data()
            .map_err(|e| SpectralError::invalid("basis network", format!("the network failed on the GPU: {e:?}")))?
            .try_to_vec::<f32>()
            .map_err(|e| SpectralError::invalid("basis network", format!("reading the network output failed: {e:?}")))?;
        if let Some(bad) = raw.iter().position(|v| !v.is_finite()) {
            return Err(SpectralError::invalid("basis training", format!("the network output became {} at step {} (point {}, function {})", raw[bad], self.step, bad / k, bad % k)));
        }
        let r_host = Mat::<f64>::from_fn(n, k, |i, j| raw[i * k + j] as f64);
        let projection = if self.config.density { Projection::Density } else { Projection::Euclidean };
        let (loss, grad) = crate::learned::nested_loss_and_gradient(r_host.as_ref(), f.as_ref(), projection)?;
        let value = loss.loss;
        if !value.is_finite() {
            return Err(SpectralError::invalid("basis training", format!("the loss became {value} at step {}", self.step)));
        }
        let grad: Vec<f32> = (0..n).flat_map(|i| (0..k).map(move |j| (i, j))).map(|(i, j)| grad[(i, j)] as f32).collect();
        self.net.step_from_output_gradient(r, grad, self.config.learning_rate(self.step), self.config.clip).map_err(nn_err)?;
        self.step += 1;
        self.history.push(value);
        Ok(value)
    }

    /// Continues a run: parameters, step and loss history from a checkpoint (the optimizer's
    /// moments restart).
    pub fn restore(&mut self, parameters: &[Vec<f32>], step: u32, history: Vec<f64>) -> Result<()> {
        self.net.set_parameters_host(parameters).map_err(nn_err)?;
        self.step = step;
        self.history = history;
        Ok(())
    }

    pub fn model(&self) -> Result<BasisModel> {
        Ok(BasisModel { config: self.config.clone(), parameters: self.net.parameters_host().map_err(nn_err)?, steps: self.step })
    }
}

/// A trained network: its configuration and parameters (`kiln basis-train` writes it,
/// `kiln basis --learned` reads it).
#[derive(Clone, Debug, PartialEq)]
pub struct BasisModel {
    pub config: LearnConfig,
    pub parameters: Vec<Vec<f32>>,
    pub steps: u32,
}

const MAGIC: &[u8; 8] = b"KILNBAS1";

impl BasisModel {
    /// File layout: magic, u32 length + JSON header (config, steps, tensor sizes), then the
    /// tensors as little-endian f32.
    pub fn save(&self, path: &Path) -> Result<()> {
        let header = serde_json::json!({ "config": self.config, "steps": self.steps, "sizes": self.parameters.iter().map(|p| p.len()).collect::<Vec<_>>() }).to_string();
        let mut bytes = Vec::with_capacity(16 + header.len() + 4 * self.parameters.iter().map(|p| p.len()).sum::<usize>());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&(header.len() as u32).to_le_bytes());
        bytes.extend_from_slice(header.as_bytes());
        for p in &self.parameters {
            for v in p {
                bytes.extend_from_slice(&v.to_le_bytes());
            }
        }
        std::fs::write(path, bytes).map_err(|source| SpectralError::Io { path: path.into(), source })
    }

    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|source| SpectralError::Io { path: path.into(), source })?;
        Self::from_bytes(&bytes, &path.display().to_string())
    }

    pub fn from_bytes(bytes: &[u8], what: &str) -> Result<Self> {
        let bad = |msg: String| SpectralError::invalid(what.to_string(), msg);
        if bytes.len() < 12 || &bytes[..8] != MAGIC {
            return Err(bad("not a kiln basis model (bad magic)".into()));
        }
        let len = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes")) as usize;
        let header = bytes.get(12..12 + len).ok_or_else(|| bad("truncated header".into()))?;
        #[derive(serde::Deserialize)]
        struct Header {
            config: LearnConfig,
            steps: u32,
            sizes: Vec<usize>,
        }
        let h: Header = serde_json::from_slice(header).map_err(|e| bad(format!("bad header: {e}")))?;
        let mut at = 12 + len;
        let mut parameters = Vec::with_capacity(h.sizes.len());
        for s in &h.sizes {
            let chunk = bytes.get(at..at + 4 * s).ok_or_else(|| bad("truncated parameters".into()))?;
            parameters.push(chunk.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect());
            at += 4 * s;
        }
        if at != bytes.len() {
            return Err(bad(format!("{} trailing bytes", bytes.len() - at)));
        }
        Ok(BasisModel { config: h.config, parameters, steps: h.steps })
    }

    /// The network with these parameters on `device`.
    pub fn network(&self, device: &Device) -> Result<BasisNet> {
        let mut net = BasisNet::new(self.config.net.clone(), device).map_err(nn_err)?;
        net.set_parameters_host(&self.parameters).map_err(nn_err)?;
        Ok(net)
    }
}

/// What the network gives for one cloud.
#[derive(Clone, Debug)]
pub struct LearnedBasis {
    /// n × K, M-orthonormal (`Φᵀ M Φ = I`) and nested: the first k columns span what the first
    /// k network outputs span.
    pub basis: Mat<f64>,
    /// The learned density as a lumped mass (sums to 1; uniform without density).
    pub mass: Vec<f64>,
}

/// Runs `net` on a cloud (any units; normalized here) and orthonormalizes its output in the
/// mass it predicts.
pub fn infer(net: &BasisNet, density: bool, points: &[[f64; 3]]) -> Result<LearnedBasis> {
    if points.len() < 2 {
        return Err(SpectralError::invalid("learned basis", format!("a cloud of {} points", points.len())));
    }
    let pts: Vec<[f32; 3]> = normalize_to_unit_sphere(points).iter().map(|p| p.map(|v| v as f32)).collect();
    // The inner (non-autodiff) backend: on the autodiff device the pass would keep its recorded
    // graph's buffers (≈ 2.4 GB per 5,000-point cloud on lavapipe; examples/infer_memory.rs).
    let raw = net
        .infer_host_points(&pts)
        .try_into_data()
        .map_err(|e| SpectralError::invalid("learned basis", format!("the network failed on the GPU: {e:?}")))?
        .try_to_vec::<f32>().map_err(|e| SpectralError::invalid("learned basis", format!("reading the network output failed: {e:?}")))?;
    let (n, k) = (pts.len(), net.config.basis);
    let r = Mat::<f64>::from_fn(n, k, |i, j| raw[i * k + j] as f64);
    let mass = crate::learned::projection_weights(r.as_ref(), if density { Projection::Density } else { Projection::Euclidean });
    let mass: Vec<f64> = if density { mass } else { mass.iter().map(|m| m / n as f64).collect() };
    let mut q: Vec<Vec<f64>> = Vec::with_capacity(k);
    for j in 0..k {
        let mut v: Vec<f64> = (0..n).map(|i| r[(i, j)]).collect();
        for _ in 0..2 {
            for qi in &q {
                let c: f64 = (0..n).map(|i| qi[i] * mass[i] * v[i]).sum();
                v.iter_mut().zip(qi).for_each(|(x, y)| *x -= c * y);
            }
        }
        let norm = (0..n).map(|i| v[i] * mass[i] * v[i]).sum::<f64>().sqrt();
        if !(norm > 1e-12) {
            return Err(SpectralError::invalid("learned basis", format!("output {j} is degenerate (in the span of the previous ones)")));
        }
        v.iter_mut().for_each(|x| *x /= norm);
        q.push(v);
    }
    Ok(LearnedBasis { basis: Mat::from_fn(n, k, |i, j| q[j][i]), mass })
}
