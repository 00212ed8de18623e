//! The camera controller as pure state: input events in, camera pose out.

use glam::{Mat3, Vec3};
use kiln_scene::Camera;
use kiln_viewer::controller::{fov_y_degrees, CameraController, CameraInput, FlyKeys, Home, ORBIT_RADIANS_PER_PIXEL};

const UP: Vec3 = Vec3::NEG_Y;

fn controller() -> CameraController {
    let home = Home::framing(Vec3::new(1.0, 2.0, 3.0), 2.0, UP, Vec3::Z, 60.0);
    CameraController::new(home, UP, 2.0)
}

fn assert_close(a: Vec3, b: Vec3, tol: f32) {
    assert!(a.abs_diff_eq(b, tol), "{a} vs {b}");
}

fn elevation(c: &CameraController) -> f32 {
    c.forward().dot(c.up).asin()
}

#[test]
fn home_frames_the_scene_and_looks_at_its_centre() {
    let c = controller();
    let cam = c.camera(640, 480);
    assert!(cam.validate().is_ok());
    // The target projects to the image centre, in front of the camera.
    let p = cam.world_to_camera(Vec3::new(1.0, 2.0, 3.0));
    assert!(p.z > 2.0, "target depth {}", p.z);
    assert!((cam.fx * p.x / p.z).abs() < 1e-3 && (cam.fy * p.y / p.z).abs() < 1e-3);
    // The whole sphere fits vertically: distance ≥ radius / sin(fov/2).
    assert!(c.distance >= 2.0 / 30f32.to_radians().sin());
    // Looking 20° down onto the target, level left-right (no roll).
    assert!((elevation(&c).to_degrees() + 20.0).abs() < 1e-3);
    assert!(c.right().dot(UP).abs() < 1e-5);
    assert!((fov_y_degrees(&cam) - 60.0).abs() < 1e-3);
}

#[test]
fn orbit_turns_around_the_target_at_constant_distance() {
    let mut c = controller();
    let target = c.target;
    let e0 = elevation(&c);
    c.apply(CameraInput::Orbit { dx: 100.0, dy: 0.0 });
    assert_close(c.target, target, 1e-6);
    assert!((c.eye().distance(target) - c.distance).abs() < 1e-4);
    // A horizontal drag is a pure yaw: elevation and the level horizon are kept, and the
    // camera turned by exactly dx · rate about the up axis.
    assert!((elevation(&c) - e0).abs() < 1e-5);
    assert!(c.right().dot(UP).abs() < 1e-5);
    let before = controller();
    let flat = |v: Vec3| (v - UP * v.dot(UP)).normalize();
    let angle = flat(before.forward()).angle_between(flat(c.forward()));
    assert!((angle - 100.0 * ORBIT_RADIANS_PER_PIXEL).abs() < 1e-4, "turned {angle}");
    // Dragging down lifts the camera (looks down more steeply); up does the opposite.
    c.apply(CameraInput::Orbit { dx: 0.0, dy: 50.0 });
    assert!((elevation(&c) - (e0 - 50.0 * ORBIT_RADIANS_PER_PIXEL)).abs() < 1e-4);
    assert_close(c.target, target, 1e-6);
}

#[test]
fn orbit_never_flips_over_the_pole() {
    let mut c = controller();
    for _ in 0..100 {
        c.apply(CameraInput::Orbit { dx: 3.0, dy: 400.0 });
        assert!(c.camera(64, 48).validate().is_ok());
    }
    // Stopped just short of straight down, still level.
    assert!(elevation(&c) > -std::f32::consts::FRAC_PI_2 + 0.01);
    assert!(elevation(&c) < -1.5);
    assert!(c.right().dot(UP).abs() < 1e-4);
}

#[test]
fn pan_moves_camera_and_target_together_in_the_image_plane() {
    let mut c = controller();
    let (eye, target, fwd) = (c.eye(), c.target, c.forward());
    c.apply(CameraInput::Pan { dx: 100.0, dy: -40.0, viewport_height: 480.0 });
    let shift = c.target - target;
    assert_close(c.eye() - eye, shift, 1e-5);
    assert!(shift.dot(fwd).abs() < 1e-5, "pan must not move along the view");
    assert_close(c.forward(), fwd, 1e-6);
    // The old target follows the cursor: 100 px right and 40 px up on screen.
    let cam = c.camera(640, 480);
    let p = cam.world_to_camera(target);
    let (u, v) = (cam.fx * p.x / p.z + cam.cx, cam.fy * p.y / p.z + cam.cy);
    assert!((u - 420.0).abs() < 0.05 && (v - 200.0).abs() < 0.05, "({u}, {v})");
}

#[test]
fn zoom_scales_the_distance_and_stays_in_range() {
    let mut c = controller();
    let d = c.distance;
    c.apply(CameraInput::Zoom { steps: 1.0 });
    assert!((c.distance - 0.9 * d).abs() < 1e-5);
    c.apply(CameraInput::Zoom { steps: -2.0 });
    assert!((c.distance - d / 0.9).abs() < 1e-4);
    c.apply(CameraInput::Zoom { steps: 1e6 });
    assert!(c.distance > 0.0 && c.camera(64, 48).validate().is_ok());
    c.apply(CameraInput::Zoom { steps: f32::NAN });
    assert!(c.distance.is_finite() && c.camera(64, 48).validate().is_ok());
}

