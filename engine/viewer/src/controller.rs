//! The viewer's camera as pure state: input events in, a pose out. No window or GPU here, so
//! every control is unit-tested (`tests/controller.rs`).
//!
//! The camera orbits a target point at some distance. Orbit turns it around the target (yaw
//! about the world's up axis, pitch about the camera's right axis), pan slides camera and target
//! together in the image plane, zoom changes the distance, fly moves camera and target together
//! along the camera's own axes. Orientation is kept as a camera-to-world rotation in kiln's
//! OpenCV axes (x right, y down, z forward).

use glam::{Mat3, Quat, Vec3};
use kiln_scene::Camera;

/// Radians of orbit per pixel dragged.
pub const ORBIT_RADIANS_PER_PIXEL: f32 = 0.005;
/// Distance factor per wheel step (a step in zooms in by 10 %).
pub const ZOOM_PER_STEP: f32 = 0.9;
/// Keep the view direction at least this far (radians) from straight up or down, so yaw about
/// the up axis stays well defined.
const MIN_POLE_ANGLE: f32 = 0.02;

/// One input, already translated from window events (see `app.rs`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum CameraInput {
    /// Left drag by (dx, dy) pixels.
    Orbit { dx: f32, dy: f32 },
    /// Right or middle drag by (dx, dy) pixels in a viewport `viewport_height` pixels tall:
    /// the point under the cursor at the target's depth follows the cursor.
    Pan { dx: f32, dy: f32, viewport_height: f32 },
    /// Wheel steps; positive zooms in.
    Zoom { steps: f32 },
    /// Fly for `seconds` along camera-local `direction` (x right, y down, z forward; each
    /// component in [-1, 1]) at the fly speed times `boost`.
    Fly { direction: Vec3, seconds: f32, boost: f32 },
}

/// Where the camera starts and what Reset returns to.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Home {
    pub target: Vec3,
    pub distance: f32,
    /// Camera-to-world rotation (OpenCV axes).
    pub orientation: Quat,
    pub fov_y_degrees: f32,
}

impl Home {
    /// Looking at a sphere (`center`, `radius`) from outside, level with `up`, from `-front`.
    pub fn framing(center: Vec3, radius: f32, up: Vec3, front: Vec3, fov_y_degrees: f32) -> Home {
        let radius = if radius.is_finite() && radius > 0.0 { radius } else { 1.0 };
        let up = up.try_normalize().unwrap_or(Vec3::NEG_Y);
        // Slightly from above: 20° down onto the target.
        let level = (front - up * front.dot(up)).try_normalize().unwrap_or_else(|| up.any_orthonormal_vector());
        let forward = (level * 20f32.to_radians().cos() - up * 20f32.to_radians().sin()).normalize();
        let half_fov = 0.5 * fov_y_degrees.to_radians();
        Home {
            target: center,
            distance: radius / half_fov.sin() * 1.1,
            orientation: orientation_looking(forward, up),
            fov_y_degrees,
        }
    }

    /// Exactly the pose of a dataset camera, orbiting a point `distance` in front of it.
    pub fn from_camera(camera: &Camera, distance: f32) -> Home {
        let orientation = Quat::from_mat3(&camera.rotation.transpose()).normalize();
        let forward = orientation * Vec3::Z;
        Home {
            target: camera.center() + forward * distance,
            distance,
            orientation,
            fov_y_degrees: fov_y_degrees(camera),
        }
    }
}

/// The vertical field of view of a camera, in degrees.
pub fn fov_y_degrees(camera: &Camera) -> f32 {
    (2.0 * (0.5 * camera.height as f32 / camera.fy).atan()).to_degrees()
}

/// Camera-to-world rotation whose z axis is `forward` and whose y axis points away from `up`.
fn orientation_looking(forward: Vec3, up: Vec3) -> Quat {
    let z = forward.normalize();
    let x = z.cross(up).try_normalize().unwrap_or_else(|| z.any_orthonormal_vector());
    let y = z.cross(x);
    Quat::from_mat3(&Mat3::from_cols(x, y, z)).normalize()
}

