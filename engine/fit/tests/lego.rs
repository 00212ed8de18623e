//! Lego (NeRF-synthetic, white background) at 200×200 on whatever adapter kiln picks — lavapipe
//! in CI. Acceptance: the 25 test views reach a mean PSNR ≥ 26 dB.
//!
//! Budget: `LEGO_STEPS` steps from 10,000 random points with the 3DGS defaults otherwise
//! (densification from step 500, white-background opacity reset at 500). On lavapipe with 2 CPU
//! cores: 27.9 dB, SSIM 0.935, in 465 s (the reset prunes the cloud to ~1k Gaussians, which
//! densification grows to ~21k by the end). From 30,000 points it was 28.2 dB in 716 s of a CI
//! run, the largest share of CI's time: the first 500 steps render every random point.
//! Needs KILN_DATA.

use kiln_fit::{Scene, TrainConfig, Trainer};
use kiln_gpu::GpuContext;
use kiln_scene::{Dataset, LoadOptions};

const LEGO_STEPS: u32 = 1500;

#[test]
fn lego_200px_reaches_26_db() {
    let Some(data) = std::env::var_os("KILN_DATA").map(std::path::PathBuf::from) else {
        eprintln!("lego_200px_reaches_26_db: skipped, KILN_DATA is not set");
        return;
    };
    let ds = Dataset::load_with(data.join("nerf_synthetic/lego"), &LoadOptions { resolution: Some(200), ..Default::default() }).unwrap();
    let scene = Scene::from_dataset(&ds, None).unwrap();
    assert_eq!((scene.train.len(), scene.test.len()), (100, 25));
    let config = TrainConfig {
        iterations: LEGO_STEPS,
        random_init_points: 10_000,
        ..Default::default()
    };
    let ctx = GpuContext::shared().unwrap();
    let mut trainer = Trainer::new(ctx, scene, config).unwrap();
    let t0 = std::time::Instant::now();
    while trainer.step < LEGO_STEPS {
        let v = trainer.train_step(trainer.step % 200 == 199).unwrap();
        if let Some(v) = v {
            eprintln!("step {} loss {:.4} psnr {:.2} gaussians {} ({:.1}s)", trainer.step, v.loss, v.psnr(), trainer.gaussians(), t0.elapsed().as_secs_f64());
        }
    }
    let test = trainer.scene.test.clone();
    let (metrics, _) = trainer.evaluate(&test).unwrap();
    let psnr = metrics.iter().map(|m| m.psnr).sum::<f64>() / metrics.len() as f64;
    let ssim = metrics.iter().map(|m| m.ssim).sum::<f64>() / metrics.len() as f64;
    eprintln!("lego 200px, {LEGO_STEPS} steps: test PSNR {psnr:.2} dB, SSIM {ssim:.4}, {} Gaussians, {:.0}s", trainer.gaussians(), t0.elapsed().as_secs_f64());
    assert!(psnr >= 26.0, "test PSNR {psnr:.2} dB < 26");
}
