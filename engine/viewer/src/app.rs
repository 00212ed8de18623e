//! The window: winit event loop, a wgpu surface on kiln's own device, egui on top. Also the
//! two scripted modes: window capture (tests, README screenshot) and frame-time benchmark.

use crate::present::read_texture_rgba;
use crate::viewer::ViewerState;
use crate::{BenchReport, CaptureReport, StageMs, ViewError, ViewOptions, ViewReport};
use std::sync::Arc;
use std::time::Instant;
use winit::application::ApplicationHandler;
use winit::event::{StartCause, WindowEvent};
use winit::event_loop::{ActiveEventLoop, ControlFlow, EventLoop};
use winit::window::{Window, WindowId};

struct Gfx {
    window: Arc<Window>,
    surface: wgpu::Surface<'static>,
    config: wgpu::SurfaceConfiguration,
    egui_state: egui_winit::State,
    renderer: egui_wgpu::Renderer,
    /// The surface can be copied from (window capture).
    can_capture: bool,
    /// The last configuration succeeded; otherwise it is retried before the next frame.
    configured: bool,
}

/// Frames rendered before the benchmark starts recording (pipelines compile, buffers settle).
const BENCH_WARMUP: u32 = 3;
/// Frames a capture waits for the layout to settle (same viewport for this many frames).
const CAPTURE_STABLE_FRAMES: u32 = 3;

#[derive(Default)]
struct BenchRecorder {
    warmup_left: u32,
    scene_ms: Vec<f64>,
    frame_ms: Vec<f64>,
    stages: Vec<StageMs>,
}

pub(crate) struct App {
    opts: ViewOptions,
    viewer: ViewerState,
    egui_ctx: egui::Context,
    gfx: Option<Gfx>,
    fatal: Option<ViewError>,
    report: ViewReport,
    bench: Option<BenchRecorder>,
    stable_frames: u32,
    last_viewport: [u32; 4],
    next_repaint: Option<Instant>,
}

fn event_loop() -> Result<EventLoop<()>, ViewError> {
    #[allow(unused_mut)]
    let mut builder = EventLoop::builder();
    // `kiln fit --view` runs the window beside the trainer, and tests run on worker threads.
    #[cfg(all(unix, not(any(target_os = "macos", target_os = "ios", target_os = "android"))))]
    winit::platform::x11::EventLoopBuilderExtX11::with_any_thread(&mut builder, true);
    #[cfg(windows)]
    winit::platform::windows::EventLoopBuilderExtWindows::with_any_thread(&mut builder, true);
    builder
        .build()
        .map_err(|e| ViewError::Window(format!("{e} (no display? set DISPLAY or WAYLAND_DISPLAY, or run under xvfb-run)")))
}

pub(crate) fn run(opts: ViewOptions, viewer: ViewerState) -> Result<ViewReport, ViewError> {
    let event_loop = event_loop()?;
    let mut app = App {
        bench: opts.bench_frames.map(|_| BenchRecorder { warmup_left: BENCH_WARMUP, ..Default::default() }),
        opts,
        viewer,
        egui_ctx: egui::Context::default(),
        gfx: None,
        fatal: None,
        report: ViewReport::default(),
        stable_frames: 0,
        last_viewport: [0; 4],
        next_repaint: None,
    };
    if app.bench.is_some() {
        app.viewer.force_redraw = true;
    }
    event_loop.run_app(&mut app).map_err(|e| ViewError::Window(e.to_string()))?;
    if let Some(feed) = &app.viewer.live {
        feed.close_viewer();
    }
    match app.fatal {
        Some(e) => Err(e),
        None => Ok(app.report),
    }
}

impl App {
    fn scripted(&self) -> bool {
        self.bench.is_some() || self.opts.capture.is_some()
    }

