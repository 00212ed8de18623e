//! The viewer's state and its egui UI: side panel, viewport (scene image, frusta, camera
//! input), screenshots, live-training plots. Window and surface handling live in `app.rs`;
//! nothing here touches winit.

use crate::controller::{CameraController, CameraInput, FlyKeys, Home};
use crate::live::{LiveFeed, LivePoint, SNAPSHOT_INTERVAL};
use crate::present::{write_png, DisplayMode, Target};
use crate::scenes::{self, splats::SplatScene, Bounds, SceneKind, ViewStyle};
use crate::ViewError;
use kiln_gpu::{GpuContext, GpuTimer, StageTime};
use kiln_scene::Camera;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Per-frame measurements.
#[derive(Clone, Debug, Default)]
pub struct FrameStats {
    /// Wall time of the last scene draw, GPU included (ms).
    pub scene_ms: f64,
    /// Wall time between the last two frames (ms).
    pub frame_ms: f64,
    pub stages: Vec<StageTime>,
    pub frames: u64,
}

/// What a scene draw keys on: when none of it changed, the last image is shown again.
#[derive(Clone, PartialEq)]
struct DrawKey {
    camera: Camera,
    style: ViewStyle,
    scene_version: u64,
}

pub struct ScreenshotSettings {
    pub window_size: bool,
    pub width: u32,
    pub height: u32,
    pub path: String,
}

pub struct ViewerState {
    pub ctx: Arc<GpuContext>,
    pub scene: Option<Box<dyn SceneKind>>,
    scene_version: u64,
    pub controller: CameraController,
    pub style: ViewStyle,
    /// The viewport image (egui shows it through a native texture id, see `app.rs`).
    pub target: Option<Target>,
    /// Set when `target` was recreated and egui's texture must be pointed at it.
    pub target_changed: bool,
    pub viewport_texture: Option<egui::TextureId>,
    /// Viewport rectangle in physical pixels (x, y, width, height).
    pub viewport_px: [u32; 4],
    last_draw: Option<DrawKey>,
    /// The camera of the image on screen.
    pub shown_camera: Option<Camera>,
    pub stats: FrameStats,
    timer: GpuTimer,
    pub messages: Vec<String>,
    /// Errors reported by wgpu outside a call (validation, device lost).
    pub gpu_errors: Arc<Mutex<Vec<String>>>,
    pub device_lost: Arc<Mutex<Option<String>>>,
    pub show_panel: bool,
    pub show_frusta: bool,
    pub selected_camera: Option<usize>,
    camera_image: Option<(usize, Result<egui::TextureHandle, String>)>,
    pub screenshot: ScreenshotSettings,
    open_path: String,
    pub live: Option<Arc<LiveFeed>>,
    last_snapshot_taken: Instant,
    last_frame: Option<Instant>,
    /// Forces a redraw of the scene every frame (benchmarking).
    pub force_redraw: bool,
}

