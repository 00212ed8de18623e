//! Lego (NeRF-synthetic, white background) at 200×200 on whatever adapter kiln picks — lavapipe
//! in CI. Acceptance: the 25 test views reach a mean PSNR ≥ 26 dB.
//!
//! Budget: `LEGO_STEPS` steps from 50,000 random points, densifying from step 300 every 100
//! steps. On lavapipe (2 CPU cores) a step at 200×200 takes about a second, so this runs only
//! when `KILN_LEGO=1` is set as well as KILN_DATA (on a GPU it takes a minute or two); CI's
//! lavapipe cannot fit it in its time limit yet.

use kiln_fit::{Scene, TrainConfig, Trainer};
use kiln_gpu::GpuContext;
use kiln_scene::{Dataset, LoadOptions};

const LEGO_STEPS: u32 = 2000;

#[test]
fn lego_200px_reaches_26_db() {
    let Some(data) = std::env::var_os("KILN_DATA").map(std::path::PathBuf::from) else {
        eprintln!("lego_200px_reaches_26_db: skipped, KILN_DATA is not set");
        return;
    };
    if std::env::var("KILN_LEGO").as_deref() != Ok("1") {
        eprintln!("lego_200px_reaches_26_db: skipped, set KILN_LEGO=1 to run it (slow on a CPU adapter)");
        return;
    }
    let ds = Dataset::load_with(data.join("nerf_synthetic/lego"), &LoadOptions { resolution: Some(200), ..Default::default() }).unwrap();
    let scene = Scene::from_dataset(&ds, None).unwrap();
    assert_eq!((scene.train.len(), scene.test.len()), (100, 25));
    let config = TrainConfig {
        iterations: LEGO_STEPS,
        random_init_points: 50_000,
        densify_from: 300,
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
