//! Image-space guidance for editing: given a rendered view, return the loss and dL/d(image).
//!
//! Built in: [`TargetImages`] (pre-edited views of the same cameras), [`AnalyticGoal`] (a colour
//! and/or opacity target inside a 2-D rectangle or a 3-D box), and [`ExternalGuidance`] (a
//! separate process speaking the line protocol of docs/VOXE.md over stdin/stdout — score
//! distillation from a diffusion model plugs in there).

use crate::error::{Result, VoxelError};
use crate::march::Rendered;
use kiln_scene::dataset::Image;
use kiln_scene::Camera;
use glam::Vec3;
use serde::Serialize;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

/// What guidance knows about the view it is asked about (Vox-E: pose, angles, view label,
/// prompt, seed).
#[derive(Clone, Debug, Serialize)]
pub struct ViewInfo {
    pub step: u32,
    /// Index into the edit's list of views.
    pub view: usize,
    pub name: String,
    /// Elevation above the xy-plane and azimuth around z of the camera centre, degrees.
    pub elevation: f32,
    pub azimuth: f32,
    /// "front", "side", "back" or "overhead" (from the angles), appended to prompts by SDS.
    pub label: &'static str,
    pub prompt: String,
    pub seed: u64,
    #[serde(skip)]
    pub camera: Camera,
}

impl ViewInfo {
    pub fn new(step: u32, view: usize, name: &str, camera: &Camera, prompt: &str, seed: u64) -> ViewInfo {
        let c = camera.center();
        let r = c.length().max(1e-9);
        let elevation = (c.z / r).clamp(-1.0, 1.0).asin().to_degrees();
        let azimuth = c.y.atan2(c.x).to_degrees().rem_euclid(360.0);
        let label = if elevation > 60.0 {
            "overhead"
        } else if !(45.0..315.0).contains(&azimuth) {
            "front"
        } else if (135.0..225.0).contains(&azimuth) {
            "back"
        } else {
            "side"
        };
        ViewInfo { step, view, name: name.into(), elevation, azimuth, label, prompt: prompt.into(), seed, camera: *camera }
    }
}

/// Loss and gradients with respect to the rendered colour (3 per pixel) and, optionally, the
/// rendered opacity (1 per pixel).
#[derive(Clone, Debug)]
pub struct ImageGrad {
    pub loss: f32,
    pub rgb: Vec<f32>,
    pub alpha: Option<Vec<f32>>,
}

pub trait Guidance {
    /// Loss and dL/d(image) for `image` rendered from `view`.
    fn grad(&mut self, image: &Rendered, view: &ViewInfo) -> Result<ImageGrad>;
}

/// Checks a guidance answer: sizes and finite values.
pub fn check_grad(g: &ImageGrad, image: &Rendered, source: &str) -> Result<()> {
    let n = (image.width * image.height) as usize;
    let bad = |m: String| Err(VoxelError::Guidance(format!("{source}: {m}")));
    if g.rgb.len() != 3 * n {
        return bad(format!("gradient of {} values for a {}x{} image ({} expected)", g.rgb.len(), image.width, image.height, 3 * n));
    }
    if g.alpha.as_ref().is_some_and(|a| a.len() != n) {
        return bad(format!("alpha gradient of {} values for {n} pixels", g.alpha.as_ref().map_or(0, Vec::len)));
    }
    if !g.loss.is_finite() || g.rgb.iter().chain(g.alpha.iter().flatten()).any(|v| !v.is_finite()) {
        return bad("non-finite loss or gradient".into());
    }
    Ok(())
}

/// L = ½ Σ_pixels Σ_c (I − T)² / pixels: towards pre-edited images of the same views.
pub struct TargetImages {
    pub targets: Vec<Image>,
}

impl Guidance for TargetImages {
    fn grad(&mut self, image: &Rendered, view: &ViewInfo) -> Result<ImageGrad> {
        let t = self.targets.get(view.view).ok_or_else(|| VoxelError::Guidance(format!("no target image for view {}", view.view)))?;
        if (t.width, t.height) != (image.width, image.height) {
            return Err(VoxelError::Guidance(format!("target of view {} is {}x{}, the render {}x{}", view.name, t.width, t.height, image.width, image.height)));
        }
        let n = (image.width * image.height) as f32;
        let rgb: Vec<f32> = image.rgb.iter().zip(&t.rgb).map(|(a, b)| (a - b) / n).collect();
        let loss = image.rgb.iter().zip(&t.rgb).map(|(a, b)| 0.5 * (a - b) * (a - b)).sum::<f32>() / n;
        Ok(ImageGrad { loss, rgb, alpha: None })
    }
}