impl ViewerState {
    pub fn new(ctx: Arc<GpuContext>) -> Self {
        let bounds = Bounds { center: glam::Vec3::ZERO, radius: 1.0, up: glam::Vec3::NEG_Y, front: glam::Vec3::Z };
        let home = Home::framing(bounds.center, bounds.radius, bounds.up, bounds.front, 60.0);
        let gpu_errors = Arc::new(Mutex::new(Vec::new()));
        let device_lost = Arc::new(Mutex::new(None));
        {
            // Validation errors would otherwise panic the process; show them instead.
            let errors = gpu_errors.clone();
            ctx.device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
                eprintln!("kiln view: GPU error: {e}");
                errors.lock().unwrap_or_else(|p| p.into_inner()).push(e.to_string());
            }));
            let lost = device_lost.clone();
            ctx.device.set_device_lost_callback(move |reason, message| {
                eprintln!("kiln view: GPU device lost ({reason:?}): {message}");
                *lost.lock().unwrap_or_else(|p| p.into_inner()) = Some(format!("the GPU device was lost ({reason:?}): {message}"));
            });
        }
        ViewerState {
            timer: GpuTimer::new(&ctx, 256),
            ctx,
            scene: None,
            scene_version: 0,
            controller: CameraController::new(home, bounds.up, bounds.radius),
            style: ViewStyle::default(),
            target: None,
            target_changed: false,
            viewport_texture: None,
            viewport_px: [0; 4],
            last_draw: None,
            shown_camera: None,
            stats: FrameStats::default(),
            messages: Vec::new(),
            gpu_errors,
            device_lost,
            show_panel: true,
            show_frusta: true,
            selected_camera: None,
            camera_image: None,
            screenshot: ScreenshotSettings { window_size: true, width: 1920, height: 1080, path: "kiln-screenshot.png".into() },
            open_path: String::new(),
            live: None,
            last_snapshot_taken: Instant::now(),
            last_frame: None,
            force_redraw: false,
        }
    }

    /// Opens a file or folder; errors go to the message area (and the terminal).
    pub fn open(&mut self, path: &std::path::Path) -> Result<(), ViewError> {
        self.open_with(|ctx| scenes::open(ctx, path))
    }

    /// Opens a scene built by `make` (scene kinds with more than one input); errors as
    /// [`Self::open`].
    pub fn open_with(&mut self, make: impl FnOnce(&Arc<GpuContext>) -> Result<Box<dyn SceneKind>, ViewError>) -> Result<(), ViewError> {
        match make(&self.ctx) {
            Ok(scene) => {
                self.set_scene(scene);
                Ok(())
            }
            Err(e) => {
                self.report(e.to_string());
                Err(e)
            }
        }
    }

    pub fn set_scene(&mut self, scene: Box<dyn SceneKind>) {
        let b = scene.bounds();
        let home = match scene.cameras().first() {
            // A fitted scene starts from its first training view, as the fit saw it.
            Some(c) => Home::from_camera(&c.camera, c.camera.center().distance(b.center).max(1e-3 * b.radius)),
            None => Home::framing(b.center, b.radius, b.up, b.front, 60.0),
        };
        self.controller = CameraController::new(home, b.up, b.radius);
        self.style.sh_degree = scene.sh_degree();
        if let Some(bg) = scene.background() {
            self.style.background = bg;
        }
        self.style.depth_range = self.controller.depth_range();
        self.scene = Some(scene);
        self.scene_version += 1;
        self.selected_camera = None;
        self.camera_image = None;
    }

    pub fn report(&mut self, message: String) {
        eprintln!("kiln view: {message}");
        self.messages.push(message);
    }

    /// Pulls a new cloud from live training, and asks for the next one when due.
    fn poll_live(&mut self) {
        let Some(feed) = self.live.clone() else { return };
        if let Some((step, cloud)) = feed.take_snapshot() {
            self.last_snapshot_taken = Instant::now();
            let updated = match self.scene.as_mut().and_then(|s| s.as_splats_mut()) {
                Some(s) => s.replace_cloud(&self.ctx, cloud).map(|_| None),
                None => SplatScene::new(&self.ctx, cloud, "live training".into(), "kiln fit --view".into()).map(|mut s| {
                    s.cameras = feed.cameras();
                    if let Some(b) = scenes::run_folder::camera_bounds(&s.cameras, &s.cloud().means) {
                        s.set_bounds(b);
                    }
                    Some(s)
                }),
            };
            match updated {
                Ok(Some(new_scene)) => self.set_scene(Box::new(new_scene)),
                Ok(None) => self.scene_version += 1,
                Err(e) => self.report(format!("live snapshot at step {step}: {e}")),
            }
        }
        if !feed.wants_snapshot() && self.last_snapshot_taken.elapsed() >= snapshot_interval(self.stats.scene_ms) && !feed.status().finished {
            feed.request_snapshot();
        }
    }

    /// How soon the next frame is needed without input (live training polls the feed).
    pub fn idle_repaint(&self) -> Option<Duration> {
        self.live.as_ref().map(|_| Duration::from_millis(100))
    }

    /// The whole UI of one frame.
    pub fn ui(&mut self, ui: &mut egui::Ui) {
        let now = Instant::now();
        if let Some(last) = self.last_frame {
            self.stats.frame_ms = (now - last).as_secs_f64() * 1e3;
        }
        self.last_frame = Some(now);
        self.stats.frames += 1;
        self.poll_live();
        for e in std::mem::take(&mut *self.gpu_errors.lock().unwrap_or_else(|p| p.into_inner())) {
            self.messages.push(format!("GPU error: {e}"));
        }
        let dropped: Vec<PathBuf> = ui.input(|i| i.raw.dropped_files.iter().map(|f| f.path().to_path_buf()).filter(|p| !p.as_os_str().is_empty()).collect());
        if let Some(path) = dropped.last() {
            let _ = self.open(path);
        }
        let typing = ui.ctx().egui_wants_keyboard_input();
        if !typing {
            if ui.input(|i| i.key_pressed(egui::Key::H)) {
                self.show_panel = !self.show_panel;
            }
            if ui.input(|i| i.key_pressed(egui::Key::R)) {
                self.controller.reset();
            }
        }
        if !self.messages.is_empty() {
            egui::Panel::top("messages").show(ui, |ui| {
                ui.horizontal(|ui| {
                    if ui.button("dismiss").clicked() {
                        self.messages.clear();
                    }
                    ui.vertical(|ui| {
                        for m in self.messages.iter().rev().take(4) {
                            ui.colored_label(egui::Color32::from_rgb(255, 110, 90), m);
                        }
                    });
                });
            });
        }
        if self.show_panel {
            egui::Panel::left("side panel").resizable(true).default_size(300.0).show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| self.side_panel(ui));
            });
        }
        egui::CentralPanel::no_frame().show(ui, |ui| self.viewport(ui, typing));
    }

    fn viewport(&mut self, ui: &mut egui::Ui, typing: bool) {
        let rect = ui.available_rect_before_wrap();
        let ppp = ui.ctx().pixels_per_point();
        // Whole physical pixels, so that the image is shown texel for pixel.
        let min_px = (rect.min.to_vec2() * ppp).round();
        let max_px = (rect.max.to_vec2() * ppp).floor();
        let size = (max_px - min_px).max(egui::vec2(1.0, 1.0));
        let (w, h) = (size.x as u32, size.y as u32);
        self.viewport_px = [min_px.x as u32, min_px.y as u32, w, h];
        let image_rect = egui::Rect::from_min_size((min_px / ppp).to_pos2(), size / ppp);
        let response = ui.interact(rect, ui.scope_id().with("viewport"), egui::Sense::click_and_drag());

        // Camera input.
        let d = response.drag_delta() * ppp;
        if response.dragged_by(egui::PointerButton::Primary) {
            self.controller.apply(CameraInput::Orbit { dx: d.x, dy: d.y });
        } else if response.dragged_by(egui::PointerButton::Secondary) || response.dragged_by(egui::PointerButton::Middle) {
            self.controller.apply(CameraInput::Pan { dx: d.x, dy: d.y, viewport_height: h as f32 });
        }
        if response.hovered() {
            let scroll = ui.input(|i| i.smooth_scroll_delta.y);
            if scroll != 0.0 {
                self.controller.apply(CameraInput::Zoom { steps: scroll / 50.0 });
            }
        }
        if !typing {
            let mut keys = FlyKeys::default();
            ui.input(|i| {
                for (key, c) in [(egui::Key::W, 'w'), (egui::Key::A, 'a'), (egui::Key::S, 's'), (egui::Key::D, 'd'), (egui::Key::Q, 'q'), (egui::Key::E, 'e')] {
                    keys.set(c, i.key_down(key));
                }
                keys.fast = i.modifiers.shift;
            });
            let dt = (self.stats.frame_ms / 1e3).clamp(0.0, 0.1) as f32;
            if let Some(input) = keys.input(dt) {
                self.controller.apply(input);
                ui.ctx().request_repaint();
            }
        }

        if let Some(lost) = self.device_lost.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            ui.painter().rect_filled(rect, 0.0, egui::Color32::BLACK);
            ui.painter().text(rect.center(), egui::Align2::CENTER_CENTER, format!("{lost}\nrestart kiln view"), egui::FontId::proportional(16.0), egui::Color32::RED);
            return;
        }
        if self.scene.is_none() {
            ui.painter().rect_filled(rect, 0.0, egui::Color32::from_gray(20));
            let hint = if self.live.is_some() { "waiting for the first training snapshot…" } else { "drop a .ply, mesh, .kvox or kiln run folder here, or open one in the side panel" };
            ui.painter().text(rect.center(), egui::Align2::CENTER_CENTER, hint, egui::FontId::proportional(16.0), egui::Color32::GRAY);
            return;
        }
        let camera = self.controller.camera(w, h);
        if let Err(e) = self.draw_scene(&camera) {
            self.report(format!("render failed: {e}"));
            // Do not retry a failing draw every frame.
            self.last_draw = Some(DrawKey { camera, style: self.style.clone(), scene_version: self.scene_version });
        }
        if let Some(id) = self.viewport_texture {
            ui.painter().image(id, image_rect, egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0)), egui::Color32::WHITE);
        }
        if self.show_frusta {
            self.draw_frusta(ui.painter(), &camera, image_rect.min, ppp);
        }
    }

    /// Draws the scene into the viewport image when something it depends on changed.
    fn draw_scene(&mut self, camera: &Camera) -> Result<(), ViewError> {
        let key = DrawKey { camera: *camera, style: self.style.clone(), scene_version: self.scene_version };
        if !self.force_redraw && self.last_draw.as_ref() == Some(&key) {
            return Ok(());
        }
        if self.target.as_ref().is_none_or(|t| (t.width, t.height) != (camera.width, camera.height)) {
            self.target = Some(Target::new(&self.ctx, camera.width, camera.height)?);
            self.target_changed = true;
        }
        let started = Instant::now();
        let scene = self.scene.as_mut().expect("checked by the caller");
        let timer = self.ctx.timestamps.then_some(&mut self.timer);
        self.last_draw = Some(key);
        scene.draw(&self.ctx, camera, &self.style, self.target.as_ref().unwrap(), timer)?;
        // Reading the timer waits for the GPU; without timestamps, wait explicitly so that the
        // scene time is the real one.
        self.stats.stages = if self.ctx.timestamps { self.timer.read(&self.ctx)? } else { Vec::new() };
        self.ctx.wait()?;
        self.stats.scene_ms = started.elapsed().as_secs_f64() * 1e3;
        self.shown_camera = Some(*camera);
        Ok(())
    }

    /// Dataset cameras as frusta, painted over the image (no depth test: they are guides).
    fn draw_frusta(&self, painter: &egui::Painter, view: &Camera, origin: egui::Pos2, ppp: f32) {
        let Some(scene) = &self.scene else { return };
        let size = 0.08 * self.controller.scene_radius;
        for (i, dc) in scene.cameras().iter().enumerate() {
            // The camera we are looking through would only outline the viewport.
            if dc.camera.center().distance(view.center()) < 1e-3 * self.controller.scene_radius {
                continue;
            }
            let color = if Some(i) == self.selected_camera {
                egui::Color32::YELLOW
            } else if dc.split == "test" {
                egui::Color32::from_rgb(90, 180, 255)
            } else {
                egui::Color32::from_rgb(255, 150, 40)
            };
            for (a, b) in frustum_segments(&dc.camera, size) {
                if let Some((p, q)) = project_segment(view, a, b) {
                    let to_screen = |v: glam::Vec2| origin + egui::vec2(v.x, v.y) / ppp;
                    painter.line_segment([to_screen(p), to_screen(q)], egui::Stroke::new(1.0, color));
                }
            }
        }
    }

    fn side_panel(&mut self, ui: &mut egui::Ui) {
        ui.heading("kiln view");
        ui.label(egui::RichText::new(self.ctx.info.name.clone()).small());
        ui.horizontal(|ui| {
            ui.add(egui::TextEdit::singleline(&mut self.open_path).hint_text("file or run folder").desired_width(180.0));
            if ui.button("open").clicked() && !self.open_path.trim().is_empty() {
                let p = PathBuf::from(self.open_path.trim());
                let _ = self.open(&p);
            }
        });
        if let Some(feed) = self.live.clone() {
            self.live_section(ui, &feed);
        }
        if let Some(scene) = &mut self.scene {
            ui.separator();
            ui.strong(scene.title());
            egui::Grid::new("stats").num_columns(2).show(ui, |ui| {
                for (k, v) in scene.stats() {
                    ui.label(k);
                    ui.add(egui::Label::new(v).wrap());
                    ui.end_row();
                }
            });
            if scene.ui(ui) {
                self.scene_version += 1;
            }
        }
        ui.separator();
        ui.strong("timing");
        ui.label(format!("frame {:.1} ms · scene {:.1} ms ({:.1} fps)", self.stats.frame_ms, self.stats.scene_ms, 1e3 / self.stats.frame_ms.max(1e-3)));
        if !self.stats.stages.is_empty() {
            egui::Grid::new("stages").num_columns(2).show(ui, |ui| {
                for s in &self.stats.stages {
                    ui.label(&s.stage);
                    ui.label(format!("{:.2} ms", s.ms));
                    ui.end_row();
                }
            });
        } else if !self.ctx.timestamps {
            ui.label("(no GPU timestamps on this adapter)");
        }
        ui.separator();
        ui.strong("render");
        ui.horizontal(|ui| {
            for m in DisplayMode::ALL {
                ui.selectable_value(&mut self.style.mode, m, m.name());
            }
        });
        if self.scene.as_ref().is_none_or(|s| s.has_splats()) {
            let max_sh = self.scene.as_ref().map_or(0, |s| s.sh_degree());
            ui.add(egui::Slider::new(&mut self.style.sh_degree, 0..=max_sh.max(0)).text("SH degree"));
            ui.add(egui::Slider::new(&mut self.style.splat_scale, 0.05..=3.0).logarithmic(true).text("Gaussian scale"));
        }
        ui.horizontal(|ui| {
            ui.color_edit_button_rgb(&mut self.style.background);
            ui.label("background");
        });
        if self.style.mode == DisplayMode::Depth {
            let r = self.controller.scene_radius;
            ui.add(egui::DragValue::new(&mut self.style.depth_range.0).speed(0.01 * r).prefix("near "));
            ui.add(egui::DragValue::new(&mut self.style.depth_range.1).speed(0.01 * r).prefix("far "));
            if ui.button("fit depth range to scene").clicked() {
                self.style.depth_range = self.controller.depth_range();
            }
        }
        ui.separator();
        ui.strong("camera");
        let mut fov = self.controller.fov_y_degrees;
        if ui.add(egui::Slider::new(&mut fov, 5.0..=150.0).text("field of view °")).changed() {
            self.controller.set_fov(fov);
        }
        let r = self.controller.scene_radius;
        ui.add(egui::Slider::new(&mut self.controller.fly_speed, (0.01 * r)..=(10.0 * r)).logarithmic(true).text("fly speed"));
        ui.horizontal(|ui| {
            if ui.button("reset view (R)").clicked() {
                self.controller.reset();
            }
            ui.checkbox(&mut self.show_frusta, "frusta");
        });
        ui.label(egui::RichText::new("left drag orbit · right/middle drag pan · wheel zoom · WASD QE fly (shift faster) · H panel").small());
        self.cameras_section(ui);
        ui.separator();
        self.screenshot_section(ui);
    }

    fn cameras_section(&mut self, ui: &mut egui::Ui) {
        let Some(scene) = &self.scene else { return };
        let cams = scene.cameras();
        if cams.is_empty() {
            return;
        }
        let mut snap = None;
        ui.collapsing(format!("dataset cameras ({})", cams.len()), |ui| {
            egui::ScrollArea::vertical().id_salt("cameras").max_height(160.0).show(ui, |ui| {
                for (i, c) in cams.iter().enumerate() {
                    if ui.selectable_label(self.selected_camera == Some(i), format!("{} · {}", c.split, c.name)).clicked() {
                        snap = Some(i);
                    }
                }
            });
        });
        if let Some(i) = snap {
            let cam = cams[i].camera;
            let image = cams[i].image.clone();
            self.controller.snap_to(&cam);
            self.selected_camera = Some(i);
            if self.camera_image.as_ref().map(|(k, _)| *k) != Some(i) {
                self.camera_image = Some((i, load_thumbnail(ui.ctx(), image)));
            }
        }
        if let Some((i, img)) = &self.camera_image {
            match img {
                Ok(tex) => {
                    ui.label(format!("image of camera {i}"));
                    let s = tex.size_vec2();
                    ui.image((tex.id(), s * (280.0 / s.x.max(1.0)).min(1.0)));
                }
                Err(e) => {
                    ui.colored_label(egui::Color32::from_rgb(255, 110, 90), e);
                }
            }
        }
    }

    fn screenshot_section(&mut self, ui: &mut egui::Ui) {
        ui.strong("screenshot");
        ui.horizontal(|ui| {
            ui.radio_value(&mut self.screenshot.window_size, true, "viewport size");
            ui.radio_value(&mut self.screenshot.window_size, false, "custom");
        });
        if !self.screenshot.window_size {
            ui.horizontal(|ui| {
                ui.add(egui::DragValue::new(&mut self.screenshot.width).range(1..=16384));
                ui.label("×");
                ui.add(egui::DragValue::new(&mut self.screenshot.height).range(1..=16384));
            });
        }
        ui.add(egui::TextEdit::singleline(&mut self.screenshot.path).desired_width(220.0));
        if ui.button("save PNG").clicked() {
            let (w, h) = if self.screenshot.window_size { (self.viewport_px[2], self.viewport_px[3]) } else { (self.screenshot.width, self.screenshot.height) };
            let path = PathBuf::from(&self.screenshot.path);
            match self.screenshot_to(&path, w, h) {
                Ok(()) => self.messages.push(format!("wrote {} ({w}x{h})", path.display())),
                Err(e) => self.report(format!("screenshot: {e}")),
            }
        }
    }

    /// Renders the current view at `width`×`height` offscreen (same camera pose and field of
    /// view) and writes it as a PNG.
    pub fn screenshot_to(&mut self, path: &std::path::Path, width: u32, height: u32) -> Result<(), ViewError> {
        let scene = self.scene.as_mut().ok_or_else(|| ViewError::Render("nothing is open".into()))?;
        let camera = self.controller.camera(width, height);
        let target = Target::new(&self.ctx, width, height)?;
        scene.draw(&self.ctx, &camera, &self.style, &target, None)?;
        let rgba = target.read_rgba(&self.ctx)?;
        write_png(path, width, height, rgba)
    }

    fn live_section(&mut self, ui: &mut egui::Ui, feed: &LiveFeed) {
        let s = feed.status();
        ui.separator();
        ui.strong("live training");
        let state = match (&s.error, s.finished) {
            (Some(e), _) => format!("stopped: {e}"),
            (None, true) => "finished".into(),
            (None, false) => "running".into(),
        };
        ui.label(format!("step {} / {} · {state}", s.step, s.total_steps));
        if let Some(p) = s.history.last() {
            ui.label(format!("loss {:.4} · PSNR {:.2} dB · {} Gaussians", p.loss, p.psnr, scenes::splats::group_thousands(p.gaussians as usize)));
        }
        let share = if s.train_seconds > 0.0 { 100.0 * s.snapshot_seconds / s.train_seconds } else { 0.0 };
        ui.label(format!("viewer snapshots: {} · {:.2} s of trainer time ({share:.1} %)", s.snapshots, s.snapshot_seconds));
        let series = |f: fn(&LivePoint) -> f64| s.history.iter().map(|p| (p.step as f64, f(p))).collect::<Vec<_>>();
        line_plot(ui, "loss", &series(|p| p.loss as f64));
        line_plot(ui, "PSNR (dB)", &series(|p| p.psnr as f64));
        line_plot(ui, "Gaussians", &series(|p| p.gaussians as f64));
    }
}

