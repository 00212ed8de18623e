//! What a trainer fits: posed images with their split, optional SfM points, extent and
//! background. Built from a loaded [`Dataset`] or directly (the built-in demo scene).

use glam::Vec3;
use kiln_scene::dataset::{Image, Points};
use kiln_scene::{Camera, Dataset, DatasetError};
use std::sync::Arc;

#[derive(Clone, Debug)]
pub struct SceneView {
    pub name: String,
    pub camera: Camera,
    pub image: Arc<Image>,
}

#[derive(Clone, Debug)]
pub struct Scene {
    pub train: Vec<SceneView>,
    pub test: Vec<SceneView>,
    pub points: Option<Points>,
    /// 1.1 × the largest distance of a training camera from their mean (3DGS).
    pub extent: f32,
    pub background: Vec3,
    /// Where the training cameras look: the point nearest to all their optical axes (the mean
    /// of the camera centres when the axes are near parallel). Random initialization is
    /// centred here.
    pub center: Vec3,
}

impl Scene {
    /// The views metrics are taken on: the test split, or the training views when the dataset
    /// has none (the first element names which).
    pub fn evaluation_views(&self) -> (&'static str, Vec<SceneView>) {
        if self.test.is_empty() {
            ("train", self.train.clone())
        } else {
            ("test", self.test.clone())
        }
    }

    /// Decodes the dataset's images (in parallel). `max_train_views` keeps that many training
    /// views, evenly spaced from the first to the last (RegNeRF's sparse-view protocol:
    /// indices round(linspace(0, n − 1, k)) of the training split).
    pub fn from_dataset(ds: &Dataset, max_train_views: Option<usize>) -> Result<Scene, DatasetError> {
        ds.preload()?;
        let mut train: Vec<&kiln_scene::View> = ds.train.iter().collect();
        let mut points = ds.points.clone();
        if let Some(k) = max_train_views.filter(|&k| k > 0 && k < train.len()) {
            let n = train.len();
            train = Scene::spread(n, k).into_iter().map(|i| train[i]).collect();
            // SfM points of the whole capture were triangulated with the held-out views too; a
            // sparse-view fit starts only from points two of its own views observe (what SfM on
            // them could find), so no geometry leaks from the test views.
            let names: Vec<&str> = train.iter().map(|v| v.name.as_str()).collect();
            if let Some(p) = points.as_ref().and_then(|p| p.seen_by(&names, 2)) {
                // None of them: random initialization, as for scenes without SfM points.
                points = (!p.is_empty()).then_some(p);
            }
        }
        let to_view = |v: &kiln_scene::View| -> Result<SceneView, DatasetError> {
            Ok(SceneView { name: v.name.clone(), camera: v.camera, image: v.image()? })
        };
        let train: Vec<SceneView> = train.into_iter().map(to_view).collect::<Result<_, _>>()?;
        let test = ds.test.iter().map(to_view).collect::<Result<Vec<_>, _>>()?;
        let center = Scene::look_center(&train);
        Ok(Scene { extent: ds.scene_extent(), background: ds.background, points, train, test, center })
    }

    /// `k` indices of `0..n` at round(linspace(0, n − 1, k)) (k ≥ 1).
    pub fn spread(n: usize, k: usize) -> Vec<usize> {
        if k <= 1 || n <= 1 {
            return vec![0];
        }
        (0..k).map(|i| ((i * (n - 1)) as f64 / (k - 1) as f64).round() as usize).collect()
    }

    /// Extent from the training cameras (3DGS's rule) and their look-at centre.
    pub fn camera_extent(views: &[SceneView]) -> (f32, Vec3) {
        let mean = views.iter().map(|v| v.camera.center()).sum::<Vec3>() / views.len().max(1) as f32;
        let max = views.iter().map(|v| (v.camera.center() - mean).length()).fold(0.0f32, f32::max);
        (if max > 1e-9 { 1.1 * max } else { 1.0 }, Scene::look_center(views))
    }

    /// Least-squares point nearest to every camera's optical axis: solves
    /// Σ (I − d dᵀ) x = Σ (I − d dᵀ) c. Falls back to the mean centre when the axes are near
    /// parallel (forward-facing captures).
    pub fn look_center(views: &[SceneView]) -> Vec3 {
        use glam::{DMat3, DVec3};
        let mut a = DMat3::ZERO;
        let mut b = DVec3::ZERO;
        let mut mean = DVec3::ZERO;
        for v in views {
            let c = v.camera.center().as_dvec3();
            let d = (v.camera.rotation.transpose() * Vec3::Z).as_dvec3().normalize();
            let p = DMat3::IDENTITY - DMat3::from_cols(d * d.x, d * d.y, d * d.z);
            a += p;
            b += p * c;
            mean += c;
        }
        let mean = mean / views.len().max(1) as f64;
        // Near-parallel axes leave a direction unconstrained: a small determinant.
        if views.len() < 2 || a.determinant() < 1e-3 * (views.len() as f64).powi(3) {
            return mean.as_vec3();
        }
        (a.inverse() * b).as_vec3()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(eye: Vec3, target: Vec3) -> SceneView {
        let camera = Camera::look_at(8, 8, 8.0, 8.0, eye, target, Vec3::NEG_Y);
        SceneView { name: String::new(), camera, image: Arc::new(Image { width: 8, height: 8, rgb: vec![0.0; 192], alpha: None }) }
    }

    #[test]
    fn look_center_of_a_ring_and_a_forward_facing_rig() {
        let target = Vec3::new(0.3, 0.2, -0.1);
        let ring: Vec<SceneView> = (0..12)
            .map(|i| {
                let a = i as f32 * 0.52;
                view(Vec3::new(4.0 * a.cos(), -1.5, 4.0 * a.sin()), target)
            })
            .collect();
        assert!(Scene::look_center(&ring).distance(target) < 1e-3);
        let rig: Vec<SceneView> = (0..6).map(|i| view(Vec3::new(i as f32 * 0.1, 0.0, 0.0), Vec3::new(i as f32 * 0.1, 0.0, 5.0))).collect();
        assert!(Scene::look_center(&rig).distance(Vec3::new(0.25, 0.0, 0.0)) < 1e-4);
    }

    #[test]
    fn sparse_views_follow_regnerf() {
        // LLFF fern: 20 images, every 8th held out → 17 training views; 3 views → 0, 8, 16.
        assert_eq!(Scene::spread(17, 3), vec![0, 8, 16]);
        assert_eq!(Scene::spread(17, 2), vec![0, 16]);
        assert_eq!(Scene::spread(10, 4), vec![0, 3, 6, 9]);
    }
}
