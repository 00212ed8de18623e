//! `kiln view [path]`: the desktop viewer (engine/viewer).

use anyhow::{bail, Context};
use clap::Args;
use kiln_viewer::{ViewOptions, ViewReport};
use std::path::PathBuf;

#[derive(Args)]
pub struct ViewArgs {
    /// A 3DGS PLY (kiln's or any standard one), a mesh (.obj, .off, .ply with faces), a voxel
    /// grid (.kvox), or a kiln run folder (splats, or a voxel fit/edit run). Files can also be
    /// dropped onto the window.
    pub path: Option<PathBuf>,
    /// A second mesh matched to the first: shown side by side, coloured through --map.
    pub second: Option<PathBuf>,
    /// With two meshes: the point-to-point map (`kiln match --out`), one line per vertex of the
    /// second mesh with the index of its match on the first.
    #[arg(long)]
    pub map: Option<PathBuf>,
    /// With a mesh: per-vertex scalar fields to colour it by (one line per vertex, one column
    /// per field), e.g. `kiln basis`'s eigenvectors.txt.
    #[arg(long)]
    pub field: Option<PathBuf>,
    /// Window size in pixels, "WIDTHxHEIGHT".
    #[arg(long, default_value = "1280x800")]
    pub size: String,
    /// Start at this camera (kiln camera JSON, as `kiln render --camera`).
    #[arg(long)]
    pub camera: Option<PathBuf>,
    /// Start with the side panel hidden (H toggles it).
    #[arg(long)]
    pub hide_panel: bool,
    /// Capture the window to this PNG once it has settled, then exit; the viewport rectangle
    /// and camera go to <PNG>.json.
    #[arg(long)]
    pub capture: Option<PathBuf>,
    /// Render this many frames, print frame times as JSON on stdout, and exit.
    #[arg(long)]
    pub bench_frames: Option<u32>,
    /// Without a path: show the synthetic benchmark scene (BENCHMARKS.md) with this many
    /// Gaussians, seen from its camera at the viewport size.
    #[arg(long)]
    pub bench_gaussians: Option<usize>,
}

pub fn parse_size(s: &str) -> anyhow::Result<(u32, u32)> {
    let parsed = s.split_once(['x', 'X']).and_then(|(w, h)| Some((w.trim().parse::<u32>().ok()?, h.trim().parse::<u32>().ok()?)));
    match parsed {
        Some((w, h)) if w > 0 && h > 0 && w <= 16384 && h <= 16384 => Ok((w, h)),
        _ => bail!("--size {s:?}: expected WIDTHxHEIGHT, e.g. 1280x800"),
    }
}

pub fn run(args: ViewArgs) -> anyhow::Result<()> {
    let window_size = parse_size(&args.size)?;
    let mut camera = args.camera.as_deref().map(kiln_scene::Camera::load_json).transpose()?;
    let mut cloud = None;
    if let Some(n) = args.bench_gaussians {
        if args.path.is_some() {
            bail!("--bench-gaussians shows the synthetic scene; leave out the path");
        }
        if n == 0 {
            bail!("--bench-gaussians must be positive");
        }
        let (c, cam) = kiln_splat::synthetic::benchmark_scene(n, window_size.0, window_size.1, 0.0, 0);
        camera.get_or_insert(cam);
        cloud = Some((c, format!("benchmark scene ({n} Gaussians)")));
    }
    for p in [&args.path, &args.second, &args.map, &args.field].into_iter().flatten() {
        if !p.exists() {
            bail!("{}: no such file or folder", p.display());
        }
    }
    let pair = match (&args.second, &args.map) {
        (Some(second), Some(map)) => Some((second.clone(), map.clone())),
        (Some(_), None) => bail!("two meshes need --map (the point-to-point map from `kiln match --out`)"),
        (None, Some(_)) => bail!("--map needs a second mesh: kiln view A.off B.off --map map.txt"),
        (None, None) => None,
    };
    if pair.is_some() && args.field.is_some() {
        bail!("--field colours one mesh; leave it out for a matched pair");
    }
    crate::gpu()?;
    let report = kiln_viewer::run(ViewOptions {
        path: args.path.clone(),
        window_size,
        // The benchmark measures the viewport at the window size.
        hide_panel: args.hide_panel || args.bench_frames.is_some(),
        camera,
        capture: args.capture.clone(),
        bench_frames: args.bench_frames,
        cloud,
        live: None,
        pair,
        fields: args.field.clone(),
    })?;
    print_report(&report)
}