/// How long to wait before asking for the next training snapshot: at least
/// [`SNAPSHOT_INTERVAL`], and long enough that redrawing each snapshot (which took `scene_ms`)
/// uses at most a tenth of the device — on a software adapter the window's draws share the
/// trainer's CPU cores.
pub fn snapshot_interval(scene_ms: f64) -> Duration {
    SNAPSHOT_INTERVAL.max(Duration::from_secs_f64((scene_ms.max(0.0) * 9.0 / 1e3).min(60.0)))
}

/// A small line plot: egui has none built in, and one series with its range is all we need.
fn line_plot(ui: &mut egui::Ui, title: &str, points: &[(f64, f64)]) {
    let finite: Vec<(f64, f64)> = points.iter().copied().filter(|(x, y)| x.is_finite() && y.is_finite()).collect();
    let last = finite.last().map_or(String::new(), |p| format!("{:.4}", p.1));
    ui.label(egui::RichText::new(format!("{title}: {last}")).small());
    let (rect, _) = ui.allocate_exact_size(egui::vec2(ui.available_width().min(280.0), 60.0), egui::Sense::hover());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 2.0, egui::Color32::from_gray(25));
    if finite.len() < 2 {
        return;
    }
    let (x0, x1) = (finite[0].0, finite[finite.len() - 1].0);
    let (y0, y1) = finite.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| (a.min(p.1), b.max(p.1)));
    let sx = |x: f64| rect.left() + ((x - x0) / (x1 - x0).max(1e-12)) as f32 * rect.width();
    let sy = |y: f64| rect.bottom() - ((y - y0) / (y1 - y0).max(1e-12)) as f32 * rect.height();
    // At most one point per horizontal pixel.
    let stride = (finite.len() / rect.width().max(1.0) as usize).max(1);
    let line: Vec<egui::Pos2> = finite.iter().step_by(stride).map(|p| egui::pos2(sx(p.0), sy(p.1))).collect();
    painter.add(egui::Shape::line(line, egui::Stroke::new(1.0, egui::Color32::from_rgb(120, 200, 255))));
    painter.text(rect.left_top(), egui::Align2::LEFT_TOP, format!("{y1:.3}"), egui::FontId::monospace(9.0), egui::Color32::GRAY);
    painter.text(rect.left_bottom(), egui::Align2::LEFT_BOTTOM, format!("{y0:.3}"), egui::FontId::monospace(9.0), egui::Color32::GRAY);
}