/// Where an analytic goal applies.
#[derive(Clone, Debug)]
pub enum Region {
    /// Pixels of a rectangle in normalized image coordinates [x0, y0, x1, y1] ∈ [0, 1].
    Rect([f32; 4]),
    /// Pixels whose ray crosses this world-space box.
    Box { min: Vec3, max: Vec3 },
}

impl Region {
    /// 1 for pixels inside the region, 0 elsewhere.
    pub fn mask(&self, camera: &Camera) -> Vec<f32> {
        let (w, h) = (camera.width, camera.height);
        let mut m = Vec::with_capacity((w * h) as usize);
        for y in 0..h {
            for x in 0..w {
                let inside = match self {
                    Region::Rect(r) => {
                        let (u, v) = ((x as f32 + 0.5) / w as f32, (y as f32 + 0.5) / h as f32);
                        u >= r[0] && u <= r[2] && v >= r[1] && v <= r[3]
                    }
                    Region::Box { min, max } => {
                        let ray = crate::rays::ray_through(camera, x as f32 + 0.5, y as f32 + 0.5);
                        ray_hits_box(&ray, *min, *max)
                    }
                };
                m.push(inside as u32 as f32);
            }
        }
        m
    }
}

pub fn ray_hits_box(ray: &[f32; 6], min: Vec3, max: Vec3) -> bool {
    let (mut t0, mut t1) = (0f32, f32::INFINITY);
    for a in 0..3 {
        let inv = 1.0 / ray[3 + a];
        let (ta, tb) = ((min[a] - ray[a]) * inv, (max[a] - ray[a]) * inv);
        t0 = t0.max(ta.min(tb));
        t1 = t1.min(ta.max(tb));
    }
    t1 > t0
}

/// Paint a region: L = ½ Σ_{region} (‖I − colour‖² + (A − opacity)²) / pixels, for the targets
/// that are set. Deterministic; needs no model.
pub struct AnalyticGoal {
    pub region: Region,
    pub color: Option<[f32; 3]>,
    pub opacity: Option<f32>,
}

impl Guidance for AnalyticGoal {
    fn grad(&mut self, image: &Rendered, view: &ViewInfo) -> Result<ImageGrad> {
        let mask = self.region.mask(&view.camera);
        if mask.len() != (image.width * image.height) as usize {
            return Err(VoxelError::Guidance(format!("view {}: camera and render sizes differ", view.name)));
        }
        let n = mask.len() as f32;
        let mut loss = 0.0;
        let mut rgb = vec![0.0; image.rgb.len()];
        if let Some(c) = self.color {
            for (p, &m) in mask.iter().enumerate() {
                for ch in 0..3 {
                    let d = m * (image.rgb[3 * p + ch] - c[ch]);
                    rgb[3 * p + ch] = d / n;
                    loss += 0.5 * d * d / n;
                }
            }
        }
        let alpha = self.opacity.map(|o| {
            mask.iter()
                .zip(&image.alpha)
                .map(|(&m, &a)| {
                    let d = m * (a - o);
                    loss += 0.5 * d * d / n;
                    d / n
                })
                .collect()
        });
        Ok(ImageGrad { loss, rgb, alpha })
    }
}

/// Replies of the guidance process, read on a separate thread so that a silent process
/// becomes a timeout instead of a hang.
type Reply = std::result::Result<(serde_json::Value, Vec<f32>), String>;

/// An external guidance process (protocol v1 in docs/VOXE.md).
///
/// kiln → process, per request: one JSON line (`ViewInfo` fields + `width`, `height`,
/// `camera`), then width·height·4 little-endian f32 (r, g, b, alpha per pixel).
/// process → kiln: one JSON line `{"loss": x}` then width·height·3 f32 (dL/d rgb), or
/// `{"loss": x, "alpha": true}` then width·height·4 f32 (dL/d rgb, dL/d alpha per pixel), or
/// `{"error": "message"}`. Closing stdin ends the session.
pub struct ExternalGuidance {
    command: String,
    child: Child,
    stdin: Option<ChildStdin>,
    expect: Sender<usize>,
    replies: Receiver<Reply>,
    pub timeout: Duration,
}