fn print_report(report: &ViewReport) -> anyhow::Result<()> {
    if let Some(b) = &report.bench {
        println!("{}", serde_json::to_string_pretty(b)?);
    }
    if let Some(c) = &report.capture {
        let side = PathBuf::from(format!("{}.json", c.path.display()));
        let json = serde_json::json!({
            "window": [c.window_width, c.window_height],
            "viewport": c.viewport,
            "camera": c.camera.to_json(),
        });
        std::fs::write(&side, serde_json::to_string_pretty(&json)?).with_context(|| format!("{}: cannot write", side.display()))?;
        eprintln!("kiln: captured the window to {} (viewport and camera in {})", c.path.display(), side.display());
    }
    Ok(())
}

/// `kiln fit --view`: the viewer on its own thread, fed by the training loop.
///
/// Cost to the trainer: a relaxed atomic load per step, a mutex push per logged step, and one
/// cloud read-back (`Trainer::cloud`) each time the viewer asks (at most every
/// `kiln_viewer::live::SNAPSHOT_INTERVAL`); the time those read-backs take is measured and
/// shown in the window. The viewer's own rendering shares the GPU with the trainer; it redraws
/// only when the camera, the settings or the cloud changed.
pub struct LiveView {
    feed: std::sync::Arc<kiln_viewer::live::LiveFeed>,
    thread: Option<std::thread::JoinHandle<()>>,
    started: std::time::Instant,
}

impl LiveView {
    pub fn start(trainer: &kiln_fit::Trainer, total_steps: u32) -> LiveView {
        use kiln_viewer::scenes::DatasetCamera;
        let feed = std::sync::Arc::new(kiln_viewer::live::LiveFeed::new(total_steps));
        let cameras = |views: &[kiln_fit::SceneView], split: &'static str| {
            views.iter().map(move |v| DatasetCamera { name: v.name.clone(), camera: v.camera, image: None, split }).collect::<Vec<_>>()
        };
        let mut all = cameras(&trainer.scene.train, "train");
        all.extend(cameras(&trainer.scene.test, "test"));
        feed.set_cameras(all);
        let f = feed.clone();
        let thread = std::thread::Builder::new()
            .name("kiln view".into())
            .spawn(move || {
                let opts = ViewOptions { window_size: (1280, 800), live: Some(f.clone()), ..Default::default() };
                if let Err(e) = kiln_viewer::run(opts) {
                    eprintln!("kiln: viewer: {e}; training goes on without it");
                }
                f.close_viewer();
            })
            .map_err(|e| eprintln!("kiln: cannot start the viewer thread: {e}"))
            .ok();
        LiveView { feed, thread, started: std::time::Instant::now() }
    }

    /// Hold the guard while the trainer submits GPU work (a step, a snapshot, a checkpoint):
    /// the window then configures its surface between iterations. wgpu refuses to configure a
    /// surface while another thread keeps the queue busy.
    pub fn step_gate(&self) -> std::sync::MutexGuard<'_, ()> {
        self.feed.step_gate()
    }

    /// Call after every training step.
    pub fn after_step(&self, trainer: &kiln_fit::Trainer, values: Option<&kiln_splat::loss::LossValues>) -> anyhow::Result<()> {
        let seconds = self.started.elapsed().as_secs_f64();
        match values {
            Some(v) => self.feed.log(
                kiln_viewer::live::LivePoint { step: trainer.step, loss: v.loss, psnr: v.psnr() as f32, gaussians: trainer.gaussians() },
                seconds,
            ),
            None => self.feed.set_step(trainer.step, seconds),
        }
        if self.feed.wants_snapshot() && !self.feed.viewer_closed() {
            self.publish(trainer)?;
        }
        Ok(())
    }

    fn publish(&self, trainer: &kiln_fit::Trainer) -> anyhow::Result<()> {
        let t = std::time::Instant::now();
        let cloud = trainer.cloud()?;
        self.feed.publish(trainer.step, cloud, t.elapsed().as_secs_f64());
        Ok(())
    }

    /// Training ended: show the final cloud.
    pub fn done(&self, trainer: &kiln_fit::Trainer) -> anyhow::Result<()> {
        if !self.feed.viewer_closed() {
            self.publish(trainer)?;
        }
        self.feed.finish(None);
        let s = self.feed.status();
        eprintln!(
            "kiln: viewer snapshots: {} taking {:.2} s of {:.1} s training ({:.1} %)",
            s.snapshots,
            s.snapshot_seconds,
            s.train_seconds,
            100.0 * s.snapshot_seconds / s.train_seconds.max(1e-9)
        );
        Ok(())
    }

    /// Waits for the window to be closed.
    pub fn wait(mut self) {
        if let Some(t) = self.thread.take() {
            if !self.feed.viewer_closed() {
                eprintln!("kiln: training finished; close the viewer window to exit");
            }
            let _ = t.join();
        }
    }
}