#[test]
fn fly_keys_move_along_the_camera_axes_at_the_set_speed() {
    let mut keys = FlyKeys::default();
    assert!(keys.set('w', true) && keys.set('D', true));
    assert!(!keys.set('x', true));
    assert_eq!(keys.direction(), Vec3::new(1.0, 0.0, 1.0));
    let mut c = controller();
    c.fly_speed = 2.0;
    let (eye, fwd, right) = (c.eye(), c.forward(), c.right());
    c.apply(keys.input(0.5).unwrap());
    assert_close(c.eye() - eye, (fwd + right) * 1.0, 1e-5);
    // Shift: four times faster; E goes up in the image (against camera y).
    keys = FlyKeys::default();
    keys.set('e', true);
    keys.fast = true;
    let (eye, down) = (c.eye(), c.down());
    c.apply(keys.input(0.25).unwrap());
    assert_close(c.eye() - eye, -down * 2.0, 1e-5);
    keys.set('e', false);
    assert!(keys.input(0.25).is_none());
}

#[test]
fn snap_reproduces_a_dataset_camera_and_reset_returns_home() {
    let mut c = controller();
    let home = c.clone();
    let cam = Camera::look_at(800, 600, 700.0, 700.0, Vec3::new(4.0, -1.0, 0.5), Vec3::new(0.5, 0.2, 2.0), Vec3::new(0.1, -1.0, 0.0));
    c.snap_to(&cam);
    let v = c.camera(800, 600);
    assert!(v.rotation.abs_diff_eq(cam.rotation, 1e-5), "{:?} vs {:?}", v.rotation, cam.rotation);
    assert_close(v.center(), cam.center(), 1e-4);
    assert!((v.fy - cam.fy).abs() < 1e-2 && (v.fx - cam.fx).abs() < 1e-2);
    // Orbiting after a snap turns around a point in front of that camera.
    c.apply(CameraInput::Orbit { dx: 30.0, dy: 10.0 });
    assert!((c.eye().distance(c.target) - c.distance).abs() < 1e-4);
    c.reset();
    assert_eq!(c.target, home.target);
    assert_eq!(c.distance, home.distance);
    assert!(c.orientation.abs_diff_eq(home.orientation, 1e-6));
    assert_eq!(c.fov_y_degrees, home.fov_y_degrees);
}

#[test]
fn field_of_view_sets_the_focal_length_and_is_clamped() {
    let mut c = controller();
    c.set_fov(90.0);
    let cam = c.camera(640, 480);
    assert!((cam.fy - 240.0).abs() < 1e-3 && cam.fx == cam.fy);
    assert_eq!((cam.cx, cam.cy), (320.0, 240.0));
    c.set_fov(500.0);
    assert_eq!(c.fov_y_degrees, 150.0);
    c.set_fov(f32::NAN);
    assert!(c.fov_y_degrees.is_finite());
}

#[test]
fn any_input_sequence_keeps_a_valid_camera() {
    // A seeded walk through every input, including hostile values.
    let mut c = controller();
    let mut s: u32 = 12345;
    let mut next = || {
        s = s.wrapping_mul(1664525).wrapping_add(1013904223);
        (s >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
    };
    for i in 0..2000 {
        let input = match i % 5 {
            0 => CameraInput::Orbit { dx: next() * 500.0, dy: next() * 500.0 },
            1 => CameraInput::Pan { dx: next() * 300.0, dy: next() * 300.0, viewport_height: 480.0 },
            2 => CameraInput::Zoom { steps: next() * 5.0 },
            3 => CameraInput::Fly { direction: Vec3::new(next(), next(), next()), seconds: 0.05, boost: 1.0 },
            _ => CameraInput::Orbit { dx: f32::INFINITY, dy: f32::NAN },
        };
        c.apply(input);
        let cam = c.camera(320, 240);
        assert!(cam.validate().is_ok(), "step {i}: {:?}", cam.validate());
        let r: Mat3 = cam.rotation;
        assert!((r * r.transpose()).abs_diff_eq(Mat3::IDENTITY, 1e-4));
    }
}

#[test]
fn live_snapshots_leave_nine_tenths_of_the_device_to_the_trainer() {
    use kiln_viewer::live::SNAPSHOT_INTERVAL;
    use kiln_viewer::viewer::snapshot_interval;
    assert_eq!(snapshot_interval(5.0), SNAPSHOT_INTERVAL);
    // A 2 s redraw (a large cloud on lavapipe) waits 18 s: redraws take ≤ 10 % of the time.
    assert_eq!(snapshot_interval(2000.0), std::time::Duration::from_secs(18));
    assert_eq!(snapshot_interval(1e9), std::time::Duration::from_secs(60));
}