/// The camera controller.
#[derive(Clone, Debug, PartialEq)]
pub struct CameraController {
    pub target: Vec3,
    pub distance: f32,
    /// Camera-to-world rotation (OpenCV axes).
    pub orientation: Quat,
    /// World up, the yaw axis of orbiting.
    pub up: Vec3,
    pub fov_y_degrees: f32,
    /// Fly speed in world units per second.
    pub fly_speed: f32,
    /// Size of the scene (sets near/far planes and the zoom limits).
    pub scene_radius: f32,
    pub home: Home,
}

impl CameraController {
    pub fn new(home: Home, up: Vec3, scene_radius: f32) -> Self {
        let scene_radius = if scene_radius.is_finite() && scene_radius > 0.0 { scene_radius } else { 1.0 };
        let mut c = CameraController {
            target: home.target,
            distance: home.distance,
            orientation: home.orientation,
            up: up.try_normalize().unwrap_or(Vec3::NEG_Y),
            fov_y_degrees: home.fov_y_degrees,
            // Cross the scene in about four seconds.
            fly_speed: 0.5 * scene_radius,
            scene_radius,
            home,
        };
        c.sanitize();
        c
    }

    pub fn forward(&self) -> Vec3 {
        self.orientation * Vec3::Z
    }

    pub fn right(&self) -> Vec3 {
        self.orientation * Vec3::X
    }

    /// Camera down (OpenCV y).
    pub fn down(&self) -> Vec3 {
        self.orientation * Vec3::Y
    }

    /// Camera centre in world coordinates.
    pub fn eye(&self) -> Vec3 {
        self.target - self.forward() * self.distance
    }

    pub fn apply(&mut self, input: CameraInput) {
        match input {
            CameraInput::Orbit { dx, dy } => self.orbit(dx, dy),
            CameraInput::Pan { dx, dy, viewport_height } => {
                // World units per pixel at the target's depth.
                let per_pixel = 2.0 * self.distance * (0.5 * self.fov_y_degrees.to_radians()).tan() / viewport_height.max(1.0);
                // Dragging right moves the scene right: the camera goes left.
                let shift = (-self.right() * dx - self.down() * dy) * per_pixel;
                self.target += shift;
            }
            CameraInput::Zoom { steps } => {
                self.distance *= ZOOM_PER_STEP.powf(steps);
            }
            CameraInput::Fly { direction, seconds, boost } => {
                let d = direction.clamp(Vec3::splat(-1.0), Vec3::splat(1.0));
                let world = self.right() * d.x + self.down() * d.y + self.forward() * d.z;
                self.target += world * self.fly_speed * boost * seconds;
            }
        }
        self.sanitize();
    }

    fn orbit(&mut self, dx: f32, dy: f32) {
        // Yaw about world up: dragging right turns the scene right, i.e. the camera goes left
        // around it. (The up vector points against image y, hence the sign.)
        let yaw = Quat::from_axis_angle(self.up, -dx * ORBIT_RADIANS_PER_PIXEL);
        // Pitch about the camera's right axis, limited so that forward never reaches ±up.
        let forward = self.forward();
        let elevation = forward.dot(self.up).clamp(-1.0, 1.0).asin(); // > 0: looking up
        let max = std::f32::consts::FRAC_PI_2 - MIN_POLE_ANGLE;
        // Dragging down lifts the camera: it looks down onto the target more steeply.
        let wanted = (elevation - dy * ORBIT_RADIANS_PER_PIXEL).clamp(-max, max);
        // A positive turn about the right axis tilts forward towards the camera's up (−y).
        let pitch = Quat::from_axis_angle(self.right(), wanted - elevation);
        self.orientation = (yaw * pitch * self.orientation).normalize();
    }

    /// Puts the camera exactly at a dataset camera's pose and field of view; orbiting then
    /// turns around the point at the current distance in front of it.
    pub fn snap_to(&mut self, camera: &Camera) {
        let home = Home::from_camera(camera, self.distance);
        self.orientation = home.orientation;
        self.target = home.target;
        self.fov_y_degrees = home.fov_y_degrees;
        self.sanitize();
    }

