//! Camera rays: origin and unit direction per pixel (pixel centres at +0.5, OpenCV axes), the
//! layout the ray-marching kernels read (6 floats per ray).

use kiln_scene::Camera;
use glam::Vec3;

/// Origin and unit direction of the ray through pixel position (px, py) (not necessarily a
/// pixel centre).
pub fn ray_through(camera: &Camera, px: f32, py: f32) -> [f32; 6] {
    let dir_cam = Vec3::new((px - camera.cx) / camera.fx, (py - camera.cy) / camera.fy, 1.0);
    let d = (camera.rotation.transpose() * dir_cam).normalize();
    let o = camera.center();
    [o.x, o.y, o.z, d.x, d.y, d.z]
}

/// One ray per pixel, row-major (6 floats each).
pub fn camera_rays(camera: &Camera) -> Vec<f32> {
    let mut out = Vec::with_capacity(camera.width as usize * camera.height as usize * 6);
    for y in 0..camera.height {
        for x in 0..camera.width {
            out.extend_from_slice(&ray_through(camera, x as f32 + 0.5, y as f32 + 0.5));
        }
    }
    out
}
