//! The window shows what `kiln render` renders: open a known scene in a real window (under
//! Xvfb when there is no display), capture the window's frame, and compare its viewport with
//! the offscreen render of the same camera.
//!
//! Needs an X server: `$DISPLAY`, or the `Xvfb` binary (apt-get install xvfb), which the test
//! starts itself. Without either it is skipped with a message. winit allows one event loop per
//! process, so this file holds exactly one test.

use glam::Vec3;
use kiln_scene::Camera;
use kiln_splat::{RenderSettings, SplatRenderer};
use kiln_viewer::present::to_u8;
use kiln_viewer::ViewOptions;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A private Xvfb server, stopped on drop.
struct Xvfb(Child);

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Uses `$DISPLAY`, else starts Xvfb; None when neither is possible.
fn display() -> Option<Option<Xvfb>> {
    if std::env::var_os("DISPLAY").is_some_and(|d| !d.is_empty()) {
        return Some(None);
    }
    // A display number of our own, so that parallel CI jobs do not collide.
    let n = 90 + std::process::id() % 400;
    let child = Command::new("Xvfb")
        .args([format!(":{n}").as_str(), "-screen", "0", "1024x768x24", "-nolisten", "tcp"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let guard = Xvfb(child);
    let socket = format!("/tmp/.X11-unix/X{n}");
    let start = Instant::now();
    while !Path::new(&socket).exists() {
        if start.elapsed() > Duration::from_secs(10) {
            eprintln!("Xvfb :{n} did not start within 10 s");
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::env::set_var("DISPLAY", format!(":{n}"));
    // winit prefers Wayland when both are set.
    std::env::remove_var("WAYLAND_DISPLAY");
    Some(Some(guard))
}

#[test]
fn window_shows_the_offscreen_render() {
    let Some(_xvfb) = display() else {
        eprintln!("SKIPPED window_shows_the_offscreen_render: no $DISPLAY and no Xvfb (apt-get install xvfb)");
        return;
    };
    let dir = std::env::temp_dir().join(format!("kiln-viewer-window-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // A known scene: the seeded benchmark scene, seen a little from the side.
    let (cloud, _) = kiln_splat::synthetic::benchmark_scene(6000, 320, 240, 0.0, 11);
    let ply = dir.join("scene.ply");
    kiln_splat::write_gaussians(&ply, &cloud).unwrap();
    let start = Camera::look_at(320, 240, 300.0, 300.0, Vec3::new(1.5, -0.5, -1.0), Vec3::new(0.0, 0.0, 6.0), Vec3::NEG_Y);
    let capture = dir.join("window.png");
    let report = kiln_viewer::run(ViewOptions {
        path: Some(ply),
        window_size: (720, 420),
        camera: Some(start),
        capture: Some(capture.clone()),
        ..Default::default()
    })
    .expect("the viewer runs and captures its window");
    let cap = report.capture.expect("a capture report");
    let [x, y, w, h] = cap.viewport;
    // The side panel is shown: the viewport is the window minus the panel.
    assert!(x > 100 && w > 200 && h > 200 && x + w <= cap.window_width && y + h <= cap.window_height, "viewport {:?}", cap.viewport);
    assert_eq!((cap.camera.width, cap.camera.height), (w, h));
    // The viewer kept the requested pose.
    assert!(cap.camera.rotation.abs_diff_eq(start.rotation, 1e-4) && cap.camera.center().abs_diff_eq(start.center(), 1e-3));

    let window = image::open(&capture).unwrap().to_rgba8();
    assert_eq!((window.width(), window.height()), (cap.window_width, cap.window_height));
    let ctx = kiln_gpu::GpuContext::shared().unwrap();
    let offscreen = SplatRenderer::new(ctx).unwrap().render(&cloud, &cap.camera, &RenderSettings::default()).unwrap();
    let (mut worst, mut total, mut covered) = (0u8, 0u64, 0usize);
    for j in 0..h {
        for i in 0..w {
            let shown = window.get_pixel(x + i, y + j).0;
            let k = ((j * w + i) * 3) as usize;
            for c in 0..3 {
                let d = shown[c].abs_diff(to_u8(offscreen.color[k + c]));
                worst = worst.max(d);
                total += d as u64;
            }
            covered += (offscreen.alpha[(j * w + i) as usize] > 0.5) as usize;
        }
    }
    let mean = total as f64 / (w * h * 3) as f64;
    eprintln!("window vs offscreen over {w}x{h}: max difference {worst}, mean {mean:.4} (8-bit levels)");
    assert!(covered > (w * h / 10) as usize, "the scene covers too little of the view to compare ({covered} pixels)");
    assert!(worst <= 1 && mean < 0.01, "window differs from the offscreen render: max {worst}, mean {mean}");
    // Outside the viewport is the panel, not the scene.
    std::fs::remove_dir_all(&dir).ok();
}