fn load_thumbnail(ctx: &egui::Context, path: Option<PathBuf>) -> Result<egui::TextureHandle, String> {
    let path = path.ok_or("this camera has no image file")?;
    let img = image::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let thumb = img.thumbnail(320, 320).to_rgba8();
    let color = egui::ColorImage::from_rgba_unmultiplied([thumb.width() as usize, thumb.height() as usize], thumb.as_raw());
    Ok(ctx.load_texture(path.display().to_string(), color, egui::TextureOptions::LINEAR))
}

/// The eight edges of a camera's frustum cut at depth `size`, plus the apex edges, in world
/// coordinates.
pub fn frustum_segments(camera: &Camera, size: f32) -> Vec<(glam::Vec3, glam::Vec3)> {
    let rt = camera.rotation.transpose();
    let to_world = |p: glam::Vec3| rt * (p - camera.translation);
    let corner = |u: f32, v: f32| to_world(glam::Vec3::new((u - camera.cx) / camera.fx * size, (v - camera.cy) / camera.fy * size, size));
    let (w, h) = (camera.width as f32, camera.height as f32);
    let c = [corner(0.0, 0.0), corner(w, 0.0), corner(w, h), corner(0.0, h)];
    let apex = camera.center();
    let mut s = Vec::with_capacity(9);
    for k in 0..4 {
        s.push((c[k], c[(k + 1) % 4]));
        s.push((apex, c[k]));
    }
    // A tick on the top edge shows which way is up in the image.
    let top = corner(0.5 * w, -0.15 * h);
    s.push((corner(0.4 * w, 0.0), top));
    s
}

/// Projects a world segment into the pixels of `view`, clipped to its near plane.
pub fn project_segment(view: &Camera, a: glam::Vec3, b: glam::Vec3) -> Option<(glam::Vec2, glam::Vec2)> {
    let (mut p, mut q) = (view.world_to_camera(a), view.world_to_camera(b));
    let near = view.near;
    if p.z < near && q.z < near {
        return None;
    }
    if p.z < near || q.z < near {
        let t = (near - p.z) / (q.z - p.z);
        let cut = p + (q - p) * t;
        if p.z < near {
            p = cut;
        } else {
            q = cut;
        }
    }
    let px = |v: glam::Vec3| glam::Vec2::new(view.fx * v.x / v.z + view.cx, view.fy * v.y / v.z + view.cy);
    Some((px(p), px(q)))
}