    fn create_gfx(&mut self, event_loop: &ActiveEventLoop) -> Result<Gfx, ViewError> {
        let ctx = self.viewer.ctx.clone();
        let (w, h) = self.opts.window_size;
        let attrs = Window::default_attributes()
            .with_title("kiln view")
            .with_inner_size(winit::dpi::PhysicalSize::new(w.max(64), h.max(64)))
            .with_resizable(!self.scripted());
        let window = Arc::new(event_loop.create_window(attrs).map_err(|e| ViewError::Window(e.to_string()))?);
        let surface = ctx
            .instance
            .create_surface(window.clone())
            .map_err(|e| ViewError::Window(format!("cannot create a surface for the window: {e}")))?;
        let size = window.inner_size();
        let caps = surface.get_capabilities(&ctx.adapter);
        let mut config = surface
            .get_default_config(&ctx.adapter, size.width.max(1), size.height.max(1))
            .ok_or_else(|| ViewError::Window(format!("the adapter {} cannot present to this window", ctx.info.name)))?;
        // A gamma-space (non-sRGB) format: egui then writes the viewport image's bytes as they
        // are, so the window shows exactly what `kiln render` writes to PNG.
        if let Some(f) = caps.formats.iter().copied().find(|f| matches!(f, wgpu::TextureFormat::Bgra8Unorm | wgpu::TextureFormat::Rgba8Unorm)) {
            config.format = f;
        }
        let can_capture = caps.usages.contains(wgpu::TextureUsages::COPY_SRC);
        if can_capture {
            config.usage |= wgpu::TextureUsages::COPY_SRC;
        }
        config.present_mode = if self.bench.is_some() { wgpu::PresentMode::AutoNoVsync } else { wgpu::PresentMode::AutoVsync };
        let configured = configure_surface(&self.viewer, &surface, &config);
        let egui_state = egui_winit::State::new(
            self.egui_ctx.clone(),
            egui::ViewportId::ROOT,
            &window,
            Some(window.scale_factor() as f32),
            None,
            Some(ctx.limits.max_texture_dimension_2d as usize),
        );
        let mut renderer = egui_wgpu::Renderer::new(
            &ctx.device,
            config.format,
            egui_wgpu::RendererOptions { msaa_samples: 1, depth_stencil_format: None, dithering: false, predictable_texture_filtering: false },
        );
        // One texture id for the viewport for the whole session; it is re-pointed whenever the
        // viewport image is recreated (resize).
        let placeholder = crate::present::Target::new(&ctx, 1, 1)?;
        let id = renderer.register_native_texture(&ctx.device, &placeholder.view, wgpu::FilterMode::Nearest);
        self.viewer.viewport_texture = Some(id);
        self.viewer.target_changed = true;
        if self.viewer.scene.is_some() {
            window.set_title(&format!("kiln view — {}", self.viewer.scene.as_ref().unwrap().title()));
        }
        Ok(Gfx { window, surface, config, egui_state, renderer, can_capture, configured })
    }

