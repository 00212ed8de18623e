//! Live training: the trainer (on its own thread) and the viewer meet here.
//!
//! The viewer never waits for the trainer and the trainer never waits for the viewer. The
//! trainer logs loss/PSNR/Gaussian count when it reads them anyway, and hands over a copy of
//! the cloud only when the viewer asked for one (`wants_snapshot`, a relaxed atomic load per
//! step). The viewer asks again at most every `SNAPSHOT_INTERVAL` (longer when its redraws are
//! slow, see `viewer::snapshot_interval`) after taking the previous
//! one, so the trainer's cost is one cloud read-back per interval, which it measures itself
//! ([`LiveStatus::snapshot_seconds`]).

use crate::scenes::DatasetCamera;
use kiln_splat::GaussianCloud;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// How often the viewer asks for a new cloud.
pub const SNAPSHOT_INTERVAL: Duration = Duration::from_millis(500);

/// One logged training step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LivePoint {
    pub step: u32,
    pub loss: f32,
    pub psnr: f32,
    pub gaussians: u32,
}

/// What the side panel shows about the run.
#[derive(Clone, Debug, Default)]
pub struct LiveStatus {
    pub step: u32,
    pub total_steps: u32,
    pub history: Vec<LivePoint>,
    pub finished: bool,
    /// Set by the trainer when it stopped with an error.
    pub error: Option<String>,
    pub snapshots: u32,
    /// Trainer time spent copying clouds for the viewer.
    pub snapshot_seconds: f64,
    /// Trainer wall time so far.
    pub train_seconds: f64,
}

#[derive(Default)]
struct Shared {
    status: LiveStatus,
    cloud: Option<(u32, GaussianCloud)>,
    cameras: Vec<DatasetCamera>,
}

/// The meeting point; share it as `Arc<LiveFeed>`.
#[derive(Default)]
pub struct LiveFeed {
    shared: Mutex<Shared>,
    wants_snapshot: AtomicBool,
    viewer_closed: AtomicBool,
    /// Held by the trainer for each step and by the viewer while it (re)configures its window
    /// surface: configuring waits for the device to go idle, which never happens while the
    /// trainer keeps submitting work (wgpu then gives up and the surface is left unconfigured).
    surface_gate: Mutex<()>,
    /// The viewer is waiting for the gate; the trainer lets it in before its next step.
    surface_waiting: AtomicBool,
}

impl LiveFeed {
    /// A feed whose first snapshot is wanted at once.
    pub fn new(total_steps: u32) -> Self {
        let feed = LiveFeed::default();
        feed.lock().status.total_steps = total_steps;
        feed.wants_snapshot.store(true, Ordering::Relaxed);
        feed
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        // A panic on the other side must not take this side down with it.
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    // ---- trainer side ----

    /// Whether the viewer is waiting for a cloud (cheap: call it every step).
    pub fn wants_snapshot(&self) -> bool {
        self.wants_snapshot.load(Ordering::Relaxed)
    }

    /// Hands a copy of the cloud to the viewer; `seconds` is what making it cost the trainer.
    pub fn publish(&self, step: u32, cloud: GaussianCloud, seconds: f64) {
        self.wants_snapshot.store(false, Ordering::Relaxed);
        let mut s = self.lock();
        s.cloud = Some((step, cloud));
        s.status.snapshots += 1;
        s.status.snapshot_seconds += seconds;
    }

    pub fn log(&self, point: LivePoint, train_seconds: f64) {
        let mut s = self.lock();
        s.status.step = point.step;
        s.status.train_seconds = train_seconds;
        s.status.history.push(point);
    }

    pub fn set_step(&self, step: u32, train_seconds: f64) {
        let mut s = self.lock();
        s.status.step = step;
        s.status.train_seconds = train_seconds;
    }

    /// The training cameras, drawn as frusta.
    pub fn set_cameras(&self, cameras: Vec<DatasetCamera>) {
        self.lock().cameras = cameras;
    }

    pub fn finish(&self, error: Option<String>) {
        let mut s = self.lock();
        s.status.finished = true;
        s.status.error = error;
    }

    /// Hold the returned guard for one training step (its GPU submissions). Waits only while
    /// the viewer configures its surface (window creation, resize), which takes milliseconds.
    pub fn step_gate(&self) -> std::sync::MutexGuard<'_, ()> {
        while self.surface_waiting.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(1));
        }
        self.surface_gate.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// True once the viewer window was closed (training goes on headless).
    pub fn viewer_closed(&self) -> bool {
        self.viewer_closed.load(Ordering::Relaxed)
    }

    // ---- viewer side ----

    /// Takes the newest cloud, if one arrived since the last call.
    pub fn take_snapshot(&self) -> Option<(u32, GaussianCloud)> {
        self.lock().cloud.take()
    }

    /// Asks the trainer for the next cloud.
    pub fn request_snapshot(&self) {
        self.wants_snapshot.store(true, Ordering::Relaxed);
    }

    pub fn cameras(&self) -> Vec<DatasetCamera> {
        self.lock().cameras.clone()
    }

    pub fn status(&self) -> LiveStatus {
        self.lock().status.clone()
    }

    /// Runs `f` (a surface configuration) between two training steps.
    pub fn between_steps<R>(&self, f: impl FnOnce() -> R) -> R {
        self.surface_waiting.store(true, Ordering::Release);
        let guard = self.surface_gate.lock().unwrap_or_else(|p| p.into_inner());
        self.surface_waiting.store(false, Ordering::Release);
        let r = f();
        drop(guard);
        r
    }

    pub fn close_viewer(&self) {
        self.viewer_closed.store(true, Ordering::Relaxed);
    }
}
