//! The built-in demo scene: a seeded synthetic object (a torus of coloured Gaussians around a
//! sphere), photographed by the rasterizer from a ring of cameras. `kiln fit` with no dataset
//! fits it, so a fresh machine can run the main job with nothing downloaded.

use crate::scene::{Scene, SceneView};
use glam::Vec3;
use kiln_scene::dataset::Image;
use kiln_scene::Camera;
use kiln_splat::{sh_coeffs, GaussianCloud, RenderSettings, SplatError, SplatRenderer};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use std::f32::consts::TAU;
use std::sync::Arc;

/// The ground-truth object: ~6,000 Gaussians.
pub fn demo_object(seed: u64) -> GaussianCloud {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut c = GaussianCloud { sh_degree: 1, ..Default::default() };
    let k = sh_coeffs(1);
    let add = |c: &mut GaussianCloud, p: Vec3, rgb: Vec3, size: f32, rng: &mut Xoshiro256PlusPlus| {
        c.means.push(p);
        c.log_scales.push(Vec3::new(size, size * 0.6, size * 0.8).map(|s| (s * rng.random_range(0.7f32..1.3)).ln()));
        let q = [rng.random_range(-1.0f32..1.0), rng.random_range(-1.0f32..1.0), rng.random_range(-1.0f32..1.0), rng.random_range(-1.0f32..1.0)];
        c.rotations.push(q);
        c.opacity_logits.push(rng.random_range(1.0f32..4.0));
        for kk in 0..k {
            for ch in 0..3 {
                c.sh.push(if kk == 0 { (rgb[ch] - 0.5) / 0.282_094_8 } else { rng.random_range(-0.1f32..0.1) });
            }
        }
    };
    // A torus, coloured by angle.
    for _ in 0..4000 {
        let (u, v) = (rng.random_range(0.0..TAU), rng.random_range(0.0..TAU));
        let p = Vec3::new((1.0 + 0.3 * v.cos()) * u.cos(), 0.3 * v.sin(), (1.0 + 0.3 * v.cos()) * u.sin());
        let rgb = Vec3::new(0.5 + 0.5 * u.cos(), 0.5 + 0.5 * (u + 2.1).cos(), 0.5 + 0.5 * (u + 4.2).cos());
        add(&mut c, p, rgb, 0.05, &mut rng);
    }
    // A striped sphere in the middle.
    for _ in 0..2000 {
        let z = rng.random_range(-1.0f32..1.0);
        let a = rng.random_range(0.0..TAU);
        let r = (1.0 - z * z).sqrt();
        let p = Vec3::new(r * a.cos(), z, r * a.sin()) * 0.5;
        let stripe = if (z * 6.0).floor() as i32 % 2 == 0 { Vec3::new(0.95, 0.9, 0.8) } else { Vec3::new(0.2, 0.3, 0.7) };
        add(&mut c, p, stripe, 0.04, &mut rng);
    }
    c
}

/// Cameras on a ring around the origin, tilted 25° down, `size`×`size` pixels.
pub fn ring_cameras(count: usize, size: u32, phase: f32) -> Vec<Camera> {
    (0..count)
        .map(|i| {
            let a = TAU * (i as f32 + phase) / count as f32;
            let eye = Vec3::new(3.5 * a.cos(), -1.6, 3.5 * a.sin());
            Camera::look_at(size, size, size as f32 * 1.1, size as f32 * 1.1, eye, Vec3::ZERO, Vec3::NEG_Y)
        })
        .collect()
}

/// The demo scene: 32 training and 8 test views of [`demo_object`] on a black background.
pub fn demo_scene(renderer: &SplatRenderer, size: u32, seed: u64) -> Result<Scene, SplatError> {
    let object = demo_object(seed);
    let settings = RenderSettings::default();
    let shoot = |cams: Vec<Camera>, prefix: &str| -> Result<Vec<SceneView>, SplatError> {
        cams.into_iter()
            .enumerate()
            .map(|(i, cam)| {
                let out = renderer.render(&object, &cam, &settings)?;
                let rgb = out.color.iter().map(|c| c.clamp(0.0, 1.0)).collect();
                Ok(SceneView {
                    name: format!("{prefix}_{i:03}"),
                    camera: cam,
                    image: Arc::new(Image { width: cam.width, height: cam.height, rgb, alpha: Some(out.alpha) }),
                })
            })
            .collect()
    };
    let train = shoot(ring_cameras(32, size, 0.0), "train")?;
    let test = shoot(ring_cameras(8, size, 0.5), "test")?;
    let (extent, center) = Scene::camera_extent(&train);
    Ok(Scene { train, test, points: None, extent, background: Vec3::ZERO, center })
}