    fn redraw(&mut self, event_loop: &ActiveEventLoop) {
        let scripted = self.scripted();
        let Some(gfx) = self.gfx.as_mut() else { return };
        let ctx = self.viewer.ctx.clone();
        let raw = gfx.egui_state.take_egui_input(&gfx.window);
        let viewer = &mut self.viewer;
        let out = self.egui_ctx.run_ui(raw, |ui| viewer.ui(ui));
        gfx.egui_state.handle_platform_output(&gfx.window, out.platform_output);
        if self.viewer.target_changed {
            if let (Some(t), Some(id)) = (&self.viewer.target, self.viewer.viewport_texture) {
                gfx.renderer.update_egui_texture_from_wgpu_texture(&ctx.device, &t.view, wgpu::FilterMode::Nearest, id);
                self.viewer.target_changed = false;
            }
        }
        let jobs = self.egui_ctx.tessellate(out.shapes, out.pixels_per_point);
        let mut textures = out.textures_delta;
        for (id, deltas) in textures.set.drain() {
            for delta in &deltas {
                gfx.renderer.update_texture(&ctx.device, &ctx.queue, id, delta);
            }
        }
        // Freed after painting (egui's contract); a skipped frame frees them at once.
        let to_free: Vec<egui::TextureId> = textures.free.drain().collect();
        let free_all = |r: &mut egui_wgpu::Renderer| to_free.iter().for_each(|id| r.free_texture(id));
        if !gfx.configured {
            gfx.configured = configure_surface(&self.viewer, &gfx.surface, &gfx.config);
            if !gfx.configured {
                gfx.window.request_redraw();
                free_all(&mut gfx.renderer);
                return;
            }
        }
        let frame = match gfx.surface.get_current_texture() {
            wgpu::CurrentSurfaceTexture::Success(t) | wgpu::CurrentSurfaceTexture::Suboptimal(t) => t,
            wgpu::CurrentSurfaceTexture::Outdated | wgpu::CurrentSurfaceTexture::Lost => {
                let size = gfx.window.inner_size();
                gfx.config.width = size.width.max(1);
                gfx.config.height = size.height.max(1);
                gfx.configured = configure_surface(&self.viewer, &gfx.surface, &gfx.config);
                gfx.window.request_redraw();
                free_all(&mut gfx.renderer);
                return;
            }
            wgpu::CurrentSurfaceTexture::Timeout | wgpu::CurrentSurfaceTexture::Occluded => {
                gfx.window.request_redraw();
                free_all(&mut gfx.renderer);
                return;
            }
            wgpu::CurrentSurfaceTexture::Validation => {
                free_all(&mut gfx.renderer);
                self.viewer.report("the window surface failed validation".into());
                return;
            }
        };
        let view = frame.texture.create_view(&Default::default());
        let screen = egui_wgpu::ScreenDescriptor { size_in_pixels: [gfx.config.width, gfx.config.height], pixels_per_point: out.pixels_per_point };
        let mut enc = ctx.encoder("egui");
        let mut commands = gfx.renderer.update_buffers(&ctx.device, &ctx.queue, &mut enc, &jobs, &screen);
        {
            let mut pass = enc
                .begin_render_pass(&wgpu::RenderPassDescriptor {
                    label: Some("egui"),
                    color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                        view: &view,
                        depth_slice: None,
                        resolve_target: None,
                        ops: wgpu::Operations { load: wgpu::LoadOp::Clear(wgpu::Color::BLACK), store: wgpu::StoreOp::Store },
                    })],
                    ..Default::default()
                })
                .forget_lifetime();
            gfx.renderer.render(&mut pass, &jobs, &screen);
        }
        commands.push(enc.finish());
        ctx.queue.submit(commands);

        // Window capture: once the layout has settled, read the frame we are about to present.
        let vp = self.viewer.viewport_px;
        self.stable_frames = if vp == self.last_viewport && self.viewer.shown_camera.is_some() { self.stable_frames + 1 } else { 0 };
        self.last_viewport = vp;
        let mut done = false;
        if let Some(path) = self.opts.capture.clone() {
            if self.stable_frames >= CAPTURE_STABLE_FRAMES {
                done = true;
                let result = if gfx.can_capture {
                    capture(&ctx, &frame.texture, gfx.config.format, &path).map(|()| CaptureReport {
                        path: path.clone(),
                        window_width: gfx.config.width,
                        window_height: gfx.config.height,
                        viewport: vp,
                        camera: self.viewer.shown_camera.unwrap(),
                    })
                } else {
                    Err(ViewError::Window("this surface cannot be read back (no COPY_SRC usage), so the window cannot be captured".into()))
                };
                match result {
                    Ok(r) => self.report.capture = Some(r),
                    Err(e) => self.fatal = Some(e),
                }
            }
        }
        ctx.queue.present(frame);
        free_all(&mut gfx.renderer);
        if let Some(b) = &mut self.bench {
            if self.viewer.shown_camera.is_some() {
                if b.warmup_left > 0 {
                    b.warmup_left -= 1;
                } else {
                    b.scene_ms.push(self.viewer.stats.scene_ms);
                    b.frame_ms.push(self.viewer.stats.frame_ms);
                    for s in &self.viewer.stats.stages {
                        match b.stages.iter_mut().find(|x| x.stage == s.stage) {
                            Some(x) => x.ms += s.ms,
                            None => b.stages.push(StageMs { stage: s.stage.clone(), ms: s.ms }),
                        }
                    }
                }
                if b.scene_ms.len() as u32 >= self.opts.bench_frames.unwrap_or(0) {
                    done = true;
                    self.report.bench = Some(bench_report(&self.viewer, b, gfx.config.width, gfx.config.height));
                }
            }
        }
        if done {
            event_loop.exit();
            return;
        }
        // When to draw again without input.
        let egui_delay = out.viewport_output.get(&egui::ViewportId::ROOT).map(|v| v.repaint_delay);
        let delays = [egui_delay, self.viewer.idle_repaint()];
        let delay = delays.into_iter().flatten().min();
        if scripted || delay.is_some_and(|d| d.is_zero()) {
            gfx.window.request_redraw();
            self.next_repaint = None;
        } else {
            self.next_repaint = delay.and_then(|d| Instant::now().checked_add(d));
        }
    }
}

/// Configures the window surface; with live training, between two training steps (see
/// [`crate::live::LiveFeed::between_steps`]). Returns false when wgpu refused (the caller
/// retries before the next frame instead of presenting to an unconfigured surface).
fn configure_surface(viewer: &ViewerState, surface: &wgpu::Surface<'static>, config: &wgpu::SurfaceConfiguration) -> bool {
    let device = &viewer.ctx.device;
    let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
    match &viewer.live {
        Some(feed) => feed.between_steps(|| surface.configure(device, config)),
        None => surface.configure(device, config),
    }
    match pollster::block_on(scope.pop()) {
        Some(e) => {
            eprintln!("kiln view: configuring the window surface failed, retrying: {e}");
            false
        }
        None => true,
    }
}