impl ExternalGuidance {
    /// Starts `program` with `args` (stdin/stdout piped, stderr inherited).
    pub fn spawn(program: &str, args: &[String]) -> Result<ExternalGuidance> {
        let command = std::iter::once(program.to_string()).chain(args.iter().cloned()).collect::<Vec<_>>().join(" ");
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| VoxelError::Guidance(format!("cannot start `{command}`: {e}")))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().ok_or_else(|| VoxelError::Guidance("no stdout".into()))?;
        let (expect, expect_rx) = channel::<usize>();
        let (reply_tx, replies) = channel::<Reply>();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            for pixels in expect_rx {
                let reply = read_reply(&mut reader, pixels);
                let stop = reply.is_err();
                if reply_tx.send(reply).is_err() || stop {
                    break;
                }
            }
        });
        Ok(ExternalGuidance { command, child, stdin, expect, replies, timeout: Duration::from_secs(600) })
    }

    fn died(&mut self, what: String) -> VoxelError {
        // A process that just died may not be reaped yet: give it a moment to report.
        let mut status = String::new();
        for _ in 0..50 {
            if let Ok(Some(s)) = self.child.try_wait() {
                status = format!(" (the process exited: {s})");
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        VoxelError::Guidance(format!("`{}`: {what}{status}", self.command))
    }
}

fn read_reply(reader: &mut impl BufRead, pixels: usize) -> Reply {
    let mut line = String::new();
    match reader.read_line(&mut line) {
        Ok(0) => return Err("closed its output without answering".into()),
        Ok(_) => {}
        Err(e) => return Err(format!("reading its answer: {e}")),
    }
    let head: serde_json::Value = serde_json::from_str(line.trim()).map_err(|_| {
        let shown: String = line.trim().chars().take(60).collect();
        format!("answered garbage instead of a JSON header line: {shown:?}")
    })?;
    if let Some(e) = head.get("error") {
        return Err(format!("reported an error: {e}"));
    }
    if !head.get("loss").is_some_and(|l| l.is_number()) {
        return Err(format!("header {head} has no numeric \"loss\""));
    }
    let per_pixel = if head.get("alpha").and_then(|a| a.as_bool()) == Some(true) { 4 } else { 3 };
    let mut bytes = vec![0u8; pixels * per_pixel * 4];
    reader.read_exact(&mut bytes).map_err(|e| format!("gradient cut short ({} bytes expected): {e}", bytes.len()))?;
    let values = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    Ok((head, values))
}

impl Guidance for ExternalGuidance {
    fn grad(&mut self, image: &Rendered, view: &ViewInfo) -> Result<ImageGrad> {
        let n = (image.width * image.height) as usize;
        let c = &view.camera;
        let mut head = serde_json::to_value(view).map_err(|e| VoxelError::Guidance(e.to_string()))?;
        head["width"] = image.width.into();
        head["height"] = image.height.into();
        head["camera"] = serde_json::json!({
            "fx": c.fx, "fy": c.fy, "cx": c.cx, "cy": c.cy,
            "rotation": c.rotation.transpose().to_cols_array_2d(),
            "translation": c.translation.to_array(),
        });
        let mut msg = serde_json::to_string(&head).map_err(|e| VoxelError::Guidance(e.to_string()))?.into_bytes();
        msg.push(b'\n');
        msg.reserve(n * 16);
        for p in 0..n {
            for v in [image.rgb[3 * p], image.rgb[3 * p + 1], image.rgb[3 * p + 2], image.alpha[p]] {
                msg.extend_from_slice(&v.to_le_bytes());
            }
        }
        if self.expect.send(n).is_err() {
            return Err(self.died("stopped answering".into()));
        }
        let Some(stdin) = self.stdin.as_mut() else { return Err(self.died("stdin closed".into())) };
        if let Err(e) = stdin.write_all(&msg).and_then(|_| stdin.flush()) {
            return Err(self.died(format!("writing the request failed: {e}")));
        }
        let (head, values) = match self.replies.recv_timeout(self.timeout) {
            Ok(Ok(r)) => r,
            Ok(Err(m)) => return Err(self.died(m)),
            Err(RecvTimeoutError::Timeout) => return Err(self.died(format!("no answer within {} s", self.timeout.as_secs()))),
            Err(RecvTimeoutError::Disconnected) => return Err(self.died("stopped answering".into())),
        };
        let loss = head["loss"].as_f64().unwrap_or(f64::NAN) as f32;
        let g = if values.len() == 4 * n {
            ImageGrad { loss, rgb: values.chunks(4).flat_map(|v| [v[0], v[1], v[2]]).collect(), alpha: Some(values.chunks(4).map(|v| v[3]).collect()) }
        } else {
            ImageGrad { loss, rgb: values, alpha: None }
        };
        check_grad(&g, image, &format!("`{}`", self.command))?;
        Ok(g)
    }
}

impl Drop for ExternalGuidance {
    fn drop(&mut self) {
        // Closing stdin ends the session; give the process a moment, then make sure it is gone.
        self.stdin.take();
        for _ in 0..20 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