    pub fn reset(&mut self) {
        self.target = self.home.target;
        self.distance = self.home.distance;
        self.orientation = self.home.orientation;
        self.fov_y_degrees = self.home.fov_y_degrees;
        self.sanitize();
    }

    pub fn set_fov(&mut self, degrees: f32) {
        self.fov_y_degrees = degrees;
        self.sanitize();
    }

    /// Keeps the state usable whatever the inputs were: finite, positive distance within
    /// reach of the scene, field of view in [5°, 150°].
    fn sanitize(&mut self) {
        if !self.fov_y_degrees.is_finite() {
            self.fov_y_degrees = 60.0;
        }
        self.fov_y_degrees = self.fov_y_degrees.clamp(5.0, 150.0);
        let (lo, hi) = (1e-4 * self.scene_radius, 1e3 * self.scene_radius);
        if !self.distance.is_finite() {
            self.distance = self.home.distance;
        }
        self.distance = self.distance.clamp(lo, hi);
        if !self.target.is_finite() {
            self.target = self.home.target;
        }
        if !self.orientation.is_finite() || self.orientation.length_squared() < 1e-6 {
            self.orientation = self.home.orientation;
        }
        self.orientation = self.orientation.normalize();
    }

    /// The pinhole camera for a viewport of `width`×`height` pixels: square pixels, principal
    /// point at the centre, the vertical field of view of the controller.
    pub fn camera(&self, width: u32, height: u32) -> Camera {
        let fy = 0.5 * height as f32 / (0.5 * self.fov_y_degrees.to_radians()).tan();
        let rotation = Mat3::from_quat(self.orientation).transpose();
        let translation = -(rotation * self.eye());
        Camera {
            rotation,
            translation,
            near: (1e-3 * self.distance).min(1e-2 * self.scene_radius).max(1e-6),
            far: self.distance + 1e3 * self.scene_radius,
            ..Camera::identity(width, height, fy, fy)
        }
    }

    /// Depth range (near, far) that spans the scene sphere around the home target as seen from
    /// here, for the depth render mode.
    pub fn depth_range(&self) -> (f32, f32) {
        let d = self.eye().distance(self.home.target);
        let near = (d - self.scene_radius).max(1e-3 * self.scene_radius);
        (near, near.max(d + self.scene_radius))
    }
}

/// Which fly keys are held: W/S forward/back, A/D left/right, Q/E down/up (in the image).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlyKeys {
    pub forward: bool,
    pub back: bool,
    pub left: bool,
    pub right: bool,
    pub up: bool,
    pub down: bool,
    /// Shift: fly four times faster.
    pub fast: bool,
}

impl FlyKeys {
    /// Sets the key's state; returns false for keys that are not fly keys.
    pub fn set(&mut self, key: char, pressed: bool) -> bool {
        let slot = match key.to_ascii_lowercase() {
            'w' => &mut self.forward,
            's' => &mut self.back,
            'a' => &mut self.left,
            'd' => &mut self.right,
            'e' => &mut self.up,
            'q' => &mut self.down,
            _ => return false,
        };
        *slot = pressed;
        true
    }

    /// Camera-local direction (x right, y down, z forward).
    pub fn direction(&self) -> Vec3 {
        let axis = |pos: bool, neg: bool| pos as i32 as f32 - neg as i32 as f32;
        Vec3::new(axis(self.right, self.left), axis(self.down, self.up), axis(self.forward, self.back))
    }

    pub fn active(&self) -> bool {
        self.direction() != Vec3::ZERO
    }

    /// The fly input for a frame of `seconds`, if any key is held.
    pub fn input(&self, seconds: f32) -> Option<CameraInput> {
        self.active().then(|| CameraInput::Fly { direction: self.direction(), seconds, boost: if self.fast { 4.0 } else { 1.0 } })
    }
}