fn capture(ctx: &kiln_gpu::GpuContext, texture: &wgpu::Texture, format: wgpu::TextureFormat, path: &std::path::Path) -> Result<(), ViewError> {
    let (w, h) = (texture.width(), texture.height());
    let mut bytes = read_texture_rgba(ctx, texture, w, h)?;
    match format {
        wgpu::TextureFormat::Bgra8Unorm | wgpu::TextureFormat::Bgra8UnormSrgb => bytes.chunks_exact_mut(4).for_each(|p| p.swap(0, 2)),
        wgpu::TextureFormat::Rgba8Unorm | wgpu::TextureFormat::Rgba8UnormSrgb => {}
        other => return Err(ViewError::Window(format!("cannot capture a {other:?} surface"))),
    }
    // The window is opaque; some surfaces leave alpha undefined.
    bytes.chunks_exact_mut(4).for_each(|p| p[3] = 255);
    crate::present::write_png(path, w, h, bytes)
}

fn bench_report(viewer: &ViewerState, b: &BenchRecorder, window_width: u32, window_height: u32) -> BenchReport {
    let n = b.scene_ms.len().max(1) as f64;
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let median = |v: &[f64]| {
        let mut s = v.to_vec();
        s.sort_by(|a, b| a.total_cmp(b));
        s.get(s.len() / 2).copied().unwrap_or(f64::NAN)
    };
    let vp = viewer.viewport_px;
    BenchReport {
        adapter: viewer.ctx.describe(),
        scene: viewer.scene.as_ref().map(|s| s.title()).unwrap_or_default(),
        gaussians: viewer.scene.as_ref().and_then(|s| s.stats().into_iter().find(|(k, _)| k == "Gaussians").map(|(_, v)| v)).unwrap_or_default(),
        viewport_width: vp[2],
        viewport_height: vp[3],
        window_width,
        window_height,
        frames: b.scene_ms.len() as u32,
        scene_ms_mean: mean(&b.scene_ms),
        scene_ms_median: median(&b.scene_ms),
        frame_ms_mean: mean(&b.frame_ms),
        frame_ms_median: median(&b.frame_ms),
        stages: b.stages.iter().map(|s| StageMs { stage: s.stage.clone(), ms: s.ms / n }).collect(),
    }
}

impl ApplicationHandler for App {
    fn resumed(&mut self, event_loop: &ActiveEventLoop) {
        if self.gfx.is_some() {
            return;
        }
        match self.create_gfx(event_loop) {
            Ok(gfx) => {
                gfx.window.request_redraw();
                self.gfx = Some(gfx);
            }
            Err(e) => {
                self.fatal = Some(e);
                event_loop.exit();
            }
        }
    }

    fn new_events(&mut self, _event_loop: &ActiveEventLoop, cause: StartCause) {
        if let StartCause::ResumeTimeReached { .. } = cause {
            if let Some(g) = &self.gfx {
                g.window.request_redraw();
            }
        }
    }

    fn window_event(&mut self, event_loop: &ActiveEventLoop, _id: WindowId, event: WindowEvent) {
        let Some(gfx) = self.gfx.as_mut() else { return };
        let response = gfx.egui_state.on_window_event(&gfx.window, &event);
        match event {
            WindowEvent::CloseRequested => {
                event_loop.exit();
                return;
            }
            WindowEvent::Resized(size) => {
                gfx.config.width = size.width.max(1);
                gfx.config.height = size.height.max(1);
                gfx.configured = configure_surface(&self.viewer, &gfx.surface, &gfx.config);
                gfx.window.request_redraw();
            }
            WindowEvent::RedrawRequested => {
                self.redraw(event_loop);
                if let (Some(g), Some(scene)) = (&self.gfx, &self.viewer.scene) {
                    let title = format!("kiln view — {}", scene.title());
                    if g.window.title() != title {
                        g.window.set_title(&title);
                    }
                }
                return;
            }
            _ => {}
        }
        if response.repaint {
            gfx.window.request_redraw();
        }
    }

    fn about_to_wait(&mut self, event_loop: &ActiveEventLoop) {
        match self.next_repaint {
            Some(t) if t <= Instant::now() => {
                self.next_repaint = None;
                if let Some(g) = &self.gfx {
                    g.window.request_redraw();
                }
                event_loop.set_control_flow(ControlFlow::Wait);
            }
            Some(t) => event_loop.set_control_flow(ControlFlow::WaitUntil(t)),
            None => event_loop.set_control_flow(ControlFlow::Wait),
        }
    }
}
